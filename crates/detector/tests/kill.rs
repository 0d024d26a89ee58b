//! `kill -9` of the detector binary at random moments while records flow: the alert stream must
//! end up holding exactly the alerts of one uninterrupted engine run, each once.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use m365mon_bus::Bus;
use m365mon_contracts::Settings;
use m365mon_testkit::{TestBus, eventually};
use rand::{Rng, SeedableRng};

fn spawn_detector(t: &TestBus, log: &std::path::Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    Ok(Command::new(env!("CARGO_BIN_EXE_m365mon-detector"))
        .args(["--nats-url", &t.url, "--namespace", t.namespace().as_str()])
        .args(["--health-addr", "127.0.0.1:0", "--snapshot-interval", "300ms", "--idle-advance-after", "1h"])
        .args(["--lease-ttl", "2s", "--discovery-interval", "200ms", "--batch", "100"])
        .env("RUST_LOG", "info,async_nats=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

/// Every tenant's durable consumer has acknowledged its last record.
async fn acknowledged(bus: &Bus, last: &BTreeMap<String, u64>) -> bool {
    let Ok(stream) = bus.jetstream().get_stream(bus.namespace().events_stream()).await else { return false };
    for (tenant, sequence) in last {
        let Ok(name) = bus.namespace().detector_consumer(tenant) else { return false };
        match stream.consumer_info(&name).await {
            Ok(info) if info.ack_floor.stream_sequence >= *sequence => {}
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn kill_9_at_random_moments_gives_the_alerts_of_an_uninterrupted_run() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let seed: u64 = rand::rng().random();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let names: Vec<String> = (0..3).map(|i| format!("kill-{i}")).collect();
    let records = workload(&names, 2_000, 21);
    let expected = reference(&records, &Settings::default());
    let log = std::env::temp_dir().join(format!("m365mon-detector-kill-{}.log", t.namespace()));

    // Records flow in the background while the detector is killed and restarted.
    let publisher = {
        let bus = t.bus.clone();
        let records = records.clone();
        tokio::spawn(async move {
            let mut published = Vec::with_capacity(records.len());
            for (i, (tenant, record)) in records.iter().enumerate() {
                published.push((tenant.clone(), publish_record(&bus, tenant, record).await?));
                if i % 200 == 199 {
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
            }
            anyhow::Ok(published)
        })
    };

    let mut kills = 0;
    let mut child = spawn_detector(&t, &log)?;
    while kills < 8 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1_800))).await;
        child.kill()?; // SIGKILL
        child.wait()?;
        kills += 1;
        child = spawn_detector(&t, &log)?;
    }
    let published = publisher.await??;
    let last = last_sequences(&published);
    let waited = eventually(Duration::from_secs(180), "the detector to acknowledge every record", || {
        let bus = t.bus.clone();
        let last = last.clone();
        async move { acknowledged(&bus, &last).await.then_some(()) }
    })
    .await;
    // A graceful stop on SIGTERM, once the last detector has started (a signal before its
    // handlers exist would end it like a kill, which is not what this checks).
    let started = kills + 1;
    eventually(Duration::from_secs(60), "the last detector to start", || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            (text.matches("detector started").count() >= started).then_some(())
        }
    })
    .await?;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let status = child.wait()?;
    if waited.is_err() || !status.success() {
        eprintln!("detector log: {}", log.display());
    }
    waited?;
    assert!(status.success(), "graceful stop exits 0: {status}");
    // The kills really interrupted work: later runs restored snapshots and re-read records.
    let text = std::fs::read_to_string(&log)?;
    let restores = text.matches("state restored from the snapshot").count();
    let repositioned = text.matches("durable consumer positioned after the snapshot").count();
    println!("{kills} kills: {restores} snapshot restores, {repositioned} consumers repositioned");
    assert!(restores >= 3, "the detector restarted from snapshots ({restores} times)");
    assert_same_alerts(&alerts_on_stream(&t.bus).await?, &expected);
    let _ = std::fs::remove_file(&log);
    Ok(())
}
