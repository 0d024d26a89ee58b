//! Incidents: one alert per incident, growing while the incident goes on.
//!
//! An incident is identified by its rule, tenant, subject (a user, an IP address, an activity
//! and its initiator …) and a window start that comes from the records' own event times (a UTC
//! day for most rules, the off-hours period for `after_hours`), never from arrival: so the id
//! is the same in every replay and for every arrival order (design §3).
//!
//! It is published (revision 0) as soon as it exists, then again (revision 1, 2 …) when it has
//! grown, at most once per `realert_minutes` of event time, and a last time when it closes with
//! unpublished growth. `count`, `event_ids` and the details are built from the set of member
//! records (deduplicated by record id), so a redelivered or updated record never counts twice.

use std::collections::{BTreeMap, BTreeSet};

use m365mon_contracts::alert::MAX_EVENT_IDS;
use m365mon_contracts::{AlertEvent, RuleId};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::event::SignInEvent;
use crate::keys::{self, KeySet};
use crate::render;
use crate::time::{Micros, datetime};

/// Distinct values kept per counted dimension; later values count as "others".
const MAX_DISTINCT: usize = 200;
/// Evidence items (sign-ins, changes, travel legs) kept per incident: the earliest ones.
pub(crate) const MAX_ITEMS: usize = 20;

/// Where an incident lives in the engine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct IncidentKey {
    pub rule: RuleId,
    pub subject: String,
    pub window_start: Micros,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Incident {
    pub id: String,
    pub rule: RuleId,
    pub subject: String,
    pub window_start: Micros,
    /// After the watermark passes this, the incident takes no more members.
    pub close_at: Micros,
    pub user: Option<String>,
    pub ip: Option<String>,
    /// The earliest member, which decides `ip`.
    earliest: Option<(Micros, String)>,
    pub first_seen: Micros,
    pub last_seen: Micros,
    members: KeySet,
    event_ids: BTreeSet<(Micros, String)>,
    pub facts: Facts,
    revision: u32,
    last_published: Option<Micros>,
    dirty: bool,
}

/// Evidence accumulated from the members; commutative, so the final details do not depend on
/// the order the members came in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Facts {
    /// dimension → value → count.
    pub counters: BTreeMap<String, BTreeMap<String, u64>>,
    /// Distinct sign-in attempts (correlation ids).
    pub attempts: KeySet,
    /// Evidence items by (time, record id): the earliest [`MAX_ITEMS`], as compact JSON text
    /// (a parsed JSON tree costs several times the memory; items are read only to publish).
    #[serde(with = "crate::serde_vec")]
    pub items: BTreeMap<(Micros, String), Box<str>>,
    /// Named maxima (speed, risk level …).
    pub maxima: BTreeMap<String, f64>,
    /// Named values that describe the incident (a country, the privilege source …).
    pub labels: BTreeMap<String, String>,
}

impl Facts {
    pub fn count(&mut self, dimension: &str, value: &str) {
        if !self.counters.contains_key(dimension) {
            self.counters.insert(dimension.to_string(), BTreeMap::new());
        }
        let Some(counter) = self.counters.get_mut(dimension) else { return };
        if let Some(n) = counter.get_mut(value) {
            *n += 1;
        } else if counter.len() < MAX_DISTINCT {
            counter.insert(value.to_string(), 1);
        } else {
            *counter.entry("(others)".to_string()).or_insert(0) += 1;
        }
    }

    /// Notes that `value` belongs to the dimension (once; no count).
    pub fn note(&mut self, dimension: &str, value: &str) -> bool {
        let set = self.counters.entry(dimension.to_string()).or_default();
        if set.contains_key(value) || set.len() >= MAX_DISTINCT {
            return false;
        }
        set.insert(value.to_string(), 1);
        true
    }

    /// Adds an evidence item; `true` when it was not there yet.
    pub fn item(&mut self, time: Micros, id: &str, value: serde_json::Value) -> bool {
        self.item_with(time, id, || value.to_string())
    }

    /// Adds an evidence item, as JSON text built only if it is kept (the earliest [`MAX_ITEMS`] are).
    pub fn item_with(&mut self, time: Micros, id: &str, json: impl FnOnce() -> String) -> bool {
        if self.items.len() >= MAX_ITEMS
            && self.items.last_key_value().is_some_and(|((t, i), _)| (*t, i.as_str()) <= (time, id))
        {
            return false;
        }
        let key = (time, id.to_string());
        if self.items.contains_key(&key) {
            return false;
        }
        if self.items.len() >= MAX_ITEMS {
            self.items.pop_last();
        }
        self.items.insert(key, json().into_boxed_str());
        true
    }

    /// The evidence items, earliest first.
    pub fn item_values(&self) -> impl Iterator<Item = serde_json::Value> + '_ {
        self.items.values().filter_map(|text| serde_json::from_str(text).ok())
    }

    pub fn maximum(&mut self, name: &str, value: f64) {
        let slot = self.maxima.entry(name.to_string()).or_insert(value);
        if value > *slot {
            *slot = value;
        }
    }

    /// The usual dimensions of a sign-in.
    pub fn sign_in(&mut self, s: &SignInEvent<'_>) {
        self.attempts.insert(s.attempt_key());
        if let Some(ip) = &s.ip_address {
            self.count("ips", ip);
        }
        if let Some(app) = &s.app_display_name {
            self.count("apps", app);
        }
        if let Some(c) = &s.client_app_used {
            self.count("client_apps", c);
        }
        if let Some(ua) = &s.user_agent {
            self.count("user_agents", ua);
        }
        if let Some(place) = render::place(s) {
            self.count("locations", &place);
        }
        if let Some(country) = &s.country {
            self.count("countries", country);
        }
        if let Some(code) = s.error_code.filter(|c| *c != 0) {
            let reason = s.failure_reason.as_deref().unwrap_or("");
            self.count("failure_reasons", &format!("{code}\u{1f}{reason}"));
        }
        if let Some(details) = &s.additional_details {
            self.count("additional_details", details);
        }
    }
}

