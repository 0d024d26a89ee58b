//! The notification policy of m365-monitor, as pure functions: no I/O, no async, and time is
//! always an argument, so every decision is testable with a table and a fixed clock.
//!
//! The model is Prometheus Alertmanager's (grouping with `group_wait`, `group_interval`,
//! `repeat_interval`, a notification log consulted before every send), adapted to our alerts:
//!
//! - [`route`]: which receivers get an alert (severity, rule, tenant) and which group it joins
//!   (`group_by` labels, `tenant` and `rule` by default).
//! - [`alert`]: an alert arrives more than once and as growing revisions of one incident; the
//!   stored copy keeps the highest revision, so an updated incident stays one alert in its group.
//! - [`dedup`]: the notification-log decision ([`dedup::needs_update`]): first message, new or
//!   updated alerts, repeat interval elapsed, or nothing to say.
//! - [`group`]: a group's timers and per-channel delivery state (retries, deferral, dead letter),
//!   planned and updated by pure functions; the notifier only stores and sends.
//! - [`ratelimit`]: a token bucket sized so a channel never exceeds its per-minute limit in any
//!   rolling minute (Exchange Online counts 30 messages a minute per mailbox).
//! - [`retry`]: the exponential backoff schedule.
//! - [`test_message`]: the request and reply of "send a test notification".
//! - [`render`]: the message itself (mail subject, plain text and HTML; Teams Adaptive Card;
//!   Slack blocks; signed generic JSON). Text from the logs is attacker-controlled and is escaped
//!   for each format; nothing here builds mail headers.
//!
//! Ordering of alerts within a group uses a *change sequence* per stored alert (the notifier uses
//! the KV revision of the stored alert): a group changed since the last message exactly when one
//! of its alerts has a sequence above the one recorded for that message. That keeps the log entry
//! two numbers, whatever the size of the group.

pub mod alert;
pub mod dedup;
pub mod group;
pub mod ratelimit;
pub mod render;
pub mod retry;
pub mod route;
pub mod test_message;

pub use alert::{Merge, StoredAlert, merge};
pub use dedup::{LogEntry, NotifyReason, needs_update};
pub use group::{ChannelState, Claim, FlushPlan, GroupState, Outcome, PendingAlert, PlannedDelivery, Timing};
pub use ratelimit::TokenBucket;
pub use route::{Channel, ChannelTarget, GroupKey, Route, routes};
