//! `--replay`: every recorded sign-in is served exactly once, on the endpoint that serves its kind
//! (v1.0 and unfiltered beta: interactive; beta's `signInEventTypes/any(...)` filter: the others),
//! including records that do not carry `signInEventTypes` (v1.0 pages, Event Hub and Log
//! Analytics exports), and is served with the `signInEventTypes` value real beta sends.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use common::{all_pages, datasets, http_client, token};
use m365mon_graph_sim::{GraphSim, SimConfig};
use serde_json::{Value, json};

/// What the simulator served: (id, the kind its endpoint serves) per served record, duplicates
/// kept. Checks on the way that v1.0 and unfiltered beta serve the same records, and that every
/// beta record carries the `signInEventTypes` value of the kind it was served as.
async fn served(sim: &GraphSim) -> Vec<(String, &'static str)> {
    let client = http_client(sim);
    let t = token(&client, sim, &sim.tenants()[0]).await;
    let base = sim.base_url();
    // A few dataset envelopes have no `properties`: the record is then just a time, without id.
    let id = |r: &Value| r["id"].as_str().unwrap_or("").to_string();
    let mut seen = Vec::new();
    let v1 = all_pages(&client, format!("{base}/v1.0/auditLogs/signIns?$top=7"), &t).await;
    for r in &v1 {
        assert!(r.get("signInEventTypes").is_none(), "v1.0 has no signInEventTypes: {r}");
        seen.push((id(r), "interactiveUser"));
    }
    let mut v1_ids: Vec<String> = v1.iter().map(id).collect();
    let mut beta_ids = Vec::new();
    let mut wrong = Vec::new();
    for kind in ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"] {
        let url = if kind == "interactiveUser" {
            // Unfiltered beta serves interactive sign-ins, like v1.0.
            format!("{base}/beta/auditLogs/signIns?$top=7")
        } else {
            let filter = format!("signInEventTypes/any(t: t eq '{kind}')");
            let filter: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            format!("{base}/beta/auditLogs/signIns?$top=7&$filter={filter}")
        };
        for r in all_pages(&client, url, &t).await {
            if r["signInEventTypes"] != json!([kind]) {
                wrong.push(format!("{}: served as {kind} with signInEventTypes {}", id(&r), r["signInEventTypes"]));
            }
            if kind == "interactiveUser" {
                beta_ids.push(id(&r));
            } else {
                seen.push((id(&r), kind));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    v1_ids.sort_unstable();
    beta_ids.sort_unstable();
    assert_eq!(v1_ids, beta_ids, "v1.0 and unfiltered beta serve different records");
    seen
}

/// Asserts the records served are exactly the recorded ones (id → the kinds recorded with that
/// id; the datasets repeat a few ids across files), each on its kind's endpoint.
fn assert_exactly_once(expected: &BTreeMap<String, Vec<&'static str>>, seen: &[(String, &'static str)]) {
    let mut served: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, kind) in seen {
        served.entry(id.as_str()).or_default().push(kind);
    }
    let mut problems = Vec::new();
    for (id, kinds) in expected {
        let mut want = kinds.clone();
        want.sort_unstable();
        let mut got = served.get(id.as_str()).cloned().unwrap_or_default();
        got.sort_unstable();
        if got != want {
            problems.push(format!("{id}: recorded as {want:?}, served as {got:?}"));
        }
    }
    for id in served.keys() {
        if !expected.contains_key(*id) {
            problems.push(format!("{id}: served but not recorded"));
        }
    }
    let total: usize = expected.values().map(Vec::len).sum();
    assert!(problems.is_empty(), "{} of {total} records wrong:\n{}", problems.len(), problems.join("\n"));
}

fn time(i: usize) -> String {
    // 2025-03-03 08:00 plus i minutes: old enough that no ingestion delay hides anything.
    let t = chrono::DateTime::parse_from_rfc3339("2025-03-03T08:00:00Z").expect("time")
        + chrono::Duration::minutes(i as i64);
    t.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn user_sign_in(id: &str, i: usize) -> Value {
    json!({
        "id": id,
        "createdDateTime": time(i),
        "userDisplayName": format!("User {}", i % 9),
        "userPrincipalName": format!("user{}@contoso.example", i % 9),
        "userId": format!("00000000-0000-0000-0000-{:012}", i % 9),
        "appId": "00000002-0000-0ff1-ce00-000000000000",
        "appDisplayName": "Office 365 Exchange Online",
        "ipAddress": "203.0.113.7",
        "clientAppUsed": "Browser",
        "correlationId": format!("c0000000-0000-0000-0000-{i:012}"),
        "conditionalAccessStatus": "notApplied",
        "resourceDisplayName": "Office 365 Exchange Online",
        "resourceId": "00000002-0000-0ff1-ce00-000000000000",
        "status": {"errorCode": 0},
        "deviceDetail": {"deviceId": "", "operatingSystem": "Windows10", "browser": "Edge 120.0.0"},
        "location": {"city": "Leeds", "state": "Leeds", "countryOrRegion": "GB",
                     "geoCoordinates": {"latitude": 53.8, "longitude": -1.55}},
        "appliedConditionalAccessPolicies": []
    })
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path).expect("create").write_all(text.as_bytes()).expect("write");
    path
}

