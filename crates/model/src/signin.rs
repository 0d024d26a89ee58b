//! The Graph `signIn` resource, v1.0 and beta, with its complex types.
//!
//! Why one struct for both versions: beta is a superset of v1.0 (plus `riskEventTypes`, which only
//! v1.0 and Event Hub exports still send), and the same sign-in reaches us from `/v1.0`, from
//! `/beta`, from Event Hub `properties` (beta-shaped) and from Log Analytics rows. Properties a
//! version does not send simply stay `None`.
//!
//! The property list follows Microsoft's schema: the v1.0 and beta CSDL of `microsoft.graph.signIn`
//! and, for public-cloud beta properties missing from the national-cloud CSDL, the public-cloud
//! type mappings. Enumerations (`riskLevelDuringSignIn`, `authenticationProtocol`, ...) are plain
//! strings: Microsoft adds members over time (every Graph enum ends in `unknownFutureValue`, and
//! newer members appear with `Prefer: include-unknown-enum-members`), so a closed Rust enum would
//! reject tomorrow's records. The known values are listed in [`values`].
//!
//! Reading is tolerant and lossless; see [`crate::graph_value`] for the rules.

use chrono::{DateTime, Utc};

use crate::audit::KeyValue;
use crate::graph_value::graph_struct;
use crate::record::SignInEventType;

