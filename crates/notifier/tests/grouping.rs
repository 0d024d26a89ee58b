//! Grouping against the real NATS and graph-sim's SMTP capture: timing with an injected clock,
//! one message per group, redeliveries and revisions, a storm, hostile text.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use m365mon_contracts::{RuleId, Severity};
use m365mon_notifier::{ManualClock, StateStore, SystemClock};
use m365mon_testkit::{TestBus, eventually};

#[tokio::test]
async fn group_wait_and_group_interval_with_an_injected_clock() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 30;
            n.group_interval_seconds = 300;
        }))
        .await?;
    let clock = ManualClock::new(Utc::now());
    let (notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(clock.clone())).await?;

    // Three alerts of one rule in one tenant, one of another rule, and a duplicate publication.
    let a = alert(RuleId::FailedLogins, Severity::Medium, "contoso", "alice@contoso.test", 0);
    let b = alert(RuleId::FailedLogins, Severity::Medium, "contoso", "bob@contoso.test", 0);
    let c = alert(RuleId::FailedLogins, Severity::High, "contoso", "carol@contoso.test", 0);
    let d = alert(RuleId::MfaFatigue, Severity::High, "contoso", "alice@contoso.test", 0);
    for x in [&a, &b, &c, &d] {
        publish(&t.bus, x).await?;
    }
    publish_again(&t.bus, &a).await?;
    wait_received(&notifier, 5).await?;

    // Inside group_wait nothing goes out, however long the real time.
    clock.advance(chrono::Duration::seconds(29));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(sim.mail().is_empty(), "mail sent inside group_wait");

    // At group_wait: one message per group.
    clock.advance(chrono::Duration::seconds(1));
    let mail = wait_mail(&sim, 2, Duration::from_secs(10)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.mail().len(), 2, "{:#?}", sim.mail().iter().map(|m| &m.subject).collect::<Vec<_>>());
    let subjects: HashSet<String> = mail.iter().filter_map(|m| m.subject.clone()).collect();
    assert!(subjects.contains("[m365-monitor] HIGH Failed sign-ins: 3 alerts – tenant contoso"), "{subjects:?}");
    assert!(subjects.iter().any(|s| s.starts_with("[m365-monitor] HIGH MFA fatigue: ")), "{subjects:?}");
    let spray = mail.iter().find(|m| m.subject.as_deref().unwrap_or("").contains("3 alerts")).unwrap();
    assert_eq!(spray.rcpt_to.len(), 2, "both addresses of the receiver");
    let text = spray.text_body.as_deref().unwrap_or("");
    for user in ["alice@contoso.test", "bob@contoso.test", "carol@contoso.test"] {
        assert_eq!(text.matches(&format!("Who:   {user}")).count(), 1, "{user} once in\n{text}");
    }

    // A new revision of one incident: nothing before the group_interval tick, then one message
    // with the incident updated (still one alert, not two).
    let a1 = alert(RuleId::FailedLogins, Severity::Medium, "contoso", "alice@contoso.test", 1);
    publish(&t.bus, &a1).await?;
    wait_received(&notifier, 6).await?;
    clock.advance(chrono::Duration::seconds(299));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.mail().len(), 2, "an update went out before group_interval");
    clock.advance(chrono::Duration::seconds(1));
    let mail = wait_mail(&sim, 3, Duration::from_secs(10)).await?;
    let update = &mail[2];
    assert_eq!(
        update.subject.as_deref(),
        Some("[m365-monitor] HIGH Failed sign-ins: 3 alerts (1 new or updated) – tenant contoso")
    );
    let text = update.text_body.as_deref().unwrap_or("");
    assert!(text.contains("[UPDATED] MEDIUM – 6 failed sign-ins for alice@contoso.test"), "{text}");
    assert_eq!(text.matches("Who:   alice@contoso.test").count(), 1, "{text}");
    assert!(headers(update).contains("In-Reply-To:"), "updates thread under the first message");

    // Replays of revisions already mailed, and an older revision arriving late: never mailed.
    publish_again(&t.bus, &a1).await?;
    publish_again(&t.bus, &a).await?;
    publish_again(&t.bus, &d).await?;
    wait_received(&notifier, 9).await?;
    for _ in 0..3 {
        clock.advance(chrono::Duration::seconds(300));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(sim.mail().len(), 3, "a revision was mailed twice");
    Ok(())
}

#[tokio::test]
async fn critical_alerts_skip_group_wait() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus.put_settings(&settings(|n| n.group_wait_seconds = 600)).await?;
    let clock = ManualClock::new(Utc::now());
    let (notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(clock.clone())).await?;
    let glass = alert(RuleId::BreakGlass, Severity::Critical, "contoso", "glass@contoso.test", 0);
    publish(&t.bus, &glass).await?;
    wait_received(&notifier, 1).await?;
    let mail = wait_mail(&sim, 1, Duration::from_secs(10)).await?;
    assert!(
        mail[0].subject.as_deref().unwrap_or("").starts_with("[m365-monitor] CRITICAL Break-glass account sign-in")
    );
    Ok(())
}

