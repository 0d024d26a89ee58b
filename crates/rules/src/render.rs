//! Titles, summaries and details for people: these end up in email and chat, so they say what
//! happened, to whom, from where and why it matters, in plain words, with the evidence in
//! `details`. Text from records (names, user agents, cities) is data here: the notifier escapes
//! it for HTML and mail.

use std::borrow::Cow;

use chrono_tz::Tz;
use m365mon_contracts::RuleId;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::event::{AuditEvent, AuditTarget, SignInEvent};
use crate::incident::Incident;
use crate::time::{Micros, datetime};

/// Longest piece of record text copied into details (modified properties can hold whole
/// Conditional Access policies).
const MAX_TEXT: usize = 600;
/// Entries listed per counted dimension in details.
const TOP: usize = 20;

pub(crate) struct Rendered {
    pub title: String,
    pub summary: String,
    pub details: Value,
}

fn clip(text: &str) -> String {
    clipped(text).into_owned()
}

/// [`clip`] without a copy when the text is short enough.
fn clipped(text: &str) -> Cow<'_, str> {
    // Cheap test first: no more bytes than the limit means no more characters either.
    if text.len() <= MAX_TEXT || text.chars().count() <= MAX_TEXT {
        return Cow::Borrowed(text);
    }
    let mut out: String = text.chars().take(MAX_TEXT).collect();
    out.push('…');
    Cow::Owned(out)
}

/// "City, State, CC" from what Graph knows.
pub(crate) fn place(s: &SignInEvent<'_>) -> Option<String> {
    let parts: Vec<&str> =
        [s.city.as_deref(), s.state.as_deref(), s.country.as_deref()].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn when(t: Micros, tz: Tz) -> String {
    datetime(t).with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// One sign-in as evidence: its fields in alphabetical order, so the text is the same as the
/// JSON object of these fields written by serde_json (whose objects are sorted maps).
#[derive(Serialize)]
struct SignInItem<'a> {
    additional_details: Option<Cow<'a, str>>,
    app: Option<&'a str>,
    authentication_requirement: Option<&'a str>,
    client_app: Option<&'a str>,
    error_code: Option<i64>,
    failure_reason: Option<Cow<'a, str>>,
    interactive: bool,
    ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_time: Option<&'a str>,
    location: Option<String>,
    record_id: &'a str,
    risk_detail: Option<&'a str>,
    risk_event_types: &'a [Cow<'a, str>],
    risk_level_aggregated: Option<&'a str>,
    risk_level_during_sign_in: Option<&'a str>,
    risk_state: Option<&'a str>,
    time: String,
    user: Option<&'a str>,
    user_agent: Option<Cow<'a, str>>,
}

/// One sign-in as evidence (JSON text), with its local time for `after_hours`.
pub(crate) fn sign_in_item(s: &SignInEvent<'_>, local_time: Option<&str>) -> String {
    let item = SignInItem {
        additional_details: s.additional_details.as_deref().map(clipped),
        app: s.app_display_name.as_deref(),
        authentication_requirement: s.authentication_requirement.as_deref(),
        client_app: s.client_app_used.as_deref(),
        error_code: s.error_code,
        failure_reason: s.failure_reason.as_deref().map(clipped),
        interactive: s.interactive,
        ip: s.ip_address.as_deref(),
        local_time,
        location: place(s),
        record_id: &s.id,
        risk_detail: s.risk_detail.as_deref(),
        risk_event_types: &s.risk_event_types,
        risk_level_aggregated: s.risk_level_aggregated.as_deref(),
        risk_level_during_sign_in: s.risk_level_during_sign_in.as_deref(),
        risk_state: s.risk_state.as_deref(),
        time: datetime(s.time).to_rfc3339(),
        user: s.user_principal_name.as_deref().or(s.service_principal.as_deref()),
        user_agent: s.user_agent.as_deref().map(clipped),
    };
    // Serialising borrowed text and numbers cannot fail.
    serde_json::to_string(&item).unwrap_or_default()
}

