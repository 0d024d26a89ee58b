//! The collector: Entra ID sign-in and directory audit logs from Microsoft Graph onto the NATS
//! JetStream stream `M365_EVENTS`, every record exactly once.
//!
//! Collectors in this field lose events in known ways: polling "since the last run" misses records
//! Graph makes visible late, treating a 429 as fatal skips whole windows, and a crash between
//! fetching and publishing either loses or repeats a batch. This crate is built against each:
//!
//! - **Windows that overlap, checkpoints that only move forward after acknowledgement.** Each log
//!   of each tenant ([`LogKind`]) is polled over `[checkpoint − overlap, …]`, following every
//!   `@odata.nextLink` exactly as given; the checkpoint (KV `<ns>_checkpoints`, compare-and-set)
//!   advances only once every page of the window is published and acknowledged by JetStream.
//!   First starts and catch-ups read in bounded slices, checkpointing after each ([`poller`]);
//!   all logs of a tenant read the same slice and its records are published in event-time order
//!   across them, so the detector does not take a backfill as late ([`backfill`]).
//! - **A late sweep** re-reads the last hours below the overlap at a low rate, for records Graph
//!   shows or changes hours late (MFA details arrive up to two hours later) ([`poller`]).
//! - **Exactly once on the bus.** `Nats-Msg-Id` is the record id; content versions of recently
//!   published records are remembered (memory and KV `<ns>_seen`), so a re-read record is
//!   published again only when its content changed, and then as an update ([`publish`]).
//! - **Throttling and errors** are the Graph client's job (`m365mon-graph`): a per-tenant pacer,
//!   `Retry-After`, backoff, resuming from the last good next link, token refresh.
//! - **Many tenants, isolated.** Each tenant has its own credential, client and tasks; one
//!   tenant's failure shows in the status document with Graph's error text and never stalls
//!   another ([`status`]).
//! - **Directory roles** are synced into KV `<ns>_directory_roles` for the detector ([`roles`]).
//!
//! How consumers tell an update from a new record: see [`publish`] (header `M365-Change`).

pub mod backfill;
pub mod buckets;
pub mod checkpoint;
mod collector;
pub mod config;
pub mod logs;
pub mod poller;
pub mod publish;
pub mod roles;
pub mod seen;
pub mod status;
pub mod tenant;

pub use collector::{Collector, CollectorError, serve};
pub use logs::LogKind;
pub use status::{LogState, LogStatus, StatusBoard};
pub use tenant::{CollectorOptions, TenantSpec};
