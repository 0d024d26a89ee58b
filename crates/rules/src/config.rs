//! Settings compiled for the hot path: lists as lower-case sets, durations as microseconds,
//! per-rule switches as arrays indexed by rule.

use std::collections::HashSet;

use m365mon_contracts::settings::{RiskLevel, Settings};
use m365mon_contracts::{RuleId, Severity};

use crate::geo::MAX_DISTANCE_KM;
use crate::time::{DAY, HOUR, Micros, minutes};

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub settings: Settings,
    enabled: [bool; 13],
    severity: [Severity; 13],
    exempt: [HashSet<String>; 13],
    pub high_risk_countries: HashSet<String>,
    pub admin_users: HashSet<String>,
    pub break_glass_users: HashSet<String>,
    pub legacy_client_apps: HashSet<String>,
    pub legacy_user_agent_markers: Vec<String>,
    pub sensitive_activities: HashSet<String>,
    pub lateness: Micros,
    pub realert: Micros,
    pub failed_window: Micros,
    pub mfa_window: Micros,
    pub spray_window: Micros,
    pub learning: Micros,
    pub forget: Micros,
    /// Beyond this time apart, no two sign-ins can be impossible travel at the configured speed.
    pub travel_horizon: Micros,
    pub min_risk: RiskLevel,
}

fn lower_set(items: &[String]) -> HashSet<String> {
    items.iter().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect()
}

pub(crate) fn index(rule: RuleId) -> usize {
    RuleId::ALL.iter().position(|r| *r == rule).unwrap_or(0)
}

impl Config {
    pub fn new(settings: Settings) -> Config {
        let enabled = RuleId::ALL.map(|r| settings.rule_enabled(r));
        let severity = RuleId::ALL.map(|r| settings.severity(r));
        let exempt = RuleId::ALL.map(|r| lower_set(&settings.rule(r).exempt_users));
        let speed = settings.impossible_travel.max_speed_kmh.max(1.0);
        let travel_horizon = ((MAX_DISTANCE_KM / speed) * HOUR as f64).ceil() as Micros + HOUR;
        Config {
            enabled,
            severity,
            exempt,
            high_risk_countries: settings.high_risk_countries.iter().map(|c| c.trim().to_ascii_uppercase()).collect(),
            admin_users: lower_set(&settings.admin_users),
            break_glass_users: lower_set(&settings.break_glass_users),
            legacy_client_apps: lower_set(&settings.legacy_auth.client_apps),
            legacy_user_agent_markers: settings
                .legacy_auth
                .user_agent_markers
                .iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            sensitive_activities: lower_set(&settings.sensitive_activities),
            lateness: minutes(settings.allowed_lateness_minutes),
            realert: minutes(settings.realert_minutes),
            failed_window: minutes(settings.failed_logins.window_minutes),
            mfa_window: minutes(settings.mfa_fatigue.window_minutes),
            spray_window: minutes(settings.password_spray.window_minutes),
            learning: Micros::from(settings.new_country.learning_days) * DAY,
            forget: Micros::from(settings.new_country.forget_days) * DAY,
            travel_horizon,
            min_risk: settings.risky_sign_in.min_level,
            settings,
        }
    }

    pub fn enabled(&self, rule: RuleId) -> bool {
        self.enabled[index(rule)]
    }

    pub fn severity(&self, rule: RuleId) -> Severity {
        self.severity[index(rule)]
    }

    /// Whether the rule applies to this user: on, and neither the UPN nor the object id exempt.
    pub fn applies(&self, rule: RuleId, upn: Option<&str>, user_id: Option<&str>) -> bool {
        if !self.enabled(rule) {
            return false;
        }
        let exempt = &self.exempt[index(rule)];
        if exempt.is_empty() {
            return true;
        }
        ![upn, user_id].into_iter().flatten().any(|u| exempt.contains(&u.to_lowercase()))
    }
}

/// Parses an Entra ID Protection risk level; `none`, `hidden` and unknown values are no level.
pub(crate) fn risk_level(text: Option<&str>) -> Option<RiskLevel> {
    let text = text?;
    [("low", RiskLevel::Low), ("medium", RiskLevel::Medium), ("high", RiskLevel::High)]
        .into_iter()
        .find(|(name, _)| text.eq_ignore_ascii_case(name))
        .map(|(_, level)| level)
}
