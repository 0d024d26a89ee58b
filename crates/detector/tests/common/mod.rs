//! Test support: sign-in records written from Graph's documented `signIn` schema, publishing
//! them the way the collector does, running detectors, and reading the alert stream back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use m365mon_bus::{Bus, StreamLimits};
use m365mon_contracts::names::headers;
use m365mon_contracts::{AlertEvent, Settings};
use m365mon_detector::{Board, Detector, DetectorConfig, PartitionSet};
use m365mon_rules::Engine;
use m365mon_rules::synth::{Generator, SynthOptions};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A sign-in record as Graph v1.0 returns it: successful, interactive, from Berlin.
pub fn signin(id: &str, at: DateTime<Utc>, user: &str) -> Value {
    json!({
        "id": id,
        "createdDateTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "userPrincipalName": user,
        "userId": format!("oid-{user}"),
        "appDisplayName": "Office 365 Exchange Online",
        "ipAddress": "85.214.10.7",
        "clientAppUsed": "Browser",
        "isInteractive": true,
        "correlationId": format!("corr-{id}"),
        "userAgent": "Mozilla/5.0",
        "status": {"errorCode": 0, "failureReason": "Other.", "additionalDetails": null},
        "location": {"city": "Berlin", "state": "Berlin", "countryOrRegion": "DE",
                     "geoCoordinates": {"latitude": 52.52, "longitude": 13.405}},
    })
}

/// The same sign-in failed with a wrong password (50126).
pub fn failed(mut record: Value) -> Value {
    record["status"] = json!({"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username or password."});
    record
}

pub fn t(text: &str) -> DateTime<Utc> {
    text.parse().expect("test time")
}

/// A workload of `per_tenant` sign-ins for each tenant, interleaved round-robin: synthetic
/// background traffic (few users, so incidents grow and are re-published) with a brute force
/// every 250 records and a password spray every 900.
pub fn workload(tenants: &[String], per_tenant: usize, seed: u64) -> Vec<(String, Value)> {
    let mut per: Vec<Vec<Value>> = Vec::new();
    for (n, tenant) in tenants.iter().enumerate() {
        let mut generator = Generator::new(SynthOptions {
            seed: seed + n as u64,
            users: 40,
            start: t("2026-03-02T06:00:00Z"),
            step: Duration::from_secs(4),
            tenant: tenant.clone(),
        });
        let mut records = Vec::with_capacity(per_tenant);
        let mut i = 0usize;
        while records.len() < per_tenant {
            let mut record = generator.next_json();
            let at: DateTime<Utc> = record["createdDateTime"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default();
            if i % 250 == 100 {
                // Brute force on one user: six failures within a minute and a half.
                for k in 0..6 {
                    let id = format!("{tenant}-bf-{i}-{k}");
                    let r = failed(signin(
                        &id,
                        at + chrono::Duration::seconds(15 * k),
                        &format!("victim{}@contoso.com", i % 3),
                    ));
                    records.push(r);
                }
            }
            if i % 900 == 400 {
                for k in 0..12 {
                    let id = format!("{tenant}-spray-{i}-{k}");
                    let mut r =
                        failed(signin(&id, at + chrono::Duration::seconds(20 * k), &format!("user{k:06}@contoso.com")));
                    r["ipAddress"] = json!("185.220.101.66");
                    records.push(r);
                }
            }
            record["id"] = json!(format!("{tenant}-{i}"));
            records.push(record);
            i += 1;
        }
        records.truncate(per_tenant);
        per.push(records);
    }
    let mut out = Vec::with_capacity(tenants.len() * per_tenant);
    let mut iters: Vec<_> = per.into_iter().map(Vec::into_iter).collect();
    for _ in 0..per_tenant {
        for (tenant, records) in tenants.iter().zip(iters.iter_mut()) {
            if let Some(record) = records.next() {
                out.push((tenant.clone(), record));
            }
        }
    }
    out
}

/// Publishes a record as the collector does; returns its stream sequence.
pub async fn publish_record(bus: &Bus, tenant: &str, record: &Value) -> anyhow::Result<u64> {
    publish_raw(bus, tenant, "signin", record["id"].as_str().unwrap_or("no-id"), "new", serde_json::to_vec(record)?)
        .await
}

pub async fn publish_raw(
    bus: &Bus,
    tenant: &str,
    kind: &str,
    message_id: &str,
    change: &str,
    payload: Vec<u8>,
) -> anyhow::Result<u64> {
    let subject = bus.namespace().event_subject(kind, tenant)?;
    let mut h = HeaderMap::new();
    h.insert(headers::TENANT, tenant);
    h.insert(headers::KIND, kind);
    h.insert(headers::RECORD_ID, message_id);
    h.insert(headers::CHANGE, change);
    h.insert(headers::RECEIVED_AT, Utc::now().to_rfc3339().as_str());
    let published = bus.publish(subject, message_id, h, Bytes::from(payload), Duration::from_secs(30)).await?;
    Ok(published.sequence)
}

/// What one uninterrupted engine run over the records gives: message id → alert event.
pub fn reference(records: &[(String, Value)], settings: &Settings) -> BTreeMap<String, AlertEvent> {
    let mut engine = Engine::new(settings.clone());
    let mut out = BTreeMap::new();
    for (tenant, record) in records {
        let Ok(parsed) = serde_json::from_value::<m365mon_model::Record>(record.clone()) else { continue };
        for alert in engine.observe(tenant, &parsed) {
            out.insert(alert.message_id(), alert);
        }
    }
    out
}

/// Every alert event on the alert stream: message id → (event, how many times it is there).
pub async fn alerts_on_stream(bus: &Bus) -> anyhow::Result<BTreeMap<String, (AlertEvent, usize)>> {
    let stream = bus.ensure_alerts_stream(StreamLimits::ALERTS).await?;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: bus.namespace().alerts_filter(),
            ..Default::default()
        })
        .await?;
    let mut stream = stream;
    let total = stream.info().await?.state.messages;
    let mut out: BTreeMap<String, (AlertEvent, usize)> = BTreeMap::new();
    if total == 0 {
        return Ok(out);
    }
    let mut messages = consumer.messages().await?;
    let mut seen = 0;
    while seen < total {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("alert stream read timed out after {seen} of {total}"))?
            .ok_or_else(|| anyhow::anyhow!("alert stream ended"))??;
        seen += 1;
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::MSG_ID))
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        let alert: AlertEvent = serde_json::from_slice(&message.payload)?;
        assert_eq!(id, alert.message_id(), "Nats-Msg-Id is the alert's message id");
        let expected_subject = bus.namespace().alert_subject(alert.severity, alert.rule, &alert.tenant)?;
        assert_eq!(message.subject.as_str(), expected_subject);
        out.entry(id).and_modify(|e| e.1 += 1).or_insert((alert, 1));
    }
    Ok(out)
}

