//! The first end-to-end pipeline: graph-sim (the Microsoft side) → collector → JetStream →
//! detector → alert stream, all against the real NATS. graph-sim's attack scenarios must each
//! raise their alert, each once, with and without Graph's harsh failure modes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use m365mon_collector::{Collector, CollectorOptions, LogState, StatusBoard, TenantSpec};
use m365mon_contracts::{AlertEvent, RuleId, Settings};
use m365mon_detector::PartitionSet;
use m365mon_graph::Pacing;
use m365mon_graph_sim::faults::Latency;
use m365mon_graph_sim::{FaultConfig, FaultProfile, GraphSim, InjectedScenario, ScenarioRequest, SimConfig};
use m365mon_testkit::{TestBus, eventually};
use tokio_util::sync::CancellationToken;

/// The scenarios whose alert does not depend on the hour (after_hours) or on weeks of history
/// (new_country).
const SCENARIOS: [&str; 13] = [
    "password_spray",
    "brute_force",
    "mfa_fatigue",
    "impossible_travel",
    "legacy_auth",
    "risky_sign_in",
    "disabled_account",
    "role_assignment",
    "consent_grant",
    "sp_credential",
    "break_glass",
    "high_risk_country",
    "admin_sign_in",
];

fn tenant_spec(sim: &GraphSim, pacing: Pacing) -> TenantSpec {
    let tenant = &sim.tenants()[0];
    let mut graph = m365mon_testkit::graph_sim_client(sim, 0, None);
    graph.pacing = pacing;
    graph.retry = m365mon_testkit::quick_graph_retries();
    TenantSpec { tenant_id: tenant.tenant_id.clone(), name: Some(tenant.display_name.clone()), graph }
}

async fn wait_caught_up(status: &StatusBoard, tenant: &str, timeout: Duration) -> anyhow::Result<()> {
    let logs = ["interactive", "non_interactive", "service_principal", "managed_identity", "audit"];
    let started = Utc::now();
    eventually(timeout, "the collector to catch up", || {
        let done = logs.iter().all(|log| {
            status.get(tenant, log).is_some_and(|s| {
                s.state == LogState::Polling && s.last_completed_poll_started.is_some_and(|t| t > started)
            })
        });
        async move { done.then_some(()) }
    })
    .await
}

/// Alerts on the stream that cite any of `ids`, for `rule`: alert id → highest revision seen.
fn citing(alerts: &BTreeMap<String, (AlertEvent, usize)>, rule: RuleId, ids: &BTreeSet<&str>) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for (alert, _) in alerts.values() {
        if alert.rule == rule && alert.event_ids.iter().any(|e| ids.contains(e.as_str())) {
            let revision = out.entry(alert.id.clone()).or_insert(0);
            *revision = (*revision).max(alert.revision);
        }
    }
    out
}

