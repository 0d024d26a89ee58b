//! The dispatcher: looks at the groups in the mirror, and for each one that is due plans (pure),
//! claims (compare-and-set in KV), sends within the rate limit, and records the outcome (again a
//! compare-and-set, retried on conflicts). See the crate docs for the crash analysis.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use m365mon_bus::{BusError, DeadLetterOrigin};
use m365mon_contracts::Settings;
use m365mon_contracts::settings::WebhookKind;
use m365mon_notify_policy::group::FailureVerdict;
use m365mon_notify_policy::render::{self, Notification};
use m365mon_notify_policy::route::{Channel, ChannelTarget, channels};
use m365mon_notify_policy::{Claim, GroupKey, GroupState, Outcome, PendingAlert, PlannedDelivery, StoredAlert, Timing};
use m365mon_runtime::CancellationToken;

use crate::channels::{Accepted, OutgoingMail, SendError};
use crate::metrics::{
    ALERT_TO_ACCEPTED, DEAD_LETTERED, GROUPS, MESSAGES_DEFERRED, MESSAGES_FAILED, MESSAGES_SENT, PENDING_ALERTS,
    SEND_DURATION,
};
use crate::status::DeadLetterNote;
use crate::{SERVICE, Shared};

pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let wait = match pass(&shared, &shutdown).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %e, "dispatcher pass failed; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.store.changed(wait) => {}
        }
    }
}

/// One look at every group; returns how long to sleep (at most the configured tick).
async fn pass(shared: &Shared, shutdown: &CancellationToken) -> Result<Duration, BusError> {
    if !shared.store.caught_up() {
        return Ok(Duration::from_millis(50));
    }
    let settings = shared.settings();
    let timing = Timing::from_settings(&settings.notifications);
    let now = shared.clock.now();
    let instance = shared.config.instance.as_str();
    let (mut due, orphans, next_due) = shared.store.with_mirror(|m| {
        metrics::gauge!(GROUPS).set(m.groups.len() as f64);
        metrics::gauge!(PENDING_ALERTS).set(m.alert_count() as f64);
        let mut due: Vec<(DateTime<Utc>, String)> = Vec::new();
        let mut next_due: Option<DateTime<Utc>> = None;
        for (gid, (state, _)) in &m.groups {
            let at = match &state.claim {
                Some(claim) if state.claimed_by_other(instance, now) => claim.until,
                _ => match settings.notifications.receivers.iter().find(|r| r.name == state.key.receiver) {
                    Some(receiver) => {
                        let ids: Vec<String> = channels(receiver).into_iter().map(|c| c.id).collect();
                        state.due_at(&ids)
                    }
                    None => now,
                },
            };
            if at <= now {
                due.push((at, gid.clone()));
            } else {
                next_due = Some(next_due.map_or(at, |n| n.min(at)));
            }
        }
        let orphans: Vec<(String, StoredAlert)> = m
            .alerts
            .iter()
            .filter(|(gid, _)| !m.groups.contains_key(*gid))
            .filter_map(|(gid, alerts)| alerts.values().next().map(|(a, _)| (gid.clone(), a.clone())))
            .collect();
        (due, orphans, next_due)
    });
    for (gid, stored) in orphans {
        // An alert without its group (a crash between the two writes, or a group removed as an
        // alert joined): give it a group again so it is delivered.
        let state = GroupState::new(stored.group.clone(), &stored.alert, &timing, now);
        if shared.store.create_group(&gid, &state).await? {
            tracing::info!(group = %stored.group.describe(), "recreated a group for alerts that had none");
        }
    }
    due.sort();
    for (_, gid) in due {
        if shutdown.is_cancelled() {
            break;
        }
        flush(shared, &gid, &settings, &timing).await?;
    }
    let wait = next_due
        .and_then(|at| (at - shared.clock.now()).to_std().ok())
        .unwrap_or(shared.config.tick)
        .clamp(Duration::from_millis(10), shared.config.tick);
    Ok(wait)
}

