//! Every NATS name m365-monitor uses, in one place (design §7).
//!
//! All names hang off a [`Namespace`]. The default namespace `m365` gives the contract names of
//! design §2 (`m365.events.<kind>.<tenant>`, stream `M365_EVENTS`, bucket `m365_settings` …).
//! Another namespace (`acme` → `acme.events…`, `ACME_EVENTS`, `acme_settings`) lets several
//! installs, or parallel tests, share one NATS server without seeing each other.
//!
//! Tokens built from data (tenant ids) are checked: a `.`, `*`, `>` or whitespace would change
//! the subject's shape, so they are rejected rather than published.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{RuleId, Severity};

/// Headers m365-monitor sets on bus messages (besides JetStream's `Nats-Msg-Id`).
pub mod headers {
    /// JetStream's de-duplication header.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// The Entra tenant id.
    pub const TENANT: &str = "M365-Tenant";
    /// `signin` or `audit`.
    pub const KIND: &str = "M365-Kind";
    /// For sign-ins: `interactiveUser`, `nonInteractiveUser`, `servicePrincipal`, `managedIdentity`.
    pub const SIGNIN_EVENT_TYPE: &str = "M365-Signin-Event-Type";
    /// The Graph record id (also in the payload); with [`CONTENT_VERSION`] it tells an update of a
    /// record from a new record.
    pub const RECORD_ID: &str = "M365-Record-Id";
    /// A hash of the record's content. A message whose record id was seen before with another
    /// content version is an update of that record (Graph adds MFA details up to 2 h late).
    pub const CONTENT_VERSION: &str = "M365-Content-Version";
    /// `new` for the first publication of a record, `update` when Graph changed it later.
    pub const CHANGE: &str = "M365-Change";
    /// When the collector received the record from Graph (RFC 3339).
    pub const RECEIVED_AT: &str = "M365-Received-At";
    /// On dead letters: why the message could not be processed.
    pub const DEAD_LETTER_REASON: &str = "M365-Dead-Letter-Reason";
    /// On dead letters: the subject the message came from.
    pub const DEAD_LETTER_SUBJECT: &str = "M365-Dead-Letter-Subject";
    /// On dead letters: the service that gave up on it.
    pub const DEAD_LETTER_SERVICE: &str = "M365-Dead-Letter-Service";
}

/// A namespace that prefixes every subject, stream, bucket and consumer name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

/// A name that cannot be used as (part of) a NATS subject, stream or bucket name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("namespace '{0}' is invalid: use 1 to 32 lowercase letters, digits, '_' or '-', starting with a letter")]
    Namespace(String),
    #[error(
        "{what} '{value}' cannot be a subject token: it must be non-empty and contain no '.', '*', '>', whitespace or control characters"
    )]
    Token { what: &'static str, value: String },
}

