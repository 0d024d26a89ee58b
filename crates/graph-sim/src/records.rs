//! Records as the simulator serves them: a sign-in or directory audit in a neutral form
//! ([`SignInData`], [`AuditData`]) rendered on demand into the v1.0 or the beta shape.
//!
//! Rendering writes Graph's property names in Graph's order straight into the page buffer, so
//! serving a million records costs no intermediate JSON trees. The property names used here are
//! checked against the Graph schema (msgraph-metadata) by the conformance tests: v1.0 gets only
//! v1.0 properties, beta the beta set.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::time::{Ticks, format_graph};

/// Which sign-in log a sign-in belongs to (beta `signInEventTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignInKind {
    InteractiveUser,
    NonInteractiveUser,
    ServicePrincipal,
    ManagedIdentity,
}

impl SignInKind {
    pub const ALL: [SignInKind; 4] = [
        SignInKind::InteractiveUser,
        SignInKind::NonInteractiveUser,
        SignInKind::ServicePrincipal,
        SignInKind::ManagedIdentity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInKind::InteractiveUser => "interactiveUser",
            SignInKind::NonInteractiveUser => "nonInteractiveUser",
            SignInKind::ServicePrincipal => "servicePrincipal",
            SignInKind::ManagedIdentity => "managedIdentity",
        }
    }

    pub fn parse(text: &str) -> Option<SignInKind> {
        SignInKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(text))
    }
}

/// The log a record belongs to, as stats and the ledger count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LogKind {
    InteractiveUser,
    NonInteractiveUser,
    ServicePrincipal,
    ManagedIdentity,
    DirectoryAudit,
}

impl LogKind {
    pub const ALL: [LogKind; 5] = [
        LogKind::InteractiveUser,
        LogKind::NonInteractiveUser,
        LogKind::ServicePrincipal,
        LogKind::ManagedIdentity,
        LogKind::DirectoryAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::DirectoryAudit => "directoryAudit",
            LogKind::InteractiveUser => "interactiveUser",
            LogKind::NonInteractiveUser => "nonInteractiveUser",
            LogKind::ServicePrincipal => "servicePrincipal",
            LogKind::ManagedIdentity => "managedIdentity",
        }
    }

    pub fn parse(text: &str) -> Option<LogKind> {
        LogKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(text))
    }

    pub fn sign_in(self) -> Option<SignInKind> {
        match self {
            LogKind::InteractiveUser => Some(SignInKind::InteractiveUser),
            LogKind::NonInteractiveUser => Some(SignInKind::NonInteractiveUser),
            LogKind::ServicePrincipal => Some(SignInKind::ServicePrincipal),
            LogKind::ManagedIdentity => Some(SignInKind::ManagedIdentity),
            LogKind::DirectoryAudit => None,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl From<SignInKind> for LogKind {
    fn from(k: SignInKind) -> LogKind {
        match k {
            SignInKind::InteractiveUser => LogKind::InteractiveUser,
            SignInKind::NonInteractiveUser => LogKind::NonInteractiveUser,
            SignInKind::ServicePrincipal => LogKind::ServicePrincipal,
            SignInKind::ManagedIdentity => LogKind::ManagedIdentity,
        }
    }
}

type S<'a> = Cow<'a, str>;

/// `deviceDetail`.
#[derive(Debug, Clone, Default)]
pub struct DeviceView<'a> {
    pub device_id: S<'a>,
    pub display_name: S<'a>,
    pub operating_system: S<'a>,
    pub browser: S<'a>,
    pub is_compliant: bool,
    pub is_managed: bool,
    pub trust_type: S<'a>,
}

/// `location`; `None` coordinates render as `{}` like the beta docs example.
#[derive(Debug, Clone, Default)]
pub struct LocationView<'a> {
    pub city: S<'a>,
    pub state: S<'a>,
    pub country: S<'a>,
    pub coordinates: Option<(f64, f64)>,
}

/// One element of `appliedConditionalAccessPolicies`.
#[derive(Debug, Clone)]
pub struct CaResult<'a> {
    pub id: S<'a>,
    pub display_name: S<'a>,
    pub grant_controls: &'static [&'static str],
    pub result: &'static str,
}

/// One element of beta `authenticationDetails`.
#[derive(Debug, Clone)]
pub struct AuthStep<'a> {
    pub at: Ticks,
    pub method: S<'a>,
    pub method_detail: S<'a>,
    pub succeeded: bool,
    pub result_detail: S<'a>,
    pub requirement: S<'a>,
}

