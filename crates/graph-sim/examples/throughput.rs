//! Serving throughput: starts the simulator in-process (no faults, throttle off, ledger on) and
//! pages through every sign-in kind and the audits of the whole history with `$top=1000`, as a
//! backfilling collector would, then prints records/s, MB/s and the process's peak memory.
//!
//! `cargo run --release -p m365mon-graph-sim --example throughput -- [USERS] [HISTORY_DAYS]`

use std::time::Instant;

use m365mon_graph_sim::{GraphSim, SimConfig};
use serde_json::Value;

#[derive(serde::Deserialize)]
struct PageShape {
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    value: Vec<serde::de::IgnoredAny>,
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3000);
    let days: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(7.0);
    let started = Instant::now();
    let sim = GraphSim::start(SimConfig { users, history_days: days, ..SimConfig::default() })?;
    println!("started in {:.2?} ({users} users, {days} days)", started.elapsed());
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sim.ca_pem().as_bytes())?)
        .build()?;
    let tenant = sim.tenants()[0].clone();
    let token: Value = client
        .post(&tenant.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", tenant.apps[0].client_id.as_str()),
            ("client_secret", tenant.apps[0].client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"].as_str().ok_or("no token")?.to_string();
    let base = sim.base_url().to_string();
    let logs = [
        format!("{base}/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'interactiveUser')"),
        format!("{base}/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'nonInteractiveUser')"),
        format!("{base}/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t ne 'interactiveUser' and t ne 'nonInteractiveUser')")
            .replace(" and t ne 'nonInteractiveUser'", ""),
        format!("{base}/v1.0/auditLogs/directoryAudits"),
    ];
    let t0 = Instant::now();
    let (mut records, mut bytes, mut pages) = (0usize, 0usize, 0usize);
    for first in logs.iter() {
        let mut next = Some(first.clone());
        while let Some(url) = next {
            let body = client.get(&url).bearer_auth(&token).send().await?.error_for_status()?.bytes().await?;
            bytes += body.len();
            pages += 1;
            // Count records without building them: this measures the simulator, not JSON trees.
            let page: PageShape = serde_json::from_slice(&body)?;
            records += page.value.len();
            next = page.next_link;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "served {records} records in {pages} pages, {:.1} MB, in {secs:.1} s: {:.0} records/s, {:.1} MB/s; peak RSS {:.0} MB (simulator and client together)",
        bytes as f64 / 1e6,
        records as f64 / secs,
        bytes as f64 / 1e6 / secs,
        peak_rss_mb()
    );
    sim.shutdown();
    Ok(())
}
