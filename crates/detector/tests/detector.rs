//! The detector against the real NATS server, each test in a namespace of its own.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use m365mon_contracts::names::headers;
use m365mon_contracts::{RuleId, Settings};
use m365mon_detector::PartitionSet;
use m365mon_testkit::{TestBus, eventually};

/// Publishes `count` failed sign-ins of `user` (ids `<prefix>0`, `<prefix>1` …), `step` apart
/// from `from`; answers the last one's stream sequence.
async fn publish_failures(
    bus: &m365mon_bus::Bus,
    tenant: &str,
    (prefix, user): (&str, &str),
    from: chrono::DateTime<chrono::Utc>,
    step: chrono::Duration,
    count: i32,
) -> anyhow::Result<u64> {
    let mut last = 0;
    for i in 0..count {
        last = publish_record(bus, tenant, &failed(signin(&format!("{prefix}{i}"), from + step * i, user))).await?;
    }
    Ok(last)
}

fn tenants(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn alerts_match_an_engine_run_and_appear_once() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let records = workload(&tenants(&["tenant-a", "tenant-b"]), 1_500, 7);
    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let mut published = Vec::new();
    for (tenant, record) in &records {
        published.push((tenant.clone(), publish_record(&t.bus, tenant, record).await?));
    }
    wait_processed(&[&detector], &last_sequences(&published), Duration::from_secs(120)).await?;
    let expected = reference(&records, &Settings::default());
    assert!(expected.len() > 20, "the workload raises alerts ({} here)", expected.len());
    assert!(
        expected.values().any(|a| a.rule == RuleId::FailedLogins)
            && expected.values().any(|a| a.rule == RuleId::PasswordSpray)
    );
    assert!(expected.values().any(|a| a.revision > 0), "some incidents grow and are re-published");
    assert_same_alerts(&alerts_on_stream(&t.bus).await?, &expected);

    // Published again (a collector replaying its overlap): nothing new.
    for (tenant, record) in records.iter().take(300) {
        publish_record(&t.bus, tenant, record).await?;
    }
    let status = detector.board.snapshot();
    assert_eq!(status.tenants.len(), 2);
    assert!(status.tenants.iter().all(|t| t.alerts > 0 && t.dead_letters == 0));
    detector.stop().await?;
    assert_same_alerts(&alerts_on_stream(&t.bus).await?, &expected);
    Ok(())
}

#[tokio::test]
async fn a_restart_continues_from_the_snapshot_without_repeating_alerts() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let all = tenants(&["tenant-r"]);
    let records = workload(&all, 2_000, 11);
    let (first, second) = records.split_at(1_100);
    let mut published = Vec::new();
    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    for (tenant, record) in first {
        published.push((tenant.clone(), publish_record(&t.bus, tenant, record).await?));
    }
    wait_processed(&[&detector], &last_sequences(&published), Duration::from_secs(120)).await?;
    detector.stop().await?;

    // Records arrive while no detector runs; a new process picks up where the old one stopped.
    for (tenant, record) in second {
        published.push((tenant.clone(), publish_record(&t.bus, tenant, record).await?));
    }
    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    wait_processed(&[&detector], &last_sequences(&published), Duration::from_secs(120)).await?;
    let status = detector.board.snapshot();
    assert!(status.tenants[0].records <= second.len() as u64, "the second run only read the new records");
    detector.stop().await?;
    assert_same_alerts(&alerts_on_stream(&t.bus).await?, &reference(&records, &Settings::default()));
    Ok(())
}

