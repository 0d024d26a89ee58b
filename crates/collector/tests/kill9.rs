//! The `m365mon-collector` binary killed with SIGKILL at ten random moments during a backfill and
//! restarted each time: every record graph-sim served is still on the bus exactly once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{assert_exactly_once, events, install_crypto, settings};
use m365mon_bus::Bus;
use m365mon_graph_sim::{FaultConfig, GraphSim, SimConfig};
use m365mon_testkit::TestBus;
use rand::Rng;

const LOGS: [&str; 5] = ["interactive", "non_interactive", "service_principal", "managed_identity", "audit"];

/// The collector process; killed and reaped when dropped (a failing test leaves no orphan).
struct Running(Child);

impl Running {
    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()?;
        self.0.wait().map(|_| ())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn spawn(sim: &GraphSim, t: &TestBus, ca_file: &std::path::Path) -> Running {
    let tenant = &sim.tenants()[0];
    let child = Command::new(env!("CARGO_BIN_EXE_m365mon-collector"))
        .env_clear()
        .env("NATS_URL", &t.url)
        .env("M365MON_NAMESPACE", t.namespace().as_str())
        .env("M365MON_TENANT_ID", &tenant.tenant_id)
        .env("M365MON_CLIENT_ID", &tenant.apps[0].client_id)
        .env("M365MON_CLIENT_SECRET", &tenant.apps[0].client_secret)
        .env("M365MON_AUTHORITY_HOST", sim.base_url())
        .env("M365MON_GRAPH_URL", sim.base_url())
        .env("M365MON_EXTRA_CA_FILE", ca_file)
        .env("M365MON_GRAPH_REQUESTS_PER_10S", "0")
        .env("M365MON_COLLECTOR_SLICE_MINUTES", "30")
        .env("M365MON_COLLECTOR_PAGE_SIZE", "100")
        .env("M365MON_COLLECTOR_HEALTH_ADDR", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start m365mon-collector");
    Running(child)
}

/// The collector's status document, if it answers.
async fn status(bus: &Bus) -> Option<serde_json::Value> {
    let subject = m365mon_bus::service::status_subject(bus, "collector");
    let reply =
        tokio::time::timeout(Duration::from_secs(2), bus.client().request(subject, "".into())).await.ok()?.ok()?;
    serde_json::from_slice(&reply.payload).ok()
}

fn log_status<'a>(document: &'a serde_json::Value, log: &str) -> &'a serde_json::Value {
    &document["tenants"][0]["logs"][log]
}

fn time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value.as_str()?.parse().ok()
}

/// Whether a log is still reading old slices, from its stored checkpoint.
async fn backfilling(bus: &Bus, tenant: &str) -> bool {
    let Ok(store) = bus.jetstream().get_key_value(bus.namespace().checkpoints_bucket()).await else { return true };
    for log in LOGS {
        match store.get(format!("{tenant}.{log}")).await {
            Ok(Some(bytes)) => {
                let value: serde_json::Value = serde_json::from_slice(&bytes).expect("checkpoint JSON");
                if value["settled"] == true {
                    return true;
                }
            }
            _ => return true,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_ten_times_during_a_backfill_still_exactly_once() -> anyhow::Result<()> {
    install_crypto();
    let sim = GraphSim::start(SimConfig {
        users: 150,
        history_days: 3.0,
        faults: FaultConfig { response_delay_ms: [10, 40], ..FaultConfig::default() },
        ..SimConfig::default()
    })?;
    let tenant = sim.tenants()[0].tenant_id.clone();
    let t = TestBus::new().await?;
    let settings = settings(3, 30);
    t.bus.put_settings(&settings).await?;
    let dir = tempfile::tempdir()?;
    let ca_file = dir.path().join("graph-sim-ca.pem");
    std::fs::write(&ca_file, sim.ca_pem())?;

    let mut child = spawn(&sim, &t, &ca_file);
    let mut rng = rand::rng();
    let mut kills_during_backfill = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1_500))).await;
        if backfilling(&t.bus, &tenant).await {
            kills_during_backfill += 1;
        }
        child.kill()?; // SIGKILL
        child = spawn(&sim, &t, &ca_file);
    }
    assert_eq!(kills_during_backfill, 10, "every kill should land in the backfill; make the backfill longer");

    // Let the last one finish the backfill and settle into hourly polls.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let mut quiet_settings = settings.clone();
    quiet_settings.collector.poll_interval_seconds = 3600;
    quiet_settings.collector.late_sweep_interval_minutes = 0;
    let mut quiesced = false;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the collector did not finish its backfill: {:?}",
            status(&t.bus).await
        );
        if let Some(document) = status(&t.bus).await {
            let caught_up = LOGS.iter().all(|log| log_status(&document, log)["state"] == "polling");
            if caught_up && !quiesced {
                t.bus.put_settings(&quiet_settings).await?;
                quiesced = true;
            }
            let asleep = LOGS.iter().all(|log| {
                let s = log_status(&document, log);
                s["state"] == "polling"
                    && time(&s["next_poll"]).is_some_and(|n| n > Utc::now() + chrono::TimeDelta::minutes(30))
            });
            if quiesced && asleep {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let events = events(&t.bus).await;
    let ledger = sim.ledger(0);
    let comparison = assert_exactly_once(&events, &ledger, &tenant);
    let reread = ledger.iter().filter(|r| r.served > 1).count();
    eprintln!("kill -9: {comparison:?}; {reread} records were served more than once (re-read after a kill)");
    assert!(comparison.served > 5_000, "{comparison:?}");
    assert!(reread > 0, "the kills should have made the collector read some records again");

    // SIGTERM stops it cleanly.
    let stopped = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status()?;
    assert!(stopped.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(exit) = child.0.try_wait()? {
            assert!(exit.success(), "SIGTERM should end the collector cleanly: {exit:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the collector did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
