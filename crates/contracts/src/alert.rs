//! The alert event (design §4): what the detector publishes on
//! `m365.alerts.<severity>.<rule>.<tenant>`, what `m365mon scan --format jsonl` prints, what the
//! notifier groups and mails. The JSON Schema in `schemas/alert-event.schema.json` describes it for
//! integrators; a test keeps the two in step.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{RuleId, Severity};

/// One incident. A burst (brute force, spray, MFA fatigue) is one alert whose `event_ids`,
/// `count` and `last_seen` grow; each growth is published again with the same `id` and a higher
/// `revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Deterministic: see [`alert_id`]. A replay of the same records derives the same id.
    pub id: String,
    pub rule: RuleId,
    pub severity: Severity,
    /// The Entra tenant id the records came from.
    pub tenant: String,
    /// One line for a subject or a list, e.g. "7 failed sign-ins for alice@contoso.com".
    pub title: String,
    /// A few sentences for a human: what happened and why it matters.
    pub summary: String,
    /// The user principal name concerned, when there is one.
    pub user: Option<String>,
    /// The source IP address, when there is one.
    pub ip: Option<String>,
    /// Event time of the first record of the incident.
    pub first_seen: DateTime<Utc>,
    /// Event time of the latest record of the incident.
    pub last_seen: DateTime<Utc>,
    /// The Graph record ids that prove the alert (capped at [`MAX_EVENT_IDS`]; see `count`).
    pub event_ids: Vec<String>,
    /// How many records the incident holds; may exceed `event_ids.len()`.
    #[serde(default)]
    pub count: u64,
    /// 0 for the first publication of an incident, then +1 per update.
    #[serde(default)]
    pub revision: u32,
    /// Rule-specific evidence, e.g. both locations and the speed for impossible travel, the Graph
    /// failure reasons for failed sign-ins.
    pub details: serde_json::Value,
    /// When the alert was produced (processing time, not event time).
    pub created_at: DateTime<Utc>,
}

/// At most this many record ids are carried in one alert event; `count` keeps the total.
pub const MAX_EVENT_IDS: usize = 100;

/// The deterministic alert id: rule, tenant, subject (a user, an IP, an audit record …) and the
/// start of the incident's window, hashed. 32 hex characters, so it fits a `Nats-Msg-Id` and a
/// URL, and contains nothing a subject token or an HTML attribute could trip on.
pub fn alert_id(rule: RuleId, tenant: &str, subject: &str, window_start: DateTime<Utc>) -> String {
    let mut hasher = Sha256::new();
    for part in [rule.as_str(), tenant, subject, &window_start.to_rfc3339_opts(SecondsFormat::Micros, true)] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..16])
}

impl AlertEvent {
    /// The `Nats-Msg-Id` of this publication: the alert id for the first one, the id and the
    /// revision for updates, so an update passes JetStream's duplicate window while a
    /// redelivered publication does not.
    pub fn message_id(&self) -> String {
        if self.revision == 0 { self.id.clone() } else { format!("{}.r{}", self.id, self.revision) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn alert_ids_are_deterministic_and_distinct() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let a = alert_id(RuleId::FailedLogins, "tenant", "alice@contoso.com", t);
        assert_eq!(a, alert_id(RuleId::FailedLogins, "tenant", "alice@contoso.com", t));
        assert_eq!(a.len(), 32);
        assert_ne!(a, alert_id(RuleId::PasswordSpray, "tenant", "alice@contoso.com", t));
        assert_ne!(a, alert_id(RuleId::FailedLogins, "tenant2", "alice@contoso.com", t));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(alert_id(RuleId::FailedLogins, "ab", "c", t), alert_id(RuleId::FailedLogins, "a", "bc", t));
    }
}
