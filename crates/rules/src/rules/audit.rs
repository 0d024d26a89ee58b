//! Directory-audit rules: `sensitive_change` (an activity on the sensitive list) and
//! `break_glass` (a change made to, or by, an emergency-access account).
//!
//! Who did what to whom goes into the details: the activity, the initiator (user and address,
//! or app), every target with its modified properties (old → new, shortened), the result and
//! the additional details. Changes group per (activity, initiator) and UTC day, so a bulk
//! operation is one alert listing its targets rather than a flood.

use m365mon_contracts::{AlertEvent, RuleId};

use super::{Env, Member, add_to_incident};
use crate::Stats;
use crate::event::AuditEvent;
use crate::render;
use crate::state::TenantState;
use crate::time::{DAY, utc_day};

/// Privileged Identity Management mirrors every activation as "Add member to role" initiated
/// by its own app; the activation itself is audited separately (research/detections.md SEED-6).
const PIM_APP: &str = "MS-PIM";

pub(crate) fn evaluate(
    ts: &mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    a: &AuditEvent<'_>,
    out: &mut Vec<AlertEvent>,
) {
    let cfg = env.cfg;
    let day = utc_day(a.time);
    let initiator = a.initiator().map(str::to_lowercase);
    let member = || Member { time: a.time, record_id: &a.id, ip: a.initiator_ip.as_deref() };

    if let Some(activity) = &a.activity
        && a.succeeded()
        && cfg.sensitive_activities.contains(&activity.to_lowercase())
        && !(activity.eq_ignore_ascii_case("Add member to role")
            && a.initiator_app.as_deref().is_some_and(|app| app.eq_ignore_ascii_case(PIM_APP)))
        && cfg.applies(RuleId::SensitiveChange, a.initiator_upn.as_deref(), a.initiator_user_id.as_deref())
    {
        let who = initiator.clone().unwrap_or_else(|| "unknown initiator".into());
        let subject = format!("{}|{who}", activity.to_lowercase());
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::SensitiveChange,
            subject,
            day,
            day + DAY,
            a.initiator_upn.as_deref(),
            member(),
            |f| {
                f.labels.insert("activity".into(), activity.to_string());
                f.count("activities", activity);
                for target in &a.targets {
                    if let Some(name) = render::target_name(target) {
                        f.count("targets", &name);
                    }
                }
                f.item_with(a.time, &a.id, || render::change_item(a).to_string());
            },
            out,
        );
    }

    if !cfg.break_glass_users.is_empty() {
        let listed = |name: Option<&str>| name.map(str::to_lowercase).filter(|n| cfg.break_glass_users.contains(n));
        let by = listed(a.initiator_upn.as_deref()).or_else(|| listed(a.initiator_user_id.as_deref()));
        let to =
            a.targets.iter().find_map(|t| listed(t.user_principal_name.as_deref()).or_else(|| listed(t.id.as_deref())));
        for (account, role) in [(by, "made by"), (to, "made to")] {
            let Some(account) = account else { continue };
            if !cfg.applies(RuleId::BreakGlass, Some(&account), None) {
                continue;
            }
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
                    f.count("kinds", &format!("change {role} the account"));
                    if let Some(activity) = &a.activity {
                        f.count("activities", activity);
                    }
                    f.item_with(a.time, &a.id, || render::change_item(a).to_string());
                },
                out,
            );
        }
    }
}
