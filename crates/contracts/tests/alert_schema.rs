//! The JSON Schema shipped for integrators describes exactly the alert event we publish.

use chrono::{TimeZone, Utc};
use m365mon_contracts::{AlertEvent, RuleId, Severity};
use serde_json::Value;

fn schema() -> Value {
    let text = include_str!("../schemas/alert-event.schema.json");
    serde_json::from_str(text).expect("the schema is valid JSON")
}

fn sample() -> AlertEvent {
    let t = Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap();
    AlertEvent {
        id: m365mon_contracts::alert::alert_id(RuleId::ImpossibleTravel, "tenant", "alice@contoso.com", t),
        rule: RuleId::ImpossibleTravel,
        severity: Severity::High,
        tenant: "tenant".into(),
        title: "Impossible travel for alice@contoso.com".into(),
        summary: "Signed in from Berlin, then from Sydney 40 minutes later.".into(),
        user: Some("alice@contoso.com".into()),
        ip: None,
        first_seen: t,
        last_seen: t,
        event_ids: vec!["a".into(), "b".into()],
        count: 2,
        revision: 0,
        details: serde_json::json!({"speed_kmh": 24000}),
        created_at: t,
    }
}

#[test]
fn schema_properties_match_the_serialised_alert() {
    let schema = schema();
    let alert = serde_json::to_value(sample()).unwrap();
    let mut fields: Vec<&String> = alert.as_object().unwrap().keys().collect();
    let mut properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    let mut required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    fields.sort();
    properties.sort();
    required.sort();
    assert_eq!(fields, properties, "schema properties differ from the alert event's fields");
    assert_eq!(fields.iter().map(|s| s.as_str()).collect::<Vec<_>>(), required, "every field is required");
}

#[test]
fn schema_enums_list_every_rule_and_severity() {
    let schema = schema();
    let rules: Vec<&str> =
        schema["properties"]["rule"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(rules, RuleId::ALL.map(RuleId::as_str).to_vec());
    let severities: Vec<&str> =
        schema["properties"]["severity"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(severities, Severity::ALL.map(Severity::as_str).to_vec());
}

#[test]
fn the_sample_alert_satisfies_the_schema_constraints_we_state() {
    let schema = schema();
    let alert = serde_json::to_value(sample()).unwrap();
    let pattern = schema["properties"]["id"]["pattern"].as_str().unwrap();
    assert_eq!(pattern, "^[0-9a-f]{32}$");
    let id = alert["id"].as_str().unwrap();
    assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(alert["event_ids"].as_array().unwrap().len() <= m365mon_contracts::alert::MAX_EVENT_IDS);
    assert_eq!(schema["properties"]["event_ids"]["maxItems"], m365mon_contracts::alert::MAX_EVENT_IDS);
    // Round trip: what integrators receive reads back into the same event.
    let back: AlertEvent = serde_json::from_value(alert).unwrap();
    assert_eq!(back, sample());
}