/// A sign-in in neutral form; everything both renderings need.
#[derive(Debug, Clone)]
pub struct SignInData<'a> {
    pub id: S<'a>,
    pub created: Ticks,
    pub kind: SignInKind,
    pub user_display_name: Option<S<'a>>,
    pub user_principal_name: Option<S<'a>>,
    /// Empty for service principals and managed identities (Graph sends `""`).
    pub user_id: S<'a>,
    pub user_type: Option<&'static str>,
    pub app_id: S<'a>,
    pub app_display_name: S<'a>,
    pub ip_address: S<'a>,
    pub client_app_used: Option<S<'a>>,
    pub user_agent: Option<S<'a>>,
    pub correlation_id: S<'a>,
    pub original_request_id: S<'a>,
    pub unique_token_identifier: S<'a>,
    pub conditional_access_status: &'static str,
    pub authentication_protocol: &'static str,
    pub incoming_token_type: &'static str,
    pub processing_time_ms: u32,
    pub risk_detail: &'static str,
    pub risk_level_aggregated: &'static str,
    pub risk_level_during_sign_in: &'static str,
    pub risk_state: &'static str,
    pub risk_event_types: Vec<&'static str>,
    pub resource_display_name: S<'a>,
    pub resource_id: S<'a>,
    pub tenant_id: S<'a>,
    pub authentication_requirement: &'static str,
    pub error_code: i32,
    pub failure_reason: Option<S<'a>>,
    pub additional_details: Option<S<'a>>,
    pub device: DeviceView<'a>,
    pub location: LocationView<'a>,
    pub ca_policies: Vec<CaResult<'a>>,
    pub auth_details: Vec<AuthStep<'a>>,
    pub auth_methods_used: Vec<&'static str>,
    pub service_principal_id: S<'a>,
    pub service_principal_name: Option<S<'a>>,
    pub sp_credential_key_id: Option<S<'a>>,
    pub client_credential_type: &'static str,
    pub managed_identity_resource: Option<S<'a>>,
    pub asn: u32,
    pub named_network: Option<&'static str>,
    pub processing_details: Vec<(&'static str, S<'a>)>,
}

impl SignInData<'_> {
    /// Turns borrowed parts into owned ones (for records kept in memory: scenarios).
    pub fn into_owned(self) -> SignInData<'static> {
        fn o(s: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(s.into_owned())
        }
        fn oo(s: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            s.map(o)
        }
        SignInData {
            id: o(self.id),
            created: self.created,
            kind: self.kind,
            user_display_name: oo(self.user_display_name),
            user_principal_name: oo(self.user_principal_name),
            user_id: o(self.user_id),
            user_type: self.user_type,
            app_id: o(self.app_id),
            app_display_name: o(self.app_display_name),
            ip_address: o(self.ip_address),
            client_app_used: oo(self.client_app_used),
            user_agent: oo(self.user_agent),
            correlation_id: o(self.correlation_id),
            original_request_id: o(self.original_request_id),
            unique_token_identifier: o(self.unique_token_identifier),
            conditional_access_status: self.conditional_access_status,
            authentication_protocol: self.authentication_protocol,
            incoming_token_type: self.incoming_token_type,
            processing_time_ms: self.processing_time_ms,
            risk_detail: self.risk_detail,
            risk_level_aggregated: self.risk_level_aggregated,
            risk_level_during_sign_in: self.risk_level_during_sign_in,
            risk_state: self.risk_state,
            risk_event_types: self.risk_event_types,
            resource_display_name: o(self.resource_display_name),
            resource_id: o(self.resource_id),
            tenant_id: o(self.tenant_id),
            authentication_requirement: self.authentication_requirement,
            error_code: self.error_code,
            failure_reason: oo(self.failure_reason),
            additional_details: oo(self.additional_details),
            device: DeviceView {
                device_id: o(self.device.device_id),
                display_name: o(self.device.display_name),
                operating_system: o(self.device.operating_system),
                browser: o(self.device.browser),
                is_compliant: self.device.is_compliant,
                is_managed: self.device.is_managed,
                trust_type: o(self.device.trust_type),
            },
            location: LocationView {
                city: o(self.location.city),
                state: o(self.location.state),
                country: o(self.location.country),
                coordinates: self.location.coordinates,
            },
            ca_policies: self
                .ca_policies
                .into_iter()
                .map(|c| CaResult {
                    id: o(c.id),
                    display_name: o(c.display_name),
                    grant_controls: c.grant_controls,
                    result: c.result,
                })
                .collect(),
            auth_details: self
                .auth_details
                .into_iter()
                .map(|s| AuthStep {
                    at: s.at,
                    method: o(s.method),
                    method_detail: o(s.method_detail),
                    succeeded: s.succeeded,
                    result_detail: o(s.result_detail),
                    requirement: o(s.requirement),
                })
                .collect(),
            auth_methods_used: self.auth_methods_used,
            service_principal_id: o(self.service_principal_id),
            service_principal_name: oo(self.service_principal_name),
            sp_credential_key_id: oo(self.sp_credential_key_id),
            client_credential_type: self.client_credential_type,
            managed_identity_resource: oo(self.managed_identity_resource),
            asn: self.asn,
            named_network: self.named_network,
            processing_details: self.processing_details.into_iter().map(|(k, v)| (k, o(v))).collect(),
        }
    }
}

/// Who did an audited activity.
#[derive(Debug, Clone)]
pub enum Initiator<'a> {
    User {
        id: S<'a>,
        display_name: Option<S<'a>>,
        user_principal_name: S<'a>,
        ip_address: S<'a>,
    },
    App {
        app_id: Option<S<'a>>,
        display_name: S<'a>,
        service_principal_id: S<'a>,
        service_principal_name: Option<S<'a>>,
    },
}

