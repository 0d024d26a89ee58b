//! The record model: Microsoft Graph `signIn` (v1.0 and beta) and `directoryAudit` records,
//! and streaming readers for the export formats administrators actually have.
//!
//! Why a crate of its own: every other part of m365-monitor (the rules engine, the collector,
//! graph-sim, `m365mon scan`) meets Microsoft's data through these types, so there is exactly one
//! place that knows Graph's property names, its null and casing quirks and its timestamp spellings.
//! The crate does no I/O of its own: readers take any [`std::io::Read`].
//!
//! Records are lossless: properties this crate does not know are kept in `extra` and written back
//! unchanged, so a record read and written again carries everything Microsoft sent.

pub mod audit;
pub mod read;
pub mod record;
pub mod signin;
pub mod time;

pub use audit::DirectoryAudit;
pub use read::{ReadError, ReadItem, RecordReader};
pub use record::{Record, RecordKind, SignInEventType};
pub use signin::SignIn;
