//! The settings document (design §4): what the web UI edits, what `m365mon scan --settings`
//! reads, what every service watches in the KV bucket `m365_settings`.
//!
//! Strict on purpose: an unknown key is an error (a typo such as `treshold` must not silently
//! fall back to a default), missing keys take their defaults, and [`Settings::validate`] checks
//! every value with a message that names the field and the allowed range. Secrets never live here:
//! they come from the environment.

mod collector;
mod notifications;
mod validate;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{RuleId, Severity};

pub use collector::CollectorSettings;
pub use notifications::{NotificationSettings, Receiver, WebhookKind, WebhookTarget};
pub use validate::{SettingsError, SettingsProblem};

/// The whole settings document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// IANA time zone for working hours and for times in notifications, e.g. `Europe/Berlin`.
    pub timezone: Tz,
    pub working_hours: WorkingHours,
    pub failed_logins: FailedLogins,
    pub password_spray: PasswordSpray,
    pub mfa_fatigue: MfaFatigue,
    /// ISO 3166-1 alpha-2 country codes; a successful sign-in from one raises `high_risk_country`.
    pub high_risk_countries: Vec<String>,
    pub impossible_travel: ImpossibleTravel,
    pub new_country: NewCountry,
    /// Privileged accounts (UPN or object id) besides the directory-role members synced from Graph.
    pub admin_users: Vec<String>,
    /// Emergency-access accounts (UPN or object id): every sign-in of one is an alert.
    pub break_glass_users: Vec<String>,
    /// Trusted ranges (CIDR, IPv4 or IPv6), exempt from the location rules.
    pub trusted_ips: Vec<IpNet>,
    pub risky_sign_in: RiskySignIn,
    pub legacy_auth: LegacyAuth,
    /// Directory audit activities (`activityDisplayName`, compared case-insensitively) that raise
    /// `sensitive_change`.
    pub sensitive_activities: Vec<String>,
    /// Per-rule switches, severities and exempt users; rules not listed keep their defaults.
    pub rules: RulesSettings,
    /// An open incident (burst) is published again at most this often while it grows.
    pub realert_minutes: u32,
    /// How late a record may arrive and still be placed in event-time order (Microsoft adds MFA
    /// details up to 2 hours late).
    pub allowed_lateness_minutes: u32,
    pub collector: CollectorSettings,
    pub notifications: NotificationSettings,
}

/// Working hours in [`Settings::timezone`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkingHours {
    /// `HH:MM`, inclusive.
    #[serde(with = "hh_mm")]
    pub start: NaiveTime,
    /// `HH:MM`, exclusive.
    #[serde(with = "hh_mm")]
    pub end: NaiveTime,
    /// `Mon` … `Sun`.
    #[serde(with = "weekdays")]
    pub days: Vec<Weekday>,
}

/// A user's credential failures within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailedLogins {
    pub threshold: u32,
    pub window_minutes: u32,
}

/// A user's MFA denials and unanswered prompts within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaFatigue {
    pub threshold: u32,
    pub window_minutes: u32,
}

/// Distinct users failing from one IP within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSpray {
    pub distinct_users: u32,
    pub window_minutes: u32,
}

/// Two successful sign-ins farther apart than a plane flies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImpossibleTravel {
    pub max_speed_kmh: f64,
    /// Below this distance, geolocation noise is ignored.
    pub min_distance_km: f64,
}

/// A country never seen for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewCountry {
    /// A user is learned for this many days (from their first sign-in) before the rule fires.
    pub learning_days: u32,
    /// A country not seen for this many days is forgotten (and a user not seen at all for this
    /// long starts learning again), so the detector's memory stays bounded.
    pub forget_days: u32,
}

/// Entra ID Protection risk levels, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

/// `risky_sign_in`: fires at or above `min_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskySignIn {
    pub min_level: RiskLevel,
}

/// `legacy_auth`: `clientAppUsed` values that are legacy protocols (compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LegacyAuth {
    pub client_apps: Vec<String>,
    /// Substrings of `userAgent` that mark a legacy (ROPC / basic-auth) client whatever
    /// `clientAppUsed` says, e.g. `BAV2ROPC`; compared case-insensitively.
    pub user_agent_markers: Vec<String>,
}

/// Settings of every rule, keyed by rule id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesSettings {
    pub failed_logins: RuleSettings,
    pub password_spray: RuleSettings,
    pub high_risk_country: RuleSettings,
    pub new_country: RuleSettings,
    pub after_hours: RuleSettings,
    pub admin_sign_in: RuleSettings,
    pub impossible_travel: RuleSettings,
    pub sensitive_change: RuleSettings,
    pub mfa_fatigue: RuleSettings,
    pub legacy_auth: RuleSettings,
    pub disabled_account: RuleSettings,
    pub risky_sign_in: RuleSettings,
    pub break_glass: RuleSettings,
}