/// `modifiedProperty`: values are JSON text, as Graph sends them.
#[derive(Debug, Clone)]
pub struct Modified<'a> {
    pub display_name: S<'a>,
    pub old_value: Option<S<'a>>,
    pub new_value: Option<S<'a>>,
}

/// `targetResource`.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub id: S<'a>,
    pub display_name: Option<S<'a>>,
    pub kind: &'static str,
    pub user_principal_name: Option<S<'a>>,
    pub group_type: Option<&'static str>,
    pub modified: Vec<Modified<'a>>,
}

/// A directory audit in neutral form.
#[derive(Debug, Clone)]
pub struct AuditData<'a> {
    pub id: S<'a>,
    pub at: Ticks,
    pub activity_display_name: S<'a>,
    pub category: &'static str,
    pub correlation_id: S<'a>,
    pub logged_by_service: &'static str,
    pub operation_type: &'static str,
    pub result: &'static str,
    pub result_reason: S<'a>,
    pub initiated_by: Initiator<'a>,
    pub targets: Vec<Target<'a>>,
    pub additional_details: Vec<(S<'a>, S<'a>)>,
    pub user_agent: Option<S<'a>>,
}

impl AuditData<'_> {
    pub fn into_owned(self) -> AuditData<'static> {
        fn o(s: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(s.into_owned())
        }
        fn oo(s: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            s.map(o)
        }
        AuditData {
            id: o(self.id),
            at: self.at,
            activity_display_name: o(self.activity_display_name),
            category: self.category,
            correlation_id: o(self.correlation_id),
            logged_by_service: self.logged_by_service,
            operation_type: self.operation_type,
            result: self.result,
            result_reason: o(self.result_reason),
            initiated_by: match self.initiated_by {
                Initiator::User { id, display_name, user_principal_name, ip_address } => Initiator::User {
                    id: o(id),
                    display_name: oo(display_name),
                    user_principal_name: o(user_principal_name),
                    ip_address: o(ip_address),
                },
                Initiator::App { app_id, display_name, service_principal_id, service_principal_name } => {
                    Initiator::App {
                        app_id: oo(app_id),
                        display_name: o(display_name),
                        service_principal_id: o(service_principal_id),
                        service_principal_name: oo(service_principal_name),
                    }
                }
            },
            targets: self
                .targets
                .into_iter()
                .map(|t| Target {
                    id: o(t.id),
                    display_name: oo(t.display_name),
                    kind: t.kind,
                    user_principal_name: oo(t.user_principal_name),
                    group_type: t.group_type,
                    modified: t
                        .modified
                        .into_iter()
                        .map(|m| Modified {
                            display_name: o(m.display_name),
                            old_value: oo(m.old_value),
                            new_value: oo(m.new_value),
                        })
                        .collect(),
                })
                .collect(),
            additional_details: self.additional_details.into_iter().map(|(k, v)| (o(k), o(v))).collect(),
            user_agent: oo(self.user_agent),
        }
    }
}

/// Which API version a record is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ApiVersion {
    #[serde(rename = "v1.0")]
    V1,
    #[serde(rename = "beta")]
    Beta,
}

impl ApiVersion {
    pub fn path(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// Serialises a sign-in in the given API version's shape.
#[derive(Debug)]
pub struct RenderSignIn<'r, 'a>(pub &'r SignInData<'a>, pub ApiVersion);

/// Serialises a directory audit in the given API version's shape.
#[derive(Debug)]
pub struct RenderAudit<'r, 'a>(pub &'r AuditData<'a>, pub ApiVersion);

struct Time(Ticks);
impl Serialize for Time {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        s.serialize_str(&format_graph(self.0))
    }
}

struct Status<'r, 'a>(&'r SignInData<'a>);
impl Serialize for Status<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("errorCode", &self.0.error_code)?;
        m.serialize_entry("failureReason", &self.0.failure_reason)?;
        m.serialize_entry("additionalDetails", &self.0.additional_details)?;
        m.end()
    }
}

struct Device<'r, 'a>(&'r DeviceView<'a>);
impl Serialize for Device<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        let d = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("deviceId", &d.device_id)?;
        m.serialize_entry("displayName", &d.display_name)?;
        m.serialize_entry("operatingSystem", &d.operating_system)?;
        m.serialize_entry("browser", &d.browser)?;
        m.serialize_entry("isCompliant", &d.is_compliant)?;
        m.serialize_entry("isManaged", &d.is_managed)?;
        m.serialize_entry("trustType", &d.trust_type)?;
        m.end()
    }
}

struct Location<'r, 'a>(&'r LocationView<'a>);
impl Serialize for Location<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        struct Geo(Option<(f64, f64)>);
        impl Serialize for Geo {
            fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                match self.0 {
                    Some((lat, lon)) => {
                        let mut m = s.serialize_map(Some(3))?;
                        m.serialize_entry("altitude", &Option::<f64>::None)?;
                        m.serialize_entry("latitude", &lat)?;
                        m.serialize_entry("longitude", &lon)?;
                        m.end()
                    }
                    None => s.serialize_map(Some(0))?.end(),
                }
            }
        }
        let l = self.0;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("city", &l.city)?;
        m.serialize_entry("state", &l.state)?;
        m.serialize_entry("countryOrRegion", &l.country)?;
        m.serialize_entry("geoCoordinates", &Geo(l.coordinates))?;
        m.end()
    }
}