graph_struct! {
    /// One sign-in event as Microsoft Graph returns it from `auditLogs/signIns` (v1.0 or beta).
    ///
    /// Every property Microsoft documents for v1.0 and beta has a typed field; anything else is
    /// kept in `extra`. Serialising writes the Graph JSON shape (see the crate docs for the
    /// normalisations).
    pub struct SignIn / SignInField {
        /// Unique id of the sign-in (`Nullable="false"` in Graph; empty when an export lacks it).
        req id: String = "id",
        /// When the sign-in started (UTC). The event time of the record.
        opt created_date_time: DateTime<Utc> = "createdDateTime",
        /// The user's UPN. Can be a GUID for some interrupted or passwordless sign-ins.
        opt user_principal_name: String = "userPrincipalName",
        /// The user's object id (`null` for service-principal and managed-identity sign-ins).
        opt user_id: String = "userId",
        opt user_display_name: String = "userDisplayName",
        /// The application (client) id.
        opt app_id: String = "appId",
        opt app_display_name: String = "appDisplayName",
        /// The client IP address (IPv4 or IPv6; may be redacted with `.XXX` for cross-tenant sign-ins).
        opt ip_address: String = "ipAddress",
        /// `Browser`, `Mobile Apps and Desktop clients`, `Exchange ActiveSync`, `IMAP4`, `POP3`,
        /// `Authenticated SMTP`, `Other clients`, ...
        opt client_app_used: String = "clientAppUsed",
        /// Whether the sign-in is interactive.
        opt is_interactive: bool = "isInteractive",
        opt user_agent: String = "userAgent",
        opt correlation_id: String = "correlationId",
        /// The outcome; `errorCode` 0 is success.
        opt status: SignInStatus = "status",
        /// Where Microsoft placed the IP address.
        opt location: SignInLocation = "location",
        /// `riskLevel`: `none`, `low`, `medium`, `high`, `hidden`, `unknownFutureValue`.
        opt risk_level_during_sign_in: String = "riskLevelDuringSignIn",
        /// `riskLevel` aggregated over the sign-in.
        opt risk_level_aggregated: String = "riskLevelAggregated",
        /// `riskState`: `none`, `confirmedSafe`, `remediated`, `dismissed`, `atRisk`, `confirmedCompromised`, ...
        opt risk_state: String = "riskState",
        /// `riskDetail`: the reason for the risk state (`none`, `adminConfirmedSigninSafe`, ...).
        opt risk_detail: String = "riskDetail",
        /// Beta: `singleFactorAuthentication` or `multiFactorAuthentication`.
        opt authentication_requirement: String = "authenticationRequirement",
        /// Beta: `interactiveUser`, `nonInteractiveUser`, `servicePrincipal`, `managedIdentity`.
        opt sign_in_event_types: Vec<String> = "signInEventTypes",
        /// The tenant of the resource signed in to.
        opt resource_tenant_id: String = "resourceTenantId",
        /// The user's home tenant.
        opt home_tenant_id: String = "homeTenantId",

        // ---- the rest of v1.0 ----
        /// Conditional Access policies evaluated for the sign-in.
        opt applied_conditional_access_policies: Vec<AppliedConditionalAccessPolicy> = "appliedConditionalAccessPolicies",
        /// Details of the Microsoft Authenticator app used, when it was used.
        opt authentication_app_device_details: AuthenticationAppDeviceDetails = "authenticationAppDeviceDetails",
        /// `conditionalAccessStatus`: `success`, `failure`, `notApplied`, `unknownFutureValue`.
        opt conditional_access_status: String = "conditionalAccessStatus",
        opt device_detail: DeviceDetail = "deviceDetail",
        opt resource_display_name: String = "resourceDisplayName",
        /// The application id of the resource signed in to.
        opt resource_id: String = "resourceId",
        /// v1.0 (deprecated there, still sent by Event Hub): `riskEventType` values.
        opt risk_event_types: Vec<String> = "riskEventTypes",
        /// Risk detection types (`unlikelyTravel`, `anonymizedIPAddress`, ...).
        opt risk_event_types_v2: Vec<String> = "riskEventTypes_v2",
        opt service_principal_id: String = "servicePrincipalId",
        opt service_principal_name: String = "servicePrincipalName",

        // ---- beta ----
        /// Beta: details of an agent sign-in.
        opt agent: AgentSignIn = "agent",
        /// Beta (national-cloud CSDL): the alternate sign-in identity (e.g. a phone number).
        opt alternate_sign_in_name: String = "alternateSignInName",
        /// Beta: authentication event listeners (custom extensions) that ran.
        opt applied_event_listeners: Vec<AppliedAuthenticationEventListener> = "appliedEventListeners",
        opt app_owner_tenant_id: String = "appOwnerTenantId",
        /// Beta `tokenProtectionStatus`: `none`, `bound`, `unbound`, `unknownFutureValue`.
        opt app_token_protection_status: String = "appTokenProtectionStatus",
        opt authentication_app_policy_evaluation_details: Vec<AuthenticationAppPolicyDetails> = "authenticationAppPolicyEvaluationDetails",
        opt authentication_context_class_references: Vec<AuthenticationContext> = "authenticationContextClassReferences",
        /// Beta: each authentication step, its method and result (MFA evidence).
        opt authentication_details: Vec<AuthenticationDetail> = "authenticationDetails",
        opt authentication_methods_used: Vec<String> = "authenticationMethodsUsed",
        opt authentication_processing_details: Vec<KeyValue> = "authenticationProcessingDetails",
        /// Beta `protocolType`: `none`, `oAuth2`, `ropc`, `wsFederation`, `saml20`, `deviceCode`, ...
        opt authentication_protocol: String = "authenticationProtocol",
        opt authentication_requirement_policies: Vec<AuthenticationRequirementPolicy> = "authenticationRequirementPolicies",
        opt autonomous_system_number: i64 = "autonomousSystemNumber",
        opt azure_resource_id: String = "azureResourceId",
        /// Beta `clientCredentialType`: `none`, `clientSecret`, `clientAssertion`, `federatedIdentityCredential`, `managedIdentity`, `certificate`, ...
        opt client_credential_type: String = "clientCredentialType",
        opt client_session_id: String = "clientSessionId",
        opt conditional_access_audiences: Vec<String> = "conditionalAccessAudiences",
        /// Beta `signInAccessType`: `none`, `b2bCollaboration`, `b2bDirectConnect`, `microsoftSupport`, `serviceProvider`, `passthrough`, ...
        opt cross_tenant_access_type: String = "crossTenantAccessType",
        opt federated_credential_id: String = "federatedCredentialId",
        opt flagged_for_review: bool = "flaggedForReview",
        opt global_secure_access_ip_address: String = "globalSecureAccessIpAddress",
        opt home_tenant_name: String = "homeTenantName",
        /// Beta `incomingTokenType`: `none`, `primaryRefreshToken`, `saml11`, `saml20`, `remoteDesktopToken`, `refreshToken`, ...
        opt incoming_token_type: String = "incomingTokenType",
        opt ip_address_from_resource_provider: String = "ipAddressFromResourceProvider",
        opt is_tenant_restricted: bool = "isTenantRestricted",
        opt is_through_global_secure_access: bool = "isThroughGlobalSecureAccess",
        opt managed_service_identity: ManagedIdentity = "managedServiceIdentity",
        opt mfa_detail: MfaDetail = "mfaDetail",
        opt network_location_details: Vec<NetworkLocationDetail> = "networkLocationDetails",
        /// The request id of the first request in the authentication sequence.
        opt original_request_id: String = "originalRequestId",
        /// Beta `originalTransferMethods`: `none`, `deviceCodeFlow`, `authenticationTransfer`, ...
        opt original_transfer_method: String = "originalTransferMethod",
        opt private_link_details: PrivateLinkDetails = "privateLinkDetails",
        opt processing_time_in_milliseconds: i64 = "processingTimeInMilliseconds",
        opt resource_owner_tenant_id: String = "resourceOwnerTenantId",
        opt resource_service_principal_id: String = "resourceServicePrincipalId",
        opt service_principal_credential_key_id: String = "servicePrincipalCredentialKeyId",
        opt service_principal_credential_thumbprint: String = "servicePrincipalCredentialThumbprint",
        opt session_id: String = "sessionId",
        opt session_lifetime_policies: Vec<SessionLifetimePolicy> = "sessionLifetimePolicies",
        opt sign_in_identifier: String = "signInIdentifier",
        /// Beta `signInIdentifierType`: `userPrincipalName`, `phoneNumber`, `proxyAddress`, `qrCode`, ...
        opt sign_in_identifier_type: String = "signInIdentifierType",
        opt sign_in_token_protection_status: String = "signInTokenProtectionStatus",
        opt token_issuer_name: String = "tokenIssuerName",
        /// `tokenIssuerType`: `AzureAD`, `ADFederationServices`, `UnknownFutureValue`, ...
        opt token_issuer_type: String = "tokenIssuerType",
        opt token_protection_status_details: TokenProtectionStatusDetails = "tokenProtectionStatusDetails",
        opt unique_token_identifier: String = "uniqueTokenIdentifier",
        /// Beta `signInUserType`: `member`, `guest`, `unknownFutureValue`.
        opt user_type: String = "userType",
    }
}

