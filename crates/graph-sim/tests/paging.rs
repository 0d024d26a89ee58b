//! Paging, faults and determinism, through HTTPS like a real client.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{collect, http_client, token};
use m365mon_graph_sim::time::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE, Ticks, format_graph, parse_odata_datetime,
};
use m365mon_graph_sim::{FaultConfig, FaultProfile, GraphSim, LogKind, ScenarioRequest, SimConfig};
use serde_json::Value;

/// A Tuesday late morning in London: users of the first tenant are at work.
fn start() -> Ticks {
    parse_odata_datetime("2025-03-04T11:00:00Z").expect("time")
}

fn config(faults: FaultConfig) -> SimConfig {
    SimConfig { users: 25, history_days: 3.0, faults, start_at: Some(start()), ..SimConfig::default() }
}

fn list_url(sim: &GraphSim, version: &str, resource: &str, filter: &str, top: usize) -> String {
    let mut url = url::Url::parse(&format!("{}/{version}/auditLogs/{resource}", sim.base_url())).expect("url");
    url.query_pairs_mut().append_pair("$filter", filter).append_pair("$top", &top.to_string());
    url.to_string()
}

struct Log {
    kind: LogKind,
    version: &'static str,
    resource: &'static str,
    extra: &'static str,
}

const LOGS: &[Log] = &[
    Log { kind: LogKind::InteractiveUser, version: "v1.0", resource: "signIns", extra: "" },
    Log {
        kind: LogKind::NonInteractiveUser,
        version: "beta",
        resource: "signIns",
        extra: " and signInEventTypes/any(t: t eq 'nonInteractiveUser')",
    },
    Log {
        kind: LogKind::ServicePrincipal,
        version: "beta",
        resource: "signIns",
        extra: " and signInEventTypes/any(t: t eq 'servicePrincipal')",
    },
    Log {
        kind: LogKind::ManagedIdentity,
        version: "beta",
        resource: "signIns",
        extra: " and signInEventTypes/any(t: t eq 'managedIdentity')",
    },
    Log { kind: LogKind::DirectoryAudit, version: "v1.0", resource: "directoryAudits", extra: "" },
];

async fn check_completeness(sim: &GraphSim, top: usize) -> (usize, usize, usize) {
    let client = http_client(sim);
    let tenant = &sim.tenants()[0];
    // A finished stretch of history: under any latency profile everything in it is visible.
    let from = start() - 2 * TICKS_PER_DAY;
    let to = start() - TICKS_PER_DAY;
    let (mut faults_seen, mut duplicates, mut total) = (0, 0, 0);
    for log in LOGS {
        let field = if log.kind == LogKind::DirectoryAudit { "activityDateTime" } else { "createdDateTime" };
        let filter = format!("{field} ge {} and {field} le {}{}", format_graph(from), format_graph(to), log.extra);
        let got = collect(&client, sim, tenant, &list_url(sim, log.version, log.resource, &filter, top)).await;
        let expected: BTreeSet<String> = sim.visible_ids(0, log.kind, from, to).into_iter().collect();
        let served: BTreeSet<String> = got.records.keys().cloned().collect();
        assert!(!expected.is_empty(), "{:?}: no records in the window", log.kind);
        assert_eq!(served, expected, "{:?}: served set differs from the visible set", log.kind);
        faults_seen += got.throttled + got.retried_errors + got.restarts;
        duplicates += got.received - got.records.len();
        total += expected.len();
    }
    (total, faults_seen, duplicates)
}

#[tokio::test]
async fn every_visible_record_exactly_once_without_faults() {
    let sim = GraphSim::start(config(FaultConfig::default())).expect("start");
    let (total, faults, duplicates) = check_completeness(&sim, 400).await;
    assert!(total > 1000, "{total}");
    assert_eq!((faults, duplicates), (0, 0));
    // The ledger agrees: everything served once.
    let ledger = sim.ledger(0);
    assert_eq!(ledger.len(), total);
    assert!(ledger.iter().all(|r| r.served == 1), "a record was served twice");
}