struct Policies<'r, 'a>(&'r [CaResult<'a>]);
impl Serialize for Policies<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        struct One<'r, 'a>(&'r CaResult<'a>);
        impl Serialize for One<'_, '_> {
            fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                let c = self.0;
                let applied = matches!(c.result, "success" | "failure");
                let mut m = s.serialize_map(Some(5))?;
                m.serialize_entry("id", &c.id)?;
                m.serialize_entry("displayName", &c.display_name)?;
                m.serialize_entry("enforcedGrantControls", if applied { c.grant_controls } else { &[] })?;
                m.serialize_entry("enforcedSessionControls", &[] as &[&str])?;
                m.serialize_entry("result", c.result)?;
                m.end()
            }
        }
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for c in self.0 {
            q.serialize_element(&One(c))?;
        }
        q.end()
    }
}

struct Steps<'r, 'a>(&'r [AuthStep<'a>]);
impl Serialize for Steps<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        struct One<'r, 'a>(&'r AuthStep<'a>);
        impl Serialize for One<'_, '_> {
            fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                let a = self.0;
                let mut m = s.serialize_map(Some(6))?;
                m.serialize_entry("authenticationStepDateTime", &Time(a.at))?;
                m.serialize_entry("authenticationMethod", &a.method)?;
                m.serialize_entry("authenticationMethodDetail", &a.method_detail)?;
                m.serialize_entry("succeeded", &a.succeeded)?;
                m.serialize_entry("authenticationStepResultDetail", &a.result_detail)?;
                m.serialize_entry("authenticationStepRequirement", &a.requirement)?;
                m.end()
            }
        }
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for a in self.0 {
            q.serialize_element(&One(a))?;
        }
        q.end()
    }
}

struct KeyValues<'r, K: Serialize, V: Serialize>(&'r [(K, V)]);
impl<K: Serialize, V: Serialize> Serialize for KeyValues<'_, K, V> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        struct One<'r, K, V>(&'r K, &'r V);
        impl<K: Serialize, V: Serialize> Serialize for One<'_, K, V> {
            fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("key", self.0)?;
                m.serialize_entry("value", self.1)?;
                m.end()
            }
        }
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for (k, v) in self.0 {
            q.serialize_element(&One(k, v))?;
        }
        q.end()
    }
}

struct NamedNetwork(Option<&'static str>);
impl Serialize for NamedNetwork {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        let mut q = s.serialize_seq(None)?;
        if let Some(name) = self.0 {
            q.serialize_element(&serde_json::json!({"networkType": "trustedNamedLocation", "networkNames": [name]}))?;
        }
        q.end()
    }
}

