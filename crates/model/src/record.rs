//! A record of either kind, as the rest of the system handles it.
//!
//! Why an enum of boxes: sign-ins and audits arrive mixed (files, pages, the bus), the rules
//! engine dispatches on the kind, and both structs are large, so the enum stays two words.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{DirectoryAudit, SignIn};

/// The two log kinds; the lowercase names are the `<kind>` token of the bus subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Signin,
    Audit,
}

impl RecordKind {
    /// The subject token: `signin` or `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Signin => "signin",
            RecordKind::Audit => "audit",
        }
    }
}

/// Which kind of sign-in: Graph's `signInEventTypes` values (beta), or the Azure diagnostic
/// category the record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignInEventType {
    InteractiveUser,
    NonInteractiveUser,
    ServicePrincipal,
    ManagedIdentity,
}

impl SignInEventType {
    /// The Graph `signInEventTypes` value: `interactiveUser`, `nonInteractiveUser`,
    /// `servicePrincipal`, `managedIdentity`.
    pub fn as_graph_value(self) -> &'static str {
        match self {
            SignInEventType::InteractiveUser => "interactiveUser",
            SignInEventType::NonInteractiveUser => "nonInteractiveUser",
            SignInEventType::ServicePrincipal => "servicePrincipal",
            SignInEventType::ManagedIdentity => "managedIdentity",
        }
    }

    /// Reads a Graph `signInEventTypes` value (ignoring ASCII case); `None` for values this
    /// version does not know.
    pub fn from_graph_value(value: &str) -> Option<Self> {
        [
            SignInEventType::InteractiveUser,
            SignInEventType::NonInteractiveUser,
            SignInEventType::ServicePrincipal,
            SignInEventType::ManagedIdentity,
        ]
        .into_iter()
        .find(|kind| kind.as_graph_value().eq_ignore_ascii_case(value.trim()))
    }

    /// The event type an Entra diagnostic category (`SignInLogs`, `NonInteractiveUserSignInLogs`,
    /// `ServicePrincipalSignInLogs`, `MicrosoftServicePrincipalSignInLogs`,
    /// `ManagedIdentitySignInLogs`) or Log Analytics table (`SigninLogs`,
    /// `AADNonInteractiveUserSignInLogs`, ...) stands for.
    pub fn from_category(category: &str) -> Option<Self> {
        crate::shape::category_kind(category).and_then(|(_, event_type)| event_type)
    }
}

/// One Graph record, sign-in or directory audit.
///
/// Serialises as the inner record (Graph shape). Deserialises any record shape the readers know
/// (Graph, Event Hub envelope, Log Analytics row), normalised to Graph; use
/// [`crate::parse_record_detailed`] to keep what an envelope said around the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Record {
    SignIn(Box<SignIn>),
    Audit(Box<DirectoryAudit>),
}

impl Record {
    /// The Graph record id.
    pub fn id(&self) -> &str {
        match self {
            Record::SignIn(s) => &s.id,
            Record::Audit(a) => &a.id,
        }
    }

    /// Which log the record belongs to.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::SignIn(_) => RecordKind::Signin,
            Record::Audit(_) => RecordKind::Audit,
        }
    }

    /// Event time: `createdDateTime` for sign-ins, `activityDateTime` for audits.
    pub fn event_time(&self) -> Option<DateTime<Utc>> {
        match self {
            Record::SignIn(s) => s.created_date_time,
            Record::Audit(a) => a.activity_date_time,
        }
    }

    /// The sign-in, if this is one.
    pub fn as_sign_in(&self) -> Option<&SignIn> {
        match self {
            Record::SignIn(s) => Some(s),
            Record::Audit(_) => None,
        }
    }

    /// The directory audit, if this is one.
    pub fn as_audit(&self) -> Option<&DirectoryAudit> {
        match self {
            Record::SignIn(_) => None,
            Record::Audit(a) => Some(a),
        }
    }

    /// The record as Graph JSON.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl From<SignIn> for Record {
    fn from(signin: SignIn) -> Self {
        Record::SignIn(Box::new(signin))
    }
}

impl From<DirectoryAudit> for Record {
    fn from(audit: DirectoryAudit) -> Self {
        Record::Audit(Box::new(audit))
    }
}

impl<'de> Deserialize<'de> for Record {
    /// Recognises the kind per record (a sign-in has `createdDateTime`/`status`/`appId`/..., an
    /// audit `activityDateTime`/`activityDisplayName`/`initiatedBy`/...) and lifts Event Hub and
    /// Log Analytics records to the Graph shape.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::shape::TopLevel::<false>::deserialize(deserializer).map(|top| top.0.record)
    }
}
