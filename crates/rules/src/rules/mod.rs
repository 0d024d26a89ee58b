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
) -> (&'t mut Incident, &'t mut Option<Micros>) {
    let (key, close_at) = if close_at.saturating_add(env.cfg.lateness) < env.watermark {
        stats.late_alone += 1;
        (IncidentKey { rule, subject: format!("{subject}#{record_id}"), window_start: record_time }, record_time)
    } else {
        (IncidentKey { rule, subject, window_start }, close_at)
    };
    let TenantState { incidents, next_due, .. } = ts;
    let incident = match incidents.entry(key) {
        std::collections::btree_map::Entry::Occupied(found) => found.into_mut(),
        std::collections::btree_map::Entry::Vacant(slot) => {
            *stats.incidents.entry(rule).or_insert(0) += 1;
            let incident = Incident::new(env.tenant, slot.key(), close_at, user.map(str::to_lowercase));
            // The new incident closes no later than this: maintenance must look by then.
            crate::state::due_by(next_due, close_at.saturating_add(env.cfg.lateness));
            slot.insert(incident)
        }
    };
    (incident, next_due)
}

/// Publishes an incident's growth when due, counting publications, and notes in `next_due`
/// (the tenant's) when maintenance must look at it again.
pub(crate) fn publish(
    incident: &mut Incident,
    next_due: &mut Option<Micros>,
    env: &Env<'_>,
    stats: &mut Stats,
    out: &mut Vec<AlertEvent>,
) {
    let before = out.len();
    incident.publish_if_due(env.tenant, env.cfg, env.watermark, out);
    stats.publications += (out.len() - before) as u64;
    crate::state::due_by(next_due, incident.due(env.cfg));
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
    let (incident, next_due) =
        incident(ts, env, stats, rule, subject, window_start, close_at, user, member.time, member.record_id);
    if incident.add_member(member.time, member.record_id, member.ip) {
        fill(&mut incident.facts);
        publish(incident, next_due, env, stats, out);
    }
}