/// Flushes one group if it is (still) due.
async fn flush(shared: &Shared, gid: &str, settings: &Settings, timing: &Timing) -> Result<(), BusError> {
    let now = shared.clock.now();
    let instance = shared.config.instance.as_str();
    let Some((state, revision, stored)) = shared.store.with_mirror(|m| {
        let (state, revision) = m.groups.get(gid)?.clone();
        let mut stored: Vec<(String, StoredAlert, u64)> = m
            .alerts
            .get(gid)
            .map(|alerts| alerts.iter().map(|(token, (a, seq))| (token.clone(), a.clone(), *seq)).collect())
            .unwrap_or_default();
        stored.sort_by_key(|(_, _, seq)| *seq);
        Some((state, revision, stored))
    }) else {
        return Ok(());
    };
    if state.claimed_by_other(instance, now) {
        return Ok(());
    }
    let Some(receiver) = settings.notifications.receivers.iter().find(|r| r.name == state.key.receiver) else {
        tracing::warn!(group = %state.key.describe(), alerts = stored.len(), "receiver no longer in the settings; dropping its group");
        for (token, _, seq) in &stored {
            shared.store.delete_alert(gid, token, *seq).await?;
        }
        shared.store.delete_group(gid, revision).await?;
        return Ok(());
    };
    let channel_list = channels(receiver);
    let ids: Vec<String> = channel_list.iter().map(|c| c.id.clone()).collect();

    // Alerts that are over leave the group (only once delivered everywhere).
    let pending: Vec<PendingAlert<'_>> = stored
        .iter()
        .map(|(_, s, seq)| PendingAlert { seq: *seq, alert: &s.alert, received_at: s.received_at })
        .collect();
    let expired: HashSet<u64> = state.expired(&pending, &ids, timing, now).iter().map(|a| a.seq).collect();
    for (token, _, seq) in stored.iter().filter(|(_, _, seq)| expired.contains(seq)) {
        shared.store.delete_alert(gid, token, *seq).await?;
    }
    let pending: Vec<PendingAlert<'_>> = pending.into_iter().filter(|a| !expired.contains(&a.seq)).collect();
    if pending.is_empty() {
        if state.channels.values().all(|c| c.retry_at.is_none()) {
            shared.store.delete_group(gid, revision).await?;
            tracing::debug!(group = %state.key.describe(), "group is empty; removed");
        }
        return Ok(());
    }

    let plan = state.plan(&pending, &ids, timing, now);
    if plan.deliveries.is_empty() {
        let mut next = state.clone();
        next.record(&plan, &[], &ids, timing, now);
        if next != state {
            shared.store.write_group(gid, &next, revision).await?;
        }
        return Ok(());
    }

    // Claim the group for the sends (a crashed owner's claim expires).
    let mut claimed = state.clone();
    let hold = shared.config.send_timeout * (plan.deliveries.len() as u32 + 1) + Duration::from_secs(5);
    claimed.claim = Some(Claim {
        owner: instance.to_string(),
        until: now + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::minutes(10)),
    });
    if shared.store.write_group(gid, &claimed, revision).await?.is_none() {
        return Ok(()); // someone else changed it; the next pass sees the new state
    }

    let mut outcomes = Vec::with_capacity(plan.deliveries.len());
    for delivery in &plan.deliveries {
        let Some(channel) = channel_list.iter().find(|c| c.id == delivery.channel) else { continue };
        let outcome = deliver(shared, gid, &state.key, channel, delivery, &pending, settings, timing).await;
        outcomes.push((delivery.channel.clone(), outcome));
    }

    // Record, on the latest state (retrying through conflicts and short KV outages).
    let mut delay = Duration::from_millis(50);
    for _ in 0..40 {
        let result = async {
            let recorded_at = shared.clock.now();
            let (mut current, current_revision) = match shared.store.group(gid).await? {
                Some(found) => found,
                None => (claimed.clone(), 0),
            };
            current.record(&plan, &outcomes, &ids, timing, recorded_at);
            if current.claim.as_ref().is_some_and(|c| c.owner == instance) {
                current.claim = None;
            }
            if current_revision == 0 {
                shared.store.create_group(gid, &current).await.map(|created| created.then_some(1))
            } else {
                shared.store.write_group(gid, &current, current_revision).await
            }
        }
        .await;
        match result {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, group = %state.key.describe(), "cannot record the delivery yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    Err(BusError::Kv {
        bucket: shared.bus.namespace().notification_log_bucket(),
        reason: format!("could not record the delivery of group {gid}; it will be repeated once the claim expires"),
    })
}