#[tokio::test]
async fn unreadable_records_are_dead_lettered_and_the_stream_moves_on() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let tenant = "tenant-poison";
    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let base = common::t("2026-03-03T10:00:00Z");
    let mut last =
        publish_failures(&t.bus, tenant, ("f", "bob@contoso.com"), base, chrono::Duration::seconds(1), 3).await?;
    publish_raw(&t.bus, tenant, "signin", "garbage-1", "new", b"{\"id\": \"x\", \"createdDateTime\": ".to_vec())
        .await?;
    publish_raw(
        &t.bus,
        tenant,
        "signin",
        "no-time-1",
        "new",
        br#"{"id": "no-time-1", "userPrincipalName": "bob@contoso.com", "status": {"errorCode": 50126}}"#.to_vec(),
    )
    .await?;
    for i in 3..6 {
        last = publish_record(
            &t.bus,
            tenant,
            &failed(signin(&format!("f{i}"), base + chrono::Duration::seconds(i), "bob@contoso.com")),
        )
        .await?;
    }
    eventually(Duration::from_secs(30), "every record processed", || {
        let done = detector.position(tenant) >= last;
        async move { done.then_some(()) }
    })
    .await?;

    // Both bad records are on the dead-letter stream with the reason; the six failures around
    // them still make one brute-force alert.
    let dead = t.bus.ensure_dead_letter_stream().await?;
    let consumer = dead.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next()).await?.expect("a dead letter")?;
        let h = m.headers.clone().unwrap_or_default();
        assert_eq!(h.get(headers::DEAD_LETTER_SERVICE).map(|v| v.as_str()), Some("detector"));
        assert_eq!(
            h.get(headers::DEAD_LETTER_SUBJECT).map(|v| v.as_str().to_string()),
            Some(t.bus.namespace().event_subject("signin", tenant)?)
        );
        reasons.push(h.get(headers::DEAD_LETTER_REASON).map(|v| v.as_str().to_string()).unwrap_or_default());
    }
    assert!(reasons[0].starts_with("unreadable Graph record"), "{reasons:?}");
    assert!(reasons[1].contains("no event time"), "{reasons:?}");
    let alerts = alerts_on_stream(&t.bus).await?;
    let failed_logins: Vec<_> = alerts.values().filter(|(a, _)| a.rule == RuleId::FailedLogins).collect();
    assert_eq!(failed_logins.len(), 1, "{alerts:?}");
    assert_eq!(detector.board.snapshot().tenants[0].dead_letters, 2);
    detector.stop().await?;
    Ok(())
}

#[tokio::test]
async fn an_updated_record_is_not_counted_twice() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let tenant = "tenant-upd";
    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let base = common::t("2026-03-03T10:00:00Z");
    let last =
        publish_failures(&t.bus, tenant, ("u", "carol@contoso.com"), base, chrono::Duration::seconds(10), 5).await?;
    // Graph changes record u2 later (MFA details arrive): the collector publishes it again as
    // an update, with another message id.
    let mut updated = failed(signin("u2", base + chrono::Duration::seconds(20), "carol@contoso.com"));
    updated["status"]["additionalDetails"] = serde_json::json!("MFA completed in Azure AD");
    let payload = serde_json::to_vec(&updated)?;
    let after = publish_raw(&t.bus, tenant, "signin", "u2.v2", "update", payload).await?;
    assert!(after > last);
    eventually(Duration::from_secs(30), "the update processed", || {
        let done = detector.position(tenant) >= after;
        async move { done.then_some(()) }
    })
    .await?;
    let alerts = alerts_on_stream(&t.bus).await?;
    let failed_logins: Vec<_> = alerts.values().filter(|(a, _)| a.rule == RuleId::FailedLogins).collect();
    assert_eq!(failed_logins.len(), 1);
    assert!(failed_logins.iter().all(|(a, _)| a.count == 5), "five distinct records: {failed_logins:?}");
    detector.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_settings_change_applies_to_the_next_records() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let tenant = "tenant-settings";
    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let base = common::t("2026-03-03T10:00:00Z");
    // Three failures: below the default threshold of five.
    let mut last =
        publish_failures(&t.bus, tenant, ("a", "anna@contoso.com"), base, chrono::Duration::seconds(1), 3).await?;
    eventually(Duration::from_secs(30), "the first records processed", || {
        let done = detector.position(tenant) >= last;
        async move { done.then_some(()) }
    })
    .await?;
    assert!(alerts_on_stream(&t.bus).await?.is_empty());

    let mut settings = Settings::default();
    settings.failed_logins.threshold = 3;
    let changed_at = chrono::Utc::now();
    t.bus.put_settings(&settings).await?;
    eventually(Duration::from_secs(10), "the detector to apply the settings", || {
        let status = detector.board.snapshot();
        let applied = status.tenants.iter().any(|t| t.settings_applied_at.is_some_and(|at| at >= changed_at));
        async move { applied.then_some(()) }
    })
    .await?;
    last = publish_failures(
        &t.bus,
        tenant,
        ("b", "ben@contoso.com"),
        base + chrono::Duration::seconds(30),
        chrono::Duration::seconds(1),
        3,
    )
    .await?;
    eventually(Duration::from_secs(30), "the later records processed", || {
        let done = detector.position(tenant) >= last;
        async move { done.then_some(()) }
    })
    .await?;
    let alerts = alerts_on_stream(&t.bus).await?;
    let users: Vec<Option<String>> = alerts.values().map(|(a, _)| a.user.clone()).collect();
    assert_eq!(users, vec![Some("ben@contoso.com".to_string())], "only the records after the change alert");
    detector.stop().await?;
    Ok(())
}

