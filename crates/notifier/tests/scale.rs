//! Settings applied live, and several notifiers sharing the work (queue group on one durable
//! consumer, state in KV) without sending a group twice.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use m365mon_contracts::settings::Receiver;
use m365mon_contracts::{RuleId, Severity};
use m365mon_notifier::{Notifier, NotifierConfig, SystemClock};
use m365mon_runtime::CancellationToken;
use m365mon_testkit::{TestBus, eventually};

#[tokio::test]
async fn receivers_and_timings_change_live() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus.put_settings(&settings(|n| n.group_wait_seconds = 0)).await?;
    let (notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;
    publish(&t.bus, &alert(RuleId::FailedLogins, Severity::Medium, "contoso", "alice@contoso.test", 0)).await?;
    let mail = wait_mail(&sim, 1, Duration::from_secs(10)).await?;
    assert_eq!(mail[0].rcpt_to, ["soc@contoso.test", "oncall@contoso.test"]);

    // Another receiver, only for high and above, and a group wait: applied without a restart.
    let mut changed = settings(|n| {
        n.group_wait_seconds = 3;
        n.receivers = vec![Receiver {
            name: "ciso".into(),
            email: vec!["ciso@contoso.test".into()],
            min_severity: Severity::High,
            ..Receiver::default()
        }];
    });
    changed.notifications.subject_prefix = "[SEC]".into();
    t.bus.put_settings(&changed).await?;
    // The old receiver's group goes away with its receiver.
    eventually(Duration::from_secs(10), "the removed receiver's group to be dropped", || {
        let groups = notifier.status()["groups"].as_u64().unwrap_or(99);
        async move { (groups == 0).then_some(()) }
    })
    .await?;
    publish(&t.bus, &alert(RuleId::FailedLogins, Severity::Medium, "contoso", "bob@contoso.test", 0)).await?;
    publish(&t.bus, &alert(RuleId::MfaFatigue, Severity::High, "contoso", "carol@contoso.test", 0)).await?;
    let published = std::time::Instant::now();
    let mail = wait_mail(&sim, 2, Duration::from_secs(15)).await?;
    assert!(published.elapsed() >= Duration::from_secs(2), "the new group_wait applies");
    assert_eq!(mail[1].rcpt_to, ["ciso@contoso.test"]);
    assert!(mail[1].subject.as_deref().unwrap_or("").starts_with("[SEC] HIGH MFA fatigue"), "{:?}", mail[1].subject);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.mail().len(), 2, "the medium alert has no receiver any more");
    Ok(())
}

#[tokio::test]
async fn two_notifiers_share_the_work_and_never_send_a_group_twice() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 1;
            n.group_by = vec!["tenant".into(), "user".into()];
        }))
        .await?;
    let shutdown = CancellationToken::new();
    let mut notifiers = Vec::new();
    for name in ["n1", "n2"] {
        let config = NotifierConfig { instance: name.into(), ..config() };
        notifiers
            .push(Notifier::start(t.bus.clone(), config, smtp(&sim), Arc::new(SystemClock), shutdown.clone()).await?);
    }
    // 10 groups (users), 5 alerts each, interleaved.
    for round in 0..5 {
        for u in 0..10 {
            let user = format!("user{u}@contoso.test");
            let rule =
                [RuleId::FailedLogins, RuleId::MfaFatigue, RuleId::LegacyAuth, RuleId::NewCountry, RuleId::AfterHours]
                    [round];
            publish(&t.bus, &alert(rule, Severity::Medium, "contoso", &user, 0)).await?;
        }
    }
    let received: u64 = eventually(Duration::from_secs(20), "both notifiers to read all 50 alerts", || {
        let total: u64 = notifiers.iter().map(|n| n.status()["status"]["alerts_received"].as_u64().unwrap_or(0)).sum();
        async move { (total >= 50).then_some(total) }
    })
    .await?;
    assert_eq!(received, 50);
    wait_mail(&sim, 10, Duration::from_secs(20)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mail = sim.mail();
    let mut per_user: HashMap<String, usize> = HashMap::new();
    for m in &mail {
        let text = m.text_body.as_deref().unwrap_or("");
        let user = (0..10).map(|u| format!("user{u}@contoso.test")).find(|u| text.contains(&format!("Who:   {u}")));
        *per_user.entry(user.unwrap_or_default()).or_default() += 1;
    }
    assert_eq!(per_user.len(), 10, "{per_user:?}");
    // A group's alerts may span two messages (some arrived after its first flush), but no
    // message is sent twice: every alert of a user is in exactly one of that user's messages.
    for u in 0..10 {
        let user = format!("user{u}@contoso.test");
        let listed: usize = mail
            .iter()
            .filter_map(|m| m.text_body.as_deref())
            .filter(|t| t.contains(&format!("Who:   {user}")))
            .map(|t| t.matches("[NEW]").count())
            .sum();
        assert_eq!(listed, 5, "{user}: alerts announced as new {listed} times");
    }
    let sent_by: Vec<u64> =
        notifiers.iter().map(|n| n.status()["status"]["channels"]["mail"]["sent"].as_u64().unwrap_or(0)).collect();
    println!("messages sent by each notifier: {sent_by:?}");
    assert_eq!(sent_by.iter().sum::<u64>() as usize, mail.len());
    shutdown.cancel();
    for n in notifiers {
        n.stop().await;
    }
    Ok(())
}
