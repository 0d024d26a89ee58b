//! The message a group becomes: one [`Notification`], rendered per channel.
//!
//! Per alert a reader gets who (the user), what (title and summary), where (IP address and
//! location), when (first and last record, in the configured time zone), why (the evidence in
//! `details`, such as Graph failure reasons), and a link to the alert in the web UI. New and
//! updated alerts come first; a storm is cut at `max_alerts_per_message` with a count of the rest.
//!
//! All text from records is escaped per format (see [`escape`]); subjects are single lines, and
//! header building is left to the mail library.

pub mod chat;
pub mod escape;
pub mod generic;
pub mod mail;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use m365mon_contracts::{AlertEvent, RuleId, Settings, Severity};
use serde_json::Value;

use crate::dedup::NotifyReason;
use crate::group::PendingAlert;
use crate::route::GroupKey;

pub use chat::{slack, teams};
pub use generic::{SIGNATURE_HEADER, generic, sign};
pub use mail::{MailContent, mail};

/// How an alert changed since the previous message of its group on this channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    New,
    Updated,
    Unchanged,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::New => "NEW",
            Change::Updated => "UPDATED",
            Change::Unchanged => "OPEN",
        }
    }
}

/// An alert in a message.
#[derive(Debug, Clone, Copy)]
pub struct AlertLine<'a> {
    pub alert: &'a AlertEvent,
    pub change: Change,
}

/// Everything a channel needs to render one message for a group.
#[derive(Debug, Clone)]
pub struct Notification<'a> {
    pub group: &'a GroupKey,
    pub reason: NotifyReason,
    /// All of the group's alerts, new and updated first, then by severity and recency.
    pub alerts: Vec<AlertLine<'a>>,
    pub timezone: Tz,
    pub ui_base_url: Option<&'a str>,
    pub max_alerts: usize,
    pub subject_prefix: &'a str,
    /// When the previous message of this group went out on this channel.
    pub previous_sent_at: Option<DateTime<Utc>>,
}

impl<'a> Notification<'a> {
    /// Builds the message for a delivery that covers `alerts`, where the previous message covered
    /// change sequences up to `previously_through`.
    pub fn new(
        group: &'a GroupKey,
        reason: NotifyReason,
        alerts: &[PendingAlert<'a>],
        previously_through: u64,
        previous_sent_at: Option<DateTime<Utc>>,
        settings: &'a Settings,
    ) -> Notification<'a> {
        let mut lines: Vec<(u64, AlertLine<'a>)> = alerts
            .iter()
            .map(|p| {
                let change = if p.seq <= previously_through || reason == NotifyReason::RepeatIntervalElapsed {
                    Change::Unchanged
                } else if p.alert.revision == 0 || previously_through == 0 {
                    Change::New
                } else {
                    Change::Updated
                };
                (p.seq, AlertLine { alert: p.alert, change })
            })
            .collect();
        lines.sort_by(|(sa, a), (sb, b)| {
            a.change
                .cmp(&b.change)
                .then(b.alert.severity.cmp(&a.alert.severity))
                .then(b.alert.last_seen.cmp(&a.alert.last_seen))
                .then(sb.cmp(sa))
        });
        let n = &settings.notifications;
        Notification {
            group,
            reason,
            alerts: lines.into_iter().map(|(_, line)| line).collect(),
            timezone: settings.timezone,
            ui_base_url: n.ui_base_url.as_deref(),
            max_alerts: n.max_alerts_per_message.max(1) as usize,
            subject_prefix: &n.subject_prefix,
            previous_sent_at,
        }
    }

    /// The alerts shown in full.
    pub fn shown(&self) -> &[AlertLine<'a>] {
        &self.alerts[..self.alerts.len().min(self.max_alerts)]
    }

    /// How many alerts are only counted.
    pub fn hidden(&self) -> usize {
        self.alerts.len().saturating_sub(self.max_alerts)
    }

    /// The highest severity in the group.
    pub fn severity(&self) -> Severity {
        self.alerts.iter().map(|l| l.alert.severity).max().unwrap_or(Severity::Low)
    }

    /// New plus updated alerts.
    pub fn changed(&self) -> usize {
        self.alerts.iter().filter(|l| l.change != Change::Unchanged).count()
    }

    /// The rule, when every alert has the same one.
    pub fn single_rule(&self) -> Option<RuleId> {
        let first = self.alerts.first()?.alert.rule;
        self.alerts.iter().all(|l| l.alert.rule == first).then_some(first)
    }

    /// The tenant, when every alert has the same one.
    pub fn single_tenant(&self) -> Option<&'a str> {
        let first = self.alerts.first()?.alert.tenant.as_str();
        self.alerts.iter().all(|l| l.alert.tenant == first).then_some(first)
    }

