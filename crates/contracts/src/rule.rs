//! Rule ids and severities. The ids are a contract (design §3): subjects, settings keys and the
//! alert event carry them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The detection rules, by their contract ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    FailedLogins,
    PasswordSpray,
    HighRiskCountry,
    NewCountry,
    AfterHours,
    AdminSignIn,
    ImpossibleTravel,
    SensitiveChange,
    MfaFatigue,
    LegacyAuth,
    DisabledAccount,
    RiskySignIn,
    BreakGlass,
}

impl RuleId {
    /// Every rule, in the order of design §3.
    pub const ALL: [RuleId; 13] = [
        RuleId::FailedLogins,
        RuleId::PasswordSpray,
        RuleId::HighRiskCountry,
        RuleId::NewCountry,
        RuleId::AfterHours,
        RuleId::AdminSignIn,
        RuleId::ImpossibleTravel,
        RuleId::SensitiveChange,
        RuleId::MfaFatigue,
        RuleId::LegacyAuth,
        RuleId::DisabledAccount,
        RuleId::RiskySignIn,
        RuleId::BreakGlass,
    ];

    /// The contract id, e.g. `failed_logins`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::FailedLogins => "failed_logins",
            RuleId::PasswordSpray => "password_spray",
            RuleId::HighRiskCountry => "high_risk_country",
            RuleId::NewCountry => "new_country",
            RuleId::AfterHours => "after_hours",
            RuleId::AdminSignIn => "admin_sign_in",
            RuleId::ImpossibleTravel => "impossible_travel",
            RuleId::SensitiveChange => "sensitive_change",
            RuleId::MfaFatigue => "mfa_fatigue",
            RuleId::LegacyAuth => "legacy_auth",
            RuleId::DisabledAccount => "disabled_account",
            RuleId::RiskySignIn => "risky_sign_in",
            RuleId::BreakGlass => "break_glass",
        }
    }

    /// The severity a rule has unless the settings say otherwise.
    pub fn default_severity(self) -> Severity {
        match self {
            RuleId::FailedLogins => Severity::Medium,
            RuleId::PasswordSpray => Severity::High,
            RuleId::HighRiskCountry => Severity::High,
            RuleId::NewCountry => Severity::Medium,
            RuleId::AfterHours => Severity::Low,
            RuleId::AdminSignIn => Severity::Low,
            RuleId::ImpossibleTravel => Severity::High,
            RuleId::SensitiveChange => Severity::High,
            RuleId::MfaFatigue => Severity::High,
            RuleId::LegacyAuth => Severity::Medium,
            RuleId::DisabledAccount => Severity::Low,
            RuleId::RiskySignIn => Severity::High,
            RuleId::BreakGlass => Severity::Critical,
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown rule id or severity name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}'; expected one of: {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: String,
}

impl FromStr for RuleId {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownName {
            what: "rule",
            given: s.to_string(),
            expected: RuleId::ALL.map(RuleId::as_str).join(", "),
        })
    }
}

/// Alert severity, ordered from `Low` to `Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The contract name, e.g. `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownName {
            what: "severity",
            given: s.to_string(),
            expected: Severity::ALL.map(Severity::as_str).join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_round_trip_through_text_and_serde() {
        for rule in RuleId::ALL {
            assert_eq!(rule.as_str().parse::<RuleId>().unwrap(), rule);
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
        let err = "nope".parse::<RuleId>().unwrap_err();
        assert!(err.to_string().contains("failed_logins"), "{err}");
    }

    #[test]
    fn severities_are_ordered() {
        assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
        assert_eq!("critical".parse::<Severity>().unwrap(), Severity::Critical);
    }
}
