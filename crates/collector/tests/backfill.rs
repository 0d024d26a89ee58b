//! A backfill reaches the stream in event-time order across a tenant's logs (the detection
//! engine would take none of it as late), under Graph's harsh failure modes; and a log that
//! fails for good does not hold up the others.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Event, assert_exactly_once, events, install_crypto, quiesce, settings, tenant_spec, wait_caught_up};
use m365mon_collector::{Collector, CollectorOptions, LogState};
use m365mon_graph::Pacing;
use m365mon_graph_sim::{FaultConfig, FaultProfile, GraphSim, SimConfig};
use m365mon_testkit::TestBus;
use tokio_util::sync::CancellationToken;

/// The engine's default allowed lateness (`detection.allowed_lateness_minutes`).
const ALLOWED_LATENESS: TimeDelta = TimeDelta::minutes(120);

fn event_time(e: &Event) -> DateTime<Utc> {
    let text = e.payload["createdDateTime"].as_str().or(e.payload["activityDateTime"].as_str()).expect("event time");
    m365mon_model::time::parse_timestamp(text).expect("readable event time")
}

/// In stream order, as the engine's watermark sees it: (records older than the watermark minus
/// the allowed lateness, the most any record was behind the newest before it).
fn lateness(events: &[&Event]) -> (usize, TimeDelta) {
    let mut watermark: Option<DateTime<Utc>> = None;
    let (mut late, mut most) = (0, TimeDelta::zero());
    for e in events {
        let t = event_time(e);
        let w = watermark.map_or(t, |w| w.max(t));
        watermark = Some(w);
        if t < w - ALLOWED_LATENESS {
            if late < 5 {
                eprintln!("late: {} {:?} {} at {t}, watermark {w}", e.kind, e.event_type, e.record_id);
            }
            late += 1;
        }
        most = most.max(w - t);
    }
    (late, most)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_reaches_the_stream_in_event_time_order_across_logs() -> anyhow::Result<()> {
    install_crypto();
    let faults = FaultConfig {
        throttle_window_seconds: 1.0,
        storm_retry_after_max_seconds: 2.0,
        ..FaultConfig::profile(FaultProfile::Harsh)
    };
    let sim = GraphSim::start(SimConfig { users: 30, history_days: 2.0, faults, ..SimConfig::default() })?;
    let t = TestBus::new().await?;
    let settings = settings(2, 30);
    t.bus.put_settings(&settings).await?;
    let spec = tenant_spec(&sim, 0, None, Pacing::Limit { requests: 4, per: Duration::from_secs(1) });
    let tenant = spec.tenant_id.clone();
    let options =
        CollectorOptions { backfill_slice: TimeDelta::hours(2), page_size: 50, ..CollectorOptions::default() };
    let collector = Collector::new(t.bus.clone(), options, vec![spec])?;
    let status = collector.status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(shutdown.clone()));

    wait_caught_up(&status, &tenant, Utc::now(), Duration::from_secs(300)).await;
    quiesce(&t.bus, &status, &tenant, settings).await;

    let events = events(&t.bus).await;
    let comparison = assert_exactly_once(&events, &sim.ledger(0), &tenant);
    let mine: Vec<&Event> = events.iter().filter(|e| e.tenant == tenant).collect();
    let first = mine.iter().map(|e| event_time(e)).min().expect("records");
    let last = mine.iter().map(|e| event_time(e)).max().expect("records");
    assert!(last - first > TimeDelta::hours(36), "two days of history: {first} .. {last}");
    for kind in ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"] {
        assert!(mine.iter().any(|e| e.event_type.as_deref() == Some(kind)), "no {kind} sign-in");
    }
    assert!(mine.iter().any(|e| e.kind == "audit"), "no audit");

    let (late, most_behind) = lateness(&mine);
    eprintln!(
        "order: {comparison:?}; {} messages from {first} to {last}; {late} late; at most {} s behind the newest \
         before; graph-sim faults {}",
        mine.len(),
        most_behind.num_seconds(),
        sim.stats()["faults_injected"]
    );
    assert_eq!(late, 0, "records the engine would take as late (at most {most_behind} behind)");

    shutdown.cancel();
    task.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_fails_for_good_does_not_hold_up_the_others() -> anyhow::Result<()> {
    install_crypto();
    // Without an Entra ID P1/P2 licence every sign-in log answers 403; audits are still served.
    let sim = GraphSim::start(SimConfig {
        users: 20,
        history_days: 1.0,
        non_premium_tenants: vec![0],
        ..SimConfig::default()
    })?;
    let t = TestBus::new().await?;
    let settings = settings(1, 30);
    t.bus.put_settings(&settings).await?;
    let spec = tenant_spec(&sim, 0, None, Pacing::Off);
    let tenant = spec.tenant_id.clone();
    let options =
        CollectorOptions { backfill_slice: TimeDelta::hours(1), page_size: 20, ..CollectorOptions::default() };
    let collector = Collector::new(t.bus.clone(), options, vec![spec])?;
    let status = collector.status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(shutdown.clone()));

    let started = Utc::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let audit_done = status.get(&tenant, "audit").is_some_and(|s| {
            s.state == LogState::Polling && s.last_completed_poll_started.is_some_and(|p| p > started)
        });
        if audit_done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the audit log did not catch up beside failing sign-in logs: {:#?}",
            status.get(&tenant, "audit")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for log in ["interactive", "non_interactive", "service_principal", "managed_identity"] {
        let s = status.get(&tenant, log).expect("status");
        assert_eq!(s.state, LogState::Error, "{log}");
        let error = s.last_error.expect("an error");
        assert_eq!(error.class, "fatal", "{log}: {error:?}");
        assert_eq!(error.code.as_deref(), Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant"), "{log}");
    }
    let events = events(&t.bus).await;
    let audits = sim.ledger(0);
    assert!(audits.len() > 10, "{}", audits.len());
    let comparison = assert_exactly_once(&events, &audits, &tenant);
    assert!(events.iter().all(|e| e.kind == "audit"));
    let mine: Vec<&Event> = events.iter().collect();
    let (late, _) = lateness(&mine);
    assert_eq!(late, 0);
    eprintln!("without a licence: {comparison:?}");

    shutdown.cancel();
    task.await??;
    Ok(())
}