impl RulesSettings {
    /// The settings of one rule.
    pub fn get(&self, rule: RuleId) -> &RuleSettings {
        match rule {
            RuleId::FailedLogins => &self.failed_logins,
            RuleId::PasswordSpray => &self.password_spray,
            RuleId::HighRiskCountry => &self.high_risk_country,
            RuleId::NewCountry => &self.new_country,
            RuleId::AfterHours => &self.after_hours,
            RuleId::AdminSignIn => &self.admin_sign_in,
            RuleId::ImpossibleTravel => &self.impossible_travel,
            RuleId::SensitiveChange => &self.sensitive_change,
            RuleId::MfaFatigue => &self.mfa_fatigue,
            RuleId::LegacyAuth => &self.legacy_auth,
            RuleId::DisabledAccount => &self.disabled_account,
            RuleId::RiskySignIn => &self.risky_sign_in,
            RuleId::BreakGlass => &self.break_glass,
        }
    }

    /// Every rule with its settings.
    pub fn iter(&self) -> impl Iterator<Item = (RuleId, &RuleSettings)> {
        RuleId::ALL.into_iter().map(|rule| (rule, self.get(rule)))
    }
}

/// Per-rule settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSettings {
    pub enabled: bool,
    /// `None`: the rule's default severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Users (UPN or object id, case-insensitive) this rule ignores.
    pub exempt_users: Vec<String>,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings { enabled: true, severity: None, exempt_users: Vec::new() }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: Tz::UTC,
            working_hours: WorkingHours::default(),
            failed_logins: FailedLogins::default(),
            password_spray: PasswordSpray::default(),
            mfa_fatigue: MfaFatigue::default(),
            high_risk_countries: ["CU", "IR", "KP", "SY"].map(String::from).to_vec(),
            impossible_travel: ImpossibleTravel::default(),
            new_country: NewCountry::default(),
            admin_users: Vec::new(),
            break_glass_users: Vec::new(),
            trusted_ips: Vec::new(),
            risky_sign_in: RiskySignIn::default(),
            legacy_auth: LegacyAuth::default(),
            sensitive_activities: DEFAULT_SENSITIVE_ACTIVITIES.map(String::from).to_vec(),
            rules: RulesSettings::default(),
            realert_minutes: 60,
            allowed_lateness_minutes: 120,
            collector: CollectorSettings::default(),
            notifications: NotificationSettings::default(),
        }
    }
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            start: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
            end: NaiveTime::from_hms_opt(18, 0, 0).expect("valid time"),
            days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
        }
    }
}

impl Default for FailedLogins {
    fn default() -> Self {
        FailedLogins { threshold: 5, window_minutes: 10 }
    }
}

impl Default for MfaFatigue {
    fn default() -> Self {
        MfaFatigue { threshold: 5, window_minutes: 15 }
    }
}

impl Default for PasswordSpray {
    fn default() -> Self {
        PasswordSpray { distinct_users: 10, window_minutes: 60 }
    }
}

impl Default for ImpossibleTravel {
    fn default() -> Self {
        ImpossibleTravel { max_speed_kmh: 900.0, min_distance_km: 500.0 }
    }
}

impl Default for NewCountry {
    fn default() -> Self {
        NewCountry { learning_days: 14, forget_days: 90 }
    }
}

impl Default for RiskySignIn {
    fn default() -> Self {
        RiskySignIn { min_level: RiskLevel::High }
    }
}

impl Default for LegacyAuth {
    fn default() -> Self {
        LegacyAuth {
            client_apps: DEFAULT_LEGACY_CLIENT_APPS.map(String::from).to_vec(),
            user_agent_markers: DEFAULT_LEGACY_USER_AGENT_MARKERS.map(String::from).to_vec(),
        }
    }
}

/// `clientAppUsed` values of legacy (basic-auth) protocols, from Microsoft's sign-in log docs.
pub const DEFAULT_LEGACY_CLIENT_APPS: [&str; 13] = [
    "Authenticated SMTP",
    "AutoDiscover",
    "Exchange ActiveSync",
    "Exchange Online PowerShell",
    "Exchange Web Services",
    "IMAP4",
    "MAPI Over HTTP",
    "Offline Address Book",
    "Other clients",
    "Outlook Anywhere (RPC over HTTP)",
    "POP3",
    "Reporting Web Services",
    "Universal Outlook",
];

/// `userAgent` markers of legacy / ROPC clients used by password-spray tooling (research/detections.md A5).
pub const DEFAULT_LEGACY_USER_AGENT_MARKERS: [&str; 3] = ["BAV2ROPC", "CBAinPROD", "CBAinTAR"];

