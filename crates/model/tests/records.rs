//! The record model on our own fixtures (written from Microsoft's documented schema): typed
//! properties, tolerance of odd values, and lossless writing back.

use chrono::{DateTime, Utc};
use m365mon_model::{DirectoryAudit, Record, RecordKind, SignIn, SignInEventType, parse_record, split_page};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn sign_in(json: &Value) -> SignIn {
    match parse_record(&serde_json::to_vec(json).unwrap()).unwrap() {
        Record::SignIn(s) => *s,
        Record::Audit(a) => panic!("expected a sign-in, got {a:?}"),
    }
}

#[test]
fn beta_sign_in_has_every_property_typed() {
    let text = fixture("graph_beta_signin.json");
    let input: Value = serde_json::from_str(&text).unwrap();
    let s: SignIn = serde_json::from_str(&text).unwrap();
    assert_eq!(s.id, "00000000-bbbb-4000-8000-000000000001");
    assert_eq!(s.created_date_time, Some(utc("2024-05-03T22:04:11.5Z")));
    assert_eq!(s.error_code(), Some(500121));
    assert_eq!(s.risk_level_during_sign_in.as_deref(), Some("high"));
    assert_eq!(s.authentication_protocol.as_deref(), Some("deviceCode"));
    assert_eq!(s.event_type(), Some(SignInEventType::NonInteractiveUser));
    assert_eq!(s.ip_address.as_deref(), Some("2001:db8::17"));
    assert_eq!(s.device_detail.as_ref().unwrap().is_managed, Some(true));
    assert_eq!(s.token_protection_status_details.as_ref().unwrap().sign_in_session_status_code, Some(1002));
    let policy = &s.applied_conditional_access_policies.as_ref().unwrap()[0];
    assert_eq!(
        policy.authentication_strength.as_ref().unwrap().display_name.as_deref(),
        Some("Multifactor authentication")
    );
    assert_eq!(policy.include_rules_satisfied.as_ref().unwrap()[0].rule_satisfied.as_deref(), Some("allApps"));
    let steps = s.authentication_details.as_ref().unwrap();
    assert_eq!(steps[1].succeeded, Some(false));
    assert_eq!(steps[1].authentication_step_date_time, Some(utc("2024-05-03T22:04:49Z")));
    assert_eq!(
        s.authentication_app_policy_evaluation_details.as_ref().unwrap()[0].status.as_deref(),
        Some("numberMatchDeny")
    );
    assert_eq!(s.authentication_app_device_details.as_ref().unwrap().client_app.as_deref(), Some("Authenticator"));
    assert_eq!(s.managed_service_identity.as_ref().unwrap().msi_type.as_deref(), Some("none"));
    assert_eq!(s.mfa_detail.as_ref().unwrap().auth_method.as_deref(), Some("Mobile app notification"));
    assert_eq!(s.autonomous_system_number, Some(64500));
    // Only the property no Microsoft schema has stays untyped.
    assert_eq!(s.extra.keys().collect::<Vec<_>>(), ["someFutureProperty"]);
    // Written back: the same JSON.
    assert_eq!(serde_json::to_value(&s).unwrap(), input);
}

#[test]
fn audit_page_reads_and_writes_back_unchanged() {
    let text = fixture("directory_audits_page.json");
    let page = split_page(text.as_bytes()).unwrap();
    assert_eq!(page.next_link, None);
    assert_eq!(page.records.len(), 2);
    let input: Value = serde_json::from_str(&text).unwrap();
    for (raw, expected) in page.records.iter().zip(input["value"].as_array().unwrap()) {
        let audit: DirectoryAudit = serde_json::from_str(raw.get()).unwrap();
        assert_eq!(serde_json::to_value(&audit).unwrap(), *expected);
    }
    let first: DirectoryAudit = serde_json::from_str(page.records[0].get()).unwrap();
    assert_eq!(first.activity_display_name.as_deref(), Some("Add member to role"));
    assert_eq!(first.initiator_upn(), Some("admin@fixture.example"));
    assert_eq!(first.initiator_ip(), Some("192.0.2.44"));
    assert_eq!(first.user_agent.as_deref(), Some("Mozilla/5.0 (Windows NT 10.0) PowerShell/7.4"));
    assert_eq!(first.target_resources[1].user_principal_name.as_deref(), Some("newadmin@fixture.example"));
    let second: DirectoryAudit = serde_json::from_str(page.records[1].get()).unwrap();
    assert_eq!(second.result.as_deref(), Some("failure"));
    assert_eq!(second.additional_detail("user-agent"), Some("python-requests/2.31"));
    let keys = second.target_resources[0].modified_properties[0].new_json().unwrap();
    assert!(keys[0].as_str().unwrap().contains("KeyType=Password"));
}

