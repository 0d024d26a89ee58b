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
    /// Upper-case two-letter codes.
    pub high_risk_countries: Vec<[u8; 2]>,
    pub admin_users: HashSet<String>,
    pub break_glass_users: HashSet<String>,
    pub legacy_client_apps: HashSet<String>,
    /// Lower-case markers, each with a searcher for lower-cased user agents.
    pub legacy_user_agent_markers: Vec<(String, memchr::memmem::Finder<'static>)>,
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

/// The rule's position in [`RuleId::ALL`] (its declaration order; a test holds us to it).
#[inline]
pub(crate) fn index(rule: RuleId) -> usize {
    rule as usize
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
            high_risk_countries: settings
                .high_risk_countries
                .iter()
                .filter_map(|c| match c.trim().as_bytes() {
                    [a, b] => Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()]),
                    _ => None,
                })
                .collect(),
            admin_users: lower_set(&settings.admin_users),
            break_glass_users: lower_set(&settings.break_glass_users),
            legacy_client_apps: lower_set(&settings.legacy_auth.client_apps),
            legacy_user_agent_markers: settings
                .legacy_auth
                .user_agent_markers
                .iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .map(|m| {
                    let finder = memchr::memmem::Finder::new(m.as_bytes()).into_owned();
                    (m, finder)
                })
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
#[inline]
pub(crate) fn risk_level(text: Option<&str>) -> Option<RiskLevel> {
    let text = text?;
    // Nearly every record says `none`: one length check decides most.
    match text.len() {
        3 if text.eq_ignore_ascii_case("low") => Some(RiskLevel::Low),
        6 if text.eq_ignore_ascii_case("medium") => Some(RiskLevel::Medium),
        4 if text.eq_ignore_ascii_case("high") => Some(RiskLevel::High),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_index_is_the_position_in_all() {
        for (i, rule) in RuleId::ALL.into_iter().enumerate() {
            assert_eq!(index(rule), i, "{rule:?}");
        }
    }

    #[test]
    fn risk_levels() {
        assert_eq!(risk_level(Some("High")), Some(RiskLevel::High));
        assert_eq!(risk_level(Some("medium")), Some(RiskLevel::Medium));
        assert_eq!(risk_level(Some("LOW")), Some(RiskLevel::Low));
        for none in ["none", "hidden", "unknownFutureValue", "", "hig"] {
            assert_eq!(risk_level(Some(none)), None, "{none}");
        }
        assert_eq!(risk_level(None), None);
    }
}
