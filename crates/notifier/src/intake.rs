//! Intake: reads alert events from the alerts stream through the shared durable consumer, routes
//! each to its receivers' groups, stores the highest revision, and only then acknowledges.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{self, PullConsumer};
use futures::StreamExt;
use m365mon_bus::{BusError, DeadLetterOrigin};
use m365mon_contracts::AlertEvent;
use m365mon_notify_policy::{Merge, Timing, routes};
use m365mon_runtime::CancellationToken;

use crate::metrics::ALERTS_RECEIVED;
use crate::{SERVICE, Shared};

/// The shared durable pull consumer (every notifier uses the same one: a queue group).
pub(crate) async fn consumer(shared: &Shared) -> Result<PullConsumer, BusError> {
    let ns = shared.bus.namespace();
    let name = ns.notifier_consumer();
    let stream = shared.bus.ensure_alerts_stream(m365mon_bus::StreamLimits::ALERTS).await?;
    stream
        .get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                description: Some("m365-monitor notifier (shared by every notifier instance)".into()),
                filter_subject: ns.alerts_filter(),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                // Redelivered until stored: an alert must not be dropped because KV was briefly
                // unavailable. Undecodable alerts are dead-lettered and acknowledged instead.
                max_deliver: -1,
                max_ack_pending: 1_000,
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| BusError::Consumer { consumer: name, reason: e.to_string() })
}

pub(crate) async fn run(shared: Arc<Shared>, consumer: PullConsumer, shutdown: CancellationToken) {
    loop {
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alerts consumer; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => handle(&shared, message).await,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "alerts consumer error; resubscribing");
                    break;
                }
                None => break,
            }
        }
    }
}

async fn handle(shared: &Shared, message: async_nats::jetstream::Message) {
    let sequence = message.info().map(|info| info.stream_sequence).unwrap_or(0);
    let subject = message.subject.to_string();
    let span = tracing::info_span!("alert", %subject, sequence);
    let _entered = span.enter();
    let outcome = match process(shared, &message, sequence).await {
        Ok(outcome) => outcome,
        Err(e) => {
            // KV or the bus failed: leave the message for redelivery shortly.
            tracing::warn!(error = %e, "cannot store the alert yet; it will be redelivered");
            let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(2)))).await;
            return;
        }
    };
    metrics::counter!(ALERTS_RECEIVED, "outcome" => outcome).increment(1);
    shared.status().alerts_received += 1;
    // The effect is durable (stored, dead-lettered, or nothing to do): acknowledge. A lost ack
    // means a redelivery, which changes nothing.
    if let Err(e) = message.double_ack().await {
        tracing::debug!(error = %e, "ack not confirmed; the alert may be redelivered (harmless)");
    }
}

async fn process(
    shared: &Shared,
    message: &async_nats::jetstream::Message,
    sequence: u64,
) -> Result<&'static str, BusError> {
    let alert: AlertEvent = match serde_json::from_slice(&message.payload) {
        Ok(alert) => alert,
        Err(e) => {
            let reason = format!("not an alert event: {e}");
            tracing::warn!(%reason, "dead-lettering an undecodable alert");
            let identity = format!("alert-{sequence}");
            shared
                .bus
                .dead_letter(
                    SERVICE,
                    "alert",
                    DeadLetterOrigin { subject: &message.subject, identity: &identity },
                    &reason,
                    message.payload.clone(),
                )
                .await?;
            return Ok("invalid");
        }
    };
    let settings = shared.settings();
    let now = shared.clock.now();
    let timing = Timing::from_settings(&settings.notifications);
    // The detector stamps `created_at` as it publishes; it stands for the publication time (the
    // alert→delivery latency metric counts from it).
    let published_at = Some(alert.created_at);
    if now - alert.created_at > timing.resolve_timeout {
        // Older than any alert the notifier keeps (a first start over a long stream history).
        return Ok("stale");
    }
    let routes = routes(&settings.notifications, &alert);
    if routes.is_empty() {
        tracing::debug!(alert = %alert.id, "no receiver takes this alert");
        return Ok("unrouted");
    }
    let mut outcome = "duplicate";
    for route in routes {
        let merged = shared.store.upsert_alert(&route.group, &alert, now, published_at).await?;
        shared.store.ensure_group(&route.group, &alert, &timing, now).await?;
        outcome = match (merged, outcome) {
            (Merge::Insert, _) => "new",
            (Merge::Replace, "duplicate") => "updated",
            (_, previous) => previous,
        };
    }
    tracing::debug!(alert = %alert.id, revision = alert.revision, outcome, "alert stored");
    Ok(outcome)
}
