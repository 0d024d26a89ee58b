//! The engine: records in, alert events out.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use m365mon_contracts::settings::Settings;
use m365mon_contracts::{AlertEvent, RuleId};
use m365mon_model::Record;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::event::{Event, SignInEvent};
use crate::rules::{self, Env};
use crate::state::TenantState;
use crate::time::{MINUTE, Micros, micros};

/// Version of the snapshot format written by [`Engine::snapshot`].
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Event time between two sweeps of expired state (a sweep visits every user).
const SWEEP_EVERY: Micros = 60 * MINUTE;

/// The detection engine. Pure: no I/O, no clock; time comes from the records.
///
/// Feed it records with [`Engine::observe`] in any order; it returns the alert events to
/// publish (new incidents, and grown incidents at most once per `realert_minutes`). Tell it
/// when time passes without records ([`Engine::advance_to`]) and when the input ends
/// ([`Engine::finish`]), so grown incidents are published and closed ones dropped.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    tenants: BTreeMap<String, TenantState>,
    privileged: BTreeMap<String, HashSet<String>>,
    stats: Stats,
}

/// Counters for metrics and for `m365mon scan`'s summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Records given to the engine.
    pub records: u64,
    pub sign_ins: u64,
    pub audits: u64,
    /// Records that could not be evaluated (no event time or no id).
    pub unusable: u64,
    /// Records older than the tenant's latest event time minus the allowed lateness: the
    /// windowed and learning rules skip them (their windows may be gone); per-record rules
    /// still evaluate them.
    pub late: u64,
    /// Alerts raised for records whose incident window had already closed (they get an
    /// incident of their own).
    pub late_alone: u64,
    /// Window entries dropped because one key had more than 10,000 in a window.
    pub window_overflow: u64,
    /// Incidents opened, by rule.
    pub incidents: BTreeMap<RuleId, u64>,
    /// Alert events returned (revisions included).
    pub publications: u64,
}

/// Sizes of the engine's state, for metrics and the memory budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateSize {
    pub tenants: usize,
    pub users: usize,
    pub ip_windows: usize,
    pub open_incidents: usize,
    /// Users still in their `new_country` learning period.
    pub learning_users: usize,
    /// Estimated bytes held for users (map slots included).
    pub user_bytes: usize,
    /// Estimated bytes held by open incidents.
    pub incident_bytes: usize,
}

/// A snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format {found} is not supported (this engine reads format {SNAPSHOT_FORMAT})")]
    Format { found: u32 },
    #[error("snapshot is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    format: u32,
    tenants: &'a BTreeMap<String, TenantState>,
    privileged: BTreeMap<&'a String, BTreeSet<&'a String>>,
    stats: &'a Stats,
}

#[derive(Deserialize)]
struct SnapshotIn {
    format: u32,
    tenants: BTreeMap<String, TenantState>,
    privileged: BTreeMap<String, BTreeSet<String>>,
    stats: Stats,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

impl Engine {
    /// An engine with empty state.
    pub fn new(settings: Settings) -> Engine {
        Engine {
            config: Config::new(settings),
            tenants: BTreeMap::new(),
            privileged: BTreeMap::new(),
            stats: Stats::default(),
        }
    }

    /// Replaces the settings, keeping all state (windows, memories, open incidents).
    pub fn set_settings(&mut self, settings: Settings) {
        self.config = Config::new(settings);
        for ts in self.tenants.values_mut() {
            ts.hours = Default::default();
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.config.settings
    }

    /// Replaces a tenant's privileged accounts (directory-role members: UPNs and/or object ids,
    /// compared case-insensitively) used by `admin_sign_in` besides the `admin_users` setting.
    pub fn set_privileged_users<I, S>(&mut self, tenant: &str, users: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let set: HashSet<String> =
            users.into_iter().map(|u| u.as_ref().trim().to_lowercase()).filter(|u| !u.is_empty()).collect();
        self.privileged.insert(tenant.to_string(), set);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Evaluates one record of `tenant`.
    pub fn observe(&mut self, tenant: &str, record: &Record) -> Vec<AlertEvent> {
        match Event::from_record(record) {
            Ok(event) => self.observe_event(tenant, &event),
            Err(_) => {
                self.stats.records += 1;
                self.stats.unusable += 1;
                Vec::new()
            }
        }
    }

    /// Evaluates one record already turned into an [`Event`].
    pub fn observe_event(&mut self, tenant: &str, event: &Event<'_>) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let Engine { config: cfg, tenants, privileged, stats } = self;
        stats.records += 1;
        let ts = match tenants.get_mut(tenant) {
            Some(ts) => ts,
            None => tenants.entry(tenant.to_string()).or_default(),
        };
        let t = event.time();
        let watermark = ts.watermark.map_or(t, |w| w.max(t));
        ts.watermark = Some(watermark);
        let on_time = t >= watermark.saturating_sub(cfg.lateness);
        if !on_time {
            stats.late += 1;
        }
        let env = Env { tenant, cfg, watermark, on_time, privileged: privileged.get(tenant) };
        match event {
            Event::Signin(s) => {
                stats.sign_ins += 1;
                evaluate_sign_in(ts, &env, stats, s, &mut out);
            }
            Event::Audit(a) => {
                stats.audits += 1;
                rules::audit::evaluate(ts, &env, stats, a, &mut out);
            }
        }
        if watermark >= ts.next_maintenance {
            maintain(ts, &env, stats, false, &mut out);
            ts.next_maintenance = watermark.saturating_add(MINUTE);
        }
        out
    }

    /// Moves a tenant's event time forward without a record (e.g. the collector has fetched
    /// everything up to `time`): publishes grown incidents that are due and closes finished
    /// ones. Never moves time backwards.
    pub fn advance_to(&mut self, tenant: &str, time: DateTime<Utc>) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let Engine { config: cfg, tenants, privileged, stats } = self;
        let Some(ts) = tenants.get_mut(tenant) else { return out };
        let watermark = ts.watermark.map_or(micros(time), |w| w.max(micros(time)));
        ts.watermark = Some(watermark);
        let env = Env { tenant, cfg, watermark, on_time: true, privileged: privileged.get(tenant) };
        maintain(ts, &env, stats, false, &mut out);
        ts.next_maintenance = watermark.saturating_add(MINUTE);
        out
    }

    /// The input has ended (a scan's last record): publishes every incident's unpublished
    /// growth and closes all incidents. Learned memories stay.
    pub fn finish(&mut self) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let Engine { config: cfg, tenants, privileged, stats } = self;
        for (tenant, ts) in tenants.iter_mut() {
            let watermark = ts.watermark.unwrap_or(0);
            let env = Env { tenant, cfg, watermark, on_time: true, privileged: privileged.get(tenant.as_str()) };
            maintain(ts, &env, stats, true, &mut out);
        }
        out
    }

