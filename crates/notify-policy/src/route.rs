//! Routing: which receivers get an alert, and which group of theirs it joins.
//!
//! A receiver takes an alert when the alert's severity is at least the receiver's
//! `min_severity` and its rule and tenant pass the receiver's lists (an empty list passes all).
//! Every receiver has its own groups: the group key is the receiver's name plus the values of the
//! `group_by` labels, so two receivers with different filters never share a message.

use m365mon_contracts::AlertEvent;
use m365mon_contracts::settings::{NotificationSettings, Receiver, WebhookKind, WebhookTarget};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Identifies one aggregation group: a receiver and the values of the grouping labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    pub receiver: String,
    /// `(label, value)` in the order of `group_by`.
    pub labels: Vec<(String, String)>,
}

impl GroupKey {
    /// A stable id for keys and logs: 32 hex characters, safe in a KV key, a subject token and a
    /// Message-ID.
    pub fn id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.receiver.as_bytes());
        for (label, value) in &self.labels {
            hasher.update([0u8]);
            hasher.update(label.as_bytes());
            hasher.update([b'=']);
            hasher.update(value.as_bytes());
        }
        hex::encode(&hasher.finalize()[..16])
    }

    /// The value of one grouping label, if the group is split by it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(label, _)| label == name).map(|(_, value)| value.as_str())
    }

    /// `tenant=…, rule=…` for logs and message footers.
    pub fn describe(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(label, value)| format!("{label}={value}")).collect();
        format!("{} [{}]", self.receiver, labels.join(", "))
    }
}

/// The value of a grouping label for an alert. Unknown labels are refused by settings
/// validation; should one get here it groups everything together rather than failing.
pub fn label_value(alert: &AlertEvent, label: &str) -> String {
    match label {
        "tenant" => alert.tenant.clone(),
        "rule" => alert.rule.as_str().to_string(),
        "severity" => alert.severity.as_str().to_string(),
        "user" => alert.user.clone().unwrap_or_else(|| "-".to_string()),
        _ => String::new(),
    }
}

/// Whether a receiver wants an alert.
pub fn receiver_matches(receiver: &Receiver, alert: &AlertEvent) -> bool {
    alert.severity >= receiver.min_severity
        && (receiver.rules.is_empty() || receiver.rules.contains(&alert.rule))
        && (receiver.tenants.is_empty() || receiver.tenants.iter().any(|t| t.eq_ignore_ascii_case(&alert.tenant)))
}

/// One receiver's claim on an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Route<'a> {
    pub receiver: &'a Receiver,
    pub group: GroupKey,
}

/// Every receiver that takes `alert`, with the group the alert joins there.
pub fn routes<'a>(settings: &'a NotificationSettings, alert: &AlertEvent) -> Vec<Route<'a>> {
    settings
        .receivers
        .iter()
        .filter(|receiver| receiver_matches(receiver, alert))
        .map(|receiver| Route {
            receiver,
            group: GroupKey {
                receiver: receiver.name.clone(),
                labels: settings.group_by.iter().map(|label| (label.clone(), label_value(alert, label))).collect(),
            },
        })
        .collect()
}

/// Where a channel delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelTarget {
    /// One message to all of the receiver's addresses.
    Mail {
        to: Vec<String>,
    },
    Webhook(WebhookTarget),
}

/// A delivery channel of a receiver. The id is stable across settings edits that do not change
/// the channel itself (`mail`, or `webhook-<hash of the URL>`), so the notification log survives
/// a reordering of the receiver's webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub target: ChannelTarget,
}

impl Channel {
    /// The rate-limit bucket this channel draws from: all mail goes out of one mailbox, so every
    /// receiver shares the `mail` bucket; a webhook URL has its own, shared by every receiver that
    /// uses it.
    pub fn rate_key(&self) -> &str {
        &self.id
    }

    /// A short name for metrics labels (bounded): `mail`, `teams`, `slack`, `generic`.
    pub fn kind(&self) -> &'static str {
        match &self.target {
            ChannelTarget::Mail { .. } => "mail",
            ChannelTarget::Webhook(hook) => match hook.kind {
                WebhookKind::Teams => "teams",
                WebhookKind::Slack => "slack",
                WebhookKind::Generic => "generic",
            },
        }
    }
}

/// The id of a webhook channel.
pub fn webhook_channel_id(url: &str) -> String {
    format!("webhook-{}", hex::encode(&Sha256::digest(url.as_bytes())[..8]))
}

