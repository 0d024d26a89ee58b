//! The Graph client against graph-sim (HTTPS with its own CA, real token endpoint, faults).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use m365mon_graph::{
    CertificateCredential, ClientCredential, ClientSecret, CloudEndpoints, ErrorClass, GraphClient, GraphConfig,
    GraphError, Pacing, RetryPolicy,
};
use m365mon_graph_sim::time::{TICKS_PER_DAY, Ticks, format_graph, parse_odata_datetime};
use m365mon_graph_sim::{FaultConfig, FaultProfile, GraphSim, LogKind, SimConfig, TenantInfo};

/// A Tuesday late morning: the synthetic users are at work.
fn start() -> Ticks {
    parse_odata_datetime("2025-03-04T11:00:00Z").expect("time")
}

fn sim(config: SimConfig) -> GraphSim {
    m365mon_runtime::install_crypto_provider();
    GraphSim::start(SimConfig { users: 20, history_days: 3.0, start_at: Some(start()), ..config }).expect("graph-sim")
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        max_retry_after: Duration::from_secs(5),
    }
}

fn config(sim: &GraphSim, tenant: &TenantInfo, credential: ClientCredential) -> GraphConfig {
    let mut config = GraphConfig::new(&tenant.tenant_id, &tenant.apps[0].client_id, credential);
    config.endpoints = CloudEndpoints::custom(sim.base_url(), sim.base_url()).expect("endpoints");
    config.extra_ca_pem = Some(sim.ca_pem().as_bytes().to_vec());
    config.pacing = Pacing::Off;
    config.retry = fast_retries();
    config.auth_failure_cooldown = Duration::ZERO;
    config
}

fn secret(tenant: &TenantInfo) -> ClientCredential {
    ClientCredential::Secret(ClientSecret::new(tenant.apps[0].client_secret.clone()))
}

fn client(sim: &GraphSim, tenant: usize) -> GraphClient {
    let tenants = sim.tenants();
    GraphClient::new(config(sim, &tenants[tenant], secret(&tenants[tenant]))).expect("client")
}

/// The query of one log over `[from, to]`, as the collector writes it.
fn query(kind: LogKind, from: Ticks, to: Ticks, top: usize) -> String {
    let (path, field, extra) = match kind {
        LogKind::InteractiveUser => ("/v1.0/auditLogs/signIns", "createdDateTime", String::new()),
        LogKind::DirectoryAudit => ("/v1.0/auditLogs/directoryAudits", "activityDateTime", String::new()),
        other => (
            "/beta/auditLogs/signIns",
            "createdDateTime",
            format!("signInEventTypes/any(t: t eq '{}') and ", other.as_str()),
        ),
    };
    format!("{path}?$filter={extra}{field} ge {} and {field} le {}&$top={top}", format_graph(from), format_graph(to))
}

/// Reads a whole listing the way the collector does (resuming after retryable errors); returns
/// record id → how often it was received.
async fn read_all(client: &GraphClient, url: &str) -> HashMap<String, u32> {
    let mut pages = client.pages(url);
    let mut seen = HashMap::new();
    let mut interruptions = 0;
    loop {
        match pages.next_page().await {
            Ok(Some(page)) => {
                for record in page.records() {
                    let value: serde_json::Value = serde_json::from_slice(&record).expect("record JSON");
                    *seen.entry(value["id"].as_str().expect("id").to_string()).or_default() += 1;
                }
            }
            Ok(None) => return seen,
            Err(e) if e.is_retryable() && interruptions < 20 => interruptions += 1,
            Err(e) => panic!("listing failed: {e}"),
        }
    }
}

#[tokio::test]
async fn every_visible_record_of_every_log_exactly_once() {
    let sim = sim(SimConfig::default());
    let graph = client(&sim, 0);
    let (from, to) = (start() - 2 * TICKS_PER_DAY, start() - TICKS_PER_DAY);
    let mut total = 0;
    for kind in LogKind::ALL {
        let got = read_all(&graph, &query(kind, from, to, 300)).await;
        let expected: BTreeSet<String> = sim.visible_ids(0, kind, from, to).into_iter().collect();
        assert!(!expected.is_empty(), "{kind:?}: the simulator has no records in the window");
        assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected, "{kind:?}");
        assert!(got.values().all(|&n| n == 1), "{kind:?}: a record arrived twice without faults");
        total += expected.len();
    }
    assert!(total > 500, "{total}");
}

