//! Delivery against graph-sim: a mail server that refuses for a while, dead letters, the test
//! message, Graph sendMail, and the rate limit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use m365mon_contracts::names::headers as hdr;
use m365mon_contracts::{RuleId, Severity};
use m365mon_graph::{ClientCredential, ClientSecret, CloudEndpoints, GraphClient, GraphConfig, Pacing};
use m365mon_graph_sim::{MailTransport as SimTransport, RefusalStage};
use m365mon_notifier::SystemClock;
use m365mon_notifier::channels::{GraphMailer, MailTransport};
use m365mon_notify_policy::test_message::{TestReply, TestRequest};
use m365mon_testkit::{TestBus, eventually};

#[tokio::test]
async fn a_refusing_mail_server_gets_everything_once_it_recovers() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 0;
            n.max_attempts = 100;
        }))
        .await?;
    let (notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;
    // Refused at MAIL FROM for a while, then after DATA: both look transient (451).
    sim.refuse_smtp(Duration::from_secs(5), RefusalStage::Mail, 451);
    let alerts = [
        alert(RuleId::FailedLogins, Severity::Medium, "contoso", "alice@contoso.test", 0),
        alert(RuleId::MfaFatigue, Severity::High, "contoso", "bob@contoso.test", 0),
        alert(RuleId::LegacyAuth, Severity::Medium, "fabrikam", "carol@fabrikam.test", 0),
    ];
    for a in &alerts {
        publish(&t.bus, a).await?;
    }
    eventually(Duration::from_secs(10), "refused attempts", || {
        let failed = notifier.status()["status"]["channels"]["mail"]["failed"].as_u64().unwrap_or(0);
        async move { (failed >= 1).then_some(()) }
    })
    .await?;
    let status = notifier.status();
    assert!(status["status"]["channels"]["mail"]["last_error"].as_str().unwrap_or("").contains("451"), "{status}");

    // A second outage, at DATA, once the first is over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sim.refuse_smtp(Duration::from_secs(3), RefusalStage::Data, 451);
    let mail = wait_mail(&sim, 3, Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mail_after = sim.mail();
    assert_eq!(mail_after.len(), 3, "{:?}", mail_after.iter().map(|m| &m.subject).collect::<Vec<_>>());
    for a in &alerts {
        let user = a.user.as_deref().unwrap();
        assert_eq!(mail.iter().filter(|m| m.subject.as_deref().unwrap_or("").contains(user)).count(), 1, "{user}");
    }
    Ok(())
}

#[tokio::test]
async fn after_max_attempts_a_delivery_is_dead_lettered_and_visible() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 0;
            n.max_attempts = 2;
        }))
        .await?;
    sim.refuse_smtp(Duration::from_secs(600), RefusalStage::Mail, 451);
    let stream = t.bus.ensure_dead_letter_stream().await?;
    let (notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;
    let a = alert(RuleId::PasswordSpray, Severity::High, "contoso", "203.0.113.9", 0);
    publish(&t.bus, &a).await?;

    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: t.bus.namespace().dead_letter_filter(),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let letter = tokio::time::timeout(Duration::from_secs(20), messages.next()).await?.expect("a dead letter")?;
    let reason = letter.headers.as_ref().and_then(|h| h.get(hdr::DEAD_LETTER_REASON)).map(|v| v.to_string());
    assert!(reason.as_deref().unwrap_or("").contains("after 2 attempt(s)"), "{reason:?}");
    let body: serde_json::Value = serde_json::from_slice(&letter.payload)?;
    assert_eq!(body["alerts"][0]["id"], a.id.as_str());
    assert_eq!(body["channel_kind"], "mail");
    letter.ack().await.ok();

    let status = notifier.status();
    assert_eq!(status["status"]["channels"]["mail"]["dead_lettered"], 1, "{status}");
    assert_eq!(status["status"]["recent_dead_letters"][0]["alerts"], 1, "{status}");
    Ok(())
}