    /// The one-line subject: severity, rule, count (and how many are new), tenant.
    pub fn subject(&self) -> String {
        let mut subject = String::new();
        if !self.subject_prefix.is_empty() {
            subject.push_str(&escape::one_line(self.subject_prefix, 60));
            subject.push(' ');
        }
        if self.reason == NotifyReason::RepeatIntervalElapsed {
            subject.push_str("Reminder: ");
        }
        subject.push_str(&self.severity().as_str().to_ascii_uppercase());
        subject.push(' ');
        match self.single_rule() {
            Some(rule) => subject.push_str(rule_title(rule)),
            None => subject.push_str("Several rules"),
        }
        let total = self.alerts.len();
        if total == 1 {
            subject.push_str(": ");
            subject.push_str(&escape::one_line(&self.alerts[0].alert.title, 120));
        } else {
            subject.push_str(&format!(": {total} alerts"));
            let changed = self.changed();
            if changed > 0 && changed < total {
                subject.push_str(&format!(" ({changed} new or updated)"));
            }
        }
        if let Some(tenant) = self.single_tenant() {
            subject.push_str(" – tenant ");
            subject.push_str(&escape::one_line(tenant, 60));
        }
        escape::one_line(&subject, 250)
    }

    /// A sentence on why this message was sent.
    pub fn reason_text(&self) -> String {
        match (self.reason, self.previous_sent_at) {
            (NotifyReason::RepeatIntervalElapsed, Some(at)) => {
                format!(
                    "Reminder: these alerts are still open; nothing changed since the message of {}.",
                    local_time(at, self.timezone)
                )
            }
            (NotifyReason::NewOrUpdatedAlerts, Some(at)) => {
                format!("{} new or updated since the message of {}.", self.changed(), local_time(at, self.timezone))
            }
            _ => "New alerts.".to_string(),
        }
    }

    /// The link to an alert in the web UI, when its base URL is configured.
    pub fn link(&self, alert: &AlertEvent) -> Option<String> {
        self.ui_base_url
            .map(|base| format!("{}/alerts/{}", base.trim_end_matches('/'), escape::path_segment(&alert.id)))
    }

    /// The link to the alert list in the web UI.
    pub fn list_link(&self) -> Option<String> {
        self.ui_base_url.map(|base| format!("{}/alerts", base.trim_end_matches('/')))
    }
}

/// A rule's name for people.
pub fn rule_title(rule: RuleId) -> &'static str {
    match rule {
        RuleId::FailedLogins => "Failed sign-ins",
        RuleId::PasswordSpray => "Password spray",
        RuleId::HighRiskCountry => "Sign-in from a high-risk country",
        RuleId::NewCountry => "Sign-in from a new country",
        RuleId::AfterHours => "Sign-in after hours",
        RuleId::AdminSignIn => "Admin sign-in",
        RuleId::ImpossibleTravel => "Impossible travel",
        RuleId::SensitiveChange => "Sensitive directory change",
        RuleId::MfaFatigue => "MFA fatigue",
        RuleId::LegacyAuth => "Legacy authentication",
        RuleId::DisabledAccount => "Sign-in to a disabled account",
        RuleId::RiskySignIn => "Risky sign-in",
        RuleId::BreakGlass => "Break-glass account sign-in",
    }
}

/// A time in the configured zone, e.g. `2026-03-02 10:15:00 CET`.
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// When: first and last record of the incident, and how many records.
pub fn when_text(alert: &AlertEvent, tz: Tz) -> String {
    let records = if alert.count == 1 { "1 record".to_string() } else { format!("{} records", alert.count) };
    if alert.first_seen == alert.last_seen {
        format!("{} ({records})", local_time(alert.first_seen, tz))
    } else {
        format!("{} to {} ({records})", local_time(alert.first_seen, tz), local_time(alert.last_seen, tz))
    }
}