/// Our own fixtures, written from the documented schemas: a v1.0 page (`isInteractive`, no
/// `signInEventTypes`), an Event Hub capture with the four sign-in categories (records without
/// `signInEventTypes` or `isInteractive`), and JSON lines of bare records without either property
/// (Graph treats those as interactive).
fn fixtures(dir: &tempfile::TempDir) -> (Vec<PathBuf>, BTreeMap<String, Vec<&'static str>>) {
    let mut expected = BTreeMap::new();
    let mut n = 0;
    let mut page = Vec::new();
    for _ in 0..40 {
        let id = format!("a0000000-0000-0000-0000-{n:012}");
        let interactive = n % 3 == 0;
        let mut r = user_sign_in(&id, n);
        r["isInteractive"] = json!(interactive);
        page.push(r);
        expected.insert(id, vec![if interactive { "interactiveUser" } else { "nonInteractiveUser" }]);
        n += 1;
    }
    let page = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
        "value": page,
    });
    let mut files = vec![write(dir, "v1-page.json", &page.to_string())];

    let categories = [
        ("SignInLogs", "interactiveUser"),
        ("NonInteractiveUserSignInLogs", "nonInteractiveUser"),
        ("NonInteractiveUserSignInLogs", "nonInteractiveUser"),
        ("ServicePrincipalSignInLogs", "servicePrincipal"),
        ("ManagedIdentitySignInLogs", "managedIdentity"),
    ];
    let mut records = Vec::new();
    for j in 0..50 {
        let (category, kind) = categories[j % categories.len()];
        let id = format!("b0000000-0000-0000-0000-{n:012}");
        let mut properties = user_sign_in(&id, n);
        if matches!(kind, "servicePrincipal" | "managedIdentity") {
            let map = properties.as_object_mut().expect("object");
            for user_field in ["userDisplayName", "userPrincipalName", "userId"] {
                map.remove(user_field);
            }
            properties["servicePrincipalId"] = json!("5e000000-0000-0000-0000-000000000001");
            properties["servicePrincipalName"] = json!("nightly-export");
        }
        records.push(json!({
            "time": time(n),
            "resourceId": "/tenants/11111111-2222-3333-4444-555555555555/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity",
            "operationVersion": "1.0",
            "category": category,
            "tenantId": "11111111-2222-3333-4444-555555555555",
            "resultType": "0",
            "callerIpAddress": "203.0.113.7",
            "correlationId": format!("c0000000-0000-0000-0000-{n:012}"),
            "Level": 4,
            "properties": properties,
        }));
        expected.insert(id, vec![kind]);
        n += 1;
    }
    files.push(write(dir, "event-hub.json", &json!({ "records": records }).to_string()));

    let mut lines = String::new();
    for _ in 0..10 {
        let id = format!("c0000000-0000-0000-0000-{n:012}");
        lines.push_str(&user_sign_in(&id, n).to_string());
        lines.push('\n');
        expected.insert(id, vec!["interactiveUser"]);
        n += 1;
    }
    files.push(write(dir, "bare.jsonl", &lines));
    (files, expected)
}

#[tokio::test]
async fn recorded_sign_ins_without_event_types_are_served_once_on_their_kinds_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (files, expected) = fixtures(&dir);
    let sim = GraphSim::start(SimConfig { replay: files, ..SimConfig::default() }).expect("start");
    let seen = served(&sim).await;
    assert_exactly_once(&expected, &seen);
    // Each kind is there (the fixtures' mix, not an empty pass).
    for kind in ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"] {
        assert!(seen.iter().any(|(_, k)| *k == kind), "no {kind} served");
    }
}

/// The Event Hub and Log Analytics exports among the shared datasets: every sign-in the model's
/// reader reads is served exactly once, as the kind the reader says.
#[tokio::test]
async fn the_datasets_diagnostic_exports_replay_completely() {
    let Some(dir) = datasets() else { return };
    let files: Vec<PathBuf> = [
        "elastic-integrations/signinlogs/test-managed-identity-sample.first3.log",
        "elastic-integrations/signinlogs/test-non-interactive-user-sample.first6.log",
        "elastic-integrations/signinlogs/test-service-principal-signinlogs-sample.log",
        "elastic-integrations/signinlogs/test-signinlogs-raw.log",
        "elastic-integrations/signinlogs/test-signinlogs-sample.log",
        "elastic-integrations/signinlogs/test-time-formats-corner-cases.log",
        "azure-sentinel-training-lab/sign-in_adelete.first7.csv",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let mut expected: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let mut read = 0;
    for path in &files {
        let file = std::fs::File::open(path).expect("open");
        for item in m365mon_model::RecordReader::new(file, path.display().to_string()).flatten() {
            let m365mon_model::Record::SignIn(signin) = &item.record else { continue };
            let kind = item.event_type.map_or("interactiveUser", |t| t.as_graph_value());
            read += 1;
            expected.entry(signin.id.clone()).or_default().push(kind);
        }
    }
    assert!(read > 30, "only {read} sign-ins read from the datasets");
    let sim = GraphSim::start(SimConfig { replay: files, ..SimConfig::default() }).expect("start");
    let seen = served(&sim).await;
    assert_exactly_once(&expected, &seen);
}
