//! Measures the notifier against the real NATS and graph-sim's SMTP listener (STARTTLS + AUTH):
//!
//! 1. latency from an alert on the bus to the SMTP server accepting its message, with
//!    `group_wait` 0 and one group per alert (so the figure is the notifier's own path: intake,
//!    KV, dispatcher, rendering, SMTP), as p50 / p99 / max;
//! 2. a storm: thousands of alerts a minute, grouped by tenant and rule, and how many messages
//!    per minute they become.
//!
//! `cargo run --release -p m365mon-notifier --example latency -- [ALERTS] [ALERTS_PER_SECOND] [STORM_ALERTS_PER_MINUTE] [STORM_SECONDS]`
//! (defaults 300, 10, 6000, 60). The latency run stays below the mail rate limit (1000 a minute,
//! the most the settings allow: a burst of 166, then 13.9 a second), so it measures the path, not
//! the limiter's queue. Needs NATS at `NATS_URL` (default nats://127.0.0.1:4222).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use chrono::{DateTime, Utc};
use m365mon_contracts::alert::alert_id;
use m365mon_contracts::settings::Receiver;
use m365mon_contracts::{AlertEvent, RuleId, Settings, Severity};
use m365mon_graph_sim::{GraphSim, SimConfig};
use m365mon_notifier::channels::{MailTransport, SmtpAuth, SmtpConfig, SmtpMailer, SmtpTls};
use m365mon_notifier::{Notifier, NotifierConfig, SystemClock};
use m365mon_runtime::CancellationToken;
use m365mon_testkit::TestBus;

fn alert(rule: RuleId, tenant: &str, user: &str) -> AlertEvent {
    let now = Utc::now();
    AlertEvent {
        id: alert_id(rule, tenant, user, now),
        rule,
        severity: Severity::Medium,
        tenant: tenant.into(),
        title: format!("5 failed sign-ins for {user}"),
        summary: "Repeated credential failures.".into(),
        user: Some(user.into()),
        ip: Some("203.0.113.7".into()),
        first_seen: now,
        last_seen: now,
        event_ids: vec![format!("rec-{user}")],
        count: 5,
        revision: 0,
        details: serde_json::json!({"failure_reasons": ["50126: Invalid username or password"]}),
        created_at: now,
    }
}