    /// The whole state as JSON (format [`SNAPSHOT_FORMAT`]): windows, memories, open incidents,
    /// privileged accounts, statistics. Settings are not part of it.
    pub fn snapshot(&self) -> Vec<u8> {
        let out = SnapshotOut {
            format: SNAPSHOT_FORMAT,
            tenants: &self.tenants,
            privileged: self.privileged.iter().map(|(t, set)| (t, set.iter().collect())).collect(),
            stats: &self.stats,
        };
        // Every map key in the state is a string or an integer, so serialisation cannot fail.
        serde_json::to_vec(&out).unwrap_or_default()
    }

    /// An engine that continues exactly where the snapshot was taken.
    pub fn restore(settings: Settings, snapshot: &[u8]) -> Result<Engine, SnapshotError> {
        let format: FormatOnly = serde_json::from_slice(snapshot)?;
        if format.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format { found: format.format });
        }
        let snapshot: SnapshotIn = serde_json::from_slice(snapshot)?;
        debug_assert_eq!(snapshot.format, SNAPSHOT_FORMAT);
        Ok(Engine {
            config: Config::new(settings),
            tenants: snapshot.tenants,
            privileged: snapshot.privileged.into_iter().map(|(t, set)| (t, set.into_iter().collect())).collect(),
            stats: snapshot.stats,
        })
    }

    /// Sizes of the state.
    pub fn state_size(&self) -> StateSize {
        let mut size = StateSize { tenants: self.tenants.len(), ..StateSize::default() };
        for ts in self.tenants.values() {
            size.users += ts.users.len();
            size.ip_windows += ts.ips.len();
            size.open_incidents += ts.incidents.len();
            let watermark = ts.watermark.unwrap_or(0);
            size.learning_users += ts
                .users
                .values()
                .filter(|u| u.first_success.is_some_and(|f| f.saturating_add(self.config.learning) > watermark))
                .count();
            size.user_bytes += ts.users.values().map(|u| u.approx_bytes()).sum::<usize>()
                + ts.users.capacity().saturating_sub(ts.users.len())
                    * (std::mem::size_of::<crate::state::UserState>() + 9);
            size.incident_bytes += ts.incidents.values().map(|i| i.approx_bytes()).sum::<usize>();
        }
        size
    }
}

fn evaluate_sign_in(
    ts: &mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    s: &SignInEvent<'_>,
    out: &mut Vec<AlertEvent>,
) {
    // Parsing the address costs more than most rules: only where it is used (trusted ranges,
    // and the travel memory of successful interactive sign-ins).
    let trusted_ips = &env.cfg.settings.trusted_ips;
    let needs_ip = !trusted_ips.is_empty() || (s.interactive && s.outcome() == crate::codes::Outcome::Success);
    let ip: Option<IpAddr> = if needs_ip { s.ip_address.as_deref().and_then(|text| text.parse().ok()) } else { None };
    let trusted = ip.is_some_and(|ip| trusted_ips.iter().any(|net| net.contains(&ip)));
    rules::signin::evaluate(ts, env, stats, s, trusted, out);
    rules::bursts::evaluate(ts, env, stats, s, out);
    rules::location::evaluate(ts, env, stats, s, ip, trusted, out);
}

/// Publishes due growth, closes incidents whose window has passed (or all, at the end), and
/// now and then sweeps expired state.
fn maintain(ts: &mut TenantState, env: &Env<'_>, stats: &mut Stats, close_all: bool, out: &mut Vec<AlertEvent>) {
    let before = out.len();
    // Nothing closes and nothing is due before `next_due`: skip the incidents until then.
    if close_all || ts.next_due.is_none_or(|due| env.watermark >= due) {
        let mut closed = Vec::new();
        let mut next_due = Micros::MAX;
        for (key, incident) in ts.incidents.iter_mut() {
            if close_all || incident.close_at.saturating_add(env.cfg.lateness) < env.watermark {
                incident.flush(env.tenant, env.cfg, env.watermark, out);
                closed.push(key.clone());
            } else {
                incident.publish_if_due(env.tenant, env.cfg, env.watermark, out);
                next_due = next_due.min(incident.due(env.cfg));
            }
        }
        for key in closed {
            ts.incidents.remove(&key);
        }
        ts.next_due = Some(next_due);
    }
    stats.publications += (out.len() - before) as u64;
    if env.watermark >= ts.next_sweep {
        ts.sweep(env.cfg, env.watermark);
        ts.next_sweep = env.watermark.saturating_add(SWEEP_EVERY);
    }
}
