//! `notifications`: who gets which alerts, how they are grouped, how fast mail may go out.
//! Applied live by the notifier. Channel credentials (SMTP passwords, webhook secrets) come from
//! the environment, never from here.

use serde::{Deserialize, Serialize};

use crate::{RuleId, Severity};

/// Grouping, routing and delivery of alert notifications (the Alertmanager model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Alert fields that form a group: any of `tenant`, `rule`, `severity`, `user`.
    pub group_by: Vec<String>,
    /// Wait this long after a group's first alert before the first message.
    pub group_wait_seconds: u32,
    /// Then at most one message per group this often while new alerts arrive.
    pub group_interval_seconds: u32,
    /// Repeat an unchanged group's message this often.
    pub repeat_interval_seconds: u32,
    /// Critical alerts are sent without waiting for `group_wait`.
    pub critical_without_wait: bool,
    /// Base URL of the web UI, for links to alerts in messages, e.g. `https://monitor.contoso.com`.
    pub ui_base_url: Option<String>,
    /// Messages per minute per mail channel (Exchange Online allows 30 per mailbox).
    pub mail_rate_per_minute: u32,
    /// Delivery attempts before a group is dead-lettered.
    pub max_attempts: u32,
    /// Sender address for mail.
    pub mail_from: Option<String>,
    /// Who gets what.
    pub receivers: Vec<Receiver>,
    /// Messages per minute per webhook URL (Slack accepts about one a second per webhook).
    pub webhook_rate_per_minute: u32,
    /// First retry of a failed delivery after this long; each further retry waits twice as long,
    /// up to `retry_max_seconds`, until `max_attempts` is reached and the group is dead-lettered.
    pub retry_initial_seconds: u32,
    /// The longest wait between two delivery attempts.
    pub retry_max_seconds: u32,
    /// An alert with no new revision for this long is over: it leaves its group. Until then an
    /// unchanged group is re-sent every `repeat_interval_seconds` as a reminder (with the
    /// defaults, 6 h and 4 h: one reminder for an incident that went quiet).
    pub resolve_timeout_seconds: u32,
    /// A message lists at most this many alerts in full and counts the rest, so a storm of
    /// thousands of alerts stays one readable message.
    pub max_alerts_per_message: u32,
    /// Put at the start of every mail subject, for mail filters.
    pub subject_prefix: String,
}

/// A set of recipients with a filter on the alerts they get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Receiver {
    pub name: String,
    /// Mail addresses.
    pub email: Vec<String>,
    pub webhooks: Vec<WebhookTarget>,
    /// Only alerts at or above this severity.
    pub min_severity: Severity,
    /// Only these rules (empty: all).
    pub rules: Vec<RuleId>,
    /// Only these tenants (empty: all).
    pub tenants: Vec<String>,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver {
            name: String::new(),
            email: Vec::new(),
            webhooks: Vec::new(),
            min_severity: Severity::Low,
            rules: Vec::new(),
            tenants: Vec::new(),
        }
    }
}

/// A chat or HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    pub kind: WebhookKind,
    pub url: String,
    /// Name of the environment variable holding the HMAC secret (generic webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// Webhook payload formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// Microsoft Teams Workflows (Adaptive Card).
    Teams,
    Slack,
    /// The alert events as JSON, signed with HMAC-SHA256.
    Generic,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            group_by: vec!["tenant".into(), "rule".into()],
            group_wait_seconds: 30,
            group_interval_seconds: 300,
            repeat_interval_seconds: 4 * 3600,
            critical_without_wait: true,
            ui_base_url: None,
            mail_rate_per_minute: 30,
            max_attempts: 8,
            mail_from: None,
            receivers: Vec::new(),
            webhook_rate_per_minute: 60,
            retry_initial_seconds: 30,
            retry_max_seconds: 900,
            resolve_timeout_seconds: 6 * 3600,
            max_alerts_per_message: 50,
            subject_prefix: "[m365-monitor]".into(),
        }
    }
}