#[tokio::test]
async fn the_test_message_answers_with_the_servers_reply_or_the_exact_error() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus.put_settings(&settings(|_| {})).await?;
    let (_notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;
    let subject = t.bus.namespace().notify_test_subject();
    let ask = |request: TestRequest| {
        let client = t.bus.client().clone();
        let subject = subject.clone();
        async move {
            let reply = client.request(subject, serde_json::to_vec(&request)?.into()).await?;
            anyhow::Ok(serde_json::from_slice::<TestReply>(&reply.payload)?)
        }
    };

    let reply = ask(TestRequest::default()).await?;
    assert!(reply.ok, "{reply:?}");
    assert!(reply.detail.starts_with("250"), "{reply:?}");
    assert_eq!(reply.to, ["soc@contoso.test", "oncall@contoso.test"]);
    assert_eq!(reply.transport, "smtp");
    let mail = wait_mail(&sim, 1, Duration::from_secs(5)).await?;
    assert_eq!(mail[0].subject.as_deref(), Some("[m365-monitor] Test message"));

    let reply = ask(TestRequest { to: vec!["admin@contoso.test".into()] }).await?;
    assert!(reply.ok && reply.to == ["admin@contoso.test"], "{reply:?}");

    sim.refuse_smtp(Duration::from_secs(30), RefusalStage::Mail, 451);
    let reply = ask(TestRequest { to: vec!["admin@contoso.test".into()] }).await?;
    assert!(!reply.ok && reply.detail.contains("451"), "{reply:?}");

    let reply = ask(TestRequest { to: vec!["not an address".into()] }).await?;
    assert!(!reply.ok && reply.detail.contains("not a mail address"), "{reply:?}");
    Ok(())
}

#[tokio::test]
async fn graph_sendmail_delivers_with_the_apps_own_credential() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    let tenant = sim.tenants()[0].clone();
    let app =
        tenant.apps.iter().find(|a| a.permissions.iter().any(|p| p == "Mail.Send")).unwrap_or(&tenant.apps[0]).clone();
    if !app.permissions.iter().any(|p| p == "Mail.Send") {
        sim.set_permissions(0, &app.client_id, &["AuditLog.Read.All", "Directory.Read.All", "Mail.Send"]);
    }
    // Graph sends as an existing mailbox of the tenant.
    let sender = tenant.admin_upns.first().cloned().unwrap_or_else(|| tenant.break_glass_upn.clone());
    let mut config = GraphConfig::new(
        tenant.tenant_id.clone(),
        app.client_id.clone(),
        ClientCredential::Secret(ClientSecret::new(app.client_secret.clone())),
    );
    config.endpoints = CloudEndpoints::custom(sim.base_url(), sim.base_url())?;
    config.extra_ca_pem = Some(sim.ca_pem().as_bytes().to_vec());
    config.pacing = Pacing::Off;
    let mailer = GraphMailer::from_client(GraphClient::new(config)?, sender.clone());
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 0;
            n.mail_from = Some(sender.clone());
        }))
        .await?;
    sim.refuse_sendmail(Duration::from_secs(2), 503);
    let (_notifier, _shutdown) = start(&t, MailTransport::Graph(mailer), Arc::new(SystemClock)).await?;
    publish(&t.bus, &alert(RuleId::RiskySignIn, Severity::High, "contoso", "dave@contoso.test", 0)).await?;
    let mail = wait_mail(&sim, 1, Duration::from_secs(30)).await?;
    let m = &mail[0];
    assert_eq!(m.transport, SimTransport::Graph);
    assert_eq!(m.rcpt_to.len(), 2);
    assert!(m.subject.as_deref().unwrap_or("").starts_with("[m365-monitor] HIGH Risky sign-in"), "{:?}", m.subject);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.mail().len(), 1, "sent once despite the 503s");
    Ok(())
}

#[tokio::test]
async fn the_rate_limit_defers_and_never_drops() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    // 6 a minute: a burst of 1, then one every 10 s. Groups by user: 3 groups, 3 messages.
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 0;
            n.mail_rate_per_minute = 6;
            n.group_by = vec!["user".into()];
        }))
        .await?;
    let (notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;
    for user in ["u1@contoso.test", "u2@contoso.test", "u3@contoso.test"] {
        publish(&t.bus, &alert(RuleId::FailedLogins, Severity::Medium, "contoso", user, 0)).await?;
    }
    wait_mail(&sim, 1, Duration::from_secs(10)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.mail().len(), 1, "the burst is one message");
    let deferred = notifier.status()["status"]["channels"]["mail"]["deferred"].as_u64().unwrap_or(0);
    assert!(deferred >= 2, "{}", notifier.status());
    let mail = wait_mail(&sim, 3, Duration::from_secs(30)).await?;
    assert_eq!(mail.len(), 3);
    Ok(())
}