/// A target's name for people: UPN, else display name, else id.
pub(crate) fn target_name(t: &AuditTarget<'_>) -> Option<String> {
    t.user_principal_name.as_deref().or(t.display_name.as_deref()).or(t.id.as_deref()).map(str::to_string)
}

/// Graph writes modified values as JSON text (`"\"Global Administrator\""`, `["a"]`): show the
/// plain text when it is a single string.
fn plain(value: &str) -> String {
    match serde_json::from_str::<Value>(value) {
        Ok(Value::String(s)) => clip(&s),
        Ok(Value::Array(items)) if items.len() == 1 && items[0].is_string() => clip(items[0].as_str().unwrap_or("")),
        _ => clip(value),
    }
}

/// One directory change as evidence: who did what to whom.
pub(crate) fn change_item(a: &AuditEvent<'_>) -> Value {
    json!({
        "time": datetime(a.time).to_rfc3339(),
        "record_id": a.id,
        "activity": a.activity,
        "category": a.category,
        "service": a.logged_by_service,
        "operation": a.operation_type,
        "result": a.result,
        "result_reason": a.result_reason.as_deref().map(clip),
        "initiator": {
            "user": a.initiator_upn,
            "user_id": a.initiator_user_id,
            "ip": a.initiator_ip,
            "app": a.initiator_app,
            "app_id": a.initiator_app_id,
        },
        "targets": a.targets.iter().map(|t| json!({
            "type": t.resource_type,
            "id": t.id,
            "display_name": t.display_name,
            "user_principal_name": t.user_principal_name,
            "modified_properties": t.modified_properties.iter().map(|(name, old, new)| json!({
                "name": name,
                "old": old.as_deref().map(plain),
                "new": new.as_deref().map(plain),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "additional_details": a.additional_details.iter().map(|(k, v)| json!({"key": k, "value": clip(v)})).collect::<Vec<_>>(),
    })
}

/// A counted dimension, most frequent first.
fn top(incident: &Incident, dimension: &str) -> Vec<(String, u64)> {
    let mut list: Vec<(String, u64)> = incident
        .facts
        .counters
        .get(dimension)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}

fn top_json(incident: &Incident, dimension: &str) -> Value {
    Value::Array(top(incident, dimension).into_iter().take(TOP).map(|(v, n)| json!({"value": v, "count": n})).collect())
}

fn distinct(incident: &Incident, dimension: &str) -> usize {
    incident.facts.counters.get(dimension).map_or(0, |m| m.len())
}

fn reasons_json(incident: &Incident) -> Value {
    Value::Array(
        top(incident, "failure_reasons")
            .into_iter()
            .take(TOP)
            .map(|(k, n)| {
                let (code, reason) = k.split_once('\u{1f}').unwrap_or((&k, ""));
                json!({"error_code": code.parse::<i64>().ok(), "reason": reason, "count": n})
            })
            .collect(),
    )
}

fn first_reason(incident: &Incident) -> Option<String> {
    top(incident, "failure_reasons").into_iter().next().map(|(k, _)| {
        let (code, reason) = k.split_once('\u{1f}').unwrap_or((&k, ""));
        if reason.is_empty() { code.to_string() } else { format!("{code} ({reason})") }
    })
}

/// "a, b and 3 more".
fn list(values: &[(String, u64)], shown: usize) -> String {
    let names: Vec<&str> = values.iter().take(shown).map(|(v, _)| v.as_str()).collect();
    let mut text = names.join(", ");
    if values.len() > shown {
        text.push_str(&format!(" and {} more", values.len() - shown));
    }
    text
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

fn common(incident: &Incident) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("records".into(), json!(incident.count()));
    m
}

pub(crate) fn render(incident: &Incident, cfg: &Config) -> Rendered {
    let tz = cfg.settings.timezone;
    let user = incident.user.clone().unwrap_or_else(|| "an unknown account".into());
    let first = when(incident.first_seen, tz);
    let last = when(incident.last_seen, tz);
    let span = if incident.first_seen == incident.last_seen {
        format!("at {first}")
    } else {
        format!("between {first} and {last}")
    };
    let n = incident.count();
    let attempts = incident.facts.attempts.len() as u64;
    let ips = top(incident, "ips");
    let mut d = common(incident);
    // The evidence items, parsed once.
    let mut items: Vec<Value> = incident.facts.item_values().collect();
    let (title, summary) = match incident.rule {
        RuleId::FailedLogins => {
            let fl = &cfg.settings.failed_logins;
            let lockouts = distinct(incident, "lockouts") as u64;
            d.insert("attempts".into(), json!(attempts));
            d.insert("threshold".into(), json!(fl.threshold));
            d.insert("window_minutes".into(), json!(fl.window_minutes));
            d.insert("lockouts".into(), json!(lockouts));
            let mut summary = format!(
                "{user} had {} {span} (at least {} within {} minutes), from {}: {}.",
                plural(attempts, "failed sign-in attempt", "failed sign-in attempts"),
                fl.threshold,
                fl.window_minutes,
                plural(ips.len() as u64, "IP address", "IP addresses"),
                list(&ips, 3)
            );
            if let Some(reason) = first_reason(incident) {
                summary.push_str(&format!(" Most common error: {reason}."));
            }
            if lockouts > 0 {
                summary.push_str(&format!(" {} ended in a lockout (50053).", plural(lockouts, "attempt", "attempts")));
            }
            summary.push_str(&format!(
                " If {user} did not mistype a password, someone is guessing it: check the sources and whether a successful sign-in followed."
            ));
            (format!("{} for {user}", plural(attempts, "failed sign-in attempt", "failed sign-in attempts")), summary)
        }
        RuleId::PasswordSpray => {
            let ps = &cfg.settings.password_spray;
            let users = top(incident, "users");
            let ip = incident.ip.clone().unwrap_or_else(|| incident.subject.clone());
            let location =
                top(incident, "locations").into_iter().next().map(|(l, _)| format!(" ({l})")).unwrap_or_default();
            d.insert("attempts".into(), json!(attempts));
            d.insert("distinct_users".into(), json!(users.len()));
            d.insert("threshold".into(), json!(ps.distinct_users));
            d.insert("window_minutes".into(), json!(ps.window_minutes));
            d.insert(
                "users".into(),
                Value::Array(users.iter().map(|(u, c)| json!({"value": u, "count": c})).collect()),
            );
            d.insert("lockouts".into(), json!(distinct(incident, "lockouts")));
            let summary = format!(
                "{ip}{location} failed to sign in as {} {span} (at least {} users within {} minutes), {} in all. Targets include {}. \
                 A spray tries a few common passwords against many accounts: check whether any of these users signed in successfully from this address, and block it.",
                plural(users.len() as u64, "user", "different users"),
                ps.distinct_users,
                ps.window_minutes,
                plural(attempts, "attempt", "attempts"),
                list(&users, 5)
            );
            (format!("Password spray from {ip}: {}", plural(users.len() as u64, "user", "users")), summary)
        }
        RuleId::MfaFatigue => {
            let mf = &cfg.settings.mfa_fatigue;
            let details = top(incident, "additional_details");
            let fraud = details.iter().any(|(v, _)| v.to_ascii_lowercase().contains("fraud"));
            d.insert("attempts".into(), json!(attempts));
            d.insert("threshold".into(), json!(mf.threshold));
            d.insert("window_minutes".into(), json!(mf.window_minutes));
            d.insert("fraud_reported".into(), json!(fraud));
            let mut summary = format!(
                "{user} had {} {span} (at least {} within {} minutes), from {}.",
                plural(attempts, "MFA prompt denied or not answered", "MFA prompts denied or not answered"),
                mf.threshold,
                mf.window_minutes,
                list(&ips, 3)
            );
            if !details.is_empty() {
                summary.push_str(&format!(" Microsoft says: {}.", list(&details, 3)));
            }
            if fraud {
                summary.push_str(" The user reported a prompt as fraud.");
            }
            summary.push_str(&format!(
                " Someone who knows {user}'s password may be sending prompts hoping one gets approved: if {user} did not try to sign in, reset the password and review their MFA methods."
            ));
            (
                format!("{} for {user}", plural(attempts, "MFA prompt denied", "MFA prompts denied or unanswered")),
                summary,
            )
        }
        RuleId::HighRiskCountry => {
            let country = incident.facts.labels.get("country").cloned().unwrap_or_default();
            let locations = top(incident, "locations");
            d.insert("country".into(), json!(country));
            d.insert("high_risk_countries".into(), json!(cfg.settings.high_risk_countries));
            let summary = format!(
                "{user} signed in successfully from {} ({}) {span}: {}. {country} is on the high-risk country list. \
                 If nobody expects {user} there, treat the account as compromised: revoke sessions and reset the password.",
                list(&locations, 2),
                list(&ips, 3),
                plural(n, "sign-in", "sign-ins")
            );
            (format!("Sign-in from high-risk country {country} for {user}"), summary)
        }
        RuleId::NewCountry => {
            let country = incident.facts.labels.get("country").cloned().unwrap_or_default();
            let known: Vec<String> =
                incident.facts.counters.get("known_countries").map(|m| m.keys().cloned().collect()).unwrap_or_default();
            let locations = top(incident, "locations");
            d.insert("country".into(), json!(country));
            d.insert("known_countries".into(), json!(known));
            d.insert("learning_days".into(), json!(cfg.settings.new_country.learning_days));
            let known_text =
                if known.is_empty() { "none outside trusted ranges".to_string() } else { known.join(", ") };
            let summary = format!(
                "{user} signed in successfully from {country} for the first time: {} ({}), {span}. Countries seen before: {known_text}. \
                 If {user} is not travelling, the account may be in someone else's hands.",
                list(&locations, 2),
                list(&ips, 3)
            );
            (format!("{user} signed in from a new country: {country}"), summary)
        }
        RuleId::AfterHours => {
            let wh = &cfg.settings.working_hours;
            let days: Vec<String> = wh.days.iter().map(|d| d.to_string()).collect();
            let hours =
                format!("{} {}–{} {}", days.join(" "), wh.start.format("%H:%M"), wh.end.format("%H:%M"), tz.name());
            let first_local =
                items.first().and_then(|v| v["local_time"].as_str().map(str::to_string)).unwrap_or_default();
            d.insert("working_hours".into(), json!(hours));
            d.insert("timezone".into(), json!(tz.name()));
            let summary = format!(
                "{user} signed in outside working hours ({hours}): {}, the first on {first_local}, from {}. \
                 Unusual hours alone are weak evidence; together with a new place or device they are not.",
                plural(n, "successful interactive sign-in", "successful interactive sign-ins"),
                list(&ips, 3)
            );
            (format!("{user} signed in outside working hours ({first_local})"), summary)
        }
        RuleId::AdminSignIn => {
            let source = incident.facts.labels.get("privilege").cloned().unwrap_or_default();
            let requirements = top(incident, "authentication_requirements");
            let single = requirements.iter().any(|(r, _)| r.eq_ignore_ascii_case("singleFactorAuthentication"));
            d.insert("privilege".into(), json!(source));
            d.insert("single_factor".into(), json!(single));
            let mut summary = format!(
                "Privileged account {user} ({}) signed in {span}: {}, from {}.",
                if source == "admin_users" { "listed in admin_users" } else { "member of a directory role" },
                plural(n, "sign-in", "sign-ins"),
                list(&ips, 3)
            );
            if single {
                summary.push_str(" At least one sign-in used a single factor: admin accounts should always need MFA.");
            }
            (format!("Privileged account {user} signed in"), summary)
        }
        RuleId::ImpossibleTravel => {
            let fastest = items
                .iter()
                .max_by(|a, b| {
                    let sa = a["speed_kmh"].as_f64().unwrap_or(0.0);
                    let sb = b["speed_kmh"].as_f64().unwrap_or(0.0);
                    sa.total_cmp(&sb)
                })
                .cloned()
                .unwrap_or(Value::Null);
            let describe = |p: &Value| {
                let city = p["city"].as_str().unwrap_or("");
                let country = p["country"].as_str().unwrap_or("");
                let name = if city.is_empty() { country.to_string() } else { format!("{city}, {country}") };
                format!("{name} ({})", p["ip"].as_str().unwrap_or("unknown address"))
            };
            let from = describe(&fastest["from"]);
            let to = describe(&fastest["to"]);
            let distance = fastest["distance_km"].as_f64().unwrap_or(0.0);
            let hours = fastest["hours"].as_f64().unwrap_or(0.0);
            let speed = fastest["speed_kmh"].as_f64().unwrap_or(0.0);
            let it = &cfg.settings.impossible_travel;
            d.insert("max_speed_kmh".into(), json!(it.max_speed_kmh));
            d.insert("min_distance_km".into(), json!(it.min_distance_km));
            d.insert("fastest".into(), fastest.clone());
            d.insert("legs".into(), Value::Array(std::mem::take(&mut items)));
            let from_short = from.split(" (").next().unwrap_or("").to_string();
            let to_short = to.split(" (").next().unwrap_or("").to_string();
            let summary = format!(
                "{user} signed in from {from} at {} and from {to} at {}: {distance:.0} km in {hours:.2} h, {speed:.0} km/h (limit {:.0} km/h). \
                 Nobody travels that fast: one of the two sign-ins is probably someone else, unless a VPN or proxy not listed in trusted_ips explains it.",
                fastest["from"]["time"].as_str().unwrap_or(""),
                fastest["to"]["time"].as_str().unwrap_or(""),
                it.max_speed_kmh
            );
            (format!("Impossible travel for {user}: {from_short} → {to_short}"), summary)
        }
        RuleId::SensitiveChange => {
            let activity = incident.facts.labels.get("activity").cloned().unwrap_or_default();
            let targets = top(incident, "targets");
            let initiator = incident.subject.split_once('|').map(|(_, who)| who.to_string()).unwrap_or_default();
            let change = role_or_property(&items);
            d.insert("activity".into(), json!(activity));
            d.insert("initiator".into(), json!(initiator));
            d.insert("targets".into(), top_json(incident, "targets"));
            let target_text = if targets.is_empty() { String::new() } else { format!(" on {}", list(&targets, 3)) };
            let mut summary =
                format!("{initiator} ran \"{activity}\"{target_text}, {}, {span}.", plural(n, "time", "times"));
            if let Some(change) = &change {
                summary.push_str(&format!(" Changed: {change}."));
            }
            summary.push_str(
                " This is a sensitive directory change: confirm that it was planned and made by the right person.",
            );
            let title_target = targets
                .first()
                .map(|(t, _)| format!(" ({t}{})", if targets.len() > 1 { " …" } else { "" }))
                .unwrap_or_default();
            (format!("{initiator}: {activity}{title_target}"), summary)
        }
        RuleId::LegacyAuth => {
            let protocols = top(incident, "legacy_protocols");
            d.insert("legacy_protocols".into(), top_json(incident, "legacy_protocols"));
            let summary = format!(
                "{user} signed in successfully over {} {span}: {}, from {}. Legacy protocols cannot do MFA, which is why password sprays use them; \
                 block legacy authentication with Conditional Access, or exempt this account if it is a known device or service.",
                list(&protocols, 3),
                plural(n, "sign-in", "sign-ins"),
                list(&ips, 3)
            );
            (format!("{user} signed in over a legacy protocol ({})", list(&protocols, 1)), summary)
        }
        RuleId::DisabledAccount => {
            let apps = top(incident, "apps");
            let summary = format!(
                "Someone tried to sign in as the disabled account {user} {span}: {}, from {}, to {}. \
                 A disabled account is either a leftover in a script or device, or a target of someone who does not know it is disabled.",
                plural(n, "attempt", "attempts"),
                list(&ips, 3),
                list(&apps, 3)
            );
            (format!("Sign-in attempts on disabled account {user}"), summary)
        }
        RuleId::RiskySignIn => {
            let rank = incident.facts.maxima.get("risk_level").copied().unwrap_or(0.0);
            let level = if rank >= 3.0 {
                "high"
            } else if rank >= 2.0 {
                "medium"
            } else {
                "low"
            };
            let types = top(incident, "risk_event_types");
            d.insert("risk_level".into(), json!(level));
            d.insert("risk_event_types".into(), top_json(incident, "risk_event_types"));
            d.insert("risk_states".into(), top_json(incident, "risk_states"));
            let mut summary = format!(
                "Microsoft Entra ID Protection rated {} for {user} {span} as {level} risk, from {}.",
                plural(n, "sign-in", "sign-ins"),
                list(&ips, 3)
            );
            if !types.is_empty() {
                summary.push_str(&format!(" Detections: {}.", list(&types, 5)));
            }
            summary.push_str(" The risk is not remediated or dismissed: investigate, then confirm it compromised or safe in Entra ID.");
            let mut level_title = level.to_string();
            if let Some(c) = level_title.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            (format!("{level_title}-risk sign-in for {user}"), summary)
        }
        RuleId::BreakGlass => {
            let kinds = top(incident, "kinds");
            let used = kinds.iter().any(|(k, _)| k == "sign-in");
            let changed = kinds.iter().any(|(k, _)| k.starts_with("change"));
            d.insert("kinds".into(), top_json(incident, "kinds"));
            let what = match (used, changed) {
                (true, true) => "used and changed",
                (false, true) => "changed",
                _ => "used",
            };
            let summary = format!(
                "The emergency-access account {user} was {what} {span} ({}, from {}). Emergency accounts are for when everything else fails: \
                 unless someone announced this, treat it as an incident.",
                plural(n, "event", "events"),
                if ips.is_empty() { "no address recorded".to_string() } else { list(&ips, 3) }
            );
            (format!("Emergency-access account {user} {what}"), summary)
        }
    };
    if !matches!(incident.rule, RuleId::ImpossibleTravel) {
        if incident.facts.counters.contains_key("failure_reasons") {
            d.insert("failure_reasons".into(), reasons_json(incident));
        }
        for dimension in ["additional_details", "ips", "locations", "apps", "client_apps", "user_agents", "activities"]
        {
            if incident.facts.counters.contains_key(dimension) {
                d.insert(dimension.into(), top_json(incident, dimension));
            }
        }
        let key = if matches!(incident.rule, RuleId::SensitiveChange) { "changes" } else { "events" };
        d.insert(key.into(), Value::Array(items));
    }
    Rendered { title, summary, details: Value::Object(d) }
}

/// For role and property changes: "Role.DisplayName → Global Administrator".
fn role_or_property(items: &[Value]) -> Option<String> {
    let mut parts = Vec::new();
    for item in items {
        for target in item["targets"].as_array().into_iter().flatten() {
            for p in target["modified_properties"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or("");
                let new = p["new"].as_str().unwrap_or("");
                if name.is_empty() || new.is_empty() {
                    continue;
                }
                let old = p["old"].as_str().unwrap_or("");
                let text =
                    if old.is_empty() { format!("{name} → {new}") } else { format!("{name}: {old} → {new}") };
                if !parts.contains(&text) {
                    parts.push(text);
                }
                if parts.len() >= 3 {
                    return Some(parts.join("; "));
                }
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