#[test]
fn odd_values_are_kept_verbatim_or_converted() {
    let s = sign_in(&json!({
        "id": "odd-1",
        "createdDateTime": "yesterday",
        "location": "NL",
        "status": {"errorCode": "50126", "failureReason": 17},
        "isInteractive": "TRUE",
        "riskLevelDuringSignIn": "someNewLevel",
        "processingTimeInMilliseconds": 12.0,
        "deviceDetail": {"isCompliant": "maybe"},
        "riskEventTypes_v2": ["a", 1],
        "appId": "app"
    }));
    // Unreadable: typed field empty, value kept.
    assert_eq!(s.created_date_time, None);
    assert_eq!(s.extra["createdDateTime"], "yesterday");
    assert_eq!(s.location, None);
    assert_eq!(s.extra["location"], "NL");
    assert_eq!(s.status.as_ref().unwrap().extra["failureReason"], 17);
    assert_eq!(s.device_detail.as_ref().unwrap().extra["isCompliant"], "maybe");
    assert_eq!(s.risk_event_types_v2, None);
    assert_eq!(s.extra["riskEventTypes_v2"], json!(["a", 1]));
    // Converted without doubt, written back in Graph's type.
    assert_eq!(s.error_code(), Some(50126));
    assert_eq!(s.is_interactive, Some(true));
    assert_eq!(s.processing_time_in_milliseconds, Some(12));
    // Enumerations take values Microsoft adds later.
    assert_eq!(s.risk_level_during_sign_in.as_deref(), Some("someNewLevel"));
    let written = serde_json::to_value(&s).unwrap();
    assert_eq!(written["status"]["errorCode"], 50126);
    assert_eq!(written["isInteractive"], true);
    assert_eq!(written["location"], "NL");
    assert_eq!(written["createdDateTime"], "yesterday");
}

#[test]
fn duplicate_keys_last_wins_and_case_variants_match() {
    let record = parse_record(
        br#"{"id":"dup","userPrincipalName":null,"userPrincipalName":"a@b","appId":"first","appId":null,
            "CreatedDateTime":"2024-01-01T00:00:00Z","STATUS":{"ErrorCode":0}}"#,
    )
    .unwrap();
    let s = record.as_sign_in().unwrap();
    assert_eq!(s.user_principal_name.as_deref(), Some("a@b"));
    assert!(!s.extra.contains_key("userPrincipalName"));
    assert_eq!(s.app_id, None);
    assert_eq!(s.extra["appId"], Value::Null);
    assert_eq!(s.created_date_time, Some(utc("2024-01-01T00:00:00Z")));
    assert_eq!(s.error_code(), Some(0));
}

#[test]
fn explicit_empty_collections_and_ids_are_remembered() {
    let input = json!({"id": "", "activityDisplayName": "x", "targetResources": [], "additionalDetails": []});
    let record = parse_record(&serde_json::to_vec(&input).unwrap()).unwrap();
    assert_eq!(record.kind(), RecordKind::Audit);
    assert_eq!(serde_json::to_value(&record).unwrap(), input);
    // Built in code, empty collections are simply not written.
    let built = DirectoryAudit { id: "a".into(), ..Default::default() };
    assert_eq!(serde_json::to_value(&built).unwrap(), json!({"id": "a"}));
}

#[test]
fn typed_values_win_over_stale_extra_entries() {
    // A program that fills a field that came in as null writes the new value, once.
    let mut s = sign_in(&json!({"id": "x", "appId": "a", "userId": null}));
    s.user_id = Some("u".into());
    let written = serde_json::to_string(&s).unwrap();
    assert_eq!(written.matches("\"userId\"").count(), 1, "{written}");
    assert_eq!(serde_json::from_str::<Value>(&written).unwrap()["userId"], "u");
}

#[test]
fn timestamps_are_written_in_graph_spelling() {
    let s = sign_in(&json!({"id": "t", "appId": "a", "createdDateTime": "2019-10-18T04:45:48.0729893-05:00"}));
    assert_eq!(serde_json::to_value(&s).unwrap()["createdDateTime"], "2019-10-18T09:45:48.0729893Z");
}

#[test]
fn record_deserialize_recognises_every_shape() {
    let graph: Record =
        serde_json::from_str(r#"{"id":"g","createdDateTime":"2024-01-01T00:00:00Z","appId":"a"}"#).unwrap();
    assert_eq!((graph.kind(), graph.id()), (RecordKind::Signin, "g"));
    let envelope: Record = serde_json::from_str(
        r#"{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","properties":{"id":"e","activityDisplayName":"Add user"}}"#,
    )
    .unwrap();
    assert_eq!((envelope.kind(), envelope.id()), (RecordKind::Audit, "e"));
    assert_eq!(envelope.event_time(), Some(utc("2024-01-01T00:00:00Z")));
    let row: Record =
        serde_json::from_str(r#"{"Type":"AuditLogs","Id":"r","ActivityDisplayName":"Add user"}"#).unwrap();
    assert_eq!((row.kind(), row.id()), (RecordKind::Audit, "r"));
    let error = serde_json::from_str::<Record>(r#"{"hello":"world"}"#).unwrap_err();
    assert!(error.to_string().contains("not a sign-in or directory audit"), "{error}");
}

#[test]
fn helpers() {
    let s = sign_in(
        &json!({"id": "h", "isInteractive": false, "servicePrincipalId": "sp", "userId": null, "status": {"errorCode": 0}}),
    );
    assert_eq!(s.event_type(), Some(SignInEventType::ServicePrincipal));
    assert!(s.succeeded());
    assert_eq!(SignInEventType::from_category("ManagedIdentitySignInLogs"), Some(SignInEventType::ManagedIdentity));
    assert_eq!(
        SignInEventType::from_category("AADNonInteractiveUserSignInLogs"),
        Some(SignInEventType::NonInteractiveUser)
    );
    assert_eq!(SignInEventType::from_graph_value("servicePrincipal"), Some(SignInEventType::ServicePrincipal));
    assert_eq!(SignInEventType::ManagedIdentity.as_graph_value(), "managedIdentity");
    let record: Record = s.into();
    assert!(record.as_sign_in().is_some() && record.as_audit().is_none());
    assert!(record.to_json().contains("\"servicePrincipalId\":\"sp\""));
}