#[tokio::test]
async fn privileged_accounts_come_from_the_collectors_directory_roles() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let tenant = "tenant-roles";
    let detector = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let base = common::t("2026-03-03T10:00:00Z");
    let first = publish_record(&t.bus, tenant, &signin("s1", base, "root@contoso.com")).await?;
    eventually(Duration::from_secs(30), "the first sign-in processed", || {
        let done = detector.position(tenant) >= first;
        async move { done.then_some(()) }
    })
    .await?;
    assert!(alerts_on_stream(&t.bus).await?.is_empty(), "not privileged yet");

    let roles = t
        .bus
        .ensure_bucket(&t.bus.namespace().directory_roles_bucket(), m365mon_bus::topology::BucketOptions::new("test"))
        .await?;
    let document = serde_json::json!({
        "version": 1, "tenant": tenant, "synced_at": "2026-03-03T10:05:00Z",
        "roles": [{"id": "r1", "role_template_id": "62e90394-69f5-4237-9190-012177145e10",
                   "display_name": "Global Administrator", "member_ids": ["oid-root"]}],
        "members": [{"id": "oid-root", "type": "user", "user_principal_name": "Root@Contoso.com",
                     "display_name": "Root", "roles": ["Global Administrator"], "role_template_ids": []}]
    });
    roles.put(tenant, serde_json::to_vec(&document)?.into()).await?;
    // The engine takes the accounts between records; a record published after the change
    // may still be evaluated before the watch delivers it, so wait for an alert.
    let mut n = 2;
    eventually(Duration::from_secs(30), "an admin_sign_in alert", || {
        let bus = t.bus.clone();
        n += 1;
        let id = format!("s{n}");
        async move {
            publish_record(&bus, tenant, &signin(&id, base + chrono::Duration::minutes(n), "root@contoso.com"))
                .await
                .ok()?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let alerts = alerts_on_stream(&bus).await.ok()?;
            alerts.values().find(|(a, _)| a.rule == RuleId::AdminSignIn).map(|_| ())
        }
    })
    .await?;
    detector.stop().await?;
    Ok(())
}