graph_struct! {
    /// `signInStatus`: the outcome; `errorCode` 0 is success.
    pub struct SignInStatus / SignInStatusField {
        /// The AADSTS error code (`Edm.Int32`); 0 is success.
        opt error_code: i64 = "errorCode",
        opt failure_reason: String = "failureReason",
        opt additional_details: String = "additionalDetails",
    }
}

graph_struct! {
    /// `signInLocation`: where Microsoft placed the IP address.
    pub struct SignInLocation / SignInLocationField {
        opt city: String = "city",
        opt state: String = "state",
        /// Two-letter country code.
        opt country_or_region: String = "countryOrRegion",
        opt geo_coordinates: GeoCoordinates = "geoCoordinates",
    }
}

graph_struct! {
    /// `geoCoordinates` (`Edm.Double` each; Microsoft also sends `{}` and zeros).
    pub struct GeoCoordinates / GeoCoordinatesField {
        opt latitude: f64 = "latitude",
        opt longitude: f64 = "longitude",
        opt altitude: f64 = "altitude",
    }
}

graph_struct! {
    /// `deviceDetail`: the device the sign-in came from (self-reported unless managed).
    pub struct DeviceDetail / DeviceDetailField {
        opt browser: String = "browser",
        /// Beta.
        opt browser_id: String = "browserId",
        opt device_id: String = "deviceId",
        opt display_name: String = "displayName",
        opt is_compliant: bool = "isCompliant",
        opt is_managed: bool = "isManaged",
        opt operating_system: String = "operatingSystem",
        /// `Azure AD joined`, `Azure AD registered`, `Hybrid Azure AD joined`, ...
        opt trust_type: String = "trustType",
    }
}

graph_struct! {
    /// `appliedConditionalAccessPolicy`.
    pub struct AppliedConditionalAccessPolicy / AppliedConditionalAccessPolicyField {
        opt id: String = "id",
        opt display_name: String = "displayName",
        opt enforced_grant_controls: Vec<String> = "enforcedGrantControls",
        opt enforced_session_controls: Vec<String> = "enforcedSessionControls",
        /// `success`, `failure`, `notApplied`, `notEnabled`, `unknown`, `reportOnlySuccess`, ...
        opt result: String = "result",
        /// Beta.
        opt authentication_strength: AuthenticationStrength = "authenticationStrength",
        /// Beta `conditionalAccessConditions` flags, e.g. `"application,users"`. Log Analytics
        /// sends an integer bit set instead, which is kept verbatim in `extra`.
        opt conditions_not_satisfied: String = "conditionsNotSatisfied",
        /// Beta, like `conditions_not_satisfied`.
        opt conditions_satisfied: String = "conditionsSatisfied",
        opt exclude_rules_satisfied: Vec<ConditionalAccessRuleSatisfied> = "excludeRulesSatisfied",
        opt include_rules_satisfied: Vec<ConditionalAccessRuleSatisfied> = "includeRulesSatisfied",
        opt session_controls_not_satisfied: Vec<String> = "sessionControlsNotSatisfied",
    }
}

