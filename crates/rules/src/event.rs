//! The engine's view of a record: the fields the rules read, normalised once.
//!
//! Why a view of its own rather than the model types: the rules need a handful of fields out of a
//! hundred, in a normalised form (event time as an integer, the interactive flag resolved, risk
//! event types found wherever Graph put them). Borrowing (`Cow::Borrowed`) costs nothing on the
//! hot path; the owned form ([`Event::into_owned`]) is small and serialisable, which is what
//! `m365mon scan` sorts and spills to disk and what the engine keeps as evidence in its windows.

use std::borrow::Cow;

use m365mon_model::audit::DirectoryAudit;
use m365mon_model::signin::SignIn;
use m365mon_model::{Record, RecordKind, SignInView};
use serde::{Deserialize, Serialize};

use crate::codes::{Outcome, classify};
use crate::time::{Micros, micros};

/// A record as the rules see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Event<'a> {
    Signin(SignInEvent<'a>),
    Audit(AuditEvent<'a>),
}

/// Why a record cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the record has no event time ({field})")]
    NoEventTime { field: &'static str },
}

/// The fields of a sign-in the rules read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInEvent<'a> {
    pub id: Cow<'a, str>,
    /// `createdDateTime`, microseconds since the epoch.
    pub time: Micros,
    pub user_principal_name: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    /// Service-principal sign-ins (beta, Event Hub): the principal's name, else its id.
    pub service_principal: Option<Cow<'a, str>>,
    pub app_display_name: Option<Cow<'a, str>>,
    pub ip_address: Option<Cow<'a, str>>,
    pub client_app_used: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub correlation_id: Option<Cow<'a, str>>,
    /// Resolved from `isInteractive`, `signInEventTypes` (beta) or the export category; v1.0
    /// lists interactive sign-ins only, so a record that says nothing is interactive.
    pub interactive: bool,
    pub error_code: Option<i64>,
    pub failure_reason: Option<Cow<'a, str>>,
    pub additional_details: Option<Cow<'a, str>>,
    pub city: Option<Cow<'a, str>>,
    pub state: Option<Cow<'a, str>>,
    /// Two-letter country code as Graph gives it.
    pub country: Option<Cow<'a, str>>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub risk_level_during_sign_in: Option<Cow<'a, str>>,
    pub risk_level_aggregated: Option<Cow<'a, str>>,
    pub risk_state: Option<Cow<'a, str>>,
    pub risk_detail: Option<Cow<'a, str>>,
    pub risk_event_types: Vec<Cow<'a, str>>,
    pub authentication_requirement: Option<Cow<'a, str>>,
}

/// The fields of a directory audit the rules read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent<'a> {
    pub id: Cow<'a, str>,
    /// `activityDateTime`, microseconds since the epoch.
    pub time: Micros,
    pub activity: Option<Cow<'a, str>>,
    pub category: Option<Cow<'a, str>>,
    pub logged_by_service: Option<Cow<'a, str>>,
    pub operation_type: Option<Cow<'a, str>>,
    pub result: Option<Cow<'a, str>>,
    pub result_reason: Option<Cow<'a, str>>,
    pub correlation_id: Option<Cow<'a, str>>,
    pub initiator_upn: Option<Cow<'a, str>>,
    pub initiator_user_id: Option<Cow<'a, str>>,
    pub initiator_ip: Option<Cow<'a, str>>,
    pub initiator_app: Option<Cow<'a, str>>,
    pub initiator_app_id: Option<Cow<'a, str>>,
    pub targets: Vec<AuditTarget<'a>>,
    pub additional_details: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// One `targetResources` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditTarget<'a> {
    pub id: Option<Cow<'a, str>>,
    pub display_name: Option<Cow<'a, str>>,
    pub resource_type: Option<Cow<'a, str>>,
    pub user_principal_name: Option<Cow<'a, str>>,
    pub modified_properties: Vec<ModifiedProperty<'a>>,
}