#[tokio::test]
async fn harsh_faults_lose_nothing() {
    // Harsh faults; a one-second throttle window so the test takes seconds.
    let faults = FaultConfig { throttle_window_seconds: 1.0, ..FaultConfig::profile(FaultProfile::Harsh) };
    let sim = sim(SimConfig { faults, ..SimConfig::default() });
    let graph = client(&sim, 0);
    let (from, to) = (start() - 2 * TICKS_PER_DAY, start() - TICKS_PER_DAY);
    for kind in LogKind::ALL {
        let got = read_all(&graph, &query(kind, from, to, 25)).await;
        let expected: BTreeSet<String> = sim.visible_ids(0, kind, from, to).into_iter().collect();
        assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected, "{kind:?}");
    }
    let stats = sim.stats();
    let faults = &stats["faults_injected"];
    eprintln!("faults survived: {faults}; throttled {}", stats["throttled"]);
    assert!(stats["throttled"].as_u64().unwrap_or(0) > 0, "the run should have been throttled: {stats}");
    let injected: u64 = faults.as_object().map(|o| o.values().filter_map(|v| v.as_u64()).sum()).unwrap_or(0);
    assert!(injected > 0, "harsh faults should have been injected: {faults}");
}

#[tokio::test]
async fn the_pacer_keeps_a_tenant_under_the_throttle() {
    let faults =
        FaultConfig { throttle: true, throttle_requests: 5, throttle_window_seconds: 2.0, ..FaultConfig::default() };
    let sim = sim(SimConfig { faults, ..SimConfig::default() });
    let tenants = sim.tenants();
    let mut config = config(&sim, &tenants[0], secret(&tenants[0]));
    config.pacing = Pacing::Limit { requests: 4, per: Duration::from_secs(2) };
    let graph = GraphClient::new(config).expect("client");
    for _ in 0..10 {
        graph.get_page("/v1.0/auditLogs/directoryAudits?$top=1").await.expect("page");
    }
    assert_eq!(sim.stats()["throttled"], 0, "the pacer should have kept every request under the limit");
}