graph_struct! {
    /// Beta `authenticationStrength` of a Conditional Access policy.
    pub struct AuthenticationStrength / AuthenticationStrengthField {
        opt authentication_strength_id: String = "authenticationStrengthId",
        /// `notSet`, `skippedForProofUp`, `satisfied`, `singleChallengeRequired`, ...
        opt authentication_strength_result: String = "authenticationStrengthResult",
        opt display_name: String = "displayName",
    }
}

graph_struct! {
    /// Beta `conditionalAccessRuleSatisfied`.
    pub struct ConditionalAccessRuleSatisfied / ConditionalAccessRuleSatisfiedField {
        opt conditional_access_condition: String = "conditionalAccessCondition",
        opt rule_satisfied: String = "ruleSatisfied",
    }
}

graph_struct! {
    /// `authenticationAppDeviceDetails`: the Microsoft Authenticator app used.
    pub struct AuthenticationAppDeviceDetails / AuthenticationAppDeviceDetailsField {
        opt app_version: String = "appVersion",
        opt client_app: String = "clientApp",
        opt device_id: String = "deviceId",
        opt operating_system: String = "operatingSystem",
    }
}

graph_struct! {
    /// Beta `authenticationAppPolicyDetails`.
    pub struct AuthenticationAppPolicyDetails / AuthenticationAppPolicyDetailsField {
        /// `notApplicable`, `enabled`, `disabled`, ...
        opt admin_configuration: String = "adminConfiguration",
        /// `success`, `failure`, ...
        opt authentication_evaluation: String = "authenticationEvaluation",
        opt policy_name: String = "policyName",
        /// `numberMatchDeny`, `appContextShown`, ... (`authenticationAppPolicyStatus`)
        opt status: String = "status",
    }
}

graph_struct! {
    /// Beta `authenticationDetail`: one step of the authentication.
    pub struct AuthenticationDetail / AuthenticationDetailField {
        /// `Password`, `Mobile app notification`, `Previously satisfied`, `FIDO2 security key`, ...
        opt authentication_method: String = "authenticationMethod",
        opt authentication_method_detail: String = "authenticationMethodDetail",
        opt authentication_step_date_time: DateTime<Utc> = "authenticationStepDateTime",
        /// `Primary authentication`, `MFA`, ...
        opt authentication_step_requirement: String = "authenticationStepRequirement",
        opt authentication_step_result_detail: String = "authenticationStepResultDetail",
        opt succeeded: bool = "succeeded",
    }
}

graph_struct! {
    /// Beta `authenticationRequirementPolicy`.
    pub struct AuthenticationRequirementPolicy / AuthenticationRequirementPolicyField {
        opt detail: String = "detail",
        /// `user`, `request`, `servicePrincipal`, `v1ConditionalAccess`, `multiConditionalAccess`, ...
        opt requirement_provider: String = "requirementProvider",
    }
}

graph_struct! {
    /// Beta `sessionLifetimePolicy`.
    pub struct SessionLifetimePolicy / SessionLifetimePolicyField {
        opt detail: String = "detail",
        opt expiration_requirement: String = "expirationRequirement",
    }
}

graph_struct! {
    /// Beta `authenticationContext` (a Conditional Access authentication context).
    pub struct AuthenticationContext / AuthenticationContextField {
        opt detail: String = "detail",
        opt id: String = "id",
    }
}

graph_struct! {
    /// Beta `managedIdentity`: details of a managed-identity sign-in.
    pub struct ManagedIdentity / ManagedIdentityField {
        opt associated_resource_id: String = "associatedResourceId",
        opt federated_token_id: String = "federatedTokenId",
        opt federated_token_issuer: String = "federatedTokenIssuer",
        /// `none`, `userAssigned`, `systemAssigned`, ...
        opt msi_type: String = "msiType",
    }
}

graph_struct! {
    /// Beta `mfaDetail`.
    pub struct MfaDetail / MfaDetailField {
        opt auth_detail: String = "authDetail",
        opt auth_method: String = "authMethod",
    }
}

