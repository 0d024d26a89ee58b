//! Log Analytics / Microsoft Sentinel rows (`SigninLogs`, `AADNonInteractiveUserSignInLogs`,
//! `AADServicePrincipalSignInLogs`, `AADManagedIdentitySignInLogs`, `AuditLogs`) mapped to Graph.
//!
//! Why a mapping and not a rename: most columns are Graph properties in PascalCase
//! (`UserPrincipalName`, `IPAddress`, `RiskEventTypes_V2`), matched ignoring case; but some are
//! renamed (`LocationDetails` is Graph `location`, `ConditionalAccessPolicies` is
//! `appliedConditionalAccessPolicies`, `ResourceIdentity` is Graph `resourceId`, `AADOperationType`
//! is `operationType`, `ProcessingTimeInMs` is `processingTimeInMilliseconds`), and some look like
//! Graph names but mean something else: `ResourceId` is the ARM path
//! `/tenants/<tid>/providers/Microsoft.aadiam` and `Location` the bare country code. Those, and
//! every column Graph does not have (`TimeGenerated`, `TenantId` — the *workspace* id —,
//! `ResultType`, query-projected columns, ...), go to the record's envelope, verbatim.
//!
//! Nested values (`dynamic` columns) often arrive as JSON text; for object and collection
//! properties such text is decoded. `TimeGenerated` is when Log Analytics received the row, so it
//! is used as the event time only when the row has no `CreatedDateTime` / `ActivityDateTime`
//! (the service-principal and managed-identity tables have none).

use serde_json::{Map, Value};

use super::{ParsedRecord, RecordShape, category_kind, fill_status, tenant_of_resource_id};
use crate::audit::DirectoryAuditField;
use crate::graph_value::FieldName;
use crate::record::{Record, RecordKind, SignInEventType};
use crate::signin::SignInField;

/// Columns that are not Graph properties, even where the name matches one ignoring case.
const ENVELOPE_COLUMNS: &[&str] = &[
    "AADTenantId",
    "AadTenantId",
    "Category",
    "DurationMs",
    "Identity",
    "IsRisky",
    "Level",
    "Location",
    "OperationName",
    "OperationVersion",
    "Resource",
    "ResourceGroup",
    "ResourceId",
    "ResourceProvider",
    "ResultDescription",
    "ResultSignature",
    "ResultType",
    "RiskLevel",
    "SourceSystem",
    "TenantId",
    "TimeGenerated",
    "Type",
    "_BilledSize",
    "_IsBillable",
];

/// Whether a column stays out of the Graph record. `Category` is the audit category in
/// `AuditLogs`, but the diagnostic category (`SignInLogs`) in the sign-in tables.
fn is_envelope_column(kind: RecordKind, column: &str) -> bool {
    if kind == RecordKind::Audit && column.eq_ignore_ascii_case("Category") {
        return false;
    }
    ENVELOPE_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(column))
}

/// Columns that carry a Graph property under another name, used when the row lacks the direct one.
const RENAMED_SIGNIN_COLUMNS: &[(&str, &str)] = &[
    ("LocationDetails", "location"),
    ("ConditionalAccessPolicies", "appliedConditionalAccessPolicies"),
    ("ResourceIdentity", "resourceId"),
    ("ProcessingTimeInMs", "processingTimeInMilliseconds"),
];
const RENAMED_AUDIT_COLUMNS: &[(&str, &str)] = &[("AADOperationType", "operationType")];

/// Log Analytics tables whose rows are neither sign-ins nor directory audits.
const OTHER_TABLES: &[&str] = &[
    "MicrosoftGraphActivityLogs",
    "AADProvisioningLogs",
    "AADRiskyUsers",
    "AADUserRiskEvents",
    "AADRiskyServicePrincipals",
    "AADServicePrincipalRiskEvents",
    "NetworkAccessTraffic",
];

/// Whether `name` is a Log Analytics table of sign-ins, audits or the other Entra logs.
pub(crate) fn is_table(name: &str) -> bool {
    category_kind(name).is_some() || OTHER_TABLES.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// Whether a top-level key is a Log Analytics column (PascalCase), set aside until the end of
/// the object decides whether it is a Log Analytics row. `Level` is excluded: Event Hub envelopes
/// use it too.
pub(crate) fn is_column(key: &str) -> bool {
    let Some(first) = key.bytes().next() else { return false };
    if !first.is_ascii_uppercase() || key == "Level" {
        return false;
    }
    SignInField::ignoring_case(key).is_some()
        || DirectoryAuditField::ignoring_case(key).is_some()
        || ENVELOPE_COLUMNS.contains(&key)
        || RENAMED_SIGNIN_COLUMNS.iter().chain(RENAMED_AUDIT_COLUMNS).any(|(column, _)| *column == key)
}

/// Whether a CSV header names a column of a sign-in or audit table (any case).
pub(crate) fn is_known_column(name: &str) -> bool {
    SignInField::from_key(name).is_some()
        || DirectoryAuditField::from_key(name).is_some()
        || ENVELOPE_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(name))
        || RENAMED_SIGNIN_COLUMNS.iter().chain(RENAMED_AUDIT_COLUMNS).any(|(c, _)| c.eq_ignore_ascii_case(name))
}

