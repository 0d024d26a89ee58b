//! The thirteen rules of design §3, grouped by how they keep state.
//!
//! - [`signin`]: per-record sign-in rules (`high_risk_country`, `after_hours`, `admin_sign_in`,
//!   `legacy_auth`, `disabled_account`, `risky_sign_in`, `break_glass`): no memory beyond the
//!   open incident they group into.
//! - [`bursts`]: windowed counts (`failed_logins`, `mfa_fatigue`, `password_spray`).
//! - [`location`]: per-user memories (`new_country`, `impossible_travel`).
//! - [`audit`]: directory audits (`sensitive_change`, and `break_glass` for changes to or by an
//!   emergency-access account).

pub(crate) mod audit;
pub(crate) mod bursts;
pub(crate) mod location;
pub(crate) mod signin;

use std::collections::HashSet;

use m365mon_contracts::{AlertEvent, RuleId};

use crate::Stats;
use crate::config::Config;
use crate::incident::{Facts, Incident, IncidentKey};
use crate::state::TenantState;
use crate::time::Micros;

/// What every rule needs besides the record.
pub(crate) struct Env<'a> {
    pub tenant: &'a str,
    pub cfg: &'a Config,
    pub watermark: Micros,
    /// Within the allowed lateness: windowed and learning rules only see such records.
    pub on_time: bool,
    pub privileged: Option<&'a HashSet<String>>,
}

/// A member for an incident.
pub(crate) struct Member<'a> {
    pub time: Micros,
    pub record_id: &'a str,
    pub ip: Option<&'a str>,
}

/// The incident `(rule, subject, window_start)`, created when needed. A record for an incident
/// whose window has already closed (it came later than the allowed lateness) gets an incident
/// of its own, keyed by the record, so it neither vanishes nor overwrites the closed incident's
/// published state.
#[allow(clippy::too_many_arguments)]
pub(crate) fn incident<'t>(
    ts: &'t mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    rule: RuleId,
    subject: String,
    window_start: Micros,
    close_at: Micros,
    user: Option<&str>,
    record_time: Micros,
    record_id: &str,
) -> &'t mut Incident {
    let (key, close_at) = if close_at.saturating_add(env.cfg.lateness) < env.watermark {
        stats.late_alone += 1;
        (IncidentKey { rule, subject: format!("{subject}#{record_id}"), window_start: record_time }, record_time)
    } else {
        (IncidentKey { rule, subject, window_start }, close_at)
    };
    if !ts.incidents.contains_key(&key) {
        *stats.incidents.entry(rule).or_insert(0) += 1;
        let incident = Incident::new(env.tenant, &key, close_at, user.map(str::to_lowercase));
        ts.incidents.insert(key.clone(), incident);
    }
    ts.incidents.get_mut(&key).expect("inserted above")
}

/// Publishes an incident's growth when due, counting publications.
pub(crate) fn publish(incident: &mut Incident, env: &Env<'_>, stats: &mut Stats, out: &mut Vec<AlertEvent>) {
    let before = out.len();
    incident.publish_if_due(env.tenant, env.cfg, env.watermark, out);
    stats.publications += (out.len() - before) as u64;
}

/// Adds a record to the incident `(rule, subject, window_start)` (see [`incident`]) and
/// publishes when due; `fill` adds the record's evidence the first time it joins.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_to_incident(
    ts: &mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    rule: RuleId,
    subject: String,
    window_start: Micros,
    close_at: Micros,
    user: Option<&str>,
    member: Member<'_>,
    fill: impl FnOnce(&mut Facts),
    out: &mut Vec<AlertEvent>,
) {
    let incident = incident(ts, env, stats, rule, subject, window_start, close_at, user, member.time, member.record_id);
    if incident.add_member(member.time, member.record_id, member.ip) {
        fill(&mut incident.facts);
        publish(incident, env, stats, out);
    }
}