/// Where: the IP address and any location the evidence names.
pub fn where_text(alert: &AlertEvent) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(ip) = &alert.ip {
        parts.push(escape::one_line(ip, 64));
    }
    if let Some(location) = location_text(&alert.details) {
        parts.push(location);
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn location_text(details: &Value) -> Option<String> {
    // A single place (`"location": "Berlin, DE"` or an object), two places (`from` and `to`, as
    // impossible travel gives them), or the most frequent of several (`locations`, with counts).
    if let Some(location) = details.get("location") {
        return place_text(location);
    }
    if let (Some(from), Some(to)) = (details.get("from").and_then(place_text), details.get("to").and_then(place_text)) {
        return Some(format!("{from} → {to}"));
    }
    let locations = details.get("locations")?.as_array()?;
    let places: Vec<String> =
        locations.iter().filter_map(|l| place_text(l.get("value").unwrap_or(l))).take(3).collect();
    (!places.is_empty()).then(|| places.join("; "))
}

fn place_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(escape::one_line(s, 120)),
        Value::Object(map) => {
            let parts: Vec<String> = ["city", "state", "countryOrRegion", "country"]
                .iter()
                .filter_map(|k| map.get(*k).and_then(Value::as_str))
                .filter(|s| !s.trim().is_empty())
                .map(|s| escape::one_line(s, 60))
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        _ => None,
    }
}

/// At most this many evidence lines per alert.
const MAX_FACTS: usize = 40;
/// At most this long an evidence value.
const MAX_VALUE: usize = 300;

/// Why: the evidence in `details`, flattened to `(name, value)` lines (`locations[1].city`),
/// single-line and bounded in number and length. The values are raw text: escape per format.
pub fn evidence(details: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut total = 0;
    flatten("", details, 0, &mut out, &mut total);
    if total > MAX_FACTS {
        let more = total - (MAX_FACTS - 1);
        out.truncate(MAX_FACTS - 1);
        out.push(("…".into(), format!("{more} more lines in the alert")));
    }
    out
}

/// Appends up to `MAX_FACTS` lines to `out` and counts all of them in `total`.
fn flatten(path: &str, value: &Value, depth: usize, out: &mut Vec<(String, String)>, total: &mut usize) {
    let mut push = |name: String, text: String| {
        *total += 1;
        if out.len() < MAX_FACTS {
            out.push((name, text));
        }
    };
    let name = if path.is_empty() { "details".to_string() } else { path.to_string() };
    match value {
        _ if is_empty(value) => {}
        Value::Object(map) if depth < 4 => {
            for (key, inner) in map {
                let key = escape::one_line(key, 60);
                let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                flatten(&child, inner, depth + 1, out, total);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(is_value_count) => {
            // Top-N lists (`[{"value": "alice@…", "count": 3}, …]`) read best on one line.
            let texts: Vec<String> =
                items.iter().map(|i| format!("{} ({})", scalar_text(&i["value"]), scalar_text(&i["count"]))).collect();
            push(name, escape::one_line(&texts.join("; "), MAX_VALUE));
        }
        Value::Array(items) if depth < 4 && items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let texts: Vec<String> = items.iter().map(scalar_text).collect();
            push(name, escape::one_line(&texts.join("; "), MAX_VALUE));
        }
        Value::Array(items) if depth < 4 && items.iter().all(Value::is_object) => {
            // Records as evidence (sign-ins, directory changes): one line each, the first few.
            for (i, inner) in items.iter().enumerate() {
                if i == MAX_RECORDS {
                    push(format!("{name}[…]"), format!("{} more", items.len() - MAX_RECORDS));
                    break;
                }
                let mut parts = Vec::new();
                item_parts("", inner, 0, &mut parts);
                push(format!("{name}[{}]", i + 1), escape::one_line(&parts.join(" · "), MAX_VALUE * 2));
            }
        }
        Value::Array(items) if depth < 4 => {
            for (i, inner) in items.iter().enumerate() {
                flatten(&format!("{name}[{i}]"), inner, depth + 1, out, total);
            }
        }
        other => push(name, escape::one_line(&scalar_text(other), MAX_VALUE)),
    }
}

/// At most this many records of an evidence list are shown.
const MAX_RECORDS: usize = 5;

/// Nothing worth a line: null, empty text or lists, and Graph's "none".
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty() || s == "none",
        Value::Array(items) => items.iter().all(is_empty),
        Value::Object(map) => map.values().all(is_empty),
        _ => false,
    }
}