impl Serialize for RenderSignIn<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        let (d, version) = (self.0, self.1);
        let beta = version == ApiVersion::Beta;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &d.id)?;
        m.serialize_entry("createdDateTime", &Time(d.created))?;
        m.serialize_entry("userDisplayName", &d.user_display_name)?;
        m.serialize_entry("userPrincipalName", &d.user_principal_name)?;
        m.serialize_entry("userId", &d.user_id)?;
        m.serialize_entry("appId", &d.app_id)?;
        m.serialize_entry("appDisplayName", &d.app_display_name)?;
        m.serialize_entry("ipAddress", &d.ip_address)?;
        m.serialize_entry("clientAppUsed", &d.client_app_used)?;
        m.serialize_entry("userAgent", &d.user_agent)?;
        m.serialize_entry("correlationId", &d.correlation_id)?;
        m.serialize_entry("conditionalAccessStatus", d.conditional_access_status)?;
        if beta {
            m.serialize_entry("originalRequestId", &d.original_request_id)?;
            m.serialize_entry("authenticationProtocol", d.authentication_protocol)?;
            m.serialize_entry("incomingTokenType", d.incoming_token_type)?;
        }
        m.serialize_entry("isInteractive", &matches!(d.kind, SignInKind::InteractiveUser))?;
        if beta {
            m.serialize_entry("homeTenantId", &d.tenant_id)?;
            m.serialize_entry("homeTenantName", "")?;
            m.serialize_entry("isTenantRestricted", &false)?;
            m.serialize_entry("tokenIssuerName", "")?;
            m.serialize_entry("tokenIssuerType", "AzureAD")?;
            m.serialize_entry("processingTimeInMilliseconds", &d.processing_time_ms)?;
        }
        m.serialize_entry("riskDetail", d.risk_detail)?;
        m.serialize_entry("riskLevelAggregated", d.risk_level_aggregated)?;
        m.serialize_entry("riskLevelDuringSignIn", d.risk_level_during_sign_in)?;
        m.serialize_entry("riskState", d.risk_state)?;
        if !beta {
            m.serialize_entry("riskEventTypes", &d.risk_event_types)?;
        }
        m.serialize_entry("riskEventTypes_v2", &d.risk_event_types)?;
        m.serialize_entry("resourceDisplayName", &d.resource_display_name)?;
        m.serialize_entry("resourceId", &d.resource_id)?;
        m.serialize_entry("resourceTenantId", &d.tenant_id)?;
        if !beta {
            m.serialize_entry("homeTenantId", &d.tenant_id)?;
        }
        if beta {
            m.serialize_entry("authenticationMethodsUsed", &d.auth_methods_used)?;
            m.serialize_entry("authenticationRequirement", d.authentication_requirement)?;
            m.serialize_entry("uniqueTokenIdentifier", &d.unique_token_identifier)?;
            m.serialize_entry("signInIdentifier", &d.user_principal_name)?;
            m.serialize_entry("signInEventTypes", &[d.kind.as_str()])?;
        }
        m.serialize_entry("servicePrincipalId", &d.service_principal_id)?;
        m.serialize_entry("servicePrincipalName", &d.service_principal_name)?;
        if beta {
            m.serialize_entry("userType", &d.user_type)?;
            m.serialize_entry("flaggedForReview", &false)?;
            m.serialize_entry("autonomousSystemNumber", &d.asn)?;
            m.serialize_entry("crossTenantAccessType", "none")?;
            m.serialize_entry("clientCredentialType", d.client_credential_type)?;
            m.serialize_entry("servicePrincipalCredentialKeyId", &d.sp_credential_key_id)?;
            match &d.managed_identity_resource {
                Some(resource) => m.serialize_entry(
                    "managedServiceIdentity",
                    &serde_json::json!({
                        "msiType": "systemAssigned",
                        "associatedResourceId": resource,
                        "federatedTokenId": null,
                        "federatedTokenIssuer": null
                    }),
                )?,
                None => m.serialize_entry(
                    "managedServiceIdentity",
                    &serde_json::json!({"msiType": "none", "associatedResourceId": null, "federatedTokenId": null, "federatedTokenIssuer": null}),
                )?,
            }
        }
        m.serialize_entry("status", &Status(d))?;
        m.serialize_entry("deviceDetail", &Device(&d.device))?;
        m.serialize_entry("location", &Location(&d.location))?;
        m.serialize_entry("appliedConditionalAccessPolicies", &Policies(&d.ca_policies))?;
        if beta {
            m.serialize_entry("authenticationProcessingDetails", &KeyValues(&d.processing_details))?;
            m.serialize_entry("networkLocationDetails", &NamedNetwork(d.named_network))?;
            m.serialize_entry("authenticationDetails", &Steps(&d.auth_details))?;
            m.serialize_entry("authenticationRequirementPolicies", &[] as &[Value])?;
            m.serialize_entry("sessionLifetimePolicies", &[] as &[Value])?;
        } else {
            m.serialize_entry("authenticationAppDeviceDetails", &Option::<Value>::None)?;
        }
        m.end()
    }
}

impl Serialize for RenderAudit<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        let (a, version) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &a.id)?;
        m.serialize_entry("category", a.category)?;
        m.serialize_entry("correlationId", &a.correlation_id)?;
        m.serialize_entry("result", a.result)?;
        m.serialize_entry("resultReason", &a.result_reason)?;
        m.serialize_entry("activityDisplayName", &a.activity_display_name)?;
        m.serialize_entry("activityDateTime", &Time(a.at))?;
        m.serialize_entry("loggedByService", a.logged_by_service)?;
        m.serialize_entry("operationType", a.operation_type)?;
        m.serialize_entry("initiatedBy", &InitiatedBy(&a.initiated_by))?;
        m.serialize_entry("targetResources", &Targets(&a.targets))?;
        m.serialize_entry("additionalDetails", &KeyValues(&a.additional_details))?;
        if version == ApiVersion::Beta {
            m.serialize_entry("userAgent", &a.user_agent)?;
        }
        m.end()
    }
}

struct InitiatedBy<'r, 'a>(&'r Initiator<'a>);
impl Serialize for InitiatedBy<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match self.0 {
            Initiator::User { id, display_name, user_principal_name, ip_address } => {
                m.serialize_entry("app", &Option::<Value>::None)?;
                m.serialize_entry(
                    "user",
                    &serde_json::json!({
                        "id": id,
                        "displayName": display_name,
                        "userPrincipalName": user_principal_name,
                        "ipAddress": ip_address,
                        "userType": "Member",
                        "homeTenantId": null,
                        "homeTenantName": null
                    }),
                )?;
            }
            Initiator::App { app_id, display_name, service_principal_id, service_principal_name } => {
                m.serialize_entry(
                    "app",
                    &serde_json::json!({
                        "appId": app_id,
                        "displayName": display_name,
                        "servicePrincipalId": service_principal_id,
                        "servicePrincipalName": service_principal_name
                    }),
                )?;
                m.serialize_entry("user", &Option::<Value>::None)?;
            }
        }
        m.end()
    }
}

