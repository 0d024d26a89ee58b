//! The Graph `signIn` resource (v1.0 and beta).
//!
//! SKELETON: the fields below are the ones the rules engine reads; their names and types are a
//! stable API. The model work (issue 2) completes the struct with every documented property and
//! makes deserialisation tolerant of nulls, casing and timestamp variants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One sign-in event as Microsoft Graph returns it from `auditLogs/signIns`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_app_used: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_interactive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SignInStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SignInLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level_during_sign_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level_aggregated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_requirement: Option<String>,
    /// Beta only: `interactiveUser`, `nonInteractiveUser`, `servicePrincipal`, `managedIdentity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_event_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_tenant_id: Option<String>,
    /// Properties this crate does not model, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `signInStatus`: the outcome; `errorCode` 0 is success.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_details: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `signInLocation`: where Microsoft placed the IP address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Two-letter country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_or_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_coordinates: Option<GeoCoordinates>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `geoCoordinates`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeoCoordinates {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
