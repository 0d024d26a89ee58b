//! `kill -9` of the notifier binary in the middle of sending: after a restart every group is
//! delivered, and at most one message is repeated.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use m365mon_contracts::{RuleId, Severity};
use m365mon_graph_sim::GraphSim;
use m365mon_testkit::TestBus;

fn spawn(t: &TestBus, sim: &GraphSim, ca_file: &std::path::Path) -> std::io::Result<Child> {
    let smtp = sim.info().smtp.clone().expect("SMTP listener");
    Command::new(env!("CARGO_BIN_EXE_m365mon-notifier"))
        .env("NATS_URL", &t.url)
        .env("M365MON_NAMESPACE", t.namespace().as_str())
        .env("M365MON_NOTIFIER_HEALTH_ADDR", "127.0.0.1:0")
        .env("M365MON_NOTIFIER_SEND_TIMEOUT", "2s")
        .env("M365MON_MAIL_TRANSPORT", "smtp")
        .env("M365MON_SMTP_HOST", &smtp.host)
        .env("M365MON_SMTP_PORT", smtp.port.to_string())
        .env("M365MON_SMTP_TLS", "starttls")
        .env("M365MON_SMTP_USER", &smtp.username)
        .env("M365MON_SMTP_PASSWORD", &smtp.password)
        .env("M365MON_SMTP_CA_FILE", ca_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
}

#[tokio::test]
async fn kill_9_while_sending_loses_nothing_and_repeats_at_most_one_message() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    let mut ca = tempfile::NamedTempFile::new()?;
    ca.write_all(sim.ca_pem().as_bytes())?;
    // One group per user, sent as soon as it exists: a steady stream of sends to interrupt.
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 0;
            n.group_by = vec!["user".into()];
        }))
        .await?;
    t.bus.ensure_alerts_stream(m365mon_bus::StreamLimits::ALERTS).await?;
    let users: Vec<String> = (0..60).map(|i| format!("user{i:02}@contoso.test")).collect();
    for user in &users {
        publish(&t.bus, &alert(RuleId::FailedLogins, Severity::Medium, "contoso", user, 0)).await?;
    }

    let mut first = spawn(&t, &sim, ca.path())?;
    wait_mail(&sim, 8, Duration::from_secs(60)).await?;
    first.kill()?; // SIGKILL
    first.wait()?;
    let at_kill = sim.mail().len();
    assert!(at_kill < users.len(), "the kill came too late to interrupt anything ({at_kill} sent)");

    let mut second = spawn(&t, &sim, ca.path())?;
    let outcome = async {
        // The binary answers the NATS service protocol with its status document.
        let subject = m365mon_bus::service::status_subject(&t.bus, "notifier");
        let status = m365mon_testkit::eventually(Duration::from_secs(20), "the status endpoint", || {
            let client = t.bus.client().clone();
            let subject = subject.clone();
            async move {
                let reply = client.request(subject, "".into()).await.ok()?;
                serde_json::from_slice::<serde_json::Value>(&reply.payload).ok()
            }
        })
        .await?;
        assert_eq!(status["service"], "notifier", "{status}");
        assert_eq!(status["status"]["mail_transport"], "smtp", "{status}");
        // Every user's group is mailed (a group claimed by the killed process waits for its claim
        // to expire: 2 s × 2 + 5 s).
        m365mon_testkit::eventually(Duration::from_secs(60), "every group delivered", || {
            let mail = sim.mail();
            let done =
                users.iter().all(|u| mail.iter().any(|m| m.subject.as_deref().unwrap_or("").contains(u.as_str())));
            async move { done.then_some(mail) }
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        anyhow::Ok(sim.mail())
    }
    .await;
    second.kill()?;
    second.wait()?;
    let mail = outcome?;
    let mut per_user: HashMap<&str, usize> = HashMap::new();
    for m in &mail {
        let subject = m.subject.as_deref().unwrap_or("");
        if let Some(user) = users.iter().find(|u| subject.contains(u.as_str())) {
            *per_user.entry(user.as_str()).or_default() += 1;
        }
    }
    let repeated: Vec<_> = per_user.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "kill -9 after {at_kill} messages: {} messages for {} groups, repeated: {repeated:?}",
        mail.len(),
        users.len()
    );
    assert_eq!(per_user.len(), users.len(), "a group was lost");
    assert!(mail.len() <= users.len() + 1, "more than one message repeated: {repeated:?}");
    Ok(())
}