#[tokio::test]
async fn a_docs_following_client_gets_everything_under_harsh_faults() {
    // The harsh profile with a shorter throttle window so the test takes seconds, not minutes.
    let faults = FaultConfig { throttle_window_seconds: 1.0, ..FaultConfig::profile(FaultProfile::Harsh) };
    let sim = GraphSim::start(config(faults)).expect("start");
    let (total, faults_seen, duplicates) = check_completeness(&sim, 150).await;
    assert!(total > 1000);
    assert!(faults_seen > 0, "harsh faults should have hit the client");
    let stats = sim.stats();
    eprintln!(
        "harsh run: {total} records, {faults_seen} faults handled, {duplicates} duplicates; {}",
        stats["faults_injected"]
    );
    // Whether the throttle was hit depends on how fast this machine sends (5 requests per second
    // here); the throttle itself is tested exactly below, so it is reported, not required.
    eprintln!("throttled: {}", stats["throttled"]);
}

#[tokio::test]
async fn throttle_is_five_requests_per_ten_seconds_per_app_and_tenant() {
    let faults = FaultConfig { throttle: true, ..FaultConfig::default() };
    let sim = GraphSim::start(SimConfig { tenants: 2, ..config(faults) }).expect("start");
    let client = http_client(&sim);
    let tenants = sim.tenants();
    let t0 = token(&client, &sim, &tenants[0]).await;
    let url = format!("{}/v1.0/auditLogs/directoryAudits?$top=1", sim.base_url());
    for _ in 0..5 {
        assert_eq!(client.get(&url).bearer_auth(&t0).send().await.expect("send").status(), 200);
    }
    let throttled = client.get(&url).bearer_auth(&t0).send().await.expect("send");
    assert_eq!(throttled.status(), 429);
    let retry_after: f64 = throttled.headers()["retry-after"].to_str().expect("ascii").parse().expect("number");
    assert!(retry_after > 0.0 && retry_after <= 10.0, "{retry_after}");
    let body: Value = throttled.json().await.expect("json");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(body["error"]["message"], "Please retry again later.");
    assert_eq!(body["error"]["innerError"]["status"], "429");
    // signIns shares the budget; another tenant has its own.
    let signins = format!("{}/v1.0/auditLogs/signIns?$top=1", sim.base_url());
    assert_eq!(client.get(&signins).bearer_auth(&t0).send().await.expect("send").status(), 429);
    let t1 = token(&client, &sim, &tenants[1]).await;
    assert_eq!(client.get(&signins).bearer_auth(&t1).send().await.expect("send").status(), 200);
    assert_eq!(sim.stats()["throttled"], 2);
}