/// The channels of a receiver, mail first.
pub fn channels(receiver: &Receiver) -> Vec<Channel> {
    let mut out = Vec::new();
    if !receiver.email.is_empty() {
        out.push(Channel { id: "mail".into(), target: ChannelTarget::Mail { to: receiver.email.clone() } });
    }
    for hook in &receiver.webhooks {
        let id = webhook_channel_id(&hook.url);
        if out.iter().all(|c: &Channel| c.id != id) {
            out.push(Channel { id, target: ChannelTarget::Webhook(hook.clone()) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::alert;
    use m365mon_contracts::{RuleId, Severity};

    fn receiver(name: &str, min: Severity, rules: Vec<RuleId>, tenants: Vec<&str>) -> Receiver {
        Receiver {
            name: name.into(),
            email: vec![format!("{name}@contoso.com")],
            min_severity: min,
            rules,
            tenants: tenants.into_iter().map(String::from).collect(),
            ..Receiver::default()
        }
    }

    #[test]
    fn receivers_filter_by_severity_rule_and_tenant() {
        let settings = NotificationSettings {
            receivers: vec![
                receiver("all", Severity::Low, vec![], vec![]),
                receiver("high", Severity::High, vec![], vec![]),
                receiver("spray", Severity::Low, vec![RuleId::PasswordSpray], vec![]),
                receiver("fabrikam", Severity::Low, vec![], vec!["FABRIKAM"]),
            ],
            ..NotificationSettings::default()
        };
        let names = |a: &AlertEvent| routes(&settings, a).iter().map(|r| r.receiver.name.clone()).collect::<Vec<_>>();

        let medium = alert("a1", RuleId::FailedLogins, Severity::Medium, "contoso", 0);
        assert_eq!(names(&medium), ["all"]);
        let spray = alert("a2", RuleId::PasswordSpray, Severity::High, "contoso", 0);
        assert_eq!(names(&spray), ["all", "high", "spray"]);
        let other_tenant = alert("a3", RuleId::FailedLogins, Severity::Low, "fabrikam", 0);
        assert_eq!(names(&other_tenant), ["all", "fabrikam"], "tenant match is case-insensitive");
        assert!(routes(&NotificationSettings::default(), &medium).is_empty(), "no receivers, no routes");
    }

    #[test]
    fn groups_follow_group_by() {
        let mut settings = NotificationSettings {
            receivers: vec![receiver("soc", Severity::Low, vec![], vec![])],
            ..NotificationSettings::default()
        };
        let a = alert("a1", RuleId::FailedLogins, Severity::Medium, "contoso", 0);
        let mut b = alert("b1", RuleId::FailedLogins, Severity::High, "contoso", 0);
        b.user = Some("bob@contoso.com".into());
        let c = alert("c1", RuleId::MfaFatigue, Severity::High, "contoso", 0);
        let key = |a: &AlertEvent, s: &NotificationSettings| routes(s, a)[0].group.clone();

        assert_eq!(key(&a, &settings), key(&b, &settings), "same tenant and rule: one group");
        assert_ne!(key(&a, &settings), key(&c, &settings));
        assert_eq!(key(&a, &settings).label("rule"), Some("failed_logins"));
        assert_eq!(key(&a, &settings).id().len(), 32);

        settings.group_by = vec!["tenant".into(), "user".into()];
        assert_ne!(key(&a, &settings), key(&b, &settings), "split by user");
        assert_eq!(key(&a, &settings).label("user"), Some("alice@contoso.com"));
        settings.group_by.clear();
        assert_eq!(key(&a, &settings), key(&c, &settings), "no grouping labels: one group per receiver");
    }

    #[test]
    fn channels_are_stable_and_deduplicated() {
        let hook = |url: &str| WebhookTarget { kind: WebhookKind::Slack, url: url.into(), secret_env: None };
        let r = Receiver {
            name: "x".into(),
            email: vec!["a@contoso.com".into(), "b@contoso.com".into()],
            webhooks: vec![hook("https://h.test/1"), hook("https://h.test/2"), hook("https://h.test/1")],
            ..Receiver::default()
        };
        let ids: Vec<String> = channels(&r).into_iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], "mail");
        assert_eq!(ids[1], webhook_channel_id("https://h.test/1"));
        let reordered = Receiver { webhooks: vec![hook("https://h.test/2"), hook("https://h.test/1")], ..r };
        assert!(channels(&reordered).iter().any(|c| c.id == ids[1]));
    }
}
