//! Alerts as the notifier keeps them while they are in a group.
//!
//! The detector publishes an incident again, with the same `id` and a higher `revision`, each time
//! it grows; JetStream may also redeliver a publication. The notifier keeps one copy per alert
//! id and group: the highest revision seen. An older or equal revision changes nothing, so it can
//! never cause a message.

use chrono::{DateTime, Utc};
use m365mon_contracts::AlertEvent;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::route::GroupKey;

/// An alert in a group, as stored by the notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    pub alert: AlertEvent,
    pub group: GroupKey,
    /// When the notifier stored this revision (processing time); the resolve timeout counts from
    /// here.
    pub received_at: DateTime<Utc>,
    /// When this revision was stored on the alerts stream, for the alert→delivery latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
}

/// What to do with an incoming publication of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The first time this alert is seen in this group.
    Insert,
    /// A newer revision of a stored alert.
    Replace,
    /// A redelivery or an older revision: nothing changes.
    Keep,
}

/// Compares an incoming publication with the stored copy.
pub fn merge(stored: Option<&AlertEvent>, incoming: &AlertEvent) -> Merge {
    match stored {
        None => Merge::Insert,
        Some(stored) if incoming.revision > stored.revision => Merge::Replace,
        Some(_) => Merge::Keep,
    }
}

/// A token for the alert id in storage keys: the id itself when it is the contract's hex form,
/// otherwise a hash of it (a malformed id from a foreign publisher must not break a key).
pub fn alert_key_token(id: &str) -> String {
    let plain = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if plain { id.to_string() } else { format!("h{}", hex::encode(&Sha256::digest(id.as_bytes())[..16])) }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use m365mon_contracts::{RuleId, Severity};

    /// A plausible alert for tests.
    pub(crate) fn alert(id: &str, rule: RuleId, severity: Severity, tenant: &str, revision: u32) -> AlertEvent {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 15, 0).unwrap();
        AlertEvent {
            id: id.into(),
            rule,
            severity,
            tenant: tenant.into(),
            title: format!("{} failed sign-ins for alice@contoso.com", 5 + revision),
            summary: "Repeated credential failures.".into(),
            user: Some("alice@contoso.com".into()),
            ip: Some("203.0.113.7".into()),
            first_seen: t,
            last_seen: t + chrono::Duration::minutes(i64::from(revision)),
            event_ids: vec!["e1".into()],
            count: 5 + u64::from(revision),
            revision,
            details: serde_json::json!({"failure_reasons": ["50126: Invalid username or password"]}),
            created_at: t,
        }
    }

    #[test]
    fn only_a_higher_revision_replaces() {
        let r1 = alert("a", RuleId::FailedLogins, Severity::Medium, "t", 1);
        assert_eq!(merge(None, &r1), Merge::Insert);
        let r0 = alert("a", RuleId::FailedLogins, Severity::Medium, "t", 0);
        let r2 = alert("a", RuleId::FailedLogins, Severity::Medium, "t", 2);
        assert_eq!(merge(Some(&r1), &r2), Merge::Replace);
        assert_eq!(merge(Some(&r1), &r1), Merge::Keep, "a redelivery changes nothing");
        assert_eq!(merge(Some(&r1), &r0), Merge::Keep, "an older revision arriving late changes nothing");
    }

    #[test]
    fn key_tokens_are_safe() {
        assert_eq!(alert_key_token("0123abcd"), "0123abcd");
        for hostile in ["", "a.b", "a*", "x\r\ny", &"z".repeat(65)] {
            let token = alert_key_token(hostile);
            assert!(token.starts_with('h') && token.len() == 33, "{hostile:?} -> {token}");
        }
    }
}
