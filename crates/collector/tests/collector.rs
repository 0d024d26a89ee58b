//! The collector against graph-sim and the real NATS: exactly once under faults, late and changed
//! records, tokens that expire while paging, a failing tenant beside a healthy one.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{assert_exactly_once, events, install_crypto, quiesce, settings, tenant_spec, wait_caught_up};
use m365mon_collector::{Collector, CollectorOptions, LogState};
use m365mon_graph::Pacing;
use m365mon_graph_sim::time::{TICKS_PER_MINUTE, from_datetime};
use m365mon_graph_sim::{FaultConfig, FaultProfile, GraphSim, Latency, LogKind as SimLog, SimConfig};
use m365mon_testkit::TestBus;
use tokio_util::sync::CancellationToken;

fn options(slice_hours: i64, page_size: u32) -> CollectorOptions {
    CollectorOptions { backfill_slice: TimeDelta::hours(slice_hours), page_size, ..CollectorOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harsh_faults_every_served_record_exactly_once() -> anyhow::Result<()> {
    install_crypto();
    // Graph's throttle on a one-second window (instead of ten) keeps the test short.
    // Stale skip tokens five times as often as in the profile, so a short run meets them.
    let faults = FaultConfig {
        throttle_window_seconds: 1.0,
        storm_retry_after_max_seconds: 2.0,
        stale_skiptokens: 0.1,
        ..FaultConfig::profile(FaultProfile::Harsh)
    };
    let sim = GraphSim::start(SimConfig {
        users: 30,
        history_days: 1.5,
        faults,
        token_lifetime: Duration::from_secs(30),
        ..SimConfig::default()
    })?;
    let t = TestBus::new().await?;
    let settings = settings(1, 30);
    t.bus.put_settings(&settings).await?;
    let spec = tenant_spec(&sim, 0, None, Pacing::Limit { requests: 4, per: Duration::from_secs(1) });
    let tenant = spec.tenant_id.clone();
    let collector = Collector::new(t.bus.clone(), options(2, 40), vec![spec])?;
    let status = collector.status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(shutdown.clone()));

    wait_caught_up(&status, &tenant, Utc::now(), Duration::from_secs(240)).await;
    quiesce(&t.bus, &status, &tenant, settings).await;

    let events = events(&t.bus).await;
    let ledger = sim.ledger(0);
    let comparison = assert_exactly_once(&events, &ledger, &tenant);
    let stats = sim.stats();
    eprintln!("harsh: {comparison:?}; graph-sim faults {}; throttled {}", stats["faults_injected"], stats["throttled"]);
    assert!(comparison.served > 1_000, "{comparison:?}");
    for log in ["interactive", "non_interactive", "service_principal", "managed_identity", "audit"] {
        let s = status.get(&tenant, log).expect("status");
        assert!(s.records_published > 0, "{log}: nothing published");
    }
    let injected: u64 =
        stats["faults_injected"].as_object().map(|o| o.values().filter_map(|v| v.as_u64()).sum()).unwrap_or(0);
    assert!(injected > 10, "the harsh profile should have hit the collector: {stats}");
    for fault in ["server_error", "truncate_body", "duplicate", "random_throttle", "stale_skiptoken"] {
        assert!(stats["faults_injected"][fault].as_u64().unwrap_or(0) > 0, "no {fault} was injected: {stats}");
    }
    // Every kind of record went to its subject with its headers.
    assert!(events.iter().any(|e| e.kind == "audit" && e.subject.contains(".events.audit.") && e.event_type.is_none()));
    assert!(events.iter().any(|e| e.event_type.as_deref() == Some("managedIdentity") && e.kind == "signin"));

    shutdown.cancel();
    task.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_changed_records_are_caught_by_the_late_sweep() -> anyhow::Result<()> {
    install_crypto();
    // Records become visible up to six hours late, and every MFA sign-in changes after it was first
    // visible; no other faults.
    let faults = FaultConfig { latency: Latency::Harsh, late_changes: 1.0, ..FaultConfig::default() };
    let sim = GraphSim::start(SimConfig { users: 30, history_days: 1.0, faults, ..SimConfig::default() })?;
    let t = TestBus::new().await?;
    let mut settings = settings(1, 10);
    settings.collector.late_sweep_interval_minutes = 1;
    settings.collector.late_sweep_hours = 6;
    t.bus.put_settings(&settings).await?;
    let spec = tenant_spec(&sim, 0, None, Pacing::Off);
    let tenant = spec.tenant_id.clone();
    let collector = Collector::new(t.bus.clone(), options(6, 200), vec![spec])?;
    let status = collector.status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(shutdown.clone()));
    wait_caught_up(&status, &tenant, Utc::now(), Duration::from_secs(120)).await;
    let before = events(&t.bus).await.len();

    // Three hours pass in the simulator: late records appear below the overlap, MFA details arrive.
    sim.advance_clock(Duration::from_secs(3 * 3600));
    let advanced = Utc::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        let swept = ["interactive", "non_interactive", "audit"].iter().all(|log| {
            status.get(&tenant, log).is_some_and(|s| {
                s.last_sweep.is_some_and(|t| t > advanced)
                    && s.last_completed_poll_started.is_some_and(|p| s.last_sweep.is_some_and(|t| t > p))
            })
        });
        if swept {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no late sweep ran after the clock moved");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    quiesce(&t.bus, &status, &tenant, settings).await;

    let events = events(&t.bus).await;
    let comparison = assert_exactly_once(&events, &sim.ledger(0), &tenant);
    eprintln!("late: {comparison:?}; {} messages before the clock moved, {} after", before, events.len());
    assert!(comparison.updates > 0, "MFA details arriving later must produce updates: {comparison:?}");

    // Nothing visible in the swept range is missing: everything Graph shows now from six hours
    // before the checkpoint on was collected.
    let published: std::collections::BTreeSet<&str> =
        events.iter().filter(|e| e.change == "new").map(|e| e.record_id.as_str()).collect();
    let from = from_datetime(Utc::now()) - 5 * 60 * TICKS_PER_MINUTE;
    let to = from_datetime(Utc::now()) - 15 * TICKS_PER_MINUTE;
    let mut checked = 0;
    for kind in [SimLog::InteractiveUser, SimLog::NonInteractiveUser, SimLog::DirectoryAudit] {
        for id in sim.visible_ids(0, kind, from, to) {
            assert!(published.contains(id.as_str()), "{kind:?} record {id} is visible but was not collected");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
    let all = ["interactive", "non_interactive", "service_principal", "managed_identity", "audit"];
    let statuses: Vec<_> = all.iter().filter_map(|log| status.get(&tenant, log)).collect();
    let published: u64 = statuses.iter().map(|s| s.records_published).sum();
    let updated: u64 = statuses.iter().map(|s| s.records_updated).sum();
    let late: u64 = statuses.iter().map(|s| s.late_records).sum();
    assert_eq!(published as usize, comparison.new_messages, "status counts every new record");
    assert_eq!(updated as usize, comparison.updates, "status counts every update");
    eprintln!("records only the late sweep found: {late}");
    assert!(late > 0, "the late sweep should have found records shown hours late or changed below the overlap");

    shutdown.cancel();
    task.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_and_revoked_while_paging() -> anyhow::Result<()> {
    install_crypto();
    let sim = GraphSim::start(SimConfig {
        users: 40,
        history_days: 2.0,
        token_lifetime: Duration::from_secs(3),
        faults: FaultConfig { response_delay_ms: [5, 20], ..FaultConfig::default() },
        ..SimConfig::default()
    })?;
    let t = TestBus::new().await?;
    let settings = settings(2, 30);
    t.bus.put_settings(&settings).await?;
    let spec = tenant_spec(&sim, 0, None, Pacing::Off);
    let tenant = spec.tenant_id.clone();
    let collector = Collector::new(t.bus.clone(), options(3, 100), vec![spec])?;
    let status = collector.status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(shutdown.clone()));
    // Revoke every token a few times while the backfill pages.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        sim.revoke_tokens();
    }
    wait_caught_up(&status, &tenant, Utc::now(), Duration::from_secs(180)).await;
    quiesce(&t.bus, &status, &tenant, settings).await;

    let comparison = assert_exactly_once(&events(&t.bus).await, &sim.ledger(0), &tenant);
    let stats = sim.stats();
    eprintln!("tokens: {comparison:?}; issued {}; by status {}", stats["tokens_issued"], stats["requests_by_status"]);
    assert!(stats["tokens_issued"].as_u64().unwrap_or(0) >= 4, "{stats}");
    assert!(stats["requests_by_status"]["401"].as_u64().unwrap_or(0) >= 1, "a revoked token should have met a 401");
    shutdown.cancel();
    task.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_a_wrong_secret_does_not_stall_a_healthy_one() -> anyhow::Result<()> {
    install_crypto();
    let sim = GraphSim::start(SimConfig { users: 20, tenants: 2, history_days: 1.0, ..SimConfig::default() })?;
    let t = TestBus::new().await?;
    let settings = settings(1, 30);
    t.bus.put_settings(&settings).await?;
    let healthy = tenant_spec(&sim, 0, None, Pacing::Off);
    let broken = tenant_spec(&sim, 1, Some("wrong-secret"), Pacing::Off);
    let (healthy_id, broken_id) = (healthy.tenant_id.clone(), broken.tenant_id.clone());
    let collector = Collector::new(t.bus.clone(), options(6, 1000), vec![broken, healthy])?;
    let status = collector.status();
    let shutdown = CancellationToken::new();
    let serve = tokio::spawn(m365mon_collector::serve(collector, None, shutdown.clone()));

    wait_caught_up(&status, &healthy_id, Utc::now(), Duration::from_secs(120)).await;
    quiesce(&t.bus, &status, &healthy_id, settings).await;
    let events = events(&t.bus).await;
    let comparison = assert_exactly_once(&events, &sim.ledger(0), &healthy_id);
    assert!(comparison.served > 100);
    assert!(events.iter().all(|e| e.tenant == healthy_id), "nothing can come from the broken tenant");

    // The broken tenant shows the identity platform's error, classed fatal, on every log.
    for log in ["interactive", "audit", "directory_roles"] {
        let s = status.get(&broken_id, log).expect("status");
        assert_eq!(s.state, LogState::Error, "{log}");
        let error = s.last_error.expect("an error");
        assert_eq!(error.code.as_deref(), Some("AADSTS7000215"), "{log}: {error:?}");
        assert_eq!(error.class, "fatal");
        assert!(error.message.contains("Invalid client secret"), "{}", error.message);
    }
    // … and so does the NATS service status endpoint.
    let reply = t.bus.client().request(m365mon_bus::service::status_subject(&t.bus, "collector"), "".into()).await?;
    let document: serde_json::Value = serde_json::from_slice(&reply.payload)?;
    let tenants = document["tenants"].as_array().expect("tenants");
    let broken_status = tenants.iter().find(|t| t["tenant"] == broken_id.as_str()).expect("broken tenant listed");
    assert_eq!(broken_status["healthy"], false);
    assert_eq!(broken_status["logs"]["interactive"]["last_error"]["code"], "AADSTS7000215");
    let healthy_status = tenants.iter().find(|t| t["tenant"] == healthy_id.as_str()).expect("healthy tenant listed");
    assert_eq!(healthy_status["healthy"], true, "{healthy_status}");
    assert!(healthy_status["logs"]["interactive"]["lag_seconds"].as_i64().is_some());

    // The healthy tenant's directory roles are in KV for the detector.
    let roles = t.bus.jetstream().get_key_value(t.bus.namespace().directory_roles_bucket()).await?;
    let entry = roles.get(&healthy_id).await?.expect("directory roles of the healthy tenant");
    let document: m365mon_collector::roles::DirectoryRoles = serde_json::from_slice(&entry)?;
    let admins = &sim.tenants()[0].admin_upns;
    assert!(!admins.is_empty());
    for upn in admins {
        assert!(
            document
                .members
                .iter()
                .any(|m| m.user_principal_name.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(upn))),
            "{upn} missing from {document:?}"
        );
    }
    assert!(document.members.iter().all(|m| !m.roles.is_empty() && m.member_type == "user"));
    assert!(roles.get(&broken_id).await?.is_none());

    shutdown.cancel();
    serve.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_an_id_goes_to_the_dead_letter_subject() -> anyhow::Result<()> {
    install_crypto();
    // Recorded records (our own fixture, written from the documented schema), one without an id.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("signins.jsonl");
    let record = |id: Option<&str>, minutes_ago: i64| {
        let mut v = serde_json::json!({
            "createdDateTime": (Utc::now() - TimeDelta::minutes(minutes_ago)).to_rfc3339(),
            "userPrincipalName": "ada@contoso.example",
            "userId": "6e0f7b8c-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "appDisplayName": "Office 365 Exchange Online",
            "ipAddress": "203.0.113.7",
            "isInteractive": true,
            "status": {"errorCode": 0}
        });
        if let Some(id) = id {
            v["id"] = id.into();
        }
        v.to_string()
    };
    let lines = [
        record(Some("a1b2c3d4-0000-4000-8000-000000000001"), 50),
        record(None, 40),
        record(Some("a1b2c3d4-0000-4000-8000-000000000003"), 30),
    ];
    std::fs::write(&file, lines.join("\n"))?;
    let sim = GraphSim::start(SimConfig { replay: vec![file], shift_to_now: true, ..SimConfig::default() })?;
    let t = TestBus::new().await?;
    let settings = settings(1, 30);
    t.bus.put_settings(&settings).await?;
    let spec = tenant_spec(&sim, 0, None, Pacing::Off);
    let tenant = spec.tenant_id.clone();
    let collector = Collector::new(t.bus.clone(), options(6, 1000), vec![spec])?;
    let status = collector.status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(shutdown.clone()));
    wait_caught_up(&status, &tenant, Utc::now(), Duration::from_secs(60)).await;
    // A second poll reads the same records again.
    wait_caught_up(&status, &tenant, Utc::now(), Duration::from_secs(60)).await;

    let published: Vec<String> = events(&t.bus).await.into_iter().map(|e| e.record_id).collect();
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(published.iter().all(|id| id.starts_with("a1b2c3d4-")));

    let mut dead = t.bus.jetstream().get_stream(t.bus.namespace().dead_letter_stream()).await?;
    assert_eq!(dead.info().await?.state.messages, 1, "exactly one dead letter, however often the record is read");
    let message = dead.get_raw_message(1).await?;
    assert_eq!(message.subject.as_str(), format!("{}.deadletter.collector.signin", t.namespace()));
    let reason = message.headers.get(m365mon_contracts::names::headers::DEAD_LETTER_REASON).expect("reason");
    assert_eq!(reason.as_str(), "record has no id");
    let payload: serde_json::Value = serde_json::from_slice(&message.payload)?;
    assert_eq!(payload["userPrincipalName"], "ada@contoso.example", "the dead letter keeps the record");
    assert_eq!(status.get(&tenant, "interactive").expect("status").records_dead_lettered, 1);

    shutdown.cancel();
    task.await??;
    Ok(())
}