/// `(displayName, oldValue, newValue)` of a modified property.
pub type ModifiedProperty<'a> = (Cow<'a, str>, Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// A present, non-empty text. (Graph values carry no padding; trimming every field of every
/// record was a fifth of the engine's time.)
#[inline]
fn b_ref(s: &Option<String>) -> Option<Cow<'_, str>> {
    match s.as_deref() {
        Some(text) if !text.is_empty() => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

/// [`b_ref`] for text of a view.
#[inline]
fn b(s: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    s.filter(|text| !text.is_empty())
}

fn own<'a>(s: Option<Cow<'a, str>>) -> Option<Cow<'static, str>> {
    s.map(|s| Cow::Owned(s.into_owned()))
}

impl<'a> Event<'a> {
    /// The view of a record. Fails only for records that cannot be placed in time or named.
    pub fn from_record(record: &'a Record) -> Result<Event<'a>, EventError> {
        match record {
            Record::SignIn(s) => SignInEvent::from_signin(s).map(Event::Signin),
            Record::Audit(a) => AuditEvent::from_audit(a).map(Event::Audit),
        }
    }

    /// Event time in microseconds since the epoch.
    pub fn time(&self) -> Micros {
        match self {
            Event::Signin(s) => s.time,
            Event::Audit(a) => a.time,
        }
    }

    /// The Graph record id.
    pub fn id(&self) -> &str {
        match self {
            Event::Signin(s) => &s.id,
            Event::Audit(a) => &a.id,
        }
    }

    pub fn kind(&self) -> RecordKind {
        match self {
            Event::Signin(_) => RecordKind::Signin,
            Event::Audit(_) => RecordKind::Audit,
        }
    }

    /// An owned copy that outlives the record.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Signin(s) => Event::Signin(s.into_owned()),
            Event::Audit(a) => Event::Audit(a.into_owned()),
        }
    }
}