graph_struct! {
    /// Beta `networkLocationDetail`.
    pub struct NetworkLocationDetail / NetworkLocationDetailField {
        opt network_names: Vec<String> = "networkNames",
        /// `intranet`, `extranet`, `namedNetwork`, `trusted`, `trustedNamedLocation`, ...
        opt network_type: String = "networkType",
    }
}

graph_struct! {
    /// Beta `privateLinkDetails`.
    pub struct PrivateLinkDetails / PrivateLinkDetailsField {
        opt policy_id: String = "policyId",
        opt policy_name: String = "policyName",
        opt policy_tenant_id: String = "policyTenantId",
        opt resource_id: String = "resourceId",
    }
}

graph_struct! {
    /// Beta `tokenProtectionStatusDetails`.
    pub struct TokenProtectionStatusDetails / TokenProtectionStatusDetailsField {
        /// `none`, `bound`, `unbound`, ...
        opt sign_in_session_status: String = "signInSessionStatus",
        opt sign_in_session_status_code: i64 = "signInSessionStatusCode",
    }
}

graph_struct! {
    /// Beta `appliedAuthenticationEventListener`.
    pub struct AppliedAuthenticationEventListener / AppliedAuthenticationEventListenerField {
        opt event_type: String = "eventType",
        opt executed_listener_id: String = "executedListenerId",
        /// An `authenticationEventHandlerResult` object; its shape varies by handler, so it is
        /// kept as JSON.
        opt handler_result: serde_json::Value = "handlerResult",
    }
}

graph_struct! {
    /// Beta `agentSignIn`: details of a sign-in by an agent identity.
    pub struct AgentSignIn / AgentSignInField {
        opt agent_service_principal_id: String = "agentServicePrincipalId",
    }
}

/// Known values of the enumerations used by sign-ins. Microsoft adds members; treat these as
/// the values known today, never as the complete set.
pub mod values {
    /// `riskLevel` values.
    pub const RISK_LEVELS: &[&str] = &["none", "low", "medium", "high", "hidden", "unknownFutureValue"];
    /// `signInEventTypes` values (beta).
    pub const SIGN_IN_EVENT_TYPES: &[&str] =
        &["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"];
    /// `conditionalAccessStatus` values.
    pub const CONDITIONAL_ACCESS_STATUS: &[&str] = &["success", "failure", "notApplied", "unknownFutureValue"];
}

impl SignIn {
    /// The AADSTS error code; `None` when the record carries no status.
    pub fn error_code(&self) -> Option<i64> {
        self.status.as_ref().and_then(|s| s.error_code)
    }

    /// True when the record's `status.errorCode` is 0.
    pub fn succeeded(&self) -> bool {
        self.error_code() == Some(0)
    }

    /// The two-letter country Microsoft placed the sign-in in, when it is known (not empty).
    pub fn country(&self) -> Option<&str> {
        self.location.as_ref().and_then(|l| l.country_or_region.as_deref()).filter(|c| !c.trim().is_empty())
    }

    /// Latitude and longitude, when both are known. `(0.0, 0.0)`, which Microsoft sends for
    /// managed identities, is treated as unknown.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        let geo = self.location.as_ref()?.geo_coordinates.as_ref()?;
        match (geo.latitude, geo.longitude) {
            (Some(lat), Some(lon)) if !(lat == 0.0 && lon == 0.0) => Some((lat, lon)),
            _ => None,
        }
    }

    /// Which kind of sign-in this is: from beta `signInEventTypes` when present, otherwise
    /// inferred from `isInteractive` and the identities involved (a non-interactive sign-in with
    /// a managed-identity block is a managed identity; one without a user but with a service
    /// principal is a service principal; otherwise a non-interactive user sign-in).
    pub fn event_type(&self) -> Option<SignInEventType> {
        if let Some(kind) =
            self.sign_in_event_types.iter().flatten().find_map(|value| SignInEventType::from_graph_value(value))
        {
            return Some(kind);
        }
        match self.is_interactive? {
            true => Some(SignInEventType::InteractiveUser),
            false if self.managed_service_identity.is_some() => Some(SignInEventType::ManagedIdentity),
            false => {
                let has_user = self.user_id.as_deref().is_some_and(|u| !u.is_empty())
                    || self.user_principal_name.as_deref().is_some_and(|u| !u.is_empty());
                let has_service_principal = self.service_principal_id.as_deref().is_some_and(|s| !s.is_empty());
                if !has_user && has_service_principal {
                    Some(SignInEventType::ServicePrincipal)
                } else {
                    Some(SignInEventType::NonInteractiveUser)
                }
            }
        }
    }
}
