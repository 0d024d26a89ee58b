//! Windowed counts: `failed_logins` (a user's credential failures), `mfa_fatigue` (a user's MFA
//! denials and unanswered prompts) and `password_spray` (distinct users failing from one IP).
//!
//! Attempts are counted, not records: the records of one sign-in attempt share a correlation id
//! (interrupts, Conditional Access splits), so five records of one attempt are one attempt.
//! Records that turn a span hot join the incident of their UTC day (see [`crate::window`]).

use m365mon_contracts::{AlertEvent, RuleId};

use super::Env;
use crate::Stats;
use crate::codes::{LOCKOUT_CODE, Outcome};
use crate::event::SignInEvent;
use crate::keys;
use crate::render;
use crate::state::TenantState;
use crate::time::{DAY, utc_day};
use crate::window::Window;

pub(crate) fn evaluate(
    ts: &mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    s: &SignInEvent<'_>,
    out: &mut Vec<AlertEvent>,
) {
    let outcome = s.outcome();
    if !env.on_time || !matches!(outcome, Outcome::CredentialFailure | Outcome::MfaFailure | Outcome::AccountDisabled) {
        return;
    }
    let Some(user) = s.user() else { return };
    let cfg = env.cfg;
    let (upn, user_id) = (s.user_principal_name.as_deref(), s.user_id.as_deref());
    let record = keys::exact(&s.id);
    let user_key = keys::folded(user);

    let per_user = match outcome {
        Outcome::CredentialFailure if cfg.applies(RuleId::FailedLogins, upn, user_id) => {
            Some((RuleId::FailedLogins, cfg.failed_window, cfg.settings.failed_logins.threshold as usize))
        }
        Outcome::MfaFailure if cfg.applies(RuleId::MfaFatigue, upn, user_id) => {
            Some((RuleId::MfaFatigue, cfg.mfa_window, cfg.settings.mfa_fatigue.threshold as usize))
        }
        _ => None,
    };
    if let Some((rule, width, threshold)) = per_user {
        let state = ts.users.entry(user_key).or_default();
        state.last_activity = state.last_activity.max(s.time);
        let slot = if rule == RuleId::FailedLogins { &mut state.failures } else { &mut state.mfa };
        let window = slot.get_or_insert_with(Box::<Window>::default);
        if !window.contains(s.time, record) {
            let inserted = window.insert(s.clone().into_owned(), record, s.attempt_key(), width, threshold);
            stats.window_overflow += inserted.overflow;
            let subject = user.to_lowercase();
            add_hot(ts, env, stats, rule, &subject, Some(&subject), inserted.newly_hot, out);
        }
    }

    // password_spray: credential failures and disabled-account attempts from one address.
    if matches!(outcome, Outcome::CredentialFailure | Outcome::AccountDisabled)
        && let Some(ip) = s.ip_address.as_deref()
        && cfg.applies(RuleId::PasswordSpray, upn, user_id)
    {
        let window = ts.ips.entry(keys::folded(ip)).or_default();
        if !window.contains(s.time, record) {
            let threshold = cfg.settings.password_spray.distinct_users as usize;
            let inserted = window.insert(s.clone().into_owned(), record, user_key, cfg.spray_window, threshold);
            stats.window_overflow += inserted.overflow;
            let subject = ip.to_lowercase();
            add_hot(ts, env, stats, RuleId::PasswordSpray, &subject, None, inserted.newly_hot, out);
        }
    }
}

/// Adds records that turned hot to their day's incident, then publishes each incident once.
#[allow(clippy::too_many_arguments)]
fn add_hot(
    ts: &mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    rule: RuleId,
    subject: &str,
    user: Option<&str>,
    hot: Vec<SignInEvent<'static>>,
    out: &mut Vec<AlertEvent>,
) {
    let width = match rule {
        RuleId::FailedLogins => env.cfg.failed_window,
        RuleId::MfaFatigue => env.cfg.mfa_window,
        _ => env.cfg.spray_window,
    };
    let mut touched = Vec::new();
    for hot in hot {
        let day = utc_day(hot.time);
        // Open until the day's end plus the window: a span that starts before midnight can turn
        // hot just after it.
        let close_at = day + DAY + width;
        let (incident, _) =
            super::incident(ts, env, stats, rule, subject.to_string(), day, close_at, user, hot.time, &hot.id);
        if !incident.add_member(hot.time, &hot.id, hot.ip_address.as_deref()) {
            continue;
        }
        let f = &mut incident.facts;
        f.sign_in(&hot);
        if rule == RuleId::PasswordSpray
            && let Some(u) = hot.user()
        {
            f.count("users", &u.to_lowercase());
        }
        if hot.error_code == Some(LOCKOUT_CODE) {
            f.count("lockouts", &hot.id);
        }
        f.item_with(hot.time, &hot.id, || render::sign_in_item(&hot, None));
        let key = (incident.rule, incident.subject.clone(), incident.window_start);
        if !touched.contains(&key) {
            touched.push(key);
        }
    }
    for (rule, subject, window_start) in touched {
        let key = crate::incident::IncidentKey { rule, subject, window_start };
        if let Some(incident) = ts.incidents.get_mut(&key) {
            super::publish(incident, &mut ts.next_due, env, stats, out);
        }
    }
}