impl<'a> SignInEvent<'a> {
    pub fn from_signin(s: &'a SignIn) -> Result<SignInEvent<'a>, EventError> {
        SignInEvent::from_view(SignInView::of(s))
    }

    /// The event of a sign-in view (the model's lean reading, or [`SignInView::of`] a record):
    /// the one place a sign-in becomes an event, so both readings give the same.
    pub fn from_view(v: SignInView<'a>) -> Result<SignInEvent<'a>, EventError> {
        let time = v.created_date_time.ok_or(EventError::NoEventTime { field: "createdDateTime" })?;
        let interactive = is_interactive(&v);
        let risk_event_types = [v.risk_event_types_v2, v.risk_event_types]
            .into_iter()
            .flatten()
            .find(|list| !list.is_empty())
            .unwrap_or_default();
        let id = if v.id.trim().is_empty() {
            Cow::Owned(synthetic_id(&[
                "signin",
                &time.to_rfc3339(),
                v.correlation_id.as_deref().unwrap_or(""),
                v.user_principal_name.as_deref().unwrap_or(""),
                v.ip_address.as_deref().unwrap_or(""),
                v.app_display_name.as_deref().unwrap_or(""),
            ]))
        } else {
            v.id
        };
        Ok(SignInEvent {
            id,
            time: micros(time),
            user_principal_name: b(v.user_principal_name),
            user_id: b(v.user_id).filter(|id| !is_nil_guid(id)),
            service_principal: b(v.service_principal_name)
                .or_else(|| b(v.service_principal_id))
                .filter(|id| !is_nil_guid(id)),
            app_display_name: b(v.app_display_name),
            ip_address: b(v.ip_address),
            client_app_used: b(v.client_app_used),
            user_agent: b(v.user_agent),
            correlation_id: b(v.correlation_id),
            interactive,
            error_code: v.error_code,
            failure_reason: b(v.failure_reason),
            additional_details: b(v.additional_details),
            city: b(v.city),
            state: b(v.state),
            country: b(v.country_or_region),
            latitude: v.latitude,
            longitude: v.longitude,
            risk_level_during_sign_in: b(v.risk_level_during_sign_in),
            risk_level_aggregated: b(v.risk_level_aggregated),
            risk_state: b(v.risk_state),
            risk_detail: b(v.risk_detail),
            risk_event_types,
            authentication_requirement: b(v.authentication_requirement),
        })
    }

    pub fn into_owned(self) -> SignInEvent<'static> {
        SignInEvent {
            id: Cow::Owned(self.id.into_owned()),
            time: self.time,
            user_principal_name: own(self.user_principal_name),
            user_id: own(self.user_id),
            service_principal: own(self.service_principal),
            app_display_name: own(self.app_display_name),
            ip_address: own(self.ip_address),
            client_app_used: own(self.client_app_used),
            user_agent: own(self.user_agent),
            correlation_id: own(self.correlation_id),
            interactive: self.interactive,
            error_code: self.error_code,
            failure_reason: own(self.failure_reason),
            additional_details: own(self.additional_details),
            city: own(self.city),
            state: own(self.state),
            country: own(self.country),
            latitude: self.latitude,
            longitude: self.longitude,
            risk_level_during_sign_in: own(self.risk_level_during_sign_in),
            risk_level_aggregated: own(self.risk_level_aggregated),
            risk_state: own(self.risk_state),
            risk_detail: own(self.risk_detail),
            risk_event_types: self.risk_event_types.into_iter().map(|s| Cow::Owned(s.into_owned())).collect(),
            authentication_requirement: own(self.authentication_requirement),
        }
    }

    /// What the result means for detection.
    pub fn outcome(&self) -> Outcome {
        classify(self.error_code)
    }

    /// The user the sign-in is about: the UPN (what people read), else the object id.
    pub fn user(&self) -> Option<&str> {
        self.user_principal_name.as_deref().or(self.user_id.as_deref())
    }

    /// Who signed in: a user, else a service principal.
    pub fn principal(&self) -> Option<&str> {
        self.user().or(self.service_principal.as_deref())
    }

    /// Usable coordinates, if Graph placed the IP address.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        match (self.latitude, self.longitude) {
            (Some(lat), Some(lon)) if crate::geo::usable(lat, lon) => Some((lat, lon)),
            _ => None,
        }
    }

    /// The attempt this record belongs to: one sign-in can be split into several records
    /// (interrupts, many Conditional Access policies), which share a correlation id.
    pub fn attempt_key(&self) -> u64 {
        match &self.correlation_id {
            Some(c) => crate::keys::folded(c),
            None => crate::keys::exact(&self.id),
        }
    }
}