impl Incident {
    pub fn new(tenant: &str, key: &IncidentKey, close_at: Micros, user: Option<String>) -> Incident {
        Incident {
            id: m365mon_contracts::alert::alert_id(key.rule, tenant, &key.subject, datetime(key.window_start)),
            rule: key.rule,
            subject: key.subject.clone(),
            window_start: key.window_start,
            close_at,
            user,
            ip: None,
            earliest: None,
            first_seen: Micros::MAX,
            last_seen: Micros::MIN,
            members: KeySet::default(),
            event_ids: BTreeSet::new(),
            facts: Facts::default(),
            revision: 0,
            last_published: None,
            dirty: false,
        }
    }

    /// Adds a member record; `false` when it is already a member (nothing changes then).
    pub fn add_member(&mut self, time: Micros, record_id: &str, ip: Option<&str>) -> bool {
        if !self.members.insert(keys::exact(record_id)) {
            return false;
        }
        self.first_seen = self.first_seen.min(time);
        self.last_seen = self.last_seen.max(time);
        let key = (time, record_id.to_string());
        if self.earliest.as_ref().is_none_or(|e| key < *e) {
            self.ip = ip.map(str::to_string);
            self.earliest = Some(key.clone());
        }
        if self.event_ids.len() < MAX_EVENT_IDS {
            self.event_ids.insert(key);
        } else if self.event_ids.last().is_some_and(|last| key < *last) {
            self.event_ids.pop_last();
            self.event_ids.insert(key);
        }
        self.dirty = true;
        true
    }

    /// Forgets every member and all evidence but the named counters to keep; for incidents
    /// that are about one record (`new_country`: the first sign-in from a country) when an
    /// earlier record takes its place.
    pub fn reset_members(&mut self, keep: &[&str]) {
        self.members.clear();
        self.event_ids.clear();
        self.earliest = None;
        self.ip = None;
        self.first_seen = Micros::MAX;
        self.last_seen = Micros::MIN;
        let kept: BTreeMap<String, BTreeMap<String, u64>> = self
            .facts
            .counters
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let labels = std::mem::take(&mut self.facts.labels);
        self.facts = Facts { counters: kept, labels, ..Facts::default() };
        self.dirty = true;
    }

    /// Marks growth that is not a new member (a new piece of evidence).
    pub fn mark_changed(&mut self) {
        self.dirty = true;
    }

    pub fn count(&self) -> u64 {
        self.members.len() as u64
    }

    /// Approximate bytes held, for the state-size estimate.
    pub fn approx_bytes(&self) -> usize {
        let strings: usize = self.facts.counters.values().flat_map(|m| m.keys()).map(|k| k.len() + 48).sum();
        std::mem::size_of::<Incident>()
            + self.id.len()
            + self.subject.len() * 2
            + self.members.capacity() * 9
            + self.event_ids.iter().map(|(_, id)| id.len() + 48).sum::<usize>()
            + self.facts.items.iter().map(|((_, id), text)| id.len() + text.len() + 64).sum::<usize>()
            + strings
            + self.facts.attempts.capacity() * 9
    }

    /// When maintenance must next look at this incident: when its unpublished growth may be
    /// published, or when it closes.
    pub fn due(&self, cfg: &Config) -> Micros {
        let close = self.close_at.saturating_add(cfg.lateness);
        match self.last_published {
            Some(last) if self.dirty && !self.members.is_empty() => close.min(last.saturating_add(cfg.realert)),
            None if self.dirty && !self.members.is_empty() => Micros::MIN,
            _ => close,
        }
    }

    /// Publishes now if allowed (first publication, or the re-alert interval has passed).
    pub fn publish_if_due(&mut self, tenant: &str, cfg: &Config, watermark: Micros, out: &mut Vec<AlertEvent>) {
        if !self.dirty || self.members.is_empty() {
            return;
        }
        let due = self.last_published.is_none_or(|last| watermark >= last.saturating_add(cfg.realert));
        if due {
            self.publish(tenant, cfg, watermark, out);
        }
    }

    /// Publishes unpublished growth regardless of the re-alert interval (closing, end of input).
    pub fn flush(&mut self, tenant: &str, cfg: &Config, watermark: Micros, out: &mut Vec<AlertEvent>) {
        if self.dirty && !self.members.is_empty() {
            self.publish(tenant, cfg, watermark, out);
        }
    }

    fn publish(&mut self, tenant: &str, cfg: &Config, watermark: Micros, out: &mut Vec<AlertEvent>) {
        let rendered = render::render(self, cfg);
        out.push(AlertEvent {
            id: self.id.clone(),
            rule: self.rule,
            severity: cfg.severity(self.rule),
            tenant: tenant.to_string(),
            title: rendered.title,
            summary: rendered.summary,
            user: self.user.clone(),
            ip: self.ip.clone(),
            first_seen: datetime(self.first_seen),
            last_seen: datetime(self.last_seen),
            event_ids: self.event_ids.iter().map(|(_, id)| id.clone()).collect(),
            count: self.count(),
            revision: self.revision,
            details: rendered.details,
            // Processing time is not the engine's to know: it stamps the watermark; services
            // overwrite it with their clock when they publish.
            created_at: datetime(watermark),
        });
        self.revision += 1;
        self.last_published = Some(watermark);
        self.dirty = false;
    }
}