/// Asserts the alert stream holds exactly the reference alerts, each once, with the same
/// content (`created_at` aside: it is processing time).
pub fn assert_same_alerts(on_stream: &BTreeMap<String, (AlertEvent, usize)>, expected: &BTreeMap<String, AlertEvent>) {
    let doubled: Vec<&String> = on_stream.iter().filter(|(_, (_, n))| *n > 1).map(|(id, _)| id).collect();
    assert!(doubled.is_empty(), "alerts published more than once: {doubled:?}");
    let missing: Vec<&String> = expected.keys().filter(|id| !on_stream.contains_key(*id)).collect();
    let extra: Vec<&String> = on_stream.keys().filter(|id| !expected.contains_key(*id)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "alert sets differ: {} missing {:?}…, {} extra {:?}…",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(5).collect::<Vec<_>>()
    );
    for (id, want) in expected {
        let mut got = on_stream[id].0.clone();
        got.created_at = want.created_at;
        assert_eq!(&got, want, "alert {id} differs");
    }
}

/// A detector running in this process.
pub struct Running {
    pub board: Board,
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

/// Fast timings for tests; idle advancing off so results compare with the reference run.
pub fn test_config(partitions: PartitionSet) -> DetectorConfig {
    let mut config = DetectorConfig::new(partitions);
    config.discovery_interval = Duration::from_millis(200);
    config.snapshot_interval = Duration::from_millis(500);
    config.idle_advance_after = Duration::from_secs(3600);
    config.lease_ttl = Duration::from_secs(3);
    config.shutdown_grace = Duration::from_secs(20);
    config
}

pub async fn start_detector(bus: &Bus, config: DetectorConfig) -> anyhow::Result<Running> {
    let detector = Detector::start(bus.clone(), config).await?;
    let board = detector.board();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(async move {
        if let Err(e) = detector.run_until_stopped(token).await {
            panic!("detector failed: {e}");
        }
    });
    Ok(Running { board, stop, handle })
}

impl Running {
    /// Graceful stop: final snapshots, leases released.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle).await??;
        Ok(())
    }

    /// The position the detector reached for `tenant`.
    pub fn position(&self, tenant: &str) -> u64 {
        self.board.snapshot().tenants.iter().find(|t| t.tenant == tenant).map_or(0, |t| t.position)
    }
}

/// The last stream sequence of each tenant in a list of (tenant, sequence) publications.
pub fn last_sequences(published: &[(String, u64)]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (tenant, sequence) in published {
        let e = out.entry(tenant.clone()).or_insert(0);
        *e = (*e).max(*sequence);
    }
    out
}

/// Waits until the detectors together have processed every tenant up to its last sequence.
pub async fn wait_processed(
    detectors: &[&Running],
    last: &BTreeMap<String, u64>,
    timeout: Duration,
) -> anyhow::Result<()> {
    m365mon_testkit::eventually(timeout, "the detectors to process every record", || {
        let done = last.iter().all(|(tenant, seq)| detectors.iter().any(|d| d.position(tenant) >= *seq));
        async move { done.then_some(()) }
    })
    .await
}