struct Targets<'r, 'a>(&'r [Target<'a>]);
impl Serialize for Targets<'_, '_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        struct One<'r, 'a>(&'r Target<'a>);
        impl Serialize for One<'_, '_> {
            fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                struct Mods<'r, 'a>(&'r [Modified<'a>]);
                impl Serialize for Mods<'_, '_> {
                    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                        let mut q = s.serialize_seq(Some(self.0.len()))?;
                        for p in self.0 {
                            q.serialize_element(&serde_json::json!({
                                "displayName": p.display_name,
                                "oldValue": p.old_value,
                                "newValue": p.new_value
                            }))?;
                        }
                        q.end()
                    }
                }
                let t = self.0;
                let mut m = s.serialize_map(Some(6))?;
                m.serialize_entry("id", &t.id)?;
                m.serialize_entry("displayName", &t.display_name)?;
                m.serialize_entry("type", t.kind)?;
                m.serialize_entry("userPrincipalName", &t.user_principal_name)?;
                m.serialize_entry("groupType", &t.group_type)?;
                m.serialize_entry("modifiedProperties", &Mods(&t.modified))?;
                m.end()
            }
        }
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for t in self.0 {
            q.serialize_element(&One(t))?;
        }
        q.end()
    }
}

/// A filterable property, as named in `$filter` (the documented ones; anything else is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    CreatedDateTime,
    ActivityDateTime,
    UserPrincipalName,
    UserDisplayName,
    UserId,
    AppId,
    AppDisplayName,
    IpAddress,
    ClientAppUsed,
    CorrelationId,
    OriginalRequestId,
    ConditionalAccessStatus,
    StatusErrorCode,
    RiskLevelDuringSignIn,
    RiskLevelAggregated,
    RiskState,
    RiskDetail,
    ResourceId,
    ResourceDisplayName,
    IsInteractive,
    LocationCity,
    LocationState,
    LocationCountryOrRegion,
    DeviceOperatingSystem,
    DeviceBrowser,
    UserAgent,
    ServicePrincipalId,
    ServicePrincipalName,
    AuthenticationRequirement,
    // directory audits
    ActivityDisplayName,
    Category,
    LoggedByService,
    Result,
    OperationType,
    InitiatedByUserId,
    InitiatedByUserDisplayName,
    InitiatedByUserPrincipalName,
    InitiatedByAppId,
    InitiatedByAppDisplayName,
    InitiatedByAppServicePrincipalId,
}

/// What a field may be compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Int,
    Bool,
    DateTime,
}

impl Field {
    /// Parses a `$filter` property path for sign-ins (`signins = true`) or audits.
    pub fn parse(path: &str, signins: bool) -> Option<Field> {
        let p = path.to_ascii_lowercase();
        let sign_in_fields: &[(&str, Field)] = &[
            ("id", Field::Id),
            ("createddatetime", Field::CreatedDateTime),
            ("userprincipalname", Field::UserPrincipalName),
            ("userdisplayname", Field::UserDisplayName),
            ("userid", Field::UserId),
            ("appid", Field::AppId),
            ("appdisplayname", Field::AppDisplayName),
            ("ipaddress", Field::IpAddress),
            ("clientappused", Field::ClientAppUsed),
            ("correlationid", Field::CorrelationId),
            ("originalrequestid", Field::OriginalRequestId),
            ("conditionalaccessstatus", Field::ConditionalAccessStatus),
            ("status/errorcode", Field::StatusErrorCode),
            ("risklevelduringsignin", Field::RiskLevelDuringSignIn),
            ("risklevelaggregated", Field::RiskLevelAggregated),
            ("riskstate", Field::RiskState),
            ("riskdetail", Field::RiskDetail),
            ("resourceid", Field::ResourceId),
            ("resourcedisplayname", Field::ResourceDisplayName),
            ("isinteractive", Field::IsInteractive),
            ("location/city", Field::LocationCity),
            ("location/state", Field::LocationState),
            ("location/countryorregion", Field::LocationCountryOrRegion),
            ("devicedetail/operatingsystem", Field::DeviceOperatingSystem),
            ("devicedetail/browser", Field::DeviceBrowser),
            ("useragent", Field::UserAgent),
            ("serviceprincipalid", Field::ServicePrincipalId),
            ("serviceprincipalname", Field::ServicePrincipalName),
            ("authenticationrequirement", Field::AuthenticationRequirement),
        ];
        let audit_fields: &[(&str, Field)] = &[
            ("id", Field::Id),
            ("activitydatetime", Field::ActivityDateTime),
            ("activitydisplayname", Field::ActivityDisplayName),
            ("category", Field::Category),
            ("correlationid", Field::CorrelationId),
            ("loggedbyservice", Field::LoggedByService),
            ("result", Field::Result),
            ("operationtype", Field::OperationType),
            ("initiatedby/user/id", Field::InitiatedByUserId),
            ("initiatedby/user/displayname", Field::InitiatedByUserDisplayName),
            ("initiatedby/user/userprincipalname", Field::InitiatedByUserPrincipalName),
            ("initiatedby/app/appid", Field::InitiatedByAppId),
            ("initiatedby/app/displayname", Field::InitiatedByAppDisplayName),
            ("initiatedby/app/serviceprincipalid", Field::InitiatedByAppServicePrincipalId),
        ];
        let table = if signins { sign_in_fields } else { audit_fields };
        table.iter().find(|(name, _)| *name == p).map(|(_, f)| *f)
    }

