//! Per-record sign-in rules. Each fires on one record and groups into one incident per subject
//! and UTC day (the off-hours period for `after_hours`), so a user who signs in twenty times
//! from a listed country gets one alert that grows, not twenty.

use m365mon_contracts::settings::RiskLevel;
use m365mon_contracts::{AlertEvent, RuleId};

use super::{Env, Member, add_to_incident};
use crate::Stats;
use crate::codes::Outcome;
use crate::config::risk_level;
use crate::event::SignInEvent;
use crate::hours::local_time;
use crate::render;
use crate::state::TenantState;
use crate::time::{DAY, utc_day};

/// Risk states that mean "already handled" (research/detections.md §2.12: filtering them removed
/// most of Elastic's risk alerts).
const HANDLED_RISK_STATES: [&str; 3] = ["remediated", "dismissed", "confirmedsafe"];
const HANDLED_RISK_DETAILS: [&str; 4] = [
    "aiconfirmedsigninsafe",
    "adminconfirmedsigninsafe",
    "admindismissedallriskforuser",
    "userperformedsecuredpasswordreset",
];

pub(crate) fn evaluate(
    ts: &mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    s: &SignInEvent<'_>,
    trusted_ip: bool,
    out: &mut Vec<AlertEvent>,
) {
    let cfg = env.cfg;
    let outcome = s.outcome();
    let success = outcome == Outcome::Success;
    let upn = s.user_principal_name.as_deref();
    let user_id = s.user_id.as_deref();
    let day = utc_day(s.time);
    let member = || Member { time: s.time, record_id: &s.id, ip: s.ip_address.as_deref() };

    // break_glass: any sign-in of a listed account, success or failure, any kind.
    if !cfg.break_glass_users.is_empty()
        && let Some(account) = listed(&cfg.break_glass_users, [upn, user_id, s.service_principal.as_deref()])
        && cfg.applies(RuleId::BreakGlass, upn, user_id)
    {
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::BreakGlass,
            account.clone(),
            day,
            day + DAY,
            Some(&account),
            member(),
            |f| {
                f.sign_in(s);
                f.count("kinds", "sign-in");
                f.item_with(s.time, &s.id, || render::sign_in_item(s, None));
            },
            out,
        );
    }

    // risky_sign_in: Identity Protection's level at or above the setting, unless handled.
    if cfg.enabled(RuleId::RiskySignIn)
        && let Some(level) =
            risk_level(s.risk_level_during_sign_in.as_deref()).max(risk_level(s.risk_level_aggregated.as_deref()))
        && level >= cfg.min_risk
        && !risk_handled(s)
        && let Some(principal) = s.principal()
        && cfg.applies(RuleId::RiskySignIn, upn, user_id)
    {
        let subject = principal.to_lowercase();
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::RiskySignIn,
            subject.clone(),
            day,
            day + DAY,
            Some(&subject),
            member(),
            |f| {
                f.sign_in(s);
                f.maximum("risk_level", risk_rank(level));
                for t in &s.risk_event_types {
                    f.count("risk_event_types", t);
                }
                if let Some(state) = &s.risk_state {
                    f.count("risk_states", state);
                }
                f.item_with(s.time, &s.id, || render::sign_in_item(s, None));
            },
            out,
        );
    }

    // disabled_account: attempts on a disabled account (50057).
    if outcome == Outcome::AccountDisabled
        && cfg.enabled(RuleId::DisabledAccount)
        && let Some(principal) = s.principal()
        && cfg.applies(RuleId::DisabledAccount, upn, user_id)
    {
        let subject = principal.to_lowercase();
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::DisabledAccount,
            subject.clone(),
            day,
            day + DAY,
            Some(&subject),
            member(),
            |f| {
                f.sign_in(s);
                f.item_with(s.time, &s.id, || render::sign_in_item(s, None));
            },
            out,
        );
    }

    if !success {
        return;
    }

    // legacy_auth: a successful sign-in over a basic-auth protocol.
    if cfg.enabled(RuleId::LegacyAuth)
        && let Some(protocol) = legacy_protocol(s, cfg)
        && let Some(principal) = s.principal()
        && cfg.applies(RuleId::LegacyAuth, upn, user_id)
    {
        let subject = principal.to_lowercase();
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::LegacyAuth,
            subject.clone(),
            day,
            day + DAY,
            Some(&subject),
            member(),
            |f| {
                f.sign_in(s);
                f.count("legacy_protocols", &protocol);
                f.item_with(s.time, &s.id, || render::sign_in_item(s, None));
            },
            out,
        );
    }

    let Some(user) = s.user() else { return };

    // high_risk_country: a successful sign-in (any kind: a replayed token counts) from a listed
    // country, unless from a trusted range.
    if !trusted_ip
        && cfg.enabled(RuleId::HighRiskCountry)
        && let Some(code) = s.country.as_deref().and_then(|c| match c.as_bytes() {
            [a, b] => Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()]),
            _ => None,
        })
        && cfg.high_risk_countries.contains(&code)
        && cfg.applies(RuleId::HighRiskCountry, upn, user_id)
    {
        let country = String::from_utf8_lossy(&code).into_owned();
        let user = user.to_lowercase();
        let subject = format!("{user}|{country}");
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::HighRiskCountry,
            subject,
            day,
            day + DAY,
            Some(&user),
            member(),
            |f| {
                f.sign_in(s);
                f.labels.insert("country".into(), country.clone());
                f.item_with(s.time, &s.id, || render::sign_in_item(s, None));
            },
            out,
        );
    }

    if !s.interactive {
        return;
    }

    // admin_sign_in: a successful interactive sign-in by a privileged account.
    if (env.privileged.is_some_and(|p| !p.is_empty()) || !cfg.admin_users.is_empty())
        && cfg.enabled(RuleId::AdminSignIn)
        && let Some(source) = privilege_source(env, upn, user_id)
        && cfg.applies(RuleId::AdminSignIn, upn, user_id)
    {
        let user = user.to_lowercase();
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::AdminSignIn,
            user.clone(),
            day,
            day + DAY,
            Some(&user),
            member(),
            |f| {
                f.sign_in(s);
                f.labels.insert("privilege".into(), source.into());
                if let Some(req) = &s.authentication_requirement {
                    f.count("authentication_requirements", req);
                }
                f.item_with(s.time, &s.id, || render::sign_in_item(s, None));
            },
            out,
        );
    }

    // after_hours: a successful interactive sign-in outside working hours, in the zone.
    if cfg.enabled(RuleId::AfterHours)
        && let Some((period_start, period_end)) =
            ts.hours.off_period(cfg.settings.timezone, &cfg.settings.working_hours, s.time)
        && cfg.applies(RuleId::AfterHours, upn, user_id)
    {
        let user = user.to_lowercase();
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::AfterHours,
            user.clone(),
            period_start,
            period_end,
            Some(&user),
            member(),
            |f| {
                f.sign_in(s);
                f.item_with(s.time, &s.id, || {
                    let local = local_time(cfg.settings.timezone, s.time).format("%a %Y-%m-%d %H:%M").to_string();
                    render::sign_in_item(s, Some(&local))
                });
            },
            out,
        );
    }
}