/// The parts of one evidence record, `key: value`, record ids left out (the UI links them).
fn item_parts(path: &str, value: &Value, depth: usize, parts: &mut Vec<String>) {
    match value {
        _ if is_empty(value) => {}
        Value::Object(map) if depth < 3 => {
            // Who, when, from where and why first; the rest after.
            const FIRST: [&str; 12] = [
                "time",
                "user",
                "ip",
                "location",
                "error_code",
                "failure_reason",
                "activity",
                "initiator",
                "targets",
                "result",
                "result_reason",
                "app",
            ];
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()));
            for key in keys {
                let inner = &map[key];
                if key == "record_id" || key == "id" {
                    continue;
                }
                let key = escape::one_line(key, 60);
                let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                item_parts(&child, inner, depth + 1, parts);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let texts: Vec<String> = items.iter().map(scalar_text).collect();
            parts.push(format!("{path}: {}", texts.join(", ")));
        }
        Value::Array(items) if depth < 3 => {
            for (i, inner) in items.iter().enumerate().take(MAX_RECORDS) {
                item_parts(&format!("{path}[{}]", i + 1), inner, depth + 1, parts);
            }
        }
        other => parts.push(format!("{path}: {}", scalar_text(other))),
    }
}

fn is_value_count(item: &Value) -> bool {
    item.as_object().is_some_and(|m| m.len() == 2 && m.contains_key("value") && m.contains_key("count"))
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alert::tests::alert;
    use chrono::TimeZone;

    pub(crate) fn hostile_alert() -> AlertEvent {
        let mut a = alert("0123456789abcdef0123456789abcdef", RuleId::ImpossibleTravel, Severity::High, "contoso", 0);
        a.title = "Impossible travel for <b>eve</b>\r\nBcc: victim@contoso.com".into();
        a.user = Some("eve@contoso.com\r\nX-Injected: 1".into());
        a.summary = "Display name <img src=x onerror=alert(1)> & friends".into();
        a.details = serde_json::json!({
            "user_display_name": "Eve <script>alert('x')</script>\r\nReply-To: attacker@evil.test",
            "user_agent": "Mozilla/5.0 \"><iframe src=//evil.test>",
            "app_display_name": "[Click me](https://evil.test)",
            "location": {"city": "Paris</td><td>\r\nX-City: 1", "countryOrRegion": "FR"},
            "locations": [{"city": "<b>Berlin</b>", "countryOrRegion": "DE"}, {"city": "Sydney", "countryOrRegion": "AU"}],
            "speed_kmh": 16000.5,
            "failure_reasons": ["50126: Invalid username or password"]
        });
        a
    }

    #[test]
    fn evidence_is_flat_bounded_and_single_line() {
        let facts = evidence(&hostile_alert().details);
        let find = |k: &str| facts.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(find("locations[2]").as_deref(), Some("city: Sydney · countryOrRegion: AU"));
        assert_eq!(find("speed_kmh").as_deref(), Some("16000.5"));
        assert_eq!(find("failure_reasons").as_deref(), Some("50126: Invalid username or password"));
        let top = evidence(
            &serde_json::json!({"users": [{"value": "a@x.test", "count": 3}, {"value": "b@x.test", "count": 1}]}),
        );
        assert_eq!(top, [("users".to_string(), "a@x.test (3); b@x.test (1)".to_string())]);
        assert!(facts.iter().all(|(n, v)| !n.contains(['\r', '\n']) && !v.contains(['\r', '\n'])));
        let big: serde_json::Map<String, Value> = (0..100).map(|i| (format!("k{i}"), Value::from(i))).collect();
        let facts = evidence(&Value::Object(big));
        assert_eq!(facts.len(), MAX_FACTS);
        assert!(facts.last().unwrap().1.contains("61 more"));
    }

    #[test]
    fn when_and_where_use_the_time_zone_and_the_evidence() {
        let mut a = alert("a", RuleId::FailedLogins, Severity::Medium, "t", 3);
        a.details = serde_json::json!({"location": {"city": "Berlin", "countryOrRegion": "DE"}});
        let when = when_text(&a, chrono_tz::Europe::Berlin);
        assert_eq!(when, "2026-03-02 10:15:00 CET to 2026-03-02 10:18:00 CET (8 records)");
        assert_eq!(where_text(&a).as_deref(), Some("203.0.113.7, Berlin, DE"));
        a.details =
            serde_json::json!({"from": {"city": "Berlin", "country": "DE"}, "to": {"city": "Sydney", "country": "AU"}});
        assert_eq!(where_text(&a).as_deref(), Some("203.0.113.7, Berlin, DE → Sydney, AU"));
        a.details = serde_json::json!({"locations": [{"value": "Moscow, RU", "count": 14}]});
        assert_eq!(where_text(&a).as_deref(), Some("203.0.113.7, Moscow, RU"));
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(local_time(summer, chrono_tz::Europe::Berlin), "2026-07-01 14:00:00 CEST");
    }
}
