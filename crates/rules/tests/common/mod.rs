//! Builders for sign-in and audit records as Graph writes them, and a runner that feeds an
//! engine and returns each incident's final state.

#![allow(dead_code)]

use std::collections::BTreeMap;

use m365mon_contracts::AlertEvent;
use m365mon_contracts::settings::Settings;
use m365mon_model::Record;
use m365mon_rules::Engine;
use serde_json::{Value, json};

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";

/// A sign-in: successful, interactive, from Berlin, unless changed.
#[derive(Debug, Clone)]
pub struct S(pub Value);

pub fn signin(id: &str, at: &str, user: &str) -> S {
    S(json!({
        "id": id,
        "createdDateTime": at,
        "userPrincipalName": user,
        "userId": format!("id-{user}"),
        "appDisplayName": "Office 365 Exchange Online",
        "ipAddress": "85.214.10.7",
        "clientAppUsed": "Browser",
        "isInteractive": true,
        "correlationId": format!("corr-{id}"),
        "userAgent": "Mozilla/5.0",
        "status": {"errorCode": 0},
        "location": {"city": "Berlin", "state": "Berlin", "countryOrRegion": "DE",
                     "geoCoordinates": {"latitude": 52.52, "longitude": 13.405}},
    }))
}

impl S {
    pub fn code(mut self, code: i64) -> S {
        self.0["status"]["errorCode"] = json!(code);
        self.0["status"]["failureReason"] = json!(format!("reason {code}"));
        self
    }
    pub fn details(mut self, text: &str) -> S {
        self.0["status"]["additionalDetails"] = json!(text);
        self
    }
    pub fn ip(mut self, ip: &str) -> S {
        self.0["ipAddress"] = json!(ip);
        self
    }
    pub fn place(mut self, city: &str, country: &str, lat: f64, lon: f64) -> S {
        self.0["location"] = json!({"city": city, "countryOrRegion": country,
            "geoCoordinates": {"latitude": lat, "longitude": lon}});
        self
    }
    pub fn no_location(mut self) -> S {
        self.0["location"] = json!({"city": null, "countryOrRegion": null, "geoCoordinates": {}});
        self
    }
    pub fn noninteractive(mut self) -> S {
        self.0["isInteractive"] = json!(false);
        self
    }
    pub fn client_app(mut self, app: &str) -> S {
        self.0["clientAppUsed"] = json!(app);
        self
    }
    pub fn user_agent(mut self, ua: &str) -> S {
        self.0["userAgent"] = json!(ua);
        self
    }
    pub fn correlation(mut self, c: &str) -> S {
        self.0["correlationId"] = json!(c);
        self
    }
    pub fn risk(mut self, during: &str, aggregated: &str, state: &str) -> S {
        self.0["riskLevelDuringSignIn"] = json!(during);
        self.0["riskLevelAggregated"] = json!(aggregated);
        self.0["riskState"] = json!(state);
        self
    }
    pub fn set(mut self, key: &str, value: Value) -> S {
        self.0[key] = value;
        self
    }
    pub fn record(self) -> Record {
        serde_json::from_value(self.0).expect("valid sign-in")
    }
}

/// A directory audit: a successful change by a user.
#[derive(Debug, Clone)]
pub struct A(pub Value);

pub fn audit(id: &str, at: &str, activity: &str, by: &str) -> A {
    A(json!({
        "id": id,
        "activityDateTime": at,
        "activityDisplayName": activity,
        "category": "RoleManagement",
        "loggedByService": "Core Directory",
        "operationType": "Assign",
        "result": "success",
        "initiatedBy": {"user": {"userPrincipalName": by, "id": format!("id-{by}"), "ipAddress": "85.214.10.9"}},
        "targetResources": [],
        "additionalDetails": [],
    }))
}

impl A {
    pub fn target(mut self, upn: &str, property: Option<(&str, &str, &str)>) -> A {
        let props = match property {
            Some((name, old, new)) => json!([{"displayName": name, "oldValue": old, "newValue": new}]),
            None => json!([]),
        };
        self.0["targetResources"].as_array_mut().unwrap().push(json!({
            "id": format!("id-{upn}"), "type": "User", "userPrincipalName": upn, "modifiedProperties": props,
        }));
        self
    }
    pub fn by_app(mut self, app: &str) -> A {
        self.0["initiatedBy"] = json!({"app": {"displayName": app, "servicePrincipalId": "sp-1"}});
        self
    }
    pub fn result(mut self, result: &str) -> A {
        self.0["result"] = json!(result);
        self
    }
    pub fn record(self) -> Record {
        serde_json::from_value(self.0).expect("valid audit")
    }
}

/// `"2026-07-01T10:00:00Z"` plus `minutes`.
pub fn at(base: &str, minutes: f64) -> String {
    let t: chrono::DateTime<chrono::Utc> = base.parse().unwrap();
    (t + chrono::Duration::milliseconds((minutes * 60_000.0) as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Feeds the records in the given order, ends the input, and returns every alert event
/// published, in order.
pub fn run_all(engine: &mut Engine, records: &[Record]) -> Vec<AlertEvent> {
    let mut out = Vec::new();
    for r in records {
        out.extend(engine.observe(TENANT, r));
    }
    out.extend(engine.finish());
    out
}

/// Each incident's last revision, by id.
pub fn final_alerts(events: Vec<AlertEvent>) -> BTreeMap<String, AlertEvent> {
    let mut map = BTreeMap::new();
    for e in events {
        map.insert(e.id.clone(), e);
    }
    map
}

/// Runs with `settings` and returns the final alerts.
pub fn alerts(settings: &Settings, records: &[Record]) -> Vec<AlertEvent> {
    let mut engine = Engine::new(settings.clone());
    final_alerts(run_all(&mut engine, records)).into_values().collect()
}

/// Settings from a JSON document (validated, as a user would write them).
pub fn settings(json: &str) -> Settings {
    Settings::from_json_str(json).expect("valid settings")
}

/// Alerts comparable across runs: everything but the revision and the processing time.
pub fn comparable(alerts: &BTreeMap<String, AlertEvent>) -> Vec<Value> {
    alerts
        .values()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap();
            v.as_object_mut().unwrap().remove("revision");
            v.as_object_mut().unwrap().remove("created_at");
            v
        })
        .collect()
}
