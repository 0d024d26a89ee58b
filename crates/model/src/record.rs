//! A record of either kind, as the rest of the system handles it.

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

/// One Graph record, sign-in or directory audit.
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
}

impl<'de> Deserialize<'de> for Record {
    /// Recognises the kind per record: a sign-in has `createdDateTime`/`userPrincipalName`/`status`,
    /// an audit has `activityDateTime`/`activityDisplayName`.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let is_audit = value.get("activityDateTime").is_some() || value.get("activityDisplayName").is_some();
        if is_audit {
            serde_json::from_value(value).map(|a| Record::Audit(Box::new(a))).map_err(serde::de::Error::custom)
        } else {
            serde_json::from_value(value).map(|s| Record::SignIn(Box::new(s))).map_err(serde::de::Error::custom)
        }
    }
}
