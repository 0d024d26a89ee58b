//! Conformance with Microsoft's schema and documentation, read from `../shared/datasets` (skipped
//! with a notice when that folder is absent): every property name the simulator serves exists in
//! the Graph type it claims (v1.0 or beta, msgraph-metadata), values have the schema's JSON types,
//! the docs' example records and error bodies have the same shape, and the datasets' Graph pages
//! replay.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{datasets, http_client, token};
use m365mon_graph_sim::time::{TICKS_PER_DAY, format_graph, parse_odata_datetime};
use m365mon_graph_sim::{GraphSim, ScenarioRequest, SimConfig};
use serde_json::Value;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

/// Property names per type and version, from the type-mapping extract.
struct Schema {
    names: Value,
}

impl Schema {
    fn load(dir: &Path) -> Schema {
        Schema { names: read(&dir.join("msgraph-metadata/graph-signin-directoryaudit.property-names.prod.json")) }
    }

    fn props(&self, version: &str, ty: &str) -> BTreeSet<String> {
        let mut set: BTreeSet<String> = self.names[version]["types"][ty]["properties"]
            .as_array()
            .unwrap_or_else(|| panic!("{version} {ty} missing from the schema extract"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        set.insert("id".into());
        set
    }

    fn enum_members(&self, version: &str, name: &str) -> BTreeSet<String> {
        self.names[version]["enums"][name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn assert_subset(what: &str, got: &BTreeSet<String>, allowed: &BTreeSet<String>) {
    let extra: Vec<_> = got.difference(allowed).collect();
    assert!(extra.is_empty(), "{what}: properties not in the schema: {extra:?}");
}

fn check_sign_in(schema: &Schema, version: &str, r: &Value) {
    assert_subset(&format!("{version} signIn"), &keys(r), &schema.props(version, "signIn"));
    assert!(r["createdDateTime"].as_str().and_then(parse_odata_datetime).is_some());
    assert!(r["userId"].is_string(), "userId is non-nullable");
    assert!(r["status"]["errorCode"].is_i64(), "errorCode is Int32");
    assert_subset("signInStatus", &keys(&r["status"]), &schema.props(version, "signInStatus"));
    assert_subset("deviceDetail", &keys(&r["deviceDetail"]), &schema.props(version, "deviceDetail"));
    assert_subset("signInLocation", &keys(&r["location"]), &schema.props(version, "signInLocation"));
    assert_subset("geoCoordinates", &keys(&r["location"]["geoCoordinates"]), &schema.props(version, "geoCoordinates"));
    for p in r["appliedConditionalAccessPolicies"].as_array().expect("array") {
        assert_subset(
            "appliedConditionalAccessPolicy",
            &keys(p),
            &schema.props(version, "appliedConditionalAccessPolicy"),
        );
        let result = p["result"].as_str().expect("result");
        assert!(schema.enum_members(version, "appliedConditionalAccessPolicyResult").contains(result), "{result}");
    }
    for (field, enum_name) in [
        ("riskDetail", "riskDetail"),
        ("riskLevelAggregated", "riskLevel"),
        ("riskLevelDuringSignIn", "riskLevel"),
        ("riskState", "riskState"),
        ("conditionalAccessStatus", "conditionalAccessStatus"),
    ] {
        let v = r[field].as_str().unwrap_or_else(|| panic!("{field}"));
        assert!(schema.enum_members(version, enum_name).contains(v), "{field}={v}");
    }
    if version == "beta" {
        for d in r["authenticationDetails"].as_array().expect("authenticationDetails") {
            assert_subset("authenticationDetail", &keys(d), &schema.props("beta", "authenticationDetail"));
        }
        for d in r["networkLocationDetails"].as_array().expect("networkLocationDetails") {
            assert_subset("networkLocationDetail", &keys(d), &schema.props("beta", "networkLocationDetail"));
        }
        assert_subset("managedIdentity", &keys(&r["managedServiceIdentity"]), &schema.props("beta", "managedIdentity"));
        let protocol = r["authenticationProtocol"].as_str().expect("protocol");
        assert!(schema.enum_members("beta", "protocolType").contains(protocol), "{protocol}");
        let types = r["signInEventTypes"].as_array().expect("signInEventTypes");
        assert_eq!(types.len(), 1);
    } else {
        assert!(r["isInteractive"] == true, "v1.0 serves interactive sign-ins only");
    }
}

fn check_audit(schema: &Schema, version: &str, a: &Value) {
    assert_subset(&format!("{version} directoryAudit"), &keys(a), &schema.props(version, "directoryAudit"));
    assert!(a["activityDateTime"].as_str().and_then(parse_odata_datetime).is_some());
    for key in ["activityDisplayName", "category"] {
        assert!(a[key].is_string(), "{key} is non-nullable");
    }
    let result = a["result"].as_str().expect("result");
    assert!(schema.enum_members(version, "operationResult").contains(result));
    let initiator = &a["initiatedBy"];
    assert_subset("auditActivityInitiator", &keys(initiator), &schema.props(version, "auditActivityInitiator"));
    if initiator["user"].is_object() {
        // userIdentity is an open type; the docs' 2024 example carries these three extra properties.
        let mut allowed = schema.props(version, "userIdentity");
        allowed.extend(schema.props(version, "identity"));
        allowed.extend(["userType", "homeTenantId", "homeTenantName"].map(String::from));
        assert_subset("userIdentity", &keys(&initiator["user"]), &allowed);
    } else {
        assert_subset("appIdentity", &keys(&initiator["app"]), &schema.props(version, "appIdentity"));
    }
    for t in a["targetResources"].as_array().expect("targets") {
        assert_subset("targetResource", &keys(t), &schema.props(version, "targetResource"));
        for m in t["modifiedProperties"].as_array().expect("modifiedProperties") {
            assert_subset("modifiedProperty", &keys(m), &schema.props(version, "modifiedProperty"));
        }
    }
    for d in a["additionalDetails"].as_array().expect("additionalDetails") {
        assert_subset("keyValue", &keys(d), &schema.props(version, "keyValue"));
    }
}

async fn fetch(client: &reqwest::Client, url: String, token: &str) -> Value {
    let r = client.get(url).bearer_auth(token).send().await.expect("send");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test]
async fn every_served_record_matches_the_graph_schema_and_the_docs_examples() {
    let Some(dir) = datasets() else { return };
    let schema = Schema::load(&dir);
    let start = parse_odata_datetime("2025-03-04T11:00:00Z").expect("time");
    let sim =
        GraphSim::start(SimConfig { users: 30, history_days: 2.0, start_at: Some(start), ..SimConfig::default() })
            .expect("start");
    for name in m365mon_graph_sim::scenarios::names() {
        sim.inject(&ScenarioRequest::named(name)).expect(name);
    }
    let client = http_client(&sim);
    let t = token(&client, &sim, &sim.tenants()[0]).await;
    let since = format_graph(start - TICKS_PER_DAY);
    let base = sim.base_url();

    let docs_v1 = read(&dir.join("graph-docs-examples/v1.0_signin-list_example1.response.json"));
    let docs_beta = read(&dir.join("graph-docs-examples/beta_signin-list_example1_failed-password.response.json"));
    let docs_audit =
        read(&dir.join("graph-docs-examples/v1.0_directoryaudit-list_example2_filter-initiatedBy.response.json"));

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let v1 = fetch(&client, format!("{base}/v1.0/auditLogs/signIns?$filter=createdDateTime ge {since}"), &t).await;
    assert_eq!(v1["@odata.context"], format!("{base}/v1.0/$metadata#auditLogs/signIns"));
    for r in v1["value"].as_array().expect("value") {
        check_sign_in(&schema, "v1.0", r);
        // Every property of the docs' v1.0 example is there (the docs example lacks a few newer ones).
        assert_subset("docs v1.0 example vs served", &keys(&docs_v1["value"][0]), &keys(r));
        *seen.entry("v1.0 signIn").or_default() += 1;
    }
    for kind in ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"] {
        let page = fetch(
            &client,
            format!("{base}/beta/auditLogs/signIns?$top=300&$filter=createdDateTime ge {since} and signInEventTypes/any(t: t eq '{kind}')"),
            &t,
        )
        .await;
        assert_eq!(page["@odata.context"], format!("{base}/beta/$metadata#auditLogs/signIns"));
        for r in page["value"].as_array().expect("value") {
            check_sign_in(&schema, "beta", r);
            assert_eq!(r["signInEventTypes"][0], kind);
            *seen.entry(kind).or_default() += 1;
        }
        if kind == "interactiveUser" {
            let first = &page["value"][0];
            let docs_keys = keys(&docs_beta["value"][0]);
            let served_keys = keys(first);
            let missing: Vec<_> = docs_keys.difference(&served_keys).collect();
            assert!(missing.is_empty(), "the docs' beta example has properties we do not serve: {missing:?}");
        }
    }
    for version in ["v1.0", "beta"] {
        let page = fetch(
            &client,
            format!("{base}/{version}/auditLogs/directoryAudits?$filter=activityDateTime ge {since}"),
            &t,
        )
        .await;
        for a in page["value"].as_array().expect("value") {
            check_audit(&schema, version, a);
            *seen.entry(if version == "v1.0" { "v1.0 audit" } else { "beta audit" }).or_default() += 1;
        }
        assert_subset(
            "docs audit example vs served",
            &keys(&docs_audit["value"][0]).into_iter().filter(|k| k != "operationType").collect(),
            &keys(&page["value"][0]),
        );
    }
    eprintln!("checked: {seen:?}");
    assert!(seen.values().all(|n| *n > 0) && seen.len() == 7, "{seen:?}");
}

#[tokio::test]
async fn throttling_and_error_bodies_match_the_documented_ones() {
    let Some(dir) = datasets() else { return };
    let example = read(&dir.join("graph-docs-examples/throttling-429.examples.json"));
    let sim = GraphSim::start(SimConfig {
        users: 5,
        history_days: 0.1,
        faults: m365mon_graph_sim::FaultConfig { throttle: true, ..Default::default() },
        ..SimConfig::default()
    })
    .expect("start");
    let client = http_client(&sim);
    let t = token(&client, &sim, &sim.tenants()[0]).await;
    let url = format!("{}/v1.0/auditLogs/directoryAudits?$top=1", sim.base_url());
    let mut last = None;
    for _ in 0..6 {
        last = Some(client.get(&url).bearer_auth(&t).send().await.expect("send"));
    }
    let r = last.expect("response");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.expect("json");
    let documented = &example["variant_integer_retry_after"]["body"];
    assert_eq!(keys(&body), keys(documented));
    assert_eq!(keys(&body["error"]), keys(&documented["error"]));
    assert_eq!(keys(&body["error"]["innerError"]), keys(&documented["error"]["innerError"]));
    assert_eq!(body["error"]["code"], documented["error"]["code"]);
    assert_eq!(body["error"]["message"], documented["error"]["message"]);

    // Token errors carry the documented fields.
    let token_docs = read(&dir.join("identity-platform/token-endpoint-examples.json"));
    let documented = &token_docs["error_response_error_codes_doc"]["body"];
    let tenant = sim.tenants()[0].clone();
    let r: Value = client
        .post(&tenant.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", tenant.apps[0].client_id.as_str()),
            ("client_secret", tenant.apps[0].client_secret.as_str()),
            ("scope", "https://foo.microsoft.com/User.Read"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(keys(&r), keys(documented));
    let success = &token_docs["success_response"]["body"];
    let ok: Value = client
        .post(&tenant.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", tenant.apps[0].client_id.as_str()),
            ("client_secret", tenant.apps[0].client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let missing: Vec<_> = keys(success).difference(&keys(&ok)).cloned().collect();
    assert!(missing.is_empty(), "{missing:?}");
}

#[tokio::test]
async fn the_datasets_graph_pages_replay() {
    let Some(dir) = datasets() else { return };
    let files: Vec<_> = [
        "graph-docs-examples/v1.0_signin-list_example1.response.json",
        "graph-docs-examples/beta_signin-list_example1_failed-password.response.json",
        "graph-docs-examples/v1.0_directoryaudit-list_example1.response.json",
        "graph-docs-examples/v1.0_directoryaudit-list_example2_filter-initiatedBy.response.json",
        "wazuh/graph_events.directoryAudits.json",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let sim = GraphSim::start(SimConfig { replay: files, shift_to_now: true, ..SimConfig::default() }).expect("start");
    let client = http_client(&sim);
    let t = token(&client, &sim, &sim.tenants()[0]).await;
    let base = sim.base_url();
    let v1 = fetch(&client, format!("{base}/v1.0/auditLogs/signIns"), &t).await;
    let ids: Vec<&str> = v1["value"].as_array().expect("value").iter().filter_map(|r| r["id"].as_str()).collect();
    // Both documented sign-ins are interactive; newest first.
    assert_eq!(ids, ["1691d37b-8579-43a7-966a-0f35583c1300", "66ea54eb-6301-4ee5-be62-ff5a759b0100"]);
    // The beta record keeps its beta properties on beta and loses them on v1.0.
    let beta = fetch(&client, format!("{base}/beta/auditLogs/signIns"), &t).await;
    let failed = beta["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|r| r["id"] == "1691d37b-8579-43a7-966a-0f35583c1300")
        .expect("beta record");
    assert_eq!(failed["status"]["errorCode"], 50126);
    assert!(failed.get("authenticationDetails").is_some());
    if let Some(v1_failed) =
        v1["value"].as_array().expect("value").iter().find(|r| r["id"] == "1691d37b-8579-43a7-966a-0f35583c1300")
    {
        assert!(v1_failed.get("authenticationDetails").is_none());
    }
    // Shifted so the newest record (the 2024 audit) is now, gaps kept.
    let audits = fetch(&client, format!("{base}/v1.0/auditLogs/directoryAudits"), &t).await;
    let newest = audits["value"][0]["activityDateTime"].as_str().and_then(parse_odata_datetime).expect("time");
    let now = sim.state().clock.now();
    assert!(
        (now - newest).abs() < 120 * m365mon_graph_sim::time::TICKS_PER_SECOND,
        "newest record should be about now"
    );
    assert!(audits["value"].as_array().expect("value").len() >= 3, "{audits}");
    assert!(
        audits["value"].as_array().expect("value").iter().any(|a| a["activityDisplayName"] == "Add member to group")
    );
}
