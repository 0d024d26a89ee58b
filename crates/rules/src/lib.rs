//! The detection rules of m365-monitor as a pure library: records in, alert events out.
//!
//! No I/O, no async, no clock: time is the records' event time (`createdDateTime`,
//! `activityDateTime`). The detector service and `m365mon scan` both drive an [`Engine`]:
//!
//! ```
//! use m365mon_contracts::settings::Settings;
//! use m365mon_rules::Engine;
//!
//! let mut engine = Engine::new(Settings::default());
//! engine.set_privileged_users("contoso-tenant-id", ["admin@contoso.com"]);
//! let record: m365mon_model::Record = serde_json::from_str(r#"{
//!     "id": "1", "createdDateTime": "2026-01-05T10:00:00Z", "userPrincipalName": "admin@contoso.com",
//!     "isInteractive": true, "status": {"errorCode": 0}, "ipAddress": "203.0.113.7"}"#).unwrap();
//! let alerts = engine.observe("contoso-tenant-id", &record);
//! assert_eq!(alerts[0].rule.as_str(), "admin_sign_in");
//! let alerts_at_end = engine.finish();
//! # let _ = alerts_at_end;
//! ```
//!
//! # Arrival order
//! Graph serves newest first and delivers late, and the detector must alert within a second of
//! a record arriving, so the engine does **not** hold records back in a reorder buffer (which
//! would delay every alert by the allowed lateness, two hours by default). Instead every rule
//! is written so that its result depends on the *set* of records, not on their order:
//! windowed counts mark "hot" records (those in some span with enough attempts) and hotness
//! only grows; location memories keep minima of event time; incidents are keyed by windows
//! derived from the records' own times (mostly the UTC day). Records older than the tenant's
//! latest event time minus `allowed_lateness_minutes` are *late*: per-record rules still alert
//! on them, windowed and learning rules skip them (their windows may be gone) and count them in
//! [`Stats::late`]. The final alerts of a run — every incident's last revision — are the same
//! for any arrival order within the allowed lateness; only how often an incident was
//! republished in between can differ. See `docs/rules.md` for each rule.
//!
//! # State
//! Bounded: windows for their width plus the lateness, travel sightings for the travel horizon,
//! countries and users for `new_country.forget_days`, incidents until their window closes.
//! [`Engine::snapshot`] / [`Engine::restore`] carry all of it across a restart.

pub mod codes;
mod config;
mod engine;
pub mod event;
mod geo;
mod hours;
mod incident;
mod keys;
mod render;
mod rules;
mod serde_vec;
mod state;
pub mod synth;
mod time;
mod window;

pub use engine::{Engine, SNAPSHOT_FORMAT, SnapshotError, StateSize, Stats};
pub use event::{Event, EventError};