fn get<'a>(row: &'a Map<String, Value>, column: &str) -> Option<&'a Value> {
    row.get(column).or_else(|| row.iter().find(|(k, _)| k.eq_ignore_ascii_case(column)).map(|(_, v)| v))
}

fn text<'a>(row: &'a Map<String, Value>, column: &str) -> Option<&'a str> {
    get(row, column).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty())
}

fn has_any(row: &Map<String, Value>, columns: &[&str]) -> bool {
    columns.iter().any(|c| get(row, c).is_some_and(|v| !v.is_null()))
}

/// Which kind of record a row is, and the sign-in event type its table says.
fn classify(row: &Map<String, Value>) -> Result<(RecordKind, Option<SignInEventType>), String> {
    if let Some(table) = text(row, "Type") {
        if let Some(found) = category_kind(table) {
            return Ok(found);
        }
        if OTHER_TABLES.iter().any(|t| t.eq_ignore_ascii_case(table)) {
            return Err(format!("a Log Analytics row of table {table}, which is neither a sign-in nor an audit"));
        }
    }
    if let Some(found) = text(row, "Category").and_then(category_kind).filter(|(kind, _)| *kind == RecordKind::Signin) {
        return Ok(found);
    }
    if has_any(
        row,
        &[
            "ActivityDateTime",
            "ActivityDisplayName",
            "InitiatedBy",
            "TargetResources",
            "AADOperationType",
            "LoggedByService",
        ],
    ) {
        return Ok((RecordKind::Audit, None));
    }
    if has_any(
        row,
        &[
            "CreatedDateTime",
            "UserPrincipalName",
            "AppId",
            "AppDisplayName",
            "IPAddress",
            "ClientAppUsed",
            "LocationDetails",
            "Status",
        ],
    ) {
        return Ok((RecordKind::Signin, None));
    }
    Err("a Log Analytics row that is neither a sign-in nor an audit (no `Type`, and none of their columns)".to_owned())
}

/// JSON text in an object or collection column is decoded; anything else is kept.
fn decode(value: Value, structured: bool) -> Value {
    match value {
        Value::String(text) if structured && matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'[')) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        other => other,
    }
}

/// The Graph property a column carries: `(name, is object or collection)`.
fn graph_property(kind: RecordKind, column: &str) -> Option<(&'static str, bool)> {
    match kind {
        RecordKind::Signin => SignInField::from_key(column).map(|f| (f.graph_name(), f.structured())),
        RecordKind::Audit => DirectoryAuditField::from_key(column).map(|f| (f.graph_name(), f.structured())),
    }
}

