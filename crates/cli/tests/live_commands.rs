//! `m365mon tail`, `status` and `settings` against the real NATS server, each test in a
//! namespace of its own, running the built `m365mon` binary as a user would.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::Utc;
use m365mon_bus::StreamLimits;
use m365mon_contracts::{AlertEvent, RuleId, Severity};
use m365mon_testkit::TestBus;

fn m365mon(t: &TestBus, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_m365mon"))
        .args(args)
        .env("NATS_URL", &t.url)
        .env("M365MON_NAMESPACE", t.namespace().as_str())
        .env("NO_COLOR", "1")
        .output()
        .expect("m365mon runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn alert(id: &str, rule: RuleId, severity: Severity, tenant: &str, revision: u32) -> AlertEvent {
    let now = Utc::now();
    AlertEvent {
        id: id.to_string(),
        rule,
        severity,
        tenant: tenant.to_string(),
        title: format!("{} for someone \u{1b}[31mred", rule.as_str()),
        summary: "summary".into(),
        user: Some("alice@contoso.com".into()),
        ip: Some("203.0.113.7".into()),
        first_seen: now,
        last_seen: now,
        event_ids: vec!["r1".into()],
        count: 1 + u64::from(revision),
        revision,
        details: serde_json::json!({}),
        created_at: now,
    }
}

async fn publish_alert(t: &TestBus, alert: &AlertEvent) -> anyhow::Result<()> {
    let subject = t.namespace().alert_subject(alert.severity, alert.rule, &alert.tenant)?;
    t.bus
        .publish(
            subject,
            &alert.message_id(),
            HeaderMap::new(),
            Bytes::from(serde_json::to_vec(alert)?),
            Duration::from_secs(10),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn settings_are_validated_stored_and_read_back() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"failed_logins": {"threshold": 1, "window_minutes": 10}, "timezone": "Mars/Olympus"}"#)?;
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"failed_logins": {"threshold": 7, "window_minutes": 10}}"#)?;

    let out = m365mon(&t, &["settings", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("timezone") || err.contains("failed_logins.threshold"), "{err}");

    let out = m365mon(&t, &["settings", "put", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "an invalid document is refused");
    let out = m365mon(&t, &["settings", "get"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("defaults"), "nothing stored yet");

    assert!(m365mon(&t, &["settings", "validate", good.to_str().unwrap()]).status.success());
    let out = m365mon(&t, &["settings", "put", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("revision"));
    let out = m365mon(&t, &["settings", "get"]);
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(stored["failed_logins"]["threshold"], 7);
    assert_eq!(t.bus.load_settings().await?.0.failed_logins.threshold, 7);
    Ok(())
}

#[tokio::test]
async fn tail_replays_and_filters_alerts() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    // Before any detector ran there is no alert stream: said plainly, not an error.
    let out = m365mon(&t, &["tail", "--since", "all", "--no-follow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("does not exist yet"), "{}", text(&out.stderr));
    t.bus.ensure_alerts_stream(StreamLimits::ALERTS).await?;
    publish_alert(&t, &alert("a1", RuleId::PasswordSpray, Severity::High, "tenant-1", 0)).await?;
    publish_alert(&t, &alert("a1", RuleId::PasswordSpray, Severity::High, "tenant-1", 1)).await?;
    publish_alert(&t, &alert("a2", RuleId::AfterHours, Severity::Low, "tenant-1", 0)).await?;
    publish_alert(&t, &alert("a3", RuleId::PasswordSpray, Severity::High, "tenant-2", 0)).await?;

    let out = m365mon(&t, &["tail", "--since", "all", "--no-follow", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ids: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<AlertEvent>(l).map(|a| a.message_id()))
        .collect::<Result<_, _>>()?;
    assert_eq!(ids, ["a1", "a1.r1", "a2", "a3"]);

    let out = m365mon(
        &t,
        &[
            "tail",
            "--since",
            "1h",
            "--no-follow",
            "--format",
            "jsonl",
            "--rule",
            "password_spray",
            "--tenant",
            "tenant-2",
        ],
    );
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let out = m365mon(&t, &["tail", "--since", "all", "--no-follow", "--severity", "low,critical"]);
    let table = text(&out.stdout);
    assert_eq!(table.lines().count(), 1, "{table}");
    assert!(table.contains("LOW") && table.contains("after_hours"), "{table}");
    assert!(
        table.contains("\\u{1b}[31m") && !table.contains('\u{1b}'),
        "escape sequences are shown, not sent: {table}"
    );

    // Nothing newer than a minute in the future: --no-follow returns at once.
    let future = (Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let out = m365mon(&t, &["tail", "--since", &future, "--no-follow"]);
    assert!(out.status.success() && out.stdout.is_empty());
    let out = m365mon(&t, &["tail", "--no-follow"]);
    assert!(!out.status.success() && text(&out.stderr).contains("--since"), "--no-follow needs --since");
    Ok(())
}

#[tokio::test]
async fn tail_follows_new_alerts() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    // tail starts before the detector has created the alert stream, and waits for it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_m365mon"))
        .args(["tail", "--format", "jsonl", "--rule", "mfa_fatigue"])
        .env("NATS_URL", &t.url)
        .env("M365MON_NAMESPACE", t.namespace().as_str())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.bus.ensure_alerts_stream(StreamLimits::ALERTS).await?;
    let stdout = child.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // Keep publishing until tail, which subscribes a moment after it starts, shows one.
    let started = Instant::now();
    let mut n = 0;
    let line = loop {
        n += 1;
        publish_alert(&t, &alert(&format!("f{n}"), RuleId::MfaFatigue, Severity::High, "tenant-f", 0)).await?;
        publish_alert(&t, &alert(&format!("o{n}"), RuleId::LegacyAuth, Severity::Medium, "tenant-f", 0)).await?;
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "tail printed nothing");
    };
    let alert: AlertEvent = serde_json::from_str(&line)?;
    assert_eq!(alert.rule, RuleId::MfaFatigue);
    child.kill()?;
    child.wait()?;
    Ok(())
}

// Multi-threaded: the registered service must answer while this thread waits for the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_services_tenants_backlog_and_problems() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    t.bus.ensure_events_stream(StreamLimits::EVENTS).await?;
    t.bus.ensure_dead_letter_stream().await?;
    for (i, kind) in ["signin", "signin", "audit"].iter().enumerate() {
        let subject = t.namespace().event_subject(kind, "tenant-s")?;
        t.bus
            .publish(subject, &format!("rec-{i}"), HeaderMap::new(), Bytes::from_static(b"{}"), Duration::from_secs(10))
            .await?;
    }
    t.bus
        .dead_letter(
            "detector",
            "signin",
            m365mon_bus::DeadLetterOrigin { subject: "x.events.signin.tenant-s", identity: "7" },
            "unreadable Graph record",
            Bytes::from_static(b"garbage"),
        )
        .await?;
    // A detector owning half the partitions, as its status endpoint reports it.
    let status = serde_json::json!({
        "service": "detector", "host": "host-a", "pid": 42, "partitions": "0-7 of 16",
        "partition_count": 16, "owned_partitions": [0, 1, 2, 3, 4, 5, 6, 7],
        "tenants": [{"tenant": "tenant-s", "state": "running", "position": 3}]
    });
    let _service =
        t.bus.register_service("detector", "0.1.0", "test detector", Arc::new(move || status.clone())).await?;
    t.bus.client().flush().await?;

    let out = m365mon(&t, &["status", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["records_total"], 3);
    assert_eq!(report["dead_letters_total"], 1);
    assert_eq!(report["services"][0]["service"], "detector");
    assert_eq!(report["missing_services"], serde_json::json!(["collector", "notifier"]));
    let tenant = &report["tenants"][0];
    assert_eq!(tenant["tenant"], "tenant-s");
    assert_eq!(tenant["records"], serde_json::json!({"audit": 1, "signin": 2}));
    assert_eq!(tenant["detector"]["state"], "running");
    let problems: Vec<String> = serde_json::from_value(report["problems"].clone())?;
    assert!(problems.iter().any(|p| p.contains("partitions 8,9,10,11,12,13,14,15 of 16")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("no collector is running")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("dead letters")), "{problems:?}");

    let out = m365mon(&t, &["status"]);
    let table = text(&out.stdout);
    assert!(out.status.success());
    for expected in ["Services", "detector", "NOT RUNNING", "tenant-s", "Dead letters 1", "Problems"] {
        assert!(table.contains(expected), "{expected} missing from:\n{table}");
    }
    Ok(())
}

#[test]
fn an_unreachable_server_is_reported_clearly_and_quickly() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_m365mon"))
        .args(["status", "--nats-url", "nats://127.0.0.1:9"])
        .env("NO_COLOR", "1")
        .output()
        .expect("m365mon runs");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("nats://127.0.0.1:9") && err.contains("NATS"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
}
