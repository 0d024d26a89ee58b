//! The contracts m365-monitor's services and its users' integrations rely on.
//!
//! - [`settings`]: the settings document the web UI edits, `m365mon scan --settings` reads and
//!   every service watches in the KV bucket; strict (unknown keys are errors) and validated with
//!   messages that name the field and the allowed range.
//! - [`alert`]: the alert event published on `m365.alerts.<severity>.<rule>.<tenant>`.
//! - [`names`]: every subject, stream, consumer, header and KV bucket name, under a configurable
//!   namespace so several installs (or parallel tests) share one NATS server.
//! - [`rule`]: rule ids and severities.
//!
//! No I/O and no async here: these are plain data types with serde.

pub mod alert;
pub mod names;
pub mod rule;
pub mod settings;

pub use alert::AlertEvent;
pub use names::Namespace;
pub use rule::{RuleId, Severity};
pub use settings::Settings;