/// Maps a row (column → value) to a record in the Graph shape.
pub(crate) fn convert(row: Map<String, Value>) -> Result<ParsedRecord, String> {
    let (kind, event_type_of_table) = classify(&row)?;
    let tenant_id = text(&row, "AADTenantId")
        .map(str::to_owned)
        .or_else(|| text(&row, "ResourceId").and_then(tenant_of_resource_id));
    let renamed = match kind {
        RecordKind::Signin => RENAMED_SIGNIN_COLUMNS,
        RecordKind::Audit => RENAMED_AUDIT_COLUMNS,
    };

    let mut graph = Map::new();
    let mut envelope = Map::new();
    let mut deferred = Vec::new();
    for (column, value) in row {
        if is_envelope_column(kind, &column) {
            envelope.insert(column, value);
            continue;
        }
        match graph_property(kind, &column) {
            Some((name, structured)) if !graph.contains_key(name) => {
                graph.insert(name.to_owned(), decode(value, structured));
            }
            Some(_) => {
                envelope.insert(column, value);
            }
            None => match renamed.iter().find(|(c, _)| c.eq_ignore_ascii_case(&column)) {
                Some((_, target)) => deferred.push((column, value, *target)),
                None => {
                    envelope.insert(column, value);
                }
            },
        }
    }
    for (column, value, target) in deferred {
        if graph.contains_key(target) {
            envelope.insert(column, value);
        } else {
            let structured = graph_property(kind, target).is_some_and(|(_, s)| s);
            graph.insert(target.to_owned(), decode(value, structured));
        }
    }

    let time_key = match kind {
        RecordKind::Signin => "createdDateTime",
        RecordKind::Audit => "activityDateTime",
    };
    if !graph.contains_key(time_key)
        && let Some(generated) = get(&envelope, "TimeGenerated")
    {
        graph.insert(time_key.to_owned(), generated.clone());
    }

    let accumulator = super::accumulate_graph(graph).map_err(|e| format!("unreadable Log Analytics row: {e}"))?;
    let mut record = accumulator.assemble(kind);
    let mut event_type = None;
    if let Record::SignIn(signin) = &mut record {
        if signin.sign_in_event_types.is_none()
            && !signin.extra.contains_key("signInEventTypes")
            && let Some(table_type) = event_type_of_table
        {
            signin.sign_in_event_types = Some(vec![table_type.as_graph_value().to_owned()]);
        }
        let result_type = get(&envelope, "ResultType").and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        if let Some(code) = result_type {
            fill_status(signin, code, text(&envelope, "ResultDescription"));
        }
        event_type = event_type_of_table.or_else(|| signin.event_type());
    }
    Ok(ParsedRecord {
        record,
        shape: RecordShape::LogAnalytics,
        event_type,
        tenant_id,
        envelope: Some(Box::new(envelope)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn signin_row_maps_renamed_and_json_text_columns() {
        let parsed = convert(row(json!({
            "TenantId": "workspace", "AADTenantId": "tenant", "Type": "SigninLogs",
            "Id": "s1", "CreatedDateTime": "4/28/2021, 2:08:45.221 PM", "UserPrincipalName": "a@b",
            "IPAddress": "1.2.3.4", "IsInteractive": "TRUE", "ResultType": "0",
            "LocationDetails": "{\"countryOrRegion\":\"IL\",\"city\":\"Azor\"}",
            "ConditionalAccessPolicies": "[]", "ResourceId": "/tenants/tenant/providers/Microsoft.aadiam",
            "ResourceIdentity": "797f4846", "Location": "IL", "RiskEventTypes_V2": "[]",
            "ProcessingTimeInMilliseconds": "3535"
        })))
        .unwrap();
        assert_eq!(parsed.tenant_id.as_deref(), Some("tenant"));
        assert_eq!(parsed.event_type, Some(SignInEventType::InteractiveUser));
        let Record::SignIn(s) = parsed.record else { panic!("not a sign-in") };
        assert_eq!(s.id, "s1");
        assert_eq!(s.ip_address.as_deref(), Some("1.2.3.4"));
        assert_eq!(s.is_interactive, Some(true));
        assert_eq!(s.country(), Some("IL"));
        assert_eq!(s.resource_id.as_deref(), Some("797f4846"));
        assert_eq!(s.error_code(), Some(0));
        assert_eq!(s.processing_time_in_milliseconds, Some(3535));
        assert_eq!(s.risk_event_types_v2, Some(vec![]));
        assert_eq!(s.applied_conditional_access_policies, Some(vec![]));
        assert!(s.extra.is_empty(), "{:?}", s.extra);
        let envelope = parsed.envelope.unwrap();
        assert_eq!(envelope["Location"], "IL");
        assert_eq!(envelope["ResourceId"], "/tenants/tenant/providers/Microsoft.aadiam");
    }

    #[test]
    fn audit_row() {
        let parsed = convert(row(json!({
            "Type": "AuditLogs", "Id": "Directory_1", "Category": "ApplicationManagement",
            "ActivityDateTime": "2021-08-02T13:29:25.983Z", "AADOperationType": "Update",
            "InitiatedBy": "{\"user\":{\"userPrincipalName\":\"p@x\"}}", "OperationName": "Update application"
        })))
        .unwrap();
        let Record::Audit(a) = parsed.record else { panic!("not an audit") };
        assert_eq!(a.category.as_deref(), Some("ApplicationManagement"));
        assert_eq!(a.operation_type.as_deref(), Some("Update"));
        assert_eq!(a.initiator_upn(), Some("p@x"));
        assert!(parsed.envelope.unwrap().contains_key("OperationName"));
    }

    #[test]
    fn other_tables_are_refused() {
        let error = convert(row(json!({"Type": "MicrosoftGraphActivityLogs", "AppId": "x"}))).unwrap_err();
        assert!(error.contains("MicrosoftGraphActivityLogs"), "{error}");
    }
}
