//! The bus adapter against the real NATS server, each test in its own namespace.

use std::time::Duration;

use async_nats::HeaderMap;
use futures::StreamExt;
use m365mon_bus::StreamLimits;
use m365mon_bus::kv::JsonKv;
use m365mon_bus::topology::BucketOptions;
use m365mon_contracts::Settings;
use m365mon_testkit::{TestBus, eventually};

#[tokio::test]
async fn streams_are_created_once_and_limits_follow_the_configuration() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let bus = &t.bus;
    bus.ensure_events_stream(StreamLimits::EVENTS).await?;
    bus.ensure_events_stream(StreamLimits::EVENTS).await?;
    let shorter = StreamLimits { max_age: Duration::from_secs(3600), ..StreamLimits::EVENTS };
    let mut stream = bus.ensure_events_stream(shorter).await?;
    let info = stream.info().await?;
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
    assert_eq!(info.config.subjects, vec![bus.namespace().events_filter()]);
    Ok(())
}

/// The collector owns the events stream's limits (its duplicate window covers the poll overlap);
/// the detector opening the stream must not put the defaults back.
#[tokio::test]
async fn a_reader_opening_the_events_stream_keeps_the_writers_limits() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let bus = &t.bus;
    let longer = StreamLimits { duplicate_window: Duration::from_secs(5 * 3600), ..StreamLimits::EVENTS };
    bus.ensure_events_stream(longer).await?;
    let mut stream = bus.open_events_stream().await?;
    assert_eq!(stream.info().await?.config.duplicate_window, Duration::from_secs(5 * 3600));
    // On an empty server the reader creates it, with the defaults.
    let other = TestBus::new().await?;
    let mut created = other.bus.open_events_stream().await?;
    assert_eq!(created.info().await?.config.duplicate_window, StreamLimits::EVENTS.duplicate_window);
    bus.ensure_alerts_stream(StreamLimits::ALERTS).await?;
    bus.ensure_dead_letter_stream().await?;
    Ok(())
}

#[tokio::test]
async fn a_message_id_is_stored_once() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let bus = &t.bus;
    let mut stream = bus.ensure_events_stream(StreamLimits::EVENTS).await?;
    let subject = bus.namespace().event_subject("signin", "tenant-a")?;
    let first = bus.publish(subject.clone(), "rec-1", HeaderMap::new(), "a".into(), Duration::from_secs(5)).await?;
    let again = bus.publish(subject.clone(), "rec-1", HeaderMap::new(), "a".into(), Duration::from_secs(5)).await?;
    let other = bus.publish(subject, "rec-2", HeaderMap::new(), "b".into(), Duration::from_secs(5)).await?;
    assert!(!first.duplicate && again.duplicate && !other.duplicate);
    assert_eq!(first.sequence, again.sequence);
    assert_eq!(stream.info().await?.state.messages, 2);
    Ok(())
}

#[tokio::test]
async fn settings_are_validated_stored_and_watched_live() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let bus = &t.bus;
    let (initial, revision) = bus.load_settings().await?;
    assert_eq!((initial, revision), (Settings::default(), 0), "no document yet: defaults");

    let mut watch = bus.watch_settings().await?;
    let mut changed = Settings::default();
    changed.failed_logins.threshold = 9;
    bus.put_settings(&changed).await?;
    eventually(Duration::from_secs(5), "the watcher to see the change", || {
        let seen = watch.borrow_and_update().failed_logins.threshold;
        async move { (seen == 9).then_some(()) }
    })
    .await?;

    // An invalid document is refused by put_settings …
    let mut invalid = changed.clone();
    invalid.failed_logins.threshold = 0;
    let err = bus.put_settings(&invalid).await.unwrap_err();
    assert!(err.to_string().contains("failed_logins.threshold"), "{err}");
    // … and one written behind our back is ignored by watchers, which keep the last good one.
    let store = bus.jetstream().get_key_value(bus.namespace().settings_bucket()).await?;
    store.put("settings", r#"{"failed_logins": {"threshold": 0}}"#.into()).await?;
    changed.failed_logins.threshold = 11;
    bus.put_settings(&changed).await?;
    eventually(Duration::from_secs(5), "the next valid change", || {
        let seen = watch.borrow_and_update().failed_logins.threshold;
        async move { (seen == 11).then_some(()) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn compare_and_set_lets_one_writer_win() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let bus = &t.bus;
    let bucket = bus.namespace().checkpoints_bucket();
    let store = bus.ensure_bucket(&bucket, BucketOptions::new("test").history(3)).await?;
    let kv: JsonKv<u32> = JsonKv::new(store, bucket);
    assert_eq!(kv.get("k").await?, None);
    let r1 = kv.compare_and_set("k", &1, None).await?.expect("created");
    assert_eq!(kv.compare_and_set("k", &2, None).await?, None, "already exists");
    let r2 = kv.compare_and_set("k", &2, Some(r1)).await?.expect("updated");
    assert_eq!(kv.compare_and_set("k", &3, Some(r1)).await?, None, "stale revision");
    assert_eq!(kv.get("k").await?.map(|v| (v.value, v.revision)), Some((2, r2)));
    Ok(())
}

#[tokio::test]
async fn dead_letters_keep_payload_and_reason() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let bus = &t.bus;
    let stream = bus.ensure_dead_letter_stream().await?;
    bus.dead_letter(
        "detector",
        "signin",
        m365mon_bus::DeadLetterOrigin { subject: "x.events.signin.t", identity: "42" },
        "not JSON: expected value\r\nInjected: header",
        "{broken".into(),
    )
    .await?;
    let message =
        stream.get_last_raw_message_by_subject(&bus.namespace().dead_letter_subject("detector", "signin")?).await?;
    assert_eq!(&message.payload[..], b"{broken");
    let reason = message.headers.get("M365-Dead-Letter-Reason").map(|v| v.to_string()).unwrap_or_default();
    assert!(reason.starts_with("not JSON") && !reason.contains('\n'), "{reason:?}");
    Ok(())
}

#[tokio::test]
async fn services_answer_ping_and_status() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let bus = &t.bus;
    let _service = bus
        .register_service(
            "collector",
            "0.1.0",
            "test",
            std::sync::Arc::new(|| serde_json::json!({"tenants": 2, "healthy": true})),
        )
        .await?;
    let reply = bus.client().request(m365mon_bus::service::status_subject(bus, "collector"), "".into()).await?;
    let status: serde_json::Value = serde_json::from_slice(&reply.payload)?;
    assert_eq!(status["tenants"], 2);

    let inbox = bus.client().new_inbox();
    let mut replies = bus.client().subscribe(inbox.clone()).await?;
    let name = bus.namespace().service_name("collector");
    bus.client().publish_with_reply(format!("$SRV.PING.{name}"), inbox, "".into()).await?;
    let pong = tokio::time::timeout(Duration::from_secs(5), replies.next()).await?.expect("a pong");
    let pong: serde_json::Value = serde_json::from_slice(&pong.payload)?;
    assert_eq!(pong["name"], name);
    Ok(())
}

#[tokio::test]
async fn the_default_namespace_cannot_be_deleted() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let production = m365mon_bus::Bus::from_client(t.bus.client().clone(), Default::default());
    assert!(production.delete_namespace().await.is_err());
    Ok(())
}