impl<'a> AuditEvent<'a> {
    pub fn from_audit(a: &'a DirectoryAudit) -> Result<AuditEvent<'a>, EventError> {
        let time = a.activity_date_time.ok_or(EventError::NoEventTime { field: "activityDateTime" })?;
        let initiator = a.initiated_by.as_ref();
        let user = initiator.and_then(|i| i.user.as_ref());
        let app = initiator.and_then(|i| i.app.as_ref());
        let id = if a.id.trim().is_empty() {
            let targets: Vec<&str> = a.target_resources.iter().filter_map(|t| t.id.as_deref()).collect();
            Cow::Owned(synthetic_id(&[
                "audit",
                &time.to_rfc3339(),
                a.correlation_id.as_deref().unwrap_or(""),
                a.activity_display_name.as_deref().unwrap_or(""),
                &targets.join(","),
            ]))
        } else {
            Cow::Borrowed(a.id.as_str())
        };
        Ok(AuditEvent {
            id,
            time: micros(time),
            activity: b_ref(&a.activity_display_name),
            category: b_ref(&a.category),
            logged_by_service: b_ref(&a.logged_by_service),
            operation_type: b_ref(&a.operation_type),
            result: b_ref(&a.result),
            result_reason: b_ref(&a.result_reason),
            correlation_id: b_ref(&a.correlation_id),
            initiator_upn: user.and_then(|u| b_ref(&u.user_principal_name)),
            initiator_user_id: user.and_then(|u| b_ref(&u.id)),
            initiator_ip: user.and_then(|u| b_ref(&u.ip_address)),
            initiator_app: app.and_then(|a| b_ref(&a.display_name).or_else(|| b_ref(&a.service_principal_name))),
            initiator_app_id: app.and_then(|a| b_ref(&a.app_id).or_else(|| b_ref(&a.service_principal_id))),
            targets: a
                .target_resources
                .iter()
                .map(|t| AuditTarget {
                    id: b_ref(&t.id),
                    display_name: b_ref(&t.display_name),
                    resource_type: b_ref(&t.resource_type),
                    user_principal_name: b_ref(&t.user_principal_name),
                    modified_properties: t
                        .modified_properties
                        .iter()
                        .map(|p| {
                            (
                                Cow::Borrowed(p.display_name.as_deref().unwrap_or("")),
                                b_ref(&p.old_value),
                                b_ref(&p.new_value),
                            )
                        })
                        .collect(),
                })
                .collect(),
            additional_details: a
                .additional_details
                .iter()
                .filter_map(|kv| {
                    Some((Cow::Borrowed(kv.key.as_deref()?), Cow::Borrowed(kv.value.as_deref().unwrap_or(""))))
                })
                .collect(),
        })
    }

    pub fn into_owned(self) -> AuditEvent<'static> {
        AuditEvent {
            id: Cow::Owned(self.id.into_owned()),
            time: self.time,
            activity: own(self.activity),
            category: own(self.category),
            logged_by_service: own(self.logged_by_service),
            operation_type: own(self.operation_type),
            result: own(self.result),
            result_reason: own(self.result_reason),
            correlation_id: own(self.correlation_id),
            initiator_upn: own(self.initiator_upn),
            initiator_user_id: own(self.initiator_user_id),
            initiator_ip: own(self.initiator_ip),
            initiator_app: own(self.initiator_app),
            initiator_app_id: own(self.initiator_app_id),
            targets: self
                .targets
                .into_iter()
                .map(|t| AuditTarget {
                    id: own(t.id),
                    display_name: own(t.display_name),
                    resource_type: own(t.resource_type),
                    user_principal_name: own(t.user_principal_name),
                    modified_properties: t
                        .modified_properties
                        .into_iter()
                        .map(|(n, o, v)| (Cow::Owned(n.into_owned()), own(o), own(v)))
                        .collect(),
                })
                .collect(),
            additional_details: self
                .additional_details
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        }
    }

    /// Whether the change took effect: `result` success (or absent, as in some exports).
    pub fn succeeded(&self) -> bool {
        self.result.as_deref().is_none_or(|r| r.eq_ignore_ascii_case("success"))
    }

    /// Who did it, for people: the user's UPN, else the app's name, else the user's id.
    pub fn initiator(&self) -> Option<&str> {
        self.initiator_upn.as_deref().or(self.initiator_app.as_deref()).or(self.initiator_user_id.as_deref())
    }
}

/// A stable stand-in for a missing record id (some exports and hand-made samples have none):
/// the same record always gets the same one, so redeliveries are still recognised.
fn synthetic_id(parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    format!("no-id-{:016x}", crate::keys::exact(&joined))
}

/// Graph's "no user" placeholder.
fn is_nil_guid(id: &str) -> bool {
    id == "00000000-0000-0000-0000-000000000000"
}

/// Interactive or not: `isInteractive` when present, else the beta `signInEventTypes`, else the
/// Azure diagnostic category kept by the model, else interactive (v1.0 lists only those).
fn is_interactive(s: &SignInView<'_>) -> bool {
    if let Some(flag) = s.is_interactive {
        return flag;
    }
    if let Some(types) = &s.sign_in_event_types
        && !types.is_empty()
    {
        return types.iter().any(|t| t.eq_ignore_ascii_case("interactiveUser"));
    }
    if let Some(category) = &s.category {
        return category.eq_ignore_ascii_case("SignInLogs");
    }
    true
}