#[tokio::test]
async fn a_storm_of_thousands_of_alerts_becomes_a_handful_of_messages() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus
        .put_settings(&settings(|n| {
            n.group_wait_seconds = 2;
            n.group_interval_seconds = 3;
        }))
        .await?;
    let (notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;
    let started = std::time::Instant::now();
    let storm = 3_000usize;
    for i in 0..storm {
        let tenant = if i % 3 == 0 { "fabrikam" } else { "contoso" };
        publish(&t.bus, &alert(RuleId::FailedLogins, Severity::Medium, tenant, &format!("user{i}@{tenant}.test"), 0))
            .await?;
    }
    wait_received(&notifier, storm as u64).await?;
    let took = started.elapsed();
    // Every alert is delivered: each group's last message counts all of its alerts.
    let mail = eventually(Duration::from_secs(30), "messages counting all 3000 alerts", || {
        let mail = sim.mail();
        let latest = |tenant: &str| {
            mail.iter()
                .rev()
                .filter_map(|m| m.subject.as_deref())
                .find(|s| s.ends_with(&format!("tenant {tenant}")))
                .and_then(|s| s.split(": ").nth(1))
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let done = latest("contoso") == 2_000 && latest("fabrikam") == 1_000;
        async move { done.then_some(mail) }
    })
    .await?;
    let messages = mail.len();
    println!("storm: {storm} alerts in {took:?} became {messages} messages");
    assert!(messages <= 2 * (took.as_secs() as usize / 3 + 3), "{messages} messages for {storm} alerts in {took:?}");
    assert!(mail.iter().all(|m| m.html_body.as_deref().is_some_and(|h| h.len() < 200_000)));
    // And the log says every alert is covered.
    let store = StateStore::open(&t.bus).await?;
    eventually(Duration::from_secs(10), "the mirror to catch up", || {
        let ok = store.caught_up();
        async move { ok.then_some(()) }
    })
    .await?;
    store.with_mirror(|m| {
        assert_eq!(m.alert_count(), storm);
        for (gid, (group, _)) in &m.groups {
            let through = group.channels["mail"].log.expect("sent").sent_through;
            let max = m.alerts[gid].values().map(|(_, seq)| *seq).max().unwrap();
            assert!(through >= max, "group {gid} not fully delivered");
        }
    });
    Ok(())
}

#[tokio::test]
async fn hostile_record_text_is_escaped_and_adds_no_headers() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let sim = sim();
    t.bus.put_settings(&settings(|n| n.group_wait_seconds = 0)).await?;
    let (_notifier, _shutdown) = start(&t, smtp(&sim), Arc::new(SystemClock)).await?;
    let mut evil = alert(RuleId::ImpossibleTravel, Severity::High, "contoso", "eve@contoso.test", 0);
    evil.title = "Impossible travel for Eve\r\nBcc: victim@contoso.test\r\nX-Injected: yes".into();
    evil.user = Some("eve@contoso.test\r\nReply-To: attacker@evil.test".into());
    evil.details = serde_json::json!({
        "user_display_name": "Eve <script>alert(1)</script>\r\nCc: leak@evil.test",
        "user_agent": "Mozilla/5.0 \"><img src=x onerror=alert(2)>",
        "app_display_name": "<a href=\"https://evil.test\">Office</a>",
        "location": {"city": "Paris\r\nX-City: injected <b>", "countryOrRegion": "FR"},
    });
    publish(&t.bus, &evil).await?;
    let mail = wait_mail(&sim, 1, Duration::from_secs(15)).await?;
    let m = &mail[0];
    let head = headers(m);
    for injected in ["Bcc:", "X-Injected:", "Reply-To:", "Cc:", "X-City:"] {
        assert!(!head.lines().any(|l| l.starts_with(injected)), "header {injected} injected:\n{head}");
    }
    assert_eq!(m.rcpt_to.len(), 2, "no extra recipients: {:?}", m.rcpt_to);
    let subject = m.subject.as_deref().unwrap_or("");
    assert!(subject.contains("Impossible travel for Eve Bcc: victim@contoso.test X-Injected: yes"), "{subject}");
    let html = m.html_body.as_deref().unwrap_or("");
    for raw in ["<script>", "<img src=x", "<a href=\"https://evil.test\"", "injected <b>"] {
        assert!(!html.contains(raw), "raw {raw:?} in the HTML part");
    }
    assert!(html.contains("Eve &lt;script&gt;alert(1)&lt;/script&gt; Cc: leak@evil.test"), "{html}");
    assert!(html.contains("Paris X-City: injected &lt;b&gt;, FR"), "{html}");
    Ok(())
}
