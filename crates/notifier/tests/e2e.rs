//! End to end: an attack scenario in graph-sim, read by the collector, detected by the detector,
//! grouped by the notifier and captured as mail by graph-sim's SMTP listener — the whole flow of
//! design §2 in one process, on the real NATS.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use m365mon_collector::{Collector, CollectorOptions, TenantSpec};
use m365mon_detector::{Detector, DetectorConfig, PartitionSet};
use m365mon_graph_sim::{GraphSim, ScenarioRequest, SimConfig};
use m365mon_notifier::SystemClock;
use m365mon_testkit::{TestBus, eventually};

#[tokio::test]
async fn a_password_spray_in_graph_sim_arrives_as_one_grouped_mail() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    // Enough users for the spray to reach the rule's 10 distinct accounts.
    m365mon_runtime::install_crypto_provider();
    let sim = GraphSim::start(SimConfig {
        smtp_listen: Some("127.0.0.1:0".parse()?),
        users: 30,
        history_days: 0.05,
        ledger: false,
        worker_threads: 1,
        ..SimConfig::default()
    })?;
    let spray = sim.inject(&ScenarioRequest::named("password_spray"))?;
    let tenant = sim.tenants()[0].clone();

    let mut s = settings(|n| {
        n.group_wait_seconds = 2;
        n.group_interval_seconds = 5;
    });
    s.notifications.receivers[0].rules = vec![m365mon_contracts::RuleId::PasswordSpray];
    s.collector.poll_interval_seconds = 10;
    s.collector.backfill_days = 1;
    t.bus.put_settings(&s).await?;

    let (_notifier, shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;

    let mut detector_config = DetectorConfig::new(PartitionSet::all(16)?);
    detector_config.discovery_interval = Duration::from_millis(200);
    detector_config.idle_advance_after = Duration::from_secs(5);
    let detector = Detector::start(t.bus.clone(), detector_config).await?;
    let detector_stop = shutdown.clone();
    let detector_task = tokio::spawn(async move { detector.run_until_stopped(detector_stop).await });

    let graph = m365mon_testkit::graph_sim_client(&sim, 0, None);
    let spec = TenantSpec { tenant_id: tenant.tenant_id.clone(), name: Some(tenant.display_name.clone()), graph };
    let collector = Collector::new(t.bus.clone(), CollectorOptions::default(), vec![spec])?;
    let collector_stop = shutdown.clone();
    let collector_task = tokio::spawn(async move { collector.run(collector_stop).await });

    let mail = eventually(Duration::from_secs(120), "the password spray mail", || {
        let found = sim.mail().into_iter().find(|m| m.subject.as_deref().unwrap_or("").contains("Password spray"));
        async move { found }
    })
    .await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), detector_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), collector_task).await;
    let mail = mail?;

    let subject = mail.subject.as_deref().unwrap_or("");
    assert!(subject.starts_with("[m365-monitor] HIGH Password spray"), "{subject}");
    assert!(subject.contains(&tenant.tenant_id), "{subject}");
    let text = mail.text_body.as_deref().unwrap_or("");
    println!("{subject}\n\n{text}");
    if let Some(ip) = &spray.ip {
        assert!(text.contains(ip.as_str()), "the spraying IP {ip} is named:\n{text}");
    }
    assert!(text.contains("Open:  https://monitor.contoso.test/alerts/"), "{text}");
    let spray_mails =
        sim.mail().iter().filter(|m| m.subject.as_deref().unwrap_or("").contains("Password spray")).count();
    assert_eq!(spray_mails, 1, "one incident, one message");
    Ok(())
}
