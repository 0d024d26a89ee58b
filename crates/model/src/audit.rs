//! The Graph `directoryAudit` resource, v1.0 and beta, with its complex types.
//!
//! Why these shapes: the rules engine reads the activity, its initiator (user or app, with the
//! initiator's IP) and the targets with their modified properties; everything else is kept so the
//! record can be stored and forwarded exactly. `modifiedProperties[].oldValue/newValue` are kept as
//! the JSON *text* Graph sends (double-encoded, e.g. `"[\"[KeyIdentifier=...]\"]"`); use
//! [`ModifiedProperty::new_json`] to decode them.
//!
//! Reading is tolerant and lossless; see [`crate::graph_value`] for the rules.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::graph_value::graph_struct;

graph_struct! {
    /// One directory audit event as Microsoft Graph returns it from `auditLogs/directoryAudits`.
    pub struct DirectoryAudit / DirectoryAuditField {
        /// Unique id of the activity (Graph: a string such as `Directory_<correlationId>_<...>`).
        req id: String = "id",
        /// When the activity was performed (UTC). The event time of the record.
        opt activity_date_time: DateTime<Utc> = "activityDateTime",
        /// The activity, e.g. `Add member to role`, `Consent to application`.
        opt activity_display_name: String = "activityDisplayName",
        /// `UserManagement`, `GroupManagement`, `ApplicationManagement`, `RoleManagement`, `Policy`, ...
        opt category: String = "category",
        opt correlation_id: String = "correlationId",
        /// The service that logged it: `Core Directory`, `PIM`, `Self-service Password Management`, ...
        opt logged_by_service: String = "loggedByService",
        /// `Add`, `Update`, `Delete`, `Assign`, `Unassign`, `Other`, ...
        opt operation_type: String = "operationType",
        /// `success`, `failure`, `timeout`, `unknownFutureValue`.
        opt result: String = "result",
        opt result_reason: String = "resultReason",
        /// Who did it: a user or an app.
        opt initiated_by: AuditActivityInitiator = "initiatedBy",
        /// What it was done to.
        vec target_resources: TargetResource = "targetResources",
        /// Further details as key/value pairs (often `User-Agent`, `AppId`).
        vec additional_details: KeyValue = "additionalDetails",
        /// Beta: on whose behalf the initiator acted. Read with the initiator's shape; any other
        /// shape is kept verbatim in `extra`.
        opt performed_by: AuditActivityInitiator = "performedBy",
        /// Beta: the user agent of the request.
        opt user_agent: String = "userAgent",
    }
}

graph_struct! {
    /// `auditActivityInitiator`: a user or an app.
    pub struct AuditActivityInitiator / AuditActivityInitiatorField {
        opt user: UserIdentity = "user",
        opt app: AppIdentity = "app",
        /// Beta: identifiers that link the activity to a sign-in session or token.
        opt linkable_identifiers: LinkableIdentifiers = "linkableIdentifiers",
    }
}

graph_struct! {
    /// `userIdentity` (beta `auditUserIdentity`). An open type: other properties Microsoft adds
    /// (`userType`, `roles`, ...) are kept in `extra`.
    pub struct UserIdentity / UserIdentityField {
        opt id: String = "id",
        opt display_name: String = "displayName",
        opt user_principal_name: String = "userPrincipalName",
        /// The IP address the activity came from.
        opt ip_address: String = "ipAddress",
        /// Beta `auditUserIdentity`.
        opt home_tenant_id: String = "homeTenantId",
        /// Beta `auditUserIdentity`.
        opt home_tenant_name: String = "homeTenantName",
    }
}

graph_struct! {
    /// `appIdentity`.
    pub struct AppIdentity / AppIdentityField {
        opt app_id: String = "appId",
        opt display_name: String = "displayName",
        opt service_principal_id: String = "servicePrincipalId",
        opt service_principal_name: String = "servicePrincipalName",
    }
}

graph_struct! {
    /// Beta `linkableIdentifiers`.
    pub struct LinkableIdentifiers / LinkableIdentifiersField {
        opt device_id: String = "deviceId",
        opt session_id: String = "sessionId",
        opt token_details: TokenDetails = "tokenDetails",
    }
}

graph_struct! {
    /// Beta `tokenDetails`.
    pub struct TokenDetails / TokenDetailsField {
        opt issued_at_date_time: DateTime<Utc> = "issuedAtDateTime",
        opt unique_token_identifier: String = "uniqueTokenIdentifier",
    }
}

graph_struct! {
    /// `targetResource`.
    pub struct TargetResource / TargetResourceField {
        opt id: String = "id",
        opt display_name: String = "displayName",
        /// `User`, `Group`, `Application`, `ServicePrincipal`, `Role`, `Policy`, `Device`, ...
        opt resource_type: String = "type",
        opt user_principal_name: String = "userPrincipalName",
        /// `groupType`: `unifiedGroups`, `azureAD`, `unknownFutureValue`.
        opt group_type: String = "groupType",
        vec modified_properties: ModifiedProperty = "modifiedProperties",
    }
}

graph_struct! {
    /// `modifiedProperty`: old and new values are JSON text as Graph sends them.
    pub struct ModifiedProperty / ModifiedPropertyField {
        opt display_name: String = "displayName",
        opt old_value: String = "oldValue",
        opt new_value: String = "newValue",
    }
}

graph_struct! {
    /// `keyValue`.
    pub struct KeyValue / KeyValueField {
        opt key: String = "key",
        opt value: String = "value",
    }
}

impl ModifiedProperty {
    /// `oldValue` decoded from its JSON text; `None` when absent or not JSON.
    pub fn old_json(&self) -> Option<Value> {
        self.old_value.as_deref().and_then(|text| serde_json::from_str(text).ok())
    }

    /// `newValue` decoded from its JSON text; `None` when absent or not JSON.
    pub fn new_json(&self) -> Option<Value> {
        self.new_value.as_deref().and_then(|text| serde_json::from_str(text).ok())
    }
}

impl DirectoryAudit {
    /// The initiating user's UPN, if a user initiated the activity.
    pub fn initiator_upn(&self) -> Option<&str> {
        self.initiated_by.as_ref()?.user.as_ref()?.user_principal_name.as_deref().filter(|u| !u.is_empty())
    }

    /// The initiator's IP address (user initiators only; Graph has no IP for apps).
    pub fn initiator_ip(&self) -> Option<&str> {
        self.initiated_by.as_ref()?.user.as_ref()?.ip_address.as_deref().filter(|ip| !ip.is_empty())
    }

    /// The value of the first `additionalDetails` entry whose key matches (ignoring ASCII case).
    pub fn additional_detail(&self, key: &str) -> Option<&str> {
        self.additional_details
            .iter()
            .find(|kv| kv.key.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(key)))
            .and_then(|kv| kv.value.as_deref())
    }
}