#[tokio::test]
async fn a_token_refused_in_the_middle_of_a_listing_is_replaced() {
    let sim = sim(SimConfig::default());
    let graph = client(&sim, 0);
    let (from, to) = (start() - 2 * TICKS_PER_DAY, start() - TICKS_PER_DAY);
    let url = query(LogKind::NonInteractiveUser, from, to, 100);
    let mut pages = graph.pages(url.as_str());
    let mut ids = BTreeSet::new();
    let mut page_number = 0;
    while let Some(page) = pages.next_page().await.expect("page") {
        page_number += 1;
        for record in page.records() {
            let value: serde_json::Value = serde_json::from_slice(&record).expect("json");
            ids.insert(value["id"].as_str().expect("id").to_string());
        }
        if page_number == 2 {
            // Every token issued so far stops working: the next page is answered 401.
            sim.revoke_tokens();
        }
    }
    assert!(page_number > 3, "the listing should span several pages ({page_number})");
    let expected: BTreeSet<String> = sim.visible_ids(0, LogKind::NonInteractiveUser, from, to).into_iter().collect();
    assert_eq!(ids, expected);
    assert!(sim.stats()["tokens_issued"].as_u64().unwrap_or(0) >= 2, "a second token should have been issued");
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_before_they_expire() {
    let sim = sim(SimConfig { token_lifetime: Duration::from_secs(4), ..SimConfig::default() });
    let graph = client(&sim, 0);
    for _ in 0..4 {
        graph.get_page("/v1.0/auditLogs/directoryAudits?$top=5").await.expect("page");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    let stats = sim.stats();
    assert!(stats["tokens_issued"].as_u64().unwrap_or(0) >= 2, "{stats}");
    let refused = stats["requests_by_status"]["401"].as_u64().unwrap_or(0);
    assert_eq!(refused, 0, "tokens should be renewed ahead of expiry, not after a 401: {stats}");
}

#[tokio::test]
async fn a_wrong_secret_is_fatal_and_names_the_aadsts_code() {
    let sim = sim(SimConfig::default());
    let tenants = sim.tenants();
    let graph =
        GraphClient::new(config(&sim, &tenants[0], ClientCredential::Secret(ClientSecret::new("not-the-secret"))))
            .expect("client");
    let err = graph.get_page("/v1.0/auditLogs/signIns?$top=1").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
    assert_eq!(err.code(), Some("AADSTS7000215"), "{err}");
    match &err {
        GraphError::Token(t) => assert_eq!(t.error.as_deref(), Some("invalid_client")),
        other => panic!("expected a token error, got {other:?}"),
    }
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
}

#[tokio::test]
async fn licence_and_permission_errors_carry_graphs_code() {
    let sim = sim(SimConfig { tenants: 2, non_premium_tenants: vec![1], ..SimConfig::default() });
    let err = client(&sim, 1).get_page("/v1.0/auditLogs/signIns?$top=1").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
    assert_eq!(err.code(), Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant"), "{err}");
    assert_eq!(err.status(), Some(403));

    let tenants = sim.tenants();
    assert!(sim.set_permissions(0, &tenants[0].apps[0].client_id, &["Mail.Send"]));
    let err = client(&sim, 0).get_page("/v1.0/auditLogs/directoryAudits?$top=1").await.unwrap_err();
    assert_eq!(err.code(), Some("Authorization_RequestDenied"), "{err}");
    assert_eq!(err.class(), ErrorClass::Fatal);
}

#[tokio::test]
async fn a_certificate_credential_signs_in() {
    let sim = sim(SimConfig::default());
    let tenants = sim.tenants();
    let tenant = &tenants[0];
    // The control API registers a certificate on the app and hands out its key, as an admin would
    // upload a certificate and keep the key.
    let http = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(sim.ca_pem().as_bytes()).expect("CA"))
        .build()
        .expect("http");
    let created: serde_json::Value = http
        .post(format!(
            "{}/_sim/tenants/{}/apps/{}/certificate",
            sim.base_url(),
            tenant.tenant_id,
            tenant.apps[0].client_id
        ))
        .send()
        .await
        .expect("control API")
        .json()
        .await
        .expect("certificate JSON");
    let certificate = CertificateCredential::from_pem_parts(
        created["certificate_pem"].as_str().expect("certificate").as_bytes(),
        created["private_key_pem"].as_str().expect("key").as_bytes(),
    )
    .expect("certificate credential");
    let graph =
        GraphClient::new(config(&sim, tenant, ClientCredential::Certificate(Arc::new(certificate)))).expect("client");
    graph.check_credentials().await.expect("token with a client assertion");
    let page = graph.get_page("/v1.0/auditLogs/directoryAudits?$top=3").await.expect("page");
    assert_eq!(page.len(), 3);
}

#[tokio::test]
async fn the_extra_ca_is_what_makes_a_private_ca_trusted() {
    let sim = sim(SimConfig::default());
    let tenants = sim.tenants();
    let mut without = config(&sim, &tenants[0], secret(&tenants[0]));
    without.extra_ca_pem = None;
    without.retry = RetryPolicy::none();
    let err = GraphClient::new(without).expect("client").check_credentials().await.unwrap_err();
    let text = err.to_string().to_ascii_lowercase();
    assert!(text.contains("certificate") || text.contains("issuer"), "{err}");

    let mut bad = config(&sim, &tenants[0], secret(&tenants[0]));
    bad.extra_ca_pem = Some(b"not a certificate".to_vec());
    let err = GraphClient::new(bad).unwrap_err();
    assert!(err.to_string().contains("extra CA"), "{err}");
}

#[tokio::test]
async fn send_mail_is_accepted_and_retried_only_when_safe() {
    let sim = sim(SimConfig::default());
    let tenants = sim.tenants();
    let graph = client(&sim, 0);
    let sender = tenants[0].admin_upns.first().cloned().unwrap_or_else(|| tenants[0].break_glass_upn.clone());
    let mail = serde_json::json!({
        "message": {
            "subject": "m365-monitor test",
            "body": {"contentType": "Text", "content": "hello"},
            "toRecipients": [{"emailAddress": {"address": "soc@example.com"}}]
        },
        "saveToSentItems": false
    });
    let path = format!("/v1.0/users/{sender}/sendMail");
    let sent = graph.post_json(&path, &mail).await.expect("sendMail");
    assert_eq!(sent.status, 202);
    assert_eq!(sim.mail().len(), 1);

    // Throttled: not processed, so retried after Retry-After.
    sim.refuse_sendmail(Duration::from_millis(300), 429);
    assert_eq!(graph.post_json(&path, &mail).await.expect("sendMail after 429").status, 202);
    assert_eq!(sim.mail().len(), 2);
}