/// Directory audit activities worth an alert on every occurrence (research/detections.md §3b).
pub const DEFAULT_SENSITIVE_ACTIVITIES: [&str; 45] = [
    // privileged roles
    "Add member to role",
    "Add eligible member to role",
    "Add scoped member to role",
    "Add member to role outside of PIM (permanent)",
    "Add eligible member to role in PIM completed (permanent)",
    "Add member to role in PIM completed (timebound)",
    "Add member to role in PIM completed (permanent)",
    "Update role setting in PIM",
    "Disable PIM alert",
    // consent and application credentials
    "Consent to application",
    "Add delegated permission grant",
    "Add app role assignment to service principal",
    "Add service principal credentials",
    "Update application - Certificates and secrets management",
    "Add owner to application",
    "Add owner to service principal",
    // conditional access and security policy
    "Add conditional access policy",
    "Update conditional access policy",
    "Delete conditional access policy",
    "Add named location",
    "Update named location",
    "Delete named location",
    "Update security defaults",
    "Authentication Methods Policy Update",
    "Update authentication methods policy",
    "Update User Risk and MFA Registration Policy",
    "Update Sign-In Risk Policy",
    "Update authorization policy",
    "Add a partner to cross-tenant access setting",
    "Update a partner cross-tenant access setting",
    // federation and domains
    "Set federation settings on domain",
    "Set domain authentication",
    "Add unverified domain",
    "Verify domain",
    "Set Company Information",
    // Azure: a Global Administrator took User Access Administrator over all subscriptions
    "User has elevated their access to User Access Administrator for their Azure Resources",
    // authentication methods and passwords
    "Admin registered security info",
    "Admin updated security info",
    "Admin deleted security info",
    "User registered security info",
    "Disable Strong Authentication",
    "Create Temporary Access Pass method for user",
    "Reset password (by admin)",
    "Reset user password",
    "Fraud reported - user is blocked for MFA",
];

impl Settings {
    /// Reads and validates a settings document. Errors name the field (`a.b.c`) and say what is
    /// allowed.
    pub fn from_json_str(text: &str) -> Result<Settings, SettingsError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let settings: Settings = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            SettingsError::from_serde(path, &inner)
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Reads and validates a settings document from bytes (KV values, files).
    pub fn from_json_slice(bytes: &[u8]) -> Result<Settings, SettingsError> {
        let text = std::str::from_utf8(bytes).map_err(|e| SettingsError::single("", format!("not UTF-8 text: {e}")))?;
        Settings::from_json_str(text)
    }

    /// The settings of one rule.
    pub fn rule(&self, rule: RuleId) -> &RuleSettings {
        self.rules.get(rule)
    }

    /// Whether a rule is switched on.
    pub fn rule_enabled(&self, rule: RuleId) -> bool {
        self.rules.get(rule).enabled
    }

    /// The severity a rule's alerts carry.
    pub fn severity(&self, rule: RuleId) -> Severity {
        self.rules.get(rule).severity.unwrap_or_else(|| rule.default_severity())
    }

    /// Whether `user` (UPN or object id) is exempt from `rule`; case-insensitive.
    pub fn is_exempt(&self, rule: RuleId, user: &str) -> bool {
        self.rules.get(rule).exempt_users.iter().any(|u| u.eq_ignore_ascii_case(user))
    }
}

/// `HH:MM` times.
mod hh_mm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        if text == "24:00" {
            // The end of the day, for working hours that run to midnight.
            return Ok(NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).expect("valid time"));
        }
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| D::Error::custom(format!("'{text}' is not a time of day; use HH:MM from 00:00 to 24:00")))
    }
}

/// `Mon` … `Sun`.
mod weekdays {
    use chrono::Weekday;
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    const NAMES: [(&str, Weekday); 7] = [
        ("Mon", Weekday::Mon),
        ("Tue", Weekday::Tue),
        ("Wed", Weekday::Wed),
        ("Thu", Weekday::Thu),
        ("Fri", Weekday::Fri),
        ("Sat", Weekday::Sat),
        ("Sun", Weekday::Sun),
    ];

    pub fn serialize<S: Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(days.len()))?;
        for day in days {
            let name = NAMES.iter().find(|(_, d)| d == day).map(|(n, _)| *n).unwrap_or("Mon");
            seq.serialize_element(name)?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|name| {
                NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, d)| *d).ok_or_else(|| {
                    D::Error::custom(format!("'{name}' is not a day; use Mon, Tue, Wed, Thu, Fri, Sat or Sun"))
                })
            })
            .collect()
    }
}
