//! Test support: graph-sim tenants as collector tenants, reading the events stream back, and the
//! exactly-once comparison against graph-sim's ledger of what it served.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use m365mon_bus::Bus;
use m365mon_collector::{LogState, StatusBoard, TenantSpec};
use m365mon_contracts::Settings;
use m365mon_contracts::names::headers;
use m365mon_graph::Pacing;
use m365mon_graph_sim::{GraphSim, LedgerRecord, LogKind as SimLog};

pub fn install_crypto() {
    m365mon_runtime::install_crypto_provider();
}

/// A collector tenant for graph-sim's tenant `index`, with the app's secret (or another).
pub fn tenant_spec(sim: &GraphSim, index: usize, secret: Option<&str>, pacing: Pacing) -> TenantSpec {
    let tenant = &sim.tenants()[index];
    let mut graph = m365mon_testkit::graph_sim_client(sim, index, secret);
    graph.pacing = pacing;
    graph.retry = m365mon_testkit::quick_graph_retries();
    graph.auth_failure_cooldown = Duration::from_secs(2);
    TenantSpec { tenant_id: tenant.tenant_id.clone(), name: Some(tenant.display_name.clone()), graph }
}

/// Stops further polls for an hour and waits until every log of `tenant` sleeps: graph-sim's
/// ledger and the stream can then be compared without a poll in flight.
pub async fn quiesce(bus: &Bus, status: &StatusBoard, tenant: &str, mut settings: Settings) {
    settings.collector.poll_interval_seconds = 3600;
    settings.collector.late_sweep_interval_minutes = 0;
    bus.put_settings(&settings).await.expect("settings");
    let logs = ["interactive", "non_interactive", "service_principal", "managed_identity", "audit"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let asleep = logs.iter().all(|log| {
            status.get(tenant, log).is_some_and(|s| {
                s.state == LogState::Polling
                    && s.next_poll.is_some_and(|n| n > Utc::now() + chrono::TimeDelta::minutes(30))
            })
        });
        if asleep {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the collector did not settle into the hourly poll");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Settings for tests: frequent polls, a short backfill.
pub fn settings(backfill_days: u32, overlap_minutes: u32) -> Settings {
    let mut settings = Settings::default();
    settings.collector.poll_interval_seconds = 10;
    settings.collector.backfill_days = backfill_days;
    settings.collector.overlap_minutes = overlap_minutes;
    settings.collector.directory_roles_sync_minutes = 1;
    settings
}

/// One message of the events stream.
#[derive(Debug, Clone)]
pub struct Event {
    pub subject: String,
    pub msg_id: String,
    pub record_id: String,
    pub change: String,
    pub version: String,
    pub tenant: String,
    pub kind: String,
    pub event_type: Option<String>,
    pub payload: serde_json::Value,
}

/// Every message of the events stream, in stream order.
pub async fn events(bus: &Bus) -> Vec<Event> {
    let mut stream = bus.jetstream().get_stream(bus.namespace().events_stream()).await.expect("events stream");
    let total = stream.info().await.expect("stream info").state.messages;
    if total == 0 {
        return Vec::new();
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig { deliver_policy: DeliverPolicy::All, ..Default::default() })
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::with_capacity(total as usize);
    while (out.len() as u64) < total {
        let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .expect("stream read timed out")
            .expect("stream ended")
            .expect("message");
        let h = message.headers.clone().unwrap_or_default();
        let get = |name: &str| h.get(name).map(|v| v.as_str().to_string());
        out.push(Event {
            subject: message.subject.to_string(),
            msg_id: get(headers::MSG_ID).unwrap_or_default(),
            record_id: get(headers::RECORD_ID).unwrap_or_default(),
            change: get(headers::CHANGE).unwrap_or_default(),
            version: get(headers::CONTENT_VERSION).unwrap_or_default(),
            tenant: get(headers::TENANT).unwrap_or_default(),
            kind: get(headers::KIND).unwrap_or_default(),
            event_type: get(headers::SIGNIN_EVENT_TYPE),
            payload: serde_json::from_slice(&message.payload).expect("payload is the record's JSON"),
        });
    }
    out
}

/// The collector's log name of a graph-sim log.
pub fn log_name(kind: SimLog) -> &'static str {
    match kind {
        SimLog::InteractiveUser => "interactive",
        SimLog::NonInteractiveUser => "non_interactive",
        SimLog::ServicePrincipal => "service_principal",
        SimLog::ManagedIdentity => "managed_identity",
        SimLog::DirectoryAudit => "audit",
    }
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Comparison {
    pub served: usize,
    pub new_messages: usize,
    pub updates: usize,
    pub expected_updates: usize,
}

/// Checks exactly-once for one tenant: the records published as new are exactly the records
/// graph-sim served, each once; an update was published exactly for each record graph-sim served
/// in two versions; payloads are the records, headers agree with them.
pub fn assert_exactly_once(events: &[Event], ledger: &[LedgerRecord], tenant: &str) -> Comparison {
    let mine: Vec<&Event> = events.iter().filter(|e| e.tenant == tenant).collect();
    let mut new_by_id: BTreeMap<&str, usize> = BTreeMap::new();
    let mut updates_by_id: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in &mine {
        assert_eq!(e.payload["id"].as_str(), Some(e.record_id.as_str()), "payload and header disagree: {e:?}");
        assert!(e.subject.ends_with(&format!(".{tenant}")), "{}", e.subject);
        match e.change.as_str() {
            "new" => {
                assert_eq!(e.msg_id, e.record_id, "a new record's message id is its record id");
                *new_by_id.entry(&e.record_id).or_default() += 1;
            }
            "update" => {
                assert_eq!(e.msg_id, format!("{}:{}", e.record_id, e.version));
                updates_by_id.entry(&e.record_id).or_default().push(e);
            }
            other => panic!("unknown change header {other:?}"),
        }
    }
    let doubled: Vec<_> = new_by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "records published twice as new: {doubled:?}");

    let served: BTreeSet<&str> = ledger.iter().map(|r| r.id.as_str()).collect();
    let published: BTreeSet<&str> = new_by_id.keys().copied().collect();
    let lost: Vec<_> = served.difference(&published).take(10).collect();
    let invented: Vec<_> = published.difference(&served).take(10).collect();
    assert!(
        lost.is_empty() && invented.is_empty(),
        "served {} records, published {}: lost {lost:?}…, never served {invented:?}…",
        served.len(),
        published.len()
    );

    let mut expected_updates = 0;
    for record in ledger {
        let two_versions = record.versions.len() > 1;
        let updates = updates_by_id.get(record.id.as_str()).map_or(0, Vec::len);
        if two_versions {
            expected_updates += 1;
            assert_eq!(updates, 1, "record {} was served in two versions: expected one update", record.id);
        } else {
            assert_eq!(updates, 0, "record {} was served in one version but updated {updates} times", record.id);
        }
    }
    for (id, updates) in &updates_by_id {
        let first = mine.iter().find(|e| e.record_id == *id && e.change == "new").expect("an update follows a new");
        for u in updates {
            assert_ne!(u.version, first.version, "an update must carry another content version");
        }
    }
    Comparison {
        served: served.len(),
        new_messages: published.len(),
        updates: updates_by_id.values().map(Vec::len).sum(),
        expected_updates,
    }
}

/// Waits until every log of `tenant` has completed a poll (window and late sweep) that started
/// after `after` and is up to date.
pub async fn wait_caught_up(status: &StatusBoard, tenant: &str, after: DateTime<Utc>, timeout: Duration) {
    let logs = ["interactive", "non_interactive", "service_principal", "managed_identity", "audit"];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let done = logs.iter().all(|log| {
            status.get(tenant, log).is_some_and(|s| {
                s.state == LogState::Polling && s.last_completed_poll_started.is_some_and(|t| t > after)
            })
        });
        if done {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let states: Vec<_> = logs.iter().map(|l| (l, status.get(tenant, l))).collect();
            panic!("tenant {tenant} did not catch up within {timeout:?}: {states:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