async fn pipeline(faults: FaultConfig, harsh: bool) -> anyhow::Result<()> {
    m365mon_runtime::install_crypto_provider();
    let started = std::time::Instant::now();
    let history_days = if harsh { 0.5 } else { 1.0 };
    let sim = GraphSim::start(SimConfig { users: 30, history_days, faults, ..SimConfig::default() })?;
    let t = TestBus::new().await?;
    let mut settings = Settings::default();
    settings.collector.poll_interval_seconds = 10;
    settings.collector.backfill_days = 1;
    settings.collector.overlap_minutes = 30;
    settings.collector.directory_roles_sync_minutes = 1;
    if harsh {
        // Records that become visible hours late are found by the late sweep.
        settings.collector.late_sweep_interval_minutes = 1;
        settings.collector.late_sweep_hours = 6;
    }
    settings.break_glass_users = vec![sim.tenants()[0].break_glass_upn.clone()];
    // An attack on a user whose incident of the day is already open (administrators sign in
    // every day) joins it; the grown incident is republished, citing the attack, a minute of
    // event time later instead of an hour.
    settings.realert_minutes = 1;
    t.bus.put_settings(&settings).await?;

    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let pacing = if harsh { Pacing::Limit { requests: 4, per: Duration::from_secs(1) } } else { Pacing::Off };
    let spec = tenant_spec(&sim, pacing);
    let tenant = spec.tenant_id.clone();
    let options = CollectorOptions {
        backfill_slice: chrono::TimeDelta::hours(6),
        page_size: if harsh { 50 } else { 1000 },
        ..CollectorOptions::default()
    };
    let collector = Collector::new(t.bus.clone(), options, vec![spec])?;
    let status = collector.status();
    let stop_collector = CancellationToken::new();
    let collector_task = tokio::spawn(collector.run(stop_collector.clone()));

    // History first, and the directory roles (admin_sign_in needs them), then the attacks.
    wait_caught_up(&status, &tenant, Duration::from_secs(180)).await?;
    eprintln!("{:?}: the collector caught up", started.elapsed());
    let roles = t
        .bus
        .ensure_bucket(&t.namespace().directory_roles_bucket(), m365mon_bus::topology::BucketOptions::new("roles"))
        .await?;
    eventually(Duration::from_secs(120), "the directory roles in KV", || {
        let roles = roles.clone();
        let tenant = tenant.clone();
        async move { roles.get(&tenant).await.ok().flatten().map(|_| ()) }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await; // the detector's watch delivers them
    eprintln!("{:?}: directory roles synced; injecting the scenarios", started.elapsed());

    if harsh {
        // Every other harsh fault stays on, but the attack's records become visible at once:
        // under harsh ingestion latency some would stay invisible for up to six hours (the late
        // sweep finds those; the collector's own tests cover it), longer than a test can wait.
        sim.set_faults(FaultConfig { latency: Latency::None, ..sim.faults() }).map_err(anyhow::Error::msg)?;
    }
    let mut injected: Vec<InjectedScenario> = Vec::new();
    for name in SCENARIOS {
        injected.push(sim.inject(&ScenarioRequest::named(name))?);
    }

    let expectations: Vec<(&InjectedScenario, RuleId, BTreeSet<&str>)> = injected
        .iter()
        .map(|s| {
            let rule: RuleId = s.expected_rules[0].parse().expect("a rule id");
            let ids: BTreeSet<&str> = s.sign_in_ids.iter().chain(&s.audit_ids).map(String::as_str).collect();
            (s, rule, ids)
        })
        .collect();
    let alerts = eventually(Duration::from_secs(240), "an alert for every scenario", || {
        let bus = t.bus.clone();
        let expectations = &expectations;
        async move {
            let alerts = alerts_on_stream(&bus).await.ok()?;
            expectations.iter().all(|(_, rule, ids)| !citing(&alerts, *rule, ids).is_empty()).then_some(alerts)
        }
    })
    .await;
    eprintln!("{:?}: alerts looked for", started.elapsed());
    let alerts = match alerts {
        Ok(alerts) => alerts,
        Err(e) => {
            let alerts = alerts_on_stream(&t.bus).await?;
            let missing: Vec<&str> = expectations
                .iter()
                .filter(|(_, rule, ids)| citing(&alerts, *rule, ids).is_empty())
                .map(|(s, _, _)| s.name.as_str())
                .collect();
            for (scenario, _, _) in expectations.iter().filter(|(s, _, _)| missing.contains(&s.name.as_str())) {
                let theirs: Vec<String> = alerts
                    .values()
                    .filter(|(a, _)| a.user.is_some() && a.user == scenario.user)
                    .map(|(a, _)| format!("{} r{} {} {:?}", a.rule, a.revision, a.title, a.event_ids))
                    .collect();
                eprintln!(
                    "{} ({:?}, {:?}): alerts for that user: {theirs:#?}",
                    scenario.name, scenario.user, scenario.records
                );
            }
            anyhow::bail!("{e}: no alert for {missing:?}; detector: {:?}", detector.board.snapshot().tenants);
        }
    };

    for (scenario, rule, ids) in &expectations {
        let found = citing(&alerts, *rule, ids);
        let first: DateTime<Utc> = scenario.first.parse()?;
        let last: DateTime<Utc> = scenario.last.parse()?;
        // Incidents are per UTC day: a scenario across midnight may be two. Each sensitive
        // directory change is an incident of its own (a consent is two audit records).
        let days = if first.date_naive() == last.date_naive() { 1 } else { 2 };
        let allowed = if *rule == RuleId::SensitiveChange { scenario.audit_ids.len().max(1) } else { days };
        assert!(found.len() <= allowed, "{}: {} incidents for one attack: {found:?}", scenario.name, found.len());
    }
    report_fetch_to_alert(&t.bus, &alerts).await?;
    let doubled: Vec<&String> = alerts.iter().filter(|(_, (_, n))| *n > 1).map(|(id, _)| id).collect();
    assert!(doubled.is_empty(), "alert publications stored twice: {doubled:?}");
    let status = detector.board.snapshot();
    eprintln!(
        "pipeline (harsh: {harsh}): {} alerts on the stream; detector {:?}; graph-sim {}",
        alerts.len(),
        status.tenants.iter().map(|t| (t.records, t.alerts, t.late_records, t.dead_letters)).collect::<Vec<_>>(),
        sim.stats()
    );
    assert_eq!(status.tenants.iter().map(|t| t.dead_letters).sum::<u64>(), 0, "graph-sim's records are all readable");

    stop_collector.cancel();
    collector_task.await??;
    detector.stop().await?;
    Ok(())
}

/// Prints (does not assert) the time from the collector receiving a page from Graph to the alert
/// on the bus, for the alerts of records fetched after the history: for each first publication,
/// the record that triggered it is the cited record latest in the stream.
async fn report_fetch_to_alert(
    bus: &m365mon_bus::Bus,
    alerts: &BTreeMap<String, (AlertEvent, usize)>,
) -> anyhow::Result<()> {
    use async_nats::jetstream::consumer::pull;
    use futures::StreamExt;
    use m365mon_contracts::names::headers;
    let mut stream = bus.jetstream().get_stream(bus.namespace().events_stream()).await?;
    let total = stream.info().await?.state.messages;
    let consumer = stream.create_consumer(pull::OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    // record id → (stream sequence, received at)
    let mut records: BTreeMap<String, (u64, DateTime<Utc>)> = BTreeMap::new();
    for _ in 0..total {
        let Some(message) = tokio::time::timeout(Duration::from_secs(10), messages.next()).await?.transpose()? else {
            break;
        };
        let h = message.headers.clone().unwrap_or_default();
        let (Some(id), Some(received)) = (h.get(headers::RECORD_ID), h.get(headers::RECEIVED_AT)) else { continue };
        let Ok(received) = received.as_str().parse::<DateTime<Utc>>() else { continue };
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        records.entry(id.as_str().to_string()).or_insert((sequence, received));
    }
    let mut latencies: Vec<f64> = alerts
        .values()
        .filter(|(a, _)| a.revision == 0)
        .filter_map(|(a, _)| {
            let trigger = a.event_ids.iter().filter_map(|id| records.get(id)).max_by_key(|(sequence, _)| *sequence)?;
            Some((a.created_at - trigger.1).num_microseconds()? as f64 / 1000.0)
        })
        .filter(|ms| *ms >= 0.0 && *ms < 60_000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    if let (Some(first), Some(last)) = (latencies.first(), latencies.last()) {
        let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        eprintln!(
            "fetched by the collector -> alert on the bus, {} first publications: min {first:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {last:.1} ms",
            latencies.len(),
            p(0.5),
            p(0.99)
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_sim_scenarios_reach_the_alert_stream_each_once() -> anyhow::Result<()> {
    pipeline(FaultConfig::default(), false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_sim_scenarios_reach_the_alert_stream_each_once_under_harsh_faults() -> anyhow::Result<()> {
    // Graph's throttle on a one-second window (instead of ten) keeps the test short.
    let faults = FaultConfig {
        throttle_window_seconds: 1.0,
        storm_retry_after_max_seconds: 2.0,
        ..FaultConfig::profile(FaultProfile::Harsh)
    };
    pipeline(faults, true).await
}