#[tokio::test]
async fn an_expired_token_in_the_middle_of_paging_gets_401_then_paging_resumes() {
    let sim = GraphSim::start(SimConfig { token_lifetime: Duration::from_secs(1), ..config(FaultConfig::default()) })
        .expect("start");
    let client = http_client(&sim);
    let tenant = &sim.tenants()[0];
    let t = token(&client, &sim, tenant).await;
    let first: Value = client
        .get(format!(
            "{}/beta/auditLogs/signIns?$top=50&$filter=signInEventTypes/any(t: t eq 'nonInteractiveUser')",
            sim.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let next = first["@odata.nextLink"].as_str().expect("nextLink").to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = client.get(&next).bearer_auth(&t).send().await.expect("send");
    assert_eq!(expired.status(), 401);
    assert!(expired.headers().contains_key("www-authenticate"));
    let body: Value = expired.json().await.expect("json");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(body["error"]["message"], "Lifetime validation failed, the token is expired.");
    let fresh = token(&client, &sim, tenant).await;
    let second: Value = client.get(&next).bearer_auth(&fresh).send().await.expect("send").json().await.expect("json");
    assert_eq!(second["value"].as_array().map(Vec::len), Some(50));
    let first_ids: BTreeSet<&str> =
        first["value"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str()).collect();
    assert!(
        second["value"].as_array().into_iter().flatten().all(|r| !first_ids.contains(r["id"].as_str().unwrap_or("")))
    );
    // Revocation works the same way.
    sim.revoke_tokens();
    assert_eq!(client.get(&next).bearer_auth(&fresh).send().await.expect("send").status(), 401);
}

#[tokio::test]
async fn the_seed_decides_everything() {
    let a = GraphSim::start(SimConfig { seed: 9, ..config(FaultConfig::default()) }).expect("start");
    let b = GraphSim::start(SimConfig { seed: 9, ..config(FaultConfig::default()) }).expect("start");
    let c = GraphSim::start(SimConfig { seed: 10, ..config(FaultConfig::default()) }).expect("start");
    assert_eq!(a.tenants()[0].tenant_id, b.tenants()[0].tenant_id);
    assert_eq!(a.tenants()[0].apps, b.tenants()[0].apps);
    assert_ne!(a.tenants()[0].tenant_id, c.tenants()[0].tenant_id);
    let (from, to) = (start() - 30 * TICKS_PER_HOUR, start() - 20 * TICKS_PER_HOUR);
    for kind in [LogKind::NonInteractiveUser, LogKind::DirectoryAudit, LogKind::ServicePrincipal] {
        assert_eq!(a.visible_ids(0, kind, from, to), b.visible_ids(0, kind, from, to));
        assert_ne!(a.visible_ids(0, kind, from, to), c.visible_ids(0, kind, from, to));
    }
    // The rendered records are identical too.
    assert_eq!(first_page(&a, to).await, first_page(&b, to).await);
}

async fn first_page(sim: &GraphSim, to: Ticks) -> Value {
    let url = format!(
        "{}/beta/auditLogs/signIns?$top=20&$filter=createdDateTime le {} and signInEventTypes/any(t: t eq 'nonInteractiveUser')",
        sim.base_url(),
        format_graph(to)
    );
    let client = http_client(sim);
    let t = token(&client, sim, &sim.tenants()[0]).await;
    let v: Value = client.get(url).bearer_auth(t).send().await.expect("send").json().await.expect("json");
    v["value"].clone()
}

#[tokio::test]
async fn records_that_change_later_keep_their_id() {
    let faults = FaultConfig { late_changes: 1.0, ..FaultConfig::default() };
    let sim = GraphSim::start(SimConfig { users: 80, ..config(faults) }).expect("start");
    let client = http_client(&sim);
    let tenant = &sim.tenants()[0];
    let filter = format!("createdDateTime ge {}", format_graph(start() - 2 * TICKS_PER_HOUR));
    let url = list_url(&sim, "beta", "signIns", &filter, 1000);
    let early = collect(&client, &sim, tenant, &url).await;
    let incomplete: Vec<String> = early
        .records
        .iter()
        .filter(|(_, r)| {
            r["status"]["errorCode"] == 0 && r["authenticationMethodsUsed"] == serde_json::json!(["Password"])
        })
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!incomplete.is_empty(), "some MFA sign-ins should still lack their MFA details");
    sim.advance_clock(Duration::from_secs(3 * 3600));
    let late = collect(&client, &sim, tenant, &url).await;
    for id in &incomplete {
        let r = &late.records[id];
        assert_eq!(r["authenticationMethodsUsed"], serde_json::json!(["Password", "Mobile app notification"]), "{id}");
        assert_eq!(r["status"]["additionalDetails"], "MFA completed in Azure AD");
    }
    let ledger = sim.ledger(0);
    let changed = ledger.iter().filter(|r| incomplete.contains(&r.id)).collect::<Vec<_>>();
    assert!(changed.iter().all(|r| r.versions == ["early", "final"]));
}

#[tokio::test]
async fn ingestion_latency_hides_fresh_records_until_the_clock_moves() {
    let faults = FaultConfig { latency: m365mon_graph_sim::Latency::Realistic, ..FaultConfig::default() };
    let sim = GraphSim::start(config(faults)).expect("start");
    let (from, to) = (start() - 40 * TICKS_PER_MINUTE, start());
    let before = sim.visible_ids(0, LogKind::NonInteractiveUser, from, to).len();
    sim.advance_clock(Duration::from_secs(5 * 3600));
    let after = sim.visible_ids(0, LogKind::NonInteractiveUser, from, to).len();
    assert!(before < after, "{before} < {after}");
}

#[tokio::test]
async fn injected_scenarios_are_served_with_the_ids_they_report() {
    let sim = GraphSim::start(config(FaultConfig::default())).expect("start");
    let mut expected = BTreeSet::new();
    for name in m365mon_graph_sim::scenarios::names() {
        let done = sim.inject(&ScenarioRequest::named(name)).expect(name);
        assert!(!done.records.is_empty(), "{name}");
        assert!(!done.expected_rules.is_empty());
        expected.extend(done.sign_in_ids.iter().chain(&done.audit_ids).cloned());
    }
    let client = http_client(&sim);
    let tenant = &sim.tenants()[0];
    let since = format_graph(start() - 2 * TICKS_PER_DAY);
    let mut served = BTreeSet::new();
    for (version, resource, filter) in [
        (
            "beta",
            "signIns",
            format!("createdDateTime ge {since} and (signInEventTypes/any(t: t eq 'interactiveUser'))"),
        ),
        (
            "v1.0",
            "directoryAudits",
            format!("activityDateTime ge {since} and category ne 'x'").replace(" and category ne 'x'", ""),
        ),
    ] {
        let got = collect(&client, &sim, tenant, &list_url(&sim, version, resource, &filter, 1000)).await;
        served.extend(got.records.into_keys());
    }
    let missing: Vec<_> = expected.difference(&served).collect();
    assert!(missing.is_empty(), "scenario records not served: {missing:?}");
}

#[tokio::test]
async fn scenario_records_have_the_shape_the_rules_need() {
    let sim = GraphSim::start(config(FaultConfig::default())).expect("start");
    let client = http_client(&sim);
    let tenant = &sim.tenants()[0];
    let t = token(&client, &sim, tenant).await;
    let spray =
        sim.inject(&ScenarioRequest { count: Some(12), ..ScenarioRequest::named("password_spray") }).expect("spray");
    let fatigue = sim.inject(&ScenarioRequest::named("mfa_fatigue")).expect("fatigue");
    let get = |filter: String| {
        let client = client.clone();
        let t = t.clone();
        let url = list_url(&sim, "v1.0", "signIns", &filter, 1000);
        async move { client.get(url).bearer_auth(t).send().await.expect("send").json::<Value>().await.expect("json") }
    };
    let page = get(format!("ipAddress eq '{}'", spray.ip.clone().expect("ip"))).await;
    let records = page["value"].as_array().expect("value");
    assert_eq!(records.len(), 12);
    let users: BTreeSet<&str> = records.iter().filter_map(|r| r["userPrincipalName"].as_str()).collect();
    assert_eq!(users.len(), 12);
    assert!(records.iter().all(|r| [50126, 50053].contains(&r["status"]["errorCode"].as_i64().unwrap_or(0))));
    let page =
        get(format!("userPrincipalName eq '{}' and status/errorCode eq 500121", fatigue.user.clone().expect("user")))
            .await;
    let denials = page["value"].as_array().expect("value");
    assert_eq!(denials.len(), 7);
    assert!(
        denials.iter().all(|r| r["status"]["additionalDetails"].as_str().is_some_and(|d| d.starts_with("MFA denied")))
    );
}