#[allow(clippy::too_many_arguments)]
async fn deliver(
    shared: &Shared,
    gid: &str,
    key: &GroupKey,
    channel: &Channel,
    delivery: &PlannedDelivery,
    alerts: &[PendingAlert<'_>],
    settings: &Settings,
    timing: &Timing,
) -> Outcome {
    let kind = channel.kind();
    let now = shared.clock.now();
    let n = &settings.notifications;
    let limit = match channel.target {
        ChannelTarget::Mail { .. } => n.mail_rate_per_minute,
        ChannelTarget::Webhook(_) => n.webhook_rate_per_minute,
    };
    if let Err(wait) = shared.take_token(channel.rate_key(), limit) {
        metrics::counter!(MESSAGES_DEFERRED, "channel" => kind).increment(1);
        shared.status().channel(kind).deferred += 1;
        tracing::info!(group = %key.describe(), channel = kind, wait_ms = wait.as_millis() as u64, "rate limit reached; delivery deferred");
        return Outcome::Deferred {
            until: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(1)),
        };
    }

    let notification = Notification::new(
        key,
        delivery.reason,
        alerts,
        delivery.previously_through,
        delivery.previous_sent_at,
        settings,
    );
    let from = n.mail_from.clone().or_else(|| shared.config.mail_from.clone());
    let domain =
        from.as_deref().and_then(|f| f.rsplit_once('@')).map_or("m365-monitor.invalid", |(_, d)| d).to_string();
    let message_id = format!("{gid}.{}.{}@{domain}", delivery.channel, delivery.through);
    let started = std::time::Instant::now();
    let send = async {
        match &channel.target {
            ChannelTarget::Mail { to } => {
                let Some(from) = from.clone() else {
                    return Err(SendError::transient(
                        "no sender address: set notifications.mail_from in the settings or M365MON_MAIL_FROM",
                    ));
                };
                let content = render::mail(&notification);
                let mail = OutgoingMail {
                    from,
                    from_name: shared.config.from_name.clone(),
                    to: to.clone(),
                    subject: content.subject,
                    text: content.text,
                    html: content.html,
                    message_id: message_id.clone(),
                    thread_id: delivery.thread_id.clone(),
                };
                shared.mail.send(&mail).await
            }
            ChannelTarget::Webhook(target) => {
                let payload = match target.kind {
                    WebhookKind::Teams => render::teams(&notification),
                    WebhookKind::Slack => render::slack(&notification),
                    WebhookKind::Generic => render::generic(&notification, &message_id, now),
                };
                let body = serde_json::to_vec(&payload).unwrap_or_default();
                shared.webhooks.send(target, body, &message_id).await
            }
        }
    };
    let result: Result<Accepted, SendError> = match tokio::time::timeout(shared.config.send_timeout, send).await {
        Ok(result) => result,
        Err(_) => Err(SendError::transient(format!("no answer within {:?}", shared.config.send_timeout))),
    };
    metrics::histogram!(SEND_DURATION, "channel" => kind).record(started.elapsed().as_secs_f64());
    let accepted_at = shared.clock.now();
    match result {
        Ok(accepted) => {
            metrics::counter!(MESSAGES_SENT, "channel" => kind).increment(1);
            for alert in alerts.iter().filter(|a| a.seq > delivery.previously_through) {
                if let Ok(latency) = (accepted_at - alert.alert.created_at).to_std() {
                    metrics::histogram!(ALERT_TO_ACCEPTED, "channel" => kind).record(latency.as_secs_f64());
                }
            }
            {
                let mut status = shared.status();
                let channel_status = status.channel(kind);
                channel_status.sent += 1;
                channel_status.last_sent_at = Some(accepted_at);
            }
            tracing::info!(
                group = %key.describe(), channel = kind, reason = ?delivery.reason, alerts = alerts.len(),
                new_or_updated = notification.changed(), reply = %accepted.detail, "notification accepted"
            );
            Outcome::Sent { message_id }
        }
        Err(error) => {
            let class = if error.permanent { "permanent" } else { "transient" };
            metrics::counter!(MESSAGES_FAILED, "channel" => kind, "kind" => class).increment(1);
            {
                let mut status = shared.status();
                let channel_status = status.channel(kind);
                channel_status.failed += 1;
                channel_status.last_error = Some(error.message.clone());
                channel_status.last_error_at = Some(accepted_at);
            }
            match GroupState::after_failure(delivery, error.permanent, timing, accepted_at) {
                FailureVerdict::RetryAt(retry_at) => {
                    tracing::warn!(
                        group = %key.describe(), channel = kind, attempt = delivery.attempt, error = %error,
                        retry_at = %retry_at, "delivery failed; will retry"
                    );
                    Outcome::Failed { error: error.message, retry_at }
                }
                FailureVerdict::DeadLetter => {
                    dead_letter(shared, gid, key, channel, delivery, alerts, &notification, &error, accepted_at).await
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn dead_letter(
    shared: &Shared,
    gid: &str,
    key: &GroupKey,
    channel: &Channel,
    delivery: &PlannedDelivery,
    alerts: &[PendingAlert<'_>],
    notification: &Notification<'_>,
    error: &SendError,
    now: DateTime<Utc>,
) -> Outcome {
    let kind = channel.kind();
    let reason = format!(
        "{} after {} attempt(s): {}",
        if error.permanent { "permanent failure" } else { "gave up" },
        delivery.attempt,
        error.message
    );
    let payload = serde_json::json!({
        "group": key,
        "group_id": gid,
        "channel": delivery.channel,
        "channel_kind": kind,
        "reason": reason,
        "attempts": delivery.attempt,
        "subject": notification.subject(),
        "covered_through": delivery.through,
        "alerts": alerts.iter().map(|a| serde_json::json!({
            "id": a.alert.id, "revision": a.alert.revision, "rule": a.alert.rule, "severity": a.alert.severity,
            "tenant": a.alert.tenant, "title": a.alert.title,
        })).collect::<Vec<_>>(),
    });
    let identity = format!("{gid}.{}.{}", delivery.channel, delivery.through);
    let subject = shared.bus.namespace().alerts_filter();
    let stored = shared
        .bus
        .dead_letter(
            SERVICE,
            "notification",
            DeadLetterOrigin { subject: &subject, identity: &identity },
            &reason,
            serde_json::to_vec(&payload).unwrap_or_default().into(),
        )
        .await;
    match stored {
        Ok(_) => {
            metrics::counter!(DEAD_LETTERED, "channel" => kind).increment(1);
            let mut status = shared.status();
            status.channel(kind).dead_lettered += 1;
            status.note_dead_letter(DeadLetterNote {
                at: now,
                group: key.describe(),
                channel: kind.to_string(),
                alerts: alerts.len(),
                reason: reason.clone(),
            });
            tracing::error!(group = %key.describe(), channel = kind, %reason, "delivery dead-lettered");
            Outcome::DeadLettered { error: reason }
        }
        Err(e) => {
            // Not stored: try the whole delivery again a little later rather than lose it.
            tracing::error!(error = %e, group = %key.describe(), "cannot store the dead letter; retrying the delivery");
            Outcome::Failed {
                error: format!("{reason} (dead letter not stored: {e})"),
                retry_at: now + chrono::Duration::seconds(30),
            }
        }
    }
}