    pub fn field_type(self) -> FieldType {
        match self {
            Field::CreatedDateTime | Field::ActivityDateTime => FieldType::DateTime,
            Field::StatusErrorCode => FieldType::Int,
            Field::IsInteractive => FieldType::Bool,
            _ => FieldType::Text,
        }
    }

    /// Whether `startswith()` is documented for this property.
    pub fn supports_startswith(self) -> bool {
        matches!(
            self,
            Field::UserPrincipalName
                | Field::UserDisplayName
                | Field::AppDisplayName
                | Field::IpAddress
                | Field::UserAgent
                | Field::ServicePrincipalName
                | Field::ServicePrincipalId
                | Field::AuthenticationRequirement
                | Field::LocationCity
                | Field::LocationState
                | Field::LocationCountryOrRegion
                | Field::DeviceOperatingSystem
                | Field::DeviceBrowser
                | Field::ActivityDisplayName
                | Field::Category
                | Field::InitiatedByUserPrincipalName
                | Field::InitiatedByUserDisplayName
                | Field::InitiatedByAppDisplayName
        )
    }

    /// The JSON pointer of the property inside a record (for replayed records).
    pub fn json_pointer(self) -> &'static str {
        match self {
            Field::Id => "/id",
            Field::CreatedDateTime => "/createdDateTime",
            Field::ActivityDateTime => "/activityDateTime",
            Field::UserPrincipalName => "/userPrincipalName",
            Field::UserDisplayName => "/userDisplayName",
            Field::UserId => "/userId",
            Field::AppId => "/appId",
            Field::AppDisplayName => "/appDisplayName",
            Field::IpAddress => "/ipAddress",
            Field::ClientAppUsed => "/clientAppUsed",
            Field::CorrelationId => "/correlationId",
            Field::OriginalRequestId => "/originalRequestId",
            Field::ConditionalAccessStatus => "/conditionalAccessStatus",
            Field::StatusErrorCode => "/status/errorCode",
            Field::RiskLevelDuringSignIn => "/riskLevelDuringSignIn",
            Field::RiskLevelAggregated => "/riskLevelAggregated",
            Field::RiskState => "/riskState",
            Field::RiskDetail => "/riskDetail",
            Field::ResourceId => "/resourceId",
            Field::ResourceDisplayName => "/resourceDisplayName",
            Field::IsInteractive => "/isInteractive",
            Field::LocationCity => "/location/city",
            Field::LocationState => "/location/state",
            Field::LocationCountryOrRegion => "/location/countryOrRegion",
            Field::DeviceOperatingSystem => "/deviceDetail/operatingSystem",
            Field::DeviceBrowser => "/deviceDetail/browser",
            Field::UserAgent => "/userAgent",
            Field::ServicePrincipalId => "/servicePrincipalId",
            Field::ServicePrincipalName => "/servicePrincipalName",
            Field::AuthenticationRequirement => "/authenticationRequirement",
            Field::ActivityDisplayName => "/activityDisplayName",
            Field::Category => "/category",
            Field::LoggedByService => "/loggedByService",
            Field::Result => "/result",
            Field::OperationType => "/operationType",
            Field::InitiatedByUserId => "/initiatedBy/user/id",
            Field::InitiatedByUserDisplayName => "/initiatedBy/user/displayName",
            Field::InitiatedByUserPrincipalName => "/initiatedBy/user/userPrincipalName",
            Field::InitiatedByAppId => "/initiatedBy/app/appId",
            Field::InitiatedByAppDisplayName => "/initiatedBy/app/displayName",
            Field::InitiatedByAppServicePrincipalId => "/initiatedBy/app/servicePrincipalId",
        }
    }
}

/// A property's value in one record, for filter evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'r> {
    Null,
    Text(Cow<'r, str>),
    Int(i64),
    Bool(bool),
    Time(Ticks),
}

/// Something `$filter` can be evaluated on.
pub trait Filterable {
    fn field(&self, field: Field) -> FieldValue<'_>;
    /// `signInEventTypes` (sign-ins only).
    fn event_types(&self) -> Vec<&str>;
    /// `targetResources` ids and display names (audits only): (id, displayName).
    fn targets(&self) -> Vec<(Option<&str>, Option<&str>)>;
}

fn text<'r>(s: &'r S<'_>) -> FieldValue<'r> {
    FieldValue::Text(Cow::Borrowed(s.as_ref()))
}

fn opt_text<'r>(s: &'r Option<S<'_>>) -> FieldValue<'r> {
    s.as_ref().map_or(FieldValue::Null, |s| FieldValue::Text(Cow::Borrowed(s.as_ref())))
}