#[tokio::test]
async fn two_detectors_share_the_tenants_without_overlap_or_gaps() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let names: Vec<String> = (0..8).map(|i| format!("tenant-{i}")).collect();
    let low = PartitionSet::parse("0-7", 16)?;
    let high = PartitionSet::parse("8-15", 16)?;
    assert!(names.iter().any(|n| low.owns(n)) && names.iter().any(|n| high.owns(n)), "both halves have work");
    let records = workload(&names, 300, 3);
    let a = start_detector(&t.bus, test_config(low.clone())).await?;
    let b = start_detector(&t.bus, test_config(high.clone())).await?;
    let mut published = Vec::new();
    for (tenant, record) in &records {
        published.push((tenant.clone(), publish_record(&t.bus, tenant, record).await?));
    }
    wait_processed(&[&a, &b], &last_sequences(&published), Duration::from_secs(120)).await?;
    let sa = a.board.snapshot();
    let sb = b.board.snapshot();
    for s in &sa.tenants {
        assert!(low.owns(&s.tenant), "{} is not in A's partitions", s.tenant);
    }
    for s in &sb.tenants {
        assert!(high.owns(&s.tenant), "{} is not in B's partitions", s.tenant);
    }
    assert_eq!(sa.tenants.len() + sb.tenants.len(), names.len(), "every tenant is worked on by exactly one");
    assert_eq!(sa.tenants.iter().chain(&sb.tenants).map(|t| t.records).sum::<u64>(), records.len() as u64);
    a.stop().await?;
    b.stop().await?;
    assert_same_alerts(&alerts_on_stream(&t.bus).await?, &reference(&records, &Settings::default()));
    Ok(())
}

#[tokio::test]
async fn detectors_given_the_same_partitions_never_work_on_one_tenant_together() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let names: Vec<String> = (0..4).map(|i| format!("shared-{i}")).collect();
    let records = workload(&names, 300, 5);
    let a = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let b = start_detector(&t.bus, test_config(PartitionSet::all(16)?)).await?;
    let mut published = Vec::new();
    for (tenant, record) in &records {
        published.push((tenant.clone(), publish_record(&t.bus, tenant, record).await?));
    }
    wait_processed(&[&a, &b], &last_sequences(&published), Duration::from_secs(120)).await?;
    let total: u64 = a.board.snapshot().tenants.iter().chain(&b.board.snapshot().tenants).map(|t| t.records).sum();
    assert_eq!(total, records.len() as u64, "each record evaluated once, by the lease holder");
    a.stop().await?;
    b.stop().await?;
    assert_same_alerts(&alerts_on_stream(&t.bus).await?, &reference(&records, &Settings::default()));
    Ok(())
}

#[tokio::test]
async fn an_idle_tenant_still_gets_its_grown_incident_published() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let tenant = "tenant-idle";
    let settings = Settings { realert_minutes: 1, ..Settings::default() };
    t.bus.put_settings(&settings).await?;
    let mut config = test_config(PartitionSet::all(16)?);
    config.idle_advance_after = Duration::from_secs(1);
    let detector = start_detector(&t.bus, config).await?;
    let base = common::t("2026-03-03T10:00:00Z");
    // Five failures open the incident (revision 0); two more make it grow, but the growth is
    // due only a minute of event time after the first publication, and no record comes then.
    for (i, second) in [0, 1, 2, 3, 4, 10, 20].into_iter().enumerate() {
        let record = failed(signin(&format!("i{i}"), base + chrono::Duration::seconds(second), "ida@contoso.com"));
        publish_record(&t.bus, tenant, &record).await?;
    }
    let grown = eventually(Duration::from_secs(120), "the grown incident published while idle", || {
        let bus = t.bus.clone();
        async move {
            let alerts = alerts_on_stream(&bus).await.ok()?;
            alerts.values().find(|(a, _)| a.rule == RuleId::FailedLogins && a.revision == 1).map(|(a, _)| a.clone())
        }
    })
    .await?;
    assert_eq!(grown.count, 7);
    let alerts = alerts_on_stream(&t.bus).await?;
    assert_eq!(alerts.values().filter(|(a, _)| a.rule == RuleId::FailedLogins).count(), 2, "revisions 0 and 1");
    detector.stop().await?;
    Ok(())
}
