//! graph-sim: a local stand-in for the Microsoft identity platform and Microsoft Graph.
pub mod auth;
pub mod data;
pub mod faults;
pub mod odata;
pub mod records;
pub mod rng;
pub mod store;
pub mod time;
pub mod traffic;
pub mod world;
