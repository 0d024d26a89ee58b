//! Metric names (Prometheus, through the `metrics` facade). Labels are bounded: `channel` is
//! `mail`, `teams`, `slack` or `generic`; `outcome` is a fixed word.

/// Alert publications read from the stream, by outcome: `new`, `updated`, `duplicate`
/// (redelivery or older revision), `unrouted` (no receiver wants it), `stale`, `invalid`.
pub const ALERTS_RECEIVED: &str = "m365mon_notifier_alerts_received_total";
/// Messages accepted by the server, by channel.
pub const MESSAGES_SENT: &str = "m365mon_notifier_messages_sent_total";
/// Failed delivery attempts, by channel and `kind` (`transient`, `permanent`).
pub const MESSAGES_FAILED: &str = "m365mon_notifier_messages_failed_total";
/// Deliveries put off by the rate limit, by channel.
pub const MESSAGES_DEFERRED: &str = "m365mon_notifier_messages_deferred_total";
/// Deliveries given up and dead-lettered, by channel.
pub const DEAD_LETTERED: &str = "m365mon_notifier_dead_lettered_total";
/// Groups currently held.
pub const GROUPS: &str = "m365mon_notifier_groups";
/// Alerts currently held in groups.
pub const PENDING_ALERTS: &str = "m365mon_notifier_pending_alerts";
/// Seconds from an alert's publication on the bus to the server accepting the message that
/// carried it (grouping wait included), by channel.
pub const ALERT_TO_ACCEPTED: &str = "m365mon_notifier_alert_to_accepted_seconds";
/// Seconds a send took, by channel.
pub const SEND_DURATION: &str = "m365mon_notifier_send_duration_seconds";

/// Describes the metrics for `/metrics`.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(ALERTS_RECEIVED, "Alert publications read from the alerts stream, by outcome");
    describe_counter!(MESSAGES_SENT, "Notifications accepted by the mail server or webhook, by channel");
    describe_counter!(MESSAGES_FAILED, "Failed delivery attempts, by channel and kind");
    describe_counter!(MESSAGES_DEFERRED, "Deliveries deferred by the per-channel rate limit");
    describe_counter!(DEAD_LETTERED, "Deliveries given up after max_attempts (or a permanent error)");
    describe_gauge!(GROUPS, "Alert groups held by the notifier");
    describe_gauge!(PENDING_ALERTS, "Alerts held in groups");
    describe_histogram!(ALERT_TO_ACCEPTED, "Seconds from alert publication to acceptance of its message");
    describe_histogram!(SEND_DURATION, "Seconds one send took");
}