async fn publish(t: &TestBus, a: &AlertEvent) -> anyhow::Result<()> {
    let subject = t.bus.namespace().alert_subject(a.severity, a.rule, &a.tenant)?;
    t.bus
        .publish(subject, &a.message_id(), HeaderMap::new(), serde_json::to_vec(a)?.into(), Duration::from_secs(10))
        .await?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn start(t: &TestBus, sim: &GraphSim, settings: &Settings) -> anyhow::Result<(Notifier, CancellationToken)> {
    let info = sim.info().smtp.clone().expect("SMTP");
    let mail = MailTransport::Smtp(
        SmtpMailer::new(SmtpConfig {
            host: info.host,
            port: info.port,
            tls: SmtpTls::StartTls,
            auth: SmtpAuth::Password { user: info.username, password: info.password },
            extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
            timeout: Duration::from_secs(10),
        })
        .map_err(anyhow::Error::msg)?,
    );
    t.bus.put_settings(settings).await?;
    let shutdown = CancellationToken::new();
    let config = NotifierConfig { tick: Duration::from_millis(100), ..NotifierConfig::default() };
    let notifier = Notifier::start(t.bus.clone(), config, mail, Arc::new(SystemClock), shutdown.clone()).await?;
    Ok((notifier, shutdown))
}

fn base_settings() -> Settings {
    let mut s = Settings::default();
    s.notifications.receivers =
        vec![Receiver { name: "soc".into(), email: vec!["soc@contoso.test".into()], ..Receiver::default() }];
    s.notifications.mail_from = Some("alerts@contoso.test".into());
    s
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    m365mon_runtime::install_crypto_provider();
    if std::env::var_os("RUST_LOG").is_some() {
        m365mon_runtime::init_logging(m365mon_runtime::LogFormat::Text);
    }
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let alerts = args.first().copied().unwrap_or(300) as usize;
    let per_second = args.get(1).copied().unwrap_or(10).max(1);
    let storm_rate = args.get(2).copied().unwrap_or(6_000);
    let storm_seconds = args.get(3).copied().unwrap_or(60);
    let sim = GraphSim::start(SimConfig {
        smtp_listen: Some("127.0.0.1:0".parse()?),
        users: 3,
        history_days: 0.05,
        ledger: false,
        worker_threads: 1,
        ..SimConfig::default()
    })?;

    // 1. Latency, one group per alert, no grouping wait, no rate limit in the way.
    {
        let t = TestBus::new().await?;
        let mut settings = base_settings();
        settings.notifications.group_wait_seconds = 0;
        settings.notifications.group_by = vec!["user".into()];
        settings.notifications.mail_rate_per_minute = 1_000;
        let (notifier, _shutdown) = start(&t, &sim, &settings).await?;
        sim.clear_mail();
        let mut published: HashMap<String, DateTime<Utc>> = HashMap::new();
        for i in 0..alerts {
            let user = format!("lat{i:05}@contoso.test");
            let a = alert(RuleId::FailedLogins, "contoso", &user);
            publish(&t, &a).await?;
            published.insert(user, a.created_at);
            tokio::time::sleep(Duration::from_secs_f64(1.0 / per_second as f64)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while sim.mail().len() < alerts && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut latencies: Vec<f64> = sim
            .mail()
            .iter()
            .filter_map(|m| {
                let subject = m.subject.as_deref()?;
                let user = published.keys().find(|u| subject.contains(u.as_str()))?;
                let accepted = DateTime::parse_from_rfc3339(&m.received_at).ok()?.with_timezone(&Utc);
                Some((accepted - published[user]).num_microseconds()? as f64 / 1000.0)
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        println!(
            "latency alert on the bus -> SMTP accepted (group_wait 0, {} of {alerts} alerts at {per_second}/s): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            latencies.len(),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            latencies.last().copied().unwrap_or(0.0)
        );
        notifier.stop().await;
    }

    // 2. Storm: alerts across 5 tenants × 3 rules (15 groups), default timings except a 10 s
    //    group_wait and a 30 s group_interval, the default 30 messages a minute.
    {
        let t = TestBus::new().await?;
        let mut settings = base_settings();
        settings.notifications.group_wait_seconds = 10;
        settings.notifications.group_interval_seconds = 30;
        let (notifier, _shutdown) = start(&t, &sim, &settings).await?;
        sim.clear_mail();
        let started = Instant::now();
        let total = (storm_rate * storm_seconds / 60) as usize;
        let interval = Duration::from_secs_f64(60.0 / storm_rate as f64);
        let rules = [RuleId::FailedLogins, RuleId::PasswordSpray, RuleId::MfaFatigue];
        for i in 0..total {
            let tenant = format!("tenant{}", i % 5);
            let a = alert(rules[(i / 5) % 3], &tenant, &format!("storm{i:06}@{tenant}.test"));
            publish(&t, &a).await?;
            let due = started + interval * (i as u32 + 1);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        let published_for = started.elapsed();
        // Let the last interval pass so every alert is delivered.
        tokio::time::sleep(Duration::from_secs(35)).await;
        let elapsed = started.elapsed();
        let messages = sim.mail().len();
        let status = notifier.status();
        println!(
            "storm: {total} alerts in {:.1} s ({:.0} alerts/min) -> {messages} messages in {:.1} s ({:.1} messages/min); deferred by rate limit: {}",
            published_for.as_secs_f64(),
            total as f64 / published_for.as_secs_f64() * 60.0,
            elapsed.as_secs_f64(),
            messages as f64 / elapsed.as_secs_f64() * 60.0,
            status["status"]["channels"]["mail"]["deferred"]
        );
        notifier.stop().await;
    }
    sim.shutdown();
    Ok(())
}
