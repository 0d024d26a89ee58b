//! Shared set-up of the notifier's integration tests: the real NATS (an isolated namespace per
//! test) and graph-sim's SMTP listener and sendMail capture on the Microsoft side.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use chrono::{DateTime, TimeZone, Utc};
use m365mon_bus::Bus;
use m365mon_contracts::alert::alert_id;
use m365mon_contracts::settings::{NotificationSettings, Receiver};
use m365mon_contracts::{AlertEvent, RuleId, Settings, Severity};
use m365mon_graph_sim::{CapturedMail, GraphSim, SimConfig};
use m365mon_notifier::channels::{MailTransport, SmtpAuth, SmtpConfig, SmtpMailer, SmtpTls};
use m365mon_notifier::{Clock, Notifier, NotifierConfig};
use m365mon_runtime::CancellationToken;
use m365mon_testkit::{TestBus, eventually};

/// A small simulator with its SMTP listener (STARTTLS, AUTH).
pub fn sim() -> GraphSim {
    m365mon_runtime::install_crypto_provider();
    GraphSim::start(SimConfig {
        smtp_listen: Some("127.0.0.1:0".parse().expect("address")),
        users: 5,
        history_days: 0.05,
        ledger: false,
        worker_threads: 1,
        ..SimConfig::default()
    })
    .expect("graph-sim starts")
}

/// The SMTP transport pointed at the simulator.
pub fn smtp(sim: &GraphSim) -> MailTransport {
    let info = sim.info().smtp.clone().expect("graph-sim SMTP listener");
    MailTransport::Smtp(
        SmtpMailer::new(SmtpConfig {
            host: info.host,
            port: info.port,
            tls: SmtpTls::StartTls,
            auth: SmtpAuth::Password { user: info.username, password: info.password },
            extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
            timeout: Duration::from_secs(5),
        })
        .expect("SMTP transport"),
    )
}

/// Settings with one receiver `soc` and short timings; `tune` adjusts them.
pub fn settings(tune: impl FnOnce(&mut NotificationSettings)) -> Settings {
    let mut s = Settings { timezone: chrono_tz::Europe::Berlin, ..Settings::default() };
    let n = &mut s.notifications;
    n.receivers = vec![Receiver {
        name: "soc".into(),
        email: vec!["soc@contoso.test".into(), "oncall@contoso.test".into()],
        ..Receiver::default()
    }];
    n.mail_from = Some("alerts@contoso.test".into());
    n.ui_base_url = Some("https://monitor.contoso.test".into());
    n.group_wait_seconds = 1;
    n.group_interval_seconds = 2;
    n.retry_initial_seconds = 1;
    n.retry_max_seconds = 2;
    n.mail_rate_per_minute = 1_000;
    tune(n);
    s
}

pub fn config() -> NotifierConfig {
    NotifierConfig {
        send_timeout: Duration::from_secs(5),
        tick: Duration::from_millis(100),
        ..NotifierConfig::default()
    }
}

/// Starts a notifier in-process.
pub async fn start(
    t: &TestBus,
    mail: MailTransport,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Notifier, CancellationToken)> {
    let shutdown = CancellationToken::new();
    let notifier = Notifier::start(t.bus.clone(), config(), mail, clock, shutdown.clone()).await?;
    Ok((notifier, shutdown))
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// An alert of `user` in `tenant` for `rule`.
pub fn alert(rule: RuleId, severity: Severity, tenant: &str, user: &str, revision: u32) -> AlertEvent {
    let first = t0();
    AlertEvent {
        id: alert_id(rule, tenant, user, first),
        rule,
        severity,
        tenant: tenant.into(),
        title: format!("{} failed sign-ins for {user}", 5 + revision),
        summary: "Repeated credential failures for one account.".into(),
        user: Some(user.into()),
        ip: Some("203.0.113.7".into()),
        first_seen: first,
        last_seen: first + chrono::Duration::minutes(i64::from(revision)),
        event_ids: vec![format!("rec-{user}-{revision}")],
        count: 5 + u64::from(revision),
        revision,
        details: serde_json::json!({"failure_reasons": ["50126: Invalid username or password"]}),
        created_at: Utc::now(),
    }
}

/// Publishes an alert the way the detector does (`Nats-Msg-Id` = its message id).
pub async fn publish(bus: &Bus, alert: &AlertEvent) -> anyhow::Result<()> {
    publish_with_id(bus, alert, &alert.message_id()).await
}

/// Publishes with another message id, so JetStream stores it again: a replay or a second
/// detector publishing the same revision.
pub async fn publish_again(bus: &Bus, alert: &AlertEvent) -> anyhow::Result<()> {
    publish_with_id(bus, alert, &format!("{}-again-{:08x}", alert.message_id(), rand::random::<u32>())).await
}

async fn publish_with_id(bus: &Bus, alert: &AlertEvent, id: &str) -> anyhow::Result<()> {
    let subject = bus.namespace().alert_subject(alert.severity, alert.rule, &alert.tenant)?;
    bus.publish(subject, id, HeaderMap::new(), serde_json::to_vec(alert)?.into(), Duration::from_secs(10)).await?;
    Ok(())
}

/// Waits until the notifier has read `n` alert publications.
pub async fn wait_received(notifier: &Notifier, n: u64) -> anyhow::Result<()> {
    eventually(Duration::from_secs(30), &format!("{n} alerts read"), || {
        let got = notifier.status()["status"]["alerts_received"].as_u64().unwrap_or(0);
        async move { (got >= n).then_some(()) }
    })
    .await
}

/// Waits until graph-sim captured at least `n` messages, and returns them.
pub async fn wait_mail(sim: &GraphSim, n: usize, within: Duration) -> anyhow::Result<Vec<CapturedMail>> {
    eventually(within, &format!("{n} captured messages"), || {
        let mail = sim.mail();
        async move { (mail.len() >= n).then_some(mail) }
    })
    .await
}

/// The header block of a captured SMTP message.
pub fn headers(mail: &CapturedMail) -> &str {
    let end = mail.raw.find("\r\n\r\n").or_else(|| mail.raw.find("\n\n")).unwrap_or(mail.raw.len());
    &mail.raw[..end]
}
