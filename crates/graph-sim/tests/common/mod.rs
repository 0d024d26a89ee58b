//! Test helpers: an HTTP client that trusts the simulator's CA, token requests, and a Graph
//! client that follows the documentation (follow @odata.nextLink verbatim, honour Retry-After,
//! back off on 5xx and resets, refresh the token on 401, restart the query when a skip token
//! has expired, de-duplicate by id).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use m365mon_graph_sim::{GraphSim, TenantInfo};
use serde_json::Value;

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn http_client(sim: &GraphSim) -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA PEM"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// The shared datasets folder, or `None` (with a notice) when it is not there.
pub fn datasets() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/datasets not found");
        None
    }
}

pub async fn token(client: &reqwest::Client, sim: &GraphSim, tenant: &TenantInfo) -> String {
    let app = &tenant.apps[0];
    let response = client
        .post(format!("{}/{}/oauth2/v2.0/token", sim.base_url(), tenant.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("token JSON");
    body["access_token"].as_str().expect("access_token").to_string()
}

/// What the docs-following client saw.
#[derive(Debug, Default)]
pub struct Collected {
    /// id → the last version of the record.
    pub records: BTreeMap<String, Value>,
    /// Records received including duplicates.
    pub received: usize,
    pub requests: usize,
    pub throttled: usize,
    pub retried_errors: usize,
    pub restarts: usize,
    pub token_refreshes: usize,
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// Reads every page of `first_url` the way Microsoft's paging guidance says.
pub async fn collect(client: &reqwest::Client, sim: &GraphSim, tenant: &TenantInfo, first_url: &str) -> Collected {
    let mut out = Collected::default();
    let mut token = token(client, sim, tenant).await;
    let mut next = first_url.to_string();
    let mut backoff = Duration::from_millis(50);
    let mut attempts_on_link = 0;
    loop {
        assert!(out.requests < 5000, "too many requests: the client is stuck");
        out.requests += 1;
        let sent = client.get(&next).bearer_auth(&token).send().await;
        let response = match sent {
            Ok(r) => r,
            Err(_) => {
                out.retried_errors += 1;
                attempts_on_link += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await;
        match (status, body) {
            (200, Ok(bytes)) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(page) => {
                    backoff = Duration::from_millis(50);
                    attempts_on_link = 0;
                    for record in page["value"].as_array().expect("value array") {
                        out.received += 1;
                        let id = record["id"].as_str().expect("id").to_string();
                        out.records.insert(id, record.clone());
                    }
                    match page.get("@odata.nextLink").and_then(Value::as_str) {
                        Some(link) => next = link.to_string(),
                        None => return out,
                    }
                }
                Err(_) => {
                    out.retried_errors += 1;
                    tokio::time::sleep(backoff).await;
                }
            },
            (200, Err(_)) => {
                out.retried_errors += 1;
                tokio::time::sleep(backoff).await;
            }
            (429, _) => {
                out.throttled += 1;
                let wait = retry_after(&headers).unwrap_or(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                tokio::time::sleep(wait).await;
            }
            (401, _) => {
                out.token_refreshes += 1;
                token = self::token(client, sim, tenant).await;
            }
            (400, Ok(bytes)) if String::from_utf8_lossy(&bytes).contains("Directory_ExpiredPageToken") => {
                // The docs: restart the query; de-duplication by id keeps the result exact.
                out.restarts += 1;
                next = first_url.to_string();
            }
            (500..=599, _) => {
                out.retried_errors += 1;
                attempts_on_link += 1;
                let wait = retry_after(&headers).map(|d| d.min(Duration::from_millis(500))).unwrap_or(backoff);
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            (other, body) => panic!(
                "unexpected {other} for {next}: {}",
                body.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
            ),
        }
        assert!(attempts_on_link < 50, "the same link failed 50 times");
    }
}

/// Every record of every page of `url` (no faults configured: no retries needed).
pub async fn all_pages(client: &reqwest::Client, url: String, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(url);
    while let Some(url) = next.take() {
        let response = client.get(&url).bearer_auth(token).send().await.expect("send");
        assert_eq!(response.status(), 200, "{url}");
        let page: Value = response.json().await.expect("json");
        out.extend(page["value"].as_array().expect("value").iter().cloned());
        next = page.get("@odata.nextLink").and_then(Value::as_str).map(str::to_string);
    }
    out
}