fn listed(set: &std::collections::HashSet<String>, names: [Option<&str>; 3]) -> Option<String> {
    names.into_iter().flatten().map(str::to_lowercase).find(|n| set.contains(n))
}

fn privilege_source(env: &Env<'_>, upn: Option<&str>, user_id: Option<&str>) -> Option<&'static str> {
    let names: Vec<String> = [upn, user_id].into_iter().flatten().map(str::to_lowercase).collect();
    if let Some(members) = env.privileged
        && names.iter().any(|n| members.contains(n))
    {
        return Some("directory role");
    }
    if names.iter().any(|n| env.cfg.admin_users.contains(n)) {
        return Some("admin_users");
    }
    None
}

fn risk_handled(s: &SignInEvent<'_>) -> bool {
    let state = s.risk_state.as_deref().map(str::to_ascii_lowercase);
    let detail = s.risk_detail.as_deref().map(str::to_ascii_lowercase);
    state.is_some_and(|st| HANDLED_RISK_STATES.contains(&st.as_str()))
        || detail.is_some_and(|d| HANDLED_RISK_DETAILS.contains(&d.as_str()))
}

pub(crate) fn risk_rank(level: RiskLevel) -> f64 {
    match level {
        RiskLevel::Low => 1.0,
        RiskLevel::Medium => 2.0,
        RiskLevel::High => 3.0,
    }
}

/// The legacy protocol of a sign-in: its `clientAppUsed` when listed, else a user-agent marker.
fn legacy_protocol(s: &SignInEvent<'_>, cfg: &crate::config::Config) -> Option<String> {
    if let Some(app) = &s.client_app_used
        && !app.eq_ignore_ascii_case("Browser")
        && !app.eq_ignore_ascii_case("Mobile Apps and Desktop clients")
        && cfg.legacy_client_apps.contains(&app.to_lowercase())
    {
        return Some(app.to_string());
    }
    let ua = s.user_agent.as_deref()?;
    if cfg.legacy_user_agent_markers.is_empty() {
        return None;
    }
    // Markers are matched ignoring ASCII case: search the lower-cased user agent (on the stack
    // unless it is unusually long) with each marker's SIMD searcher.
    let mut stack = [0u8; 512];
    let mut heap = Vec::new();
    let lower: &mut [u8] = if ua.len() <= stack.len() {
        &mut stack[..ua.len()]
    } else {
        heap.resize(ua.len(), 0);
        &mut heap
    };
    lower.copy_from_slice(ua.as_bytes());
    lower.make_ascii_lowercase();
    cfg.legacy_user_agent_markers
        .iter()
        .find(|(_, finder)| finder.find(lower).is_some())
        .map(|(m, _)| format!("user agent {m}"))
}