impl Filterable for SignInData<'_> {
    fn field(&self, field: Field) -> FieldValue<'_> {
        let st = |s: &'static str| FieldValue::Text(Cow::Borrowed(s));
        match field {
            Field::Id => text(&self.id),
            Field::CreatedDateTime => FieldValue::Time(self.created),
            Field::UserPrincipalName => opt_text(&self.user_principal_name),
            Field::UserDisplayName => opt_text(&self.user_display_name),
            Field::UserId => text(&self.user_id),
            Field::AppId => text(&self.app_id),
            Field::AppDisplayName => text(&self.app_display_name),
            Field::IpAddress => text(&self.ip_address),
            Field::ClientAppUsed => opt_text(&self.client_app_used),
            Field::CorrelationId => text(&self.correlation_id),
            Field::OriginalRequestId => text(&self.original_request_id),
            Field::ConditionalAccessStatus => st(self.conditional_access_status),
            Field::StatusErrorCode => FieldValue::Int(i64::from(self.error_code)),
            Field::RiskLevelDuringSignIn => st(self.risk_level_during_sign_in),
            Field::RiskLevelAggregated => st(self.risk_level_aggregated),
            Field::RiskState => st(self.risk_state),
            Field::RiskDetail => st(self.risk_detail),
            Field::ResourceId => text(&self.resource_id),
            Field::ResourceDisplayName => text(&self.resource_display_name),
            Field::IsInteractive => FieldValue::Bool(self.kind == SignInKind::InteractiveUser),
            Field::LocationCity => text(&self.location.city),
            Field::LocationState => text(&self.location.state),
            Field::LocationCountryOrRegion => text(&self.location.country),
            Field::DeviceOperatingSystem => text(&self.device.operating_system),
            Field::DeviceBrowser => text(&self.device.browser),
            Field::UserAgent => opt_text(&self.user_agent),
            Field::ServicePrincipalId => text(&self.service_principal_id),
            Field::ServicePrincipalName => opt_text(&self.service_principal_name),
            Field::AuthenticationRequirement => st(self.authentication_requirement),
            _ => FieldValue::Null,
        }
    }

    fn event_types(&self) -> Vec<&str> {
        vec![self.kind.as_str()]
    }

    fn targets(&self) -> Vec<(Option<&str>, Option<&str>)> {
        Vec::new()
    }
}

impl Filterable for AuditData<'_> {
    fn field(&self, field: Field) -> FieldValue<'_> {
        let (user, app) = match &self.initiated_by {
            Initiator::User { id, display_name, user_principal_name, .. } => {
                (Some((id, display_name, user_principal_name)), None)
            }
            Initiator::App { app_id, display_name, service_principal_id, .. } => {
                (None, Some((app_id, display_name, service_principal_id)))
            }
        };
        let st = |s: &'static str| FieldValue::Text(Cow::Borrowed(s));
        match field {
            Field::Id => text(&self.id),
            Field::ActivityDateTime => FieldValue::Time(self.at),
            Field::ActivityDisplayName => text(&self.activity_display_name),
            Field::Category => st(self.category),
            Field::CorrelationId => text(&self.correlation_id),
            Field::LoggedByService => st(self.logged_by_service),
            Field::Result => st(self.result),
            Field::OperationType => st(self.operation_type),
            Field::InitiatedByUserId => user.map_or(FieldValue::Null, |u| text(u.0)),
            Field::InitiatedByUserDisplayName => user.map_or(FieldValue::Null, |u| opt_text(u.1)),
            Field::InitiatedByUserPrincipalName => user.map_or(FieldValue::Null, |u| text(u.2)),
            Field::InitiatedByAppId => app.map_or(FieldValue::Null, |a| opt_text(a.0)),
            Field::InitiatedByAppDisplayName => app.map_or(FieldValue::Null, |a| text(a.1)),
            Field::InitiatedByAppServicePrincipalId => app.map_or(FieldValue::Null, |a| text(a.2)),
            _ => FieldValue::Null,
        }
    }

    fn event_types(&self) -> Vec<&str> {
        Vec::new()
    }

    fn targets(&self) -> Vec<(Option<&str>, Option<&str>)> {
        self.targets.iter().map(|t| (Some(t.id.as_ref()), t.display_name.as_deref())).collect()
    }
}

/// A recorded record (replay): filterable through its JSON.
impl Filterable for Value {
    fn field(&self, field: Field) -> FieldValue<'_> {
        match self.pointer(field.json_pointer()) {
            None | Some(Value::Null) => FieldValue::Null,
            Some(Value::String(s)) => match field.field_type() {
                FieldType::DateTime => crate::time::parse_odata_datetime(s).map_or(FieldValue::Null, FieldValue::Time),
                _ => FieldValue::Text(Cow::Borrowed(s)),
            },
            Some(Value::Number(n)) => n.as_i64().map_or(FieldValue::Null, FieldValue::Int),
            Some(Value::Bool(b)) => FieldValue::Bool(*b),
            Some(other) => FieldValue::Text(Cow::Owned(other.to_string())),
        }
    }

    fn event_types(&self) -> Vec<&str> {
        self.get("signInEventTypes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    fn targets(&self) -> Vec<(Option<&str>, Option<&str>)> {
        self.get("targetResources")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|t| (t.get("id").and_then(Value::as_str), t.get("displayName").and_then(Value::as_str)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
