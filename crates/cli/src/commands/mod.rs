//! The subcommands, one module each.

pub mod notify;
pub mod scan;