impl Namespace {
    /// The contract namespace of design §2.
    pub const DEFAULT: &'static str = "m365";

    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        let valid = (1..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid { Ok(Namespace(name)) } else { Err(NameError::Namespace(name)) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn upper(&self) -> String {
        self.0.to_ascii_uppercase().replace('-', "_")
    }

    fn lower(&self) -> String {
        self.0.replace('-', "_")
    }

    // ----- streams -----

    /// `M365_EVENTS`: every Graph record, `<ns>.events.>`.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.upper())
    }

    /// `M365_ALERTS`: every alert event, `<ns>.alerts.>`.
    pub fn alerts_stream(&self) -> String {
        format!("{}_ALERTS", self.upper())
    }

    /// `M365_DEAD_LETTERS`: what a service could not process, `<ns>.deadletter.>`.
    pub fn dead_letter_stream(&self) -> String {
        format!("{}_DEAD_LETTERS", self.upper())
    }

    // ----- subjects -----

    /// `m365.events.<kind>.<tenant>`.
    pub fn event_subject(&self, kind: &str, tenant: &str) -> Result<String, NameError> {
        Ok(format!("{}.events.{}.{}", self.0, token("kind", kind)?, token("tenant", tenant)?))
    }

    /// `m365.events.>`: what the events stream holds.
    pub fn events_filter(&self) -> String {
        format!("{}.events.>", self.0)
    }

    /// `m365.events.*.<tenant>`: one tenant's records of every kind.
    pub fn tenant_events_filter(&self, tenant: &str) -> Result<String, NameError> {
        Ok(format!("{}.events.*.{}", self.0, token("tenant", tenant)?))
    }

    /// `m365.alerts.<severity>.<rule>.<tenant>`.
    pub fn alert_subject(&self, severity: Severity, rule: RuleId, tenant: &str) -> Result<String, NameError> {
        Ok(format!("{}.alerts.{}.{}.{}", self.0, severity, rule, token("tenant", tenant)?))
    }

    /// `m365.alerts.>`.
    pub fn alerts_filter(&self) -> String {
        format!("{}.alerts.>", self.0)
    }

    /// `m365.deadletter.<service>.<kind>`: a message a service gave up on, with the reason in a
    /// header.
    pub fn dead_letter_subject(&self, service: &str, kind: &str) -> Result<String, NameError> {
        Ok(format!("{}.deadletter.{}.{}", self.0, token("service", service)?, token("kind", kind)?))
    }

    /// `m365.deadletter.>`.
    pub fn dead_letter_filter(&self) -> String {
        format!("{}.deadletter.>", self.0)
    }

    /// `m365.notify.test`: request/reply "send a test notification".
    pub fn notify_test_subject(&self) -> String {
        format!("{}.notify.test", self.0)
    }

    /// Prefix for the NATS service API names of our services (`m365-collector` …).
    pub fn service_name(&self, service: &str) -> String {
        format!("{}-{}", self.0, service)
    }

    // ----- key-value buckets -----

    /// `m365_settings`: the settings document, key [`SETTINGS_KEY`].
    pub fn settings_bucket(&self) -> String {
        format!("{}_settings", self.lower())
    }

    /// `m365_checkpoints`: the collector's poll checkpoints per tenant and log.
    pub fn checkpoints_bucket(&self) -> String {
        format!("{}_checkpoints", self.lower())
    }

    /// `m365_seen`: the collector's record content versions within the re-poll horizon.
    pub fn seen_bucket(&self) -> String {
        format!("{}_seen", self.lower())
    }

    /// `m365_directory_roles`: privileged role members per tenant, synced from Graph.
    pub fn directory_roles_bucket(&self) -> String {
        format!("{}_directory_roles", self.lower())
    }

    /// `m365_detector_state`: detector engine snapshots.
    pub fn detector_state_bucket(&self) -> String {
        format!("{}_detector_state", self.lower())
    }

    /// `m365_notification_log`: what the notifier sent, so a crash repeats at most one send.
    pub fn notification_log_bucket(&self) -> String {
        format!("{}_notification_log", self.lower())
    }

    /// `m365_status`: services' last reported status (collector polls, lag …).
    pub fn status_bucket(&self) -> String {
        format!("{}_status", self.lower())
    }

    // ----- consumers -----

    /// Durable detector consumer of one tenant's records.
    pub fn detector_consumer(&self, tenant: &str) -> Result<String, NameError> {
        Ok(format!("{}-detector-{}", self.lower(), consumer_token(tenant)?))
    }

    /// Durable notifier consumer (a queue group: every notifier shares it).
    pub fn notifier_consumer(&self) -> String {
        format!("{}-notifier", self.lower())
    }
}

/// Key of the settings document in [`Namespace::settings_bucket`].
pub const SETTINGS_KEY: &str = "settings";

impl Default for Namespace {
    fn default() -> Self {
        Namespace(Namespace::DEFAULT.to_string())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Namespace {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Namespace::new(value)
    }
}

impl From<Namespace> for String {
    fn from(value: Namespace) -> Self {
        value.0
    }
}

impl std::str::FromStr for Namespace {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Namespace::new(s)
    }
}

/// Checks a data-derived subject token.
pub fn token<'a>(what: &'static str, value: &'a str) -> Result<&'a str, NameError> {
    let bad = value.is_empty()
        || value.chars().any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control());
    if bad { Err(NameError::Token { what, value: value.to_string() }) } else { Ok(value) }
}

/// Consumer and KV-key names allow fewer characters than subjects: letters, digits, `-`, `_`.
fn consumer_token(value: &str) -> Result<&str, NameError> {
    let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(value) } else { Err(NameError::Token { what: "tenant", value: value.to_string() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_namespace_gives_the_contract_names() {
        let ns = Namespace::default();
        assert_eq!(ns.events_stream(), "M365_EVENTS");
        assert_eq!(ns.alerts_stream(), "M365_ALERTS");
        assert_eq!(ns.settings_bucket(), "m365_settings");
        assert_eq!(ns.event_subject("signin", "t-1").unwrap(), "m365.events.signin.t-1");
        assert_eq!(
            ns.alert_subject(Severity::High, RuleId::PasswordSpray, "t-1").unwrap(),
            "m365.alerts.high.password_spray.t-1"
        );
    }

    #[test]
    fn other_namespaces_are_isolated() {
        let ns = Namespace::new("test-ab12").unwrap();
        assert_eq!(ns.events_stream(), "TEST_AB12_EVENTS");
        assert_eq!(ns.settings_bucket(), "test_ab12_settings");
        assert_eq!(ns.events_filter(), "test-ab12.events.>");
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(Namespace::new("").is_err());
        assert!(Namespace::new("Upper").is_err());
        assert!(Namespace::new("a.b").is_err());
        let ns = Namespace::default();
        for bad in ["", "alice@contoso.com", "a*", "a>", "a b"] {
            assert!(ns.event_subject("signin", bad).is_err(), "{bad:?} accepted");
        }
    }
}
