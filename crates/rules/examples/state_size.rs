//! Measures the engine's memory per tracked user (design §6: at most 512 bytes).
//!
//! Feeds generated sign-ins for N users (a day of traffic), then reports per tracked user:
//! the engine's own estimate, the snapshot size, and the resident memory a fresh process needs
//! to hold that state (it restores the snapshot; measuring in the feeding process would count
//! the parser's freed garbage and heap fragmentation, not the state).
//!
//! `cargo run --release -p m365mon-rules --example state_size -- 100000 300000`
//! (users, records; the resident-memory figure needs Linux's /proc)

use m365mon_contracts::settings::Settings;
use m365mon_rules::Engine;
use m365mon_rules::synth::{Generator, SynthOptions};

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--restore") {
        // Child: restore the snapshot and report the resident memory it took.
        let snapshot = std::fs::read(&args[1]).expect("snapshot file");
        let users: f64 = args[2].parse().expect("user count");
        let before = resident_bytes().unwrap_or(0);
        let engine = Engine::restore(Settings::default(), &snapshot).expect("restores");
        drop(snapshot);
        let after = resident_bytes().unwrap_or(0);
        println!(
            "resident memory of the restored state: {:.1} MiB = {:.0} bytes per tracked user",
            after.saturating_sub(before) as f64 / 1_048_576.0,
            after.saturating_sub(before) as f64 / users
        );
        std::hint::black_box(engine);
        return;
    }
    let users: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let records: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(u64::from(users) * 3);
    let mut generator = Generator::new(SynthOptions {
        users,
        seed: 11,
        // About a day of traffic.
        step: std::time::Duration::from_micros(86_400_000_000 / 4 / records.max(1)),
        ..SynthOptions::default()
    });
    let mut engine = Engine::new(Settings::default());
    for _ in 0..records {
        engine.observe("tenant", &generator.next_record());
    }
    let size = engine.state_size();
    let snapshot = engine.snapshot();
    let tracked = size.users.max(1) as f64;
    println!("records: {records}, users generated: {users}, users tracked: {}", size.users);
    println!("open incidents: {}, IP windows: {}", size.open_incidents, size.ip_windows);
    println!(
        "engine's estimate: {:.0} bytes per tracked user, plus {:.1} MiB in open incidents",
        size.user_bytes as f64 / tracked,
        size.incident_bytes as f64 / 1_048_576.0
    );
    println!(
        "snapshot: {:.1} MiB = {:.0} bytes per tracked user",
        snapshot.len() as f64 / 1_048_576.0,
        snapshot.len() as f64 / tracked
    );
    let path = std::env::temp_dir().join(format!("m365mon-state-size-{}.json", std::process::id()));
    std::fs::write(&path, &snapshot).expect("write snapshot");
    drop(snapshot);
    let me = std::env::current_exe().expect("own path");
    let status = std::process::Command::new(me)
        .args(["--restore", &path.display().to_string(), &size.users.to_string()])
        .status()
        .expect("runs");
    let _ = std::fs::remove_file(&path);
    assert!(status.success());
}
