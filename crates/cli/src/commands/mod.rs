//! The subcommands, one module each.

pub mod connection;
pub mod notify;
pub mod scan;
pub mod settings;
pub mod status;
pub mod tail;
pub mod text;
