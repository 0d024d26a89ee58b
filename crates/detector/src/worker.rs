//! One tenant's worker: its durable consumer, its rules engine, its snapshots.
//!
//! A worker holds the tenant's lease, restores the tenant's snapshot, positions the tenant's
//! durable consumer just after the snapshot's position, and then takes the tenant's records one
//! at a time, strictly in stream order:
//!
//! 1. decode the Graph record (unreadable: dead-letter it with the reason, acknowledge, go on);
//! 2. run it through the engine;
//! 3. publish each alert event with `Nats-Msg-Id` = [`AlertEvent::message_id`] and wait for
//!    JetStream's acknowledgement;
//! 4. only then acknowledge the record.
//!
//! Any failure it cannot ride out (an alert that cannot be published, a lost delivery, a lease
//! it can no longer renew) ends the worker; the supervisor starts it again from the last
//! snapshot, which replays the records since then in the same order (see [`crate::snapshot`]).
//!
//! Order is checked, not assumed: each delivery carries the consumer's delivery sequence, and a
//! jump in it (a delivery lost on a broken connection, to be redelivered later and out of order)
//! makes the worker reposition the consumer just after the last record it processed.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, context::ConsumerInfoErrorKind};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use m365mon_bus::{Bus, BusError, DeadLetterOrigin};
use m365mon_contracts::{AlertEvent, Settings};
use m365mon_rules::event::SignInEvent;
use m365mon_rules::{Engine, Event};
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::DetectorConfig;
use crate::lease::{Busy, Held, Leases};
use crate::roles::Privileged;
use crate::snapshot::{FORMAT, SnapshotStore, SnapshotStoreError, TenantSnapshot};
use crate::status::{Board, Phase};

/// The dead-letter service name of the detector.
pub const SERVICE: &str = "detector";

/// What every worker of a process shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub bus: Bus,
    pub config: Arc<DetectorConfig>,
    pub events: jetstream::stream::Stream,
    pub stream_created: DateTime<Utc>,
    pub snapshots: SnapshotStore,
    pub leases: Leases,
    pub settings: watch::Receiver<Arc<Settings>>,
    pub privileged: watch::Receiver<Arc<Privileged>>,
    pub board: Board,
}

/// How a worker ended without an error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Shutdown requested: the final snapshot is written and the lease released.
    Shutdown,
    /// The lease could not be renewed in time; someone else may own the tenant now.
    LeaseLost,
}

/// Why a worker stopped; it is restarted from the last snapshot.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotStoreError),
    #[error("consumer {consumer}: {reason}")]
    Consumer { consumer: String, reason: String },
    #[error("the rules engine failed on the record at stream sequence {sequence}; it was dead-lettered")]
    EngineFailure { sequence: u64 },
}

/// Per-tenant memory that outlives one run of the worker: records the engine failed on (never
/// given to it again in this process).
#[derive(Debug, Default)]
pub(crate) struct Carry {
    pub poison: Mutex<BTreeSet<u64>>,
}

pub(crate) struct Worker {
    shared: Shared,
    tenant: String,
    partition: u16,
    carry: Arc<Carry>,
    engine: Engine,
    /// Stream sequence of the last record the engine has seen.
    position: u64,
    /// Records at or below this sequence had their alerts published by an earlier run.
    suppress_through: u64,
    event_time: Option<DateTime<Utc>>,
    /// When `event_time` last moved (by a record or an idle advance).
    event_time_moved: Instant,
    lease: Held,
    /// Records changed the state since the last snapshot.
    dirty: bool,
    last_snapshot: Instant,
    privileged_seen: Option<BTreeSet<String>>,
    late_seen: u64,
    backlog: u64,
}

type Consumed = (PullConsumer, u64);

impl Worker {
    /// Runs the tenant until shutdown, a lost lease, or an error.
    pub(crate) async fn run(
        shared: Shared,
        tenant: String,
        partition: u16,
        carry: Arc<Carry>,
        shutdown: CancellationToken,
    ) -> Result<Exit, WorkerError> {
        let Some(lease) = acquire_lease(&shared, &tenant, partition, &shutdown).await? else {
            return Ok(Exit::Shutdown);
        };
        shared.board.tenant(&tenant, partition, |t| t.phase = Phase::Starting);
        let settings = (**shared.settings.borrow()).clone();
        let (engine, snapshot) = restore(&shared, &tenant, settings).await?;
        let mut worker = Worker {
            tenant,
            partition,
            carry,
            engine,
            position: snapshot.as_ref().map_or(0, |s| s.position),
            suppress_through: 0,
            event_time: snapshot.as_ref().and_then(|s| s.event_time),
            event_time_moved: Instant::now(),
            lease,
            dirty: false,
            last_snapshot: Instant::now(),
            privileged_seen: None,
            late_seen: 0,
            backlog: 0,
            shared,
        };
        worker.late_seen = worker.engine.stats().late;
        let result = worker.work(snapshot, &shutdown).await;
        match &result {
            Ok(Exit::Shutdown) => {
                if worker.dirty
                    && worker.lease_valid()
                    && let Err(e) = worker.save_snapshot(Vec::new()).await
                {
                    tracing::warn!(tenant = %worker.tenant, error = %e, "final snapshot failed; the next start replays from the previous one");
                }
                if let Err(e) = worker.shared.leases.release(&worker.tenant, worker.lease).await {
                    tracing::debug!(tenant = %worker.tenant, error = %e, "lease not released; it expires on its own");
                }
                worker.shared.board.tenant(&worker.tenant, worker.partition, |t| t.phase = Phase::Stopped);
            }
            Ok(Exit::LeaseLost) => {
                tracing::warn!(tenant = %worker.tenant, "lease could not be renewed in time; stopping work on the tenant");
            }
            Err(_) => {}
        }
        result
    }

    async fn work(
        &mut self,
        snapshot: Option<TenantSnapshot>,
        shutdown: &CancellationToken,
    ) -> Result<Exit, WorkerError> {
        let (consumer, mut expected_delivery) = self.position_consumer(false).await?;
        // Alert events an idle advance produced just before the last snapshot.
        if let Some(snapshot) = snapshot
            && !snapshot.outbox.is_empty()
        {
            tracing::info!(tenant = %self.tenant, alerts = snapshot.outbox.len(), "publishing the snapshot's outbox again");
            for alert in &snapshot.outbox {
                self.publish_alert(alert).await?;
            }
        }
        let mut settings = self.shared.settings.clone();
        let mut privileged = self.shared.privileged.clone();
        settings.mark_unchanged();
        privileged.mark_unchanged();
        // The current privileged accounts and settings apply from here; write that down at once so
        // a replay starts from the same state.
        self.apply_privileged();
        self.save_snapshot(Vec::new()).await?;
        self.shared.board.tenant(&self.tenant, self.partition, |t| {
            t.phase = Phase::Running;
            t.last_error = None;
            t.settings_applied_at = Some(Utc::now());
        });

        let mut messages = self.messages(&consumer).await?;
        drop(consumer);
        let mut timer = tokio::time::interval(Duration::from_secs(1));
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let renew_every = self.shared.leases.ttl() / 4;
        let mut last_renew = Instant::now();
        let mut last_record = Instant::now();
        let mut last_idle_check = Instant::now();
        let mut settings_open = true;
        let mut privileged_open = true;

        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(Exit::Shutdown),
                changed = settings.changed(), if settings_open => {
                    if changed.is_err() { settings_open = false; continue; }
                    let new = settings.borrow_and_update().clone();
                    if *new != *self.engine.settings() {
                        self.engine.set_settings((*new).clone());
                        tracing::info!(tenant = %self.tenant, "settings applied");
                        self.save_snapshot(Vec::new()).await?;
                        self.shared.board.tenant(&self.tenant, self.partition, |t| t.settings_applied_at = Some(Utc::now()));
                    }
                }
                changed = privileged.changed(), if privileged_open => {
                    if changed.is_err() { privileged_open = false; continue; }
                    privileged.mark_unchanged();
                    if self.apply_privileged() {
                        self.save_snapshot(Vec::new()).await?;
                    }
                }
                _ = timer.tick() => {
                    if !self.lease_valid() {
                        return Ok(Exit::LeaseLost);
                    }
                    if last_renew.elapsed() >= renew_every {
                        match self.shared.leases.renew(&self.tenant, self.lease).await {
                            Ok(Some(held)) => { self.lease = held; last_renew = Instant::now(); }
                            Ok(None) => return Ok(Exit::LeaseLost),
                            Err(e) => tracing::warn!(tenant = %self.tenant, error = %e, "lease renewal failed; retrying"),
                        }
                    }
                    if self.dirty
                        && self.last_snapshot.elapsed() >= self.shared.config.snapshot_interval
                        && let Err(e) = self.save_snapshot(Vec::new()).await
                    {
                        tracing::warn!(tenant = %self.tenant, error = %e, "periodic snapshot failed; retrying later");
                    }
                    let idle_after = self.shared.config.idle_advance_after;
                    if self.backlog == 0 && last_record.elapsed() >= idle_after && last_idle_check.elapsed() >= idle_after {
                        last_idle_check = Instant::now();
                        self.advance_idle().await?;
                    }
                    self.report_state();
                }
                next = messages.next() => {
                    let message = match next {
                        Some(Ok(message)) => message,
                        Some(Err(e)) => {
                            use async_nats::jetstream::consumer::pull::MessagesErrorKind;
                            match e.kind() {
                                MessagesErrorKind::MissingHeartbeat | MessagesErrorKind::Pull | MessagesErrorKind::NoResponders => {
                                    tracing::warn!(tenant = %self.tenant, error = %e, "pull interrupted; continuing");
                                    continue;
                                }
                                _ => return Err(self.consumer_error(e.to_string())),
                            }
                        }
                        None => return Err(self.consumer_error("the message stream ended".into())),
                    };
                    last_record = Instant::now();
                    let info = message.info().map_err(|e| self.consumer_error(format!("unreadable delivery: {e}")))?;
                    let (sequence, delivery, pending) = (info.stream_sequence, info.consumer_sequence, info.pending);
                    let published = info.published;
                    if delivery != expected_delivery {
                        tracing::info!(tenant = %self.tenant, expected = expected_delivery, got = delivery,
                            "a delivery was lost; repositioning the consumer after the last processed record");
                        drop(messages);
                        let (fresh, next_delivery) = self.position_consumer(true).await?;
                        expected_delivery = next_delivery;
                        messages = self.messages(&fresh).await?;
                        continue;
                    }
                    expected_delivery += 1;
                    self.backlog = pending;
                    if sequence <= self.position {
                        // Seen before (an acknowledgement that got lost): acknowledge again.
                        let _ = message.ack().await;
                        continue;
                    }
                    self.handle(&message, sequence).await?;
                    if let Err(e) = message.ack().await {
                        tracing::debug!(tenant = %self.tenant, error = %e, "acknowledgement not sent; the record will be skipped when redelivered");
                    }
                    let latency = Utc::now().timestamp_nanos_opt().unwrap_or(0) as f64 / 1e9
                        - published.unix_timestamp_nanos() as f64 / 1e9;
                    metrics::histogram!("m365mon_detector_record_latency_seconds").record(latency.max(0.0));
                }
            }
        }
    }

    /// One record: decode, evaluate, publish its alerts.
    async fn handle(&mut self, message: &jetstream::Message, sequence: u64) -> Result<(), WorkerError> {
        let kind = message.subject.split('.').nth(2).unwrap_or("unknown").to_string();
        let poisoned = self.carry.poison.lock().map(|p| p.contains(&sequence)).unwrap_or(false);
        if poisoned {
            // Dead-lettered already when the engine failed on it; never evaluated again.
            self.advance_position(sequence);
            return Ok(());
        }
        // Sign-ins take the model's lean reading (only the properties the rules read, borrowed
        // from the payload); anything it declines is read in full. Both give the same event.
        let lean = if kind == "signin" {
            std::str::from_utf8(&message.payload).ok().and_then(m365mon_model::SignInView::parse)
        } else {
            None
        };
        let full: m365mon_model::Record;
        let decoded = match lean {
            Some(view) => {
                let time = view.created_date_time;
                SignInEvent::from_view(view)
                    .map(|event| (Event::Signin(event), time))
                    .map_err(|e| ("unusable", format!("record cannot be evaluated: {e}")))
            }
            None => match m365mon_model::parse_record(&message.payload) {
                Err(e) => Err(("unreadable", format!("unreadable Graph record: {e}"))),
                Ok(record) => {
                    full = record;
                    Event::from_record(&full)
                        .map(|event| (event, full.event_time()))
                        .map_err(|e| ("unusable", format!("record cannot be evaluated: {e}")))
                }
            },
        };
        let (event, event_time) = match decoded {
            Ok(decoded) => decoded,
            Err((class, reason)) => {
                self.dead_letter(message, sequence, &kind, class, &reason).await?;
                self.advance_position(sequence);
                return Ok(());
            }
        };
        if let Some(time) = event_time
            && self.event_time.is_none_or(|t| time > t)
        {
            self.event_time = Some(time);
            self.event_time_moved = Instant::now();
        }
        let tenant = self.tenant.clone();
        let engine = &mut self.engine;
        let alerts = match std::panic::catch_unwind(AssertUnwindSafe(|| engine.observe_event(&tenant, &event))) {
            Ok(alerts) => alerts,
            Err(_) => {
                // A bug, not bad input; the engine's state may be half-updated, so start over
                // from the snapshot without this record.
                self.dead_letter(message, sequence, &kind, "engine_failure", "the rules engine failed on this record")
                    .await?;
                if let Ok(mut poison) = self.carry.poison.lock() {
                    poison.insert(sequence);
                }
                return Err(WorkerError::EngineFailure { sequence });
            }
        };
        metrics::counter!("m365mon_detector_records_total", "kind" => if kind == "audit" { "audit" } else { "signin" })
            .increment(1);
        let mut published = 0u64;
        let mut suppressed = 0u64;
        for mut alert in alerts {
            if sequence <= self.suppress_through {
                suppressed += 1;
                continue;
            }
            alert.created_at = Utc::now();
            self.publish_alert(&alert).await?;
            published += 1;
        }
        if suppressed > 0 {
            metrics::counter!("m365mon_detector_alerts_suppressed_total").increment(suppressed);
        }
        let late = self.engine.stats().late;
        let late_delta = late.saturating_sub(self.late_seen);
        self.late_seen = late;
        if late_delta > 0 {
            metrics::counter!("m365mon_detector_late_records_total").increment(late_delta);
        }
        self.advance_position(sequence);
        let event_time = self.event_time;
        let backlog = self.backlog;
        self.shared.board.tenant(&self.tenant, self.partition, |t| {
            t.records += 1;
            t.alerts += published;
            t.alerts_suppressed += suppressed;
            t.late_records += late_delta;
            t.event_time = event_time;
            t.backlog = backlog;
        });
        Ok(())
    }

    fn advance_position(&mut self, sequence: u64) {
        self.position = sequence;
        self.dirty = true;
        self.shared.board.tenant(&self.tenant, self.partition, |t| t.position = sequence);
    }

    async fn publish_alert(&self, alert: &AlertEvent) -> Result<(), WorkerError> {
        let ns = self.shared.bus.namespace();
        let subject =
            ns.alert_subject(alert.severity, alert.rule, &alert.tenant).map_err(|e| BusError::Name(e.to_string()))?;
        let payload = serde_json::to_vec(alert)
            .map_err(|e| BusError::Decode { what: "alert event".into(), reason: e.to_string() })?;
        let published = self
            .shared
            .bus
            .publish(
                subject,
                &alert.message_id(),
                async_nats::HeaderMap::new(),
                Bytes::from(payload),
                self.shared.config.publish_deadline,
            )
            .await?;
        if published.duplicate {
            metrics::counter!("m365mon_detector_alerts_duplicate_total").increment(1);
        } else {
            metrics::counter!("m365mon_detector_alerts_total", "rule" => alert.rule.as_str(), "severity" => alert.severity.as_str())
                .increment(1);
        }
        tracing::debug!(tenant = %alert.tenant, rule = alert.rule.as_str(), id = %alert.id, revision = alert.revision,
            duplicate = published.duplicate, "alert published");
        Ok(())
    }

    async fn dead_letter(
        &mut self,
        message: &jetstream::Message,
        sequence: u64,
        kind: &str,
        class: &'static str,
        reason: &str,
    ) -> Result<(), WorkerError> {
        tracing::warn!(tenant = %self.tenant, sequence, %reason, "dead-lettering a record");
        let identity = format!("{sequence}");
        let kind = if m365mon_contracts::names::token("kind", kind).is_ok() { kind } else { "unknown" };
        self.shared
            .bus
            .dead_letter(
                SERVICE,
                kind,
                DeadLetterOrigin { subject: &message.subject, identity: &identity },
                reason,
                message.payload.clone(),
            )
            .await?;
        metrics::counter!("m365mon_detector_dead_letters_total", "reason" => class).increment(1);
        self.shared.board.tenant(&self.tenant, self.partition, |t| t.dead_letters += 1);
        Ok(())
    }

    /// Moves event time on while the tenant is idle, at the pace of the wall clock and never
    /// past it, so grown incidents are published and finished ones closed; a snapshot follows
    /// at once (with the alerts in its outbox) so a replay never meets a different history.
    async fn advance_idle(&mut self) -> Result<(), WorkerError> {
        let Some(event_time) = self.event_time else { return Ok(()) };
        if self.engine.state_size().open_incidents == 0 {
            return Ok(());
        }
        let elapsed = chrono::Duration::from_std(self.event_time_moved.elapsed()).unwrap_or_default();
        let target = (event_time + elapsed).min(Utc::now());
        if target <= event_time {
            return Ok(());
        }
        let mut alerts = self.engine.advance_to(&self.tenant, target);
        self.event_time = Some(target);
        self.event_time_moved = Instant::now();
        let now = Utc::now();
        for alert in &mut alerts {
            alert.created_at = now;
        }
        tracing::debug!(tenant = %self.tenant, %target, alerts = alerts.len(), "idle: event time advanced");
        self.save_snapshot(alerts.clone()).await?;
        for alert in &alerts {
            self.publish_alert(alert).await?;
        }
        let published = alerts.len() as u64;
        self.shared.board.tenant(&self.tenant, self.partition, |t| {
            t.alerts += published;
            t.event_time = Some(target);
        });
        Ok(())
    }

    /// Gives the engine the tenant's current privileged accounts; whether they changed.
    fn apply_privileged(&mut self) -> bool {
        let current = self.shared.privileged.borrow().get(&self.tenant).cloned();
        if current == self.privileged_seen {
            return false;
        }
        let accounts = current.clone().unwrap_or_default();
        tracing::info!(tenant = %self.tenant, accounts = accounts.len(), "privileged accounts applied");
        self.engine.set_privileged_users(&self.tenant, accounts.iter());
        self.privileged_seen = current;
        true
    }

    async fn save_snapshot(&mut self, outbox: Vec<AlertEvent>) -> Result<(), WorkerError> {
        if !self.lease_valid() {
            return Err(WorkerError::Consumer {
                consumer: self.consumer_name(),
                reason: "lease expired before the snapshot could be written".into(),
            });
        }
        let started = Instant::now();
        let engine = String::from_utf8(self.engine.snapshot()).unwrap_or_default();
        let engine = RawValue::from_string(engine)
            .map_err(|e| SnapshotStoreError::Corrupt { tenant: self.tenant.clone(), reason: e.to_string() })?;
        let snapshot = TenantSnapshot {
            format: FORMAT,
            tenant: self.tenant.clone(),
            position: self.position,
            stream_created: self.shared.stream_created,
            event_time: self.event_time,
            taken_at: Utc::now(),
            instance: self.shared.config.instance.clone(),
            outbox,
            engine,
        };
        let bytes = self.shared.snapshots.save(&snapshot).await?;
        self.dirty = false;
        self.last_snapshot = Instant::now();
        metrics::histogram!("m365mon_detector_snapshot_seconds").record(started.elapsed().as_secs_f64());
        let taken_at = snapshot.taken_at;
        self.shared.board.tenant(&self.tenant, self.partition, |t| {
            t.last_snapshot_at = Some(taken_at);
            t.snapshot_bytes = bytes;
        });
        tracing::debug!(tenant = %self.tenant, position = self.position, bytes, "snapshot written");
        Ok(())
    }

    fn report_state(&self) {
        let size = self.engine.state_size();
        let backlog = self.backlog;
        self.shared.board.tenant(&self.tenant, self.partition, |t| {
            t.users = size.users;
            t.open_incidents = size.open_incidents;
            t.backlog = backlog;
        });
    }

    fn lease_valid(&self) -> bool {
        Instant::now() < self.lease.valid_until
    }

    fn consumer_name(&self) -> String {
        self.shared.bus.namespace().detector_consumer(&self.tenant).unwrap_or_else(|_| self.tenant.clone())
    }

    fn consumer_error(&self, reason: String) -> WorkerError {
        WorkerError::Consumer { consumer: self.consumer_name(), reason }
    }

    async fn messages(&self, consumer: &PullConsumer) -> Result<pull::Stream, WorkerError> {
        consumer
            .stream()
            .max_messages_per_batch(self.shared.config.batch)
            .heartbeat(Duration::from_secs(10))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| self.consumer_error(e.to_string()))
    }

    /// Makes the tenant's durable consumer deliver from just after `self.position`; returns it
    /// and the delivery sequence its next delivery will carry.
    ///
    /// A consumer left exactly there (a clean shutdown) is kept. Otherwise it is created anew
    /// there; records its old acknowledgement floor covers had their alerts published by an
    /// earlier run, so their alerts are not published again (`suppress_through`).
    async fn position_consumer(&mut self, force: bool) -> Result<Consumed, WorkerError> {
        let ns = self.shared.bus.namespace();
        let name = self.consumer_name();
        ns.detector_consumer(&self.tenant).map_err(|e| BusError::Name(e.to_string()))?;
        let filter = ns.tenant_events_filter(&self.tenant).map_err(|e| BusError::Name(e.to_string()))?;
        let cfg = &self.shared.config;
        let wanted = pull::Config {
            durable_name: Some(name.clone()),
            description: Some(format!("m365-monitor detector: records of tenant {}", self.tenant)),
            deliver_policy: if self.position == 0 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence { start_sequence: self.position + 1 }
            },
            ack_policy: AckPolicy::Explicit,
            ack_wait: cfg.ack_wait,
            max_deliver: cfg.max_deliver,
            filter_subject: filter.clone(),
            max_ack_pending: (cfg.batch as i64 * 4).max(1_000),
            ..Default::default()
        };
        let events = &self.shared.events;
        match events.consumer_info(&name).await {
            Ok(info) => {
                let kept = !force
                    && info.config.filter_subject == filter
                    && info.config.ack_policy == wanted.ack_policy
                    && info.config.ack_wait == wanted.ack_wait
                    && info.config.max_deliver == wanted.max_deliver
                    && info.config.max_ack_pending == wanted.max_ack_pending
                    && info.delivered.stream_sequence == self.position
                    && info.ack_floor.stream_sequence == self.position
                    && info.num_ack_pending == 0;
                if kept {
                    let consumer: PullConsumer =
                        events.get_consumer(&name).await.map_err(|e| self.consumer_error(e.to_string()))?;
                    tracing::info!(tenant = %self.tenant, position = self.position, "continuing with the durable consumer");
                    return Ok((consumer, info.delivered.consumer_sequence + 1));
                }
                self.suppress_through = self.suppress_through.max(info.ack_floor.stream_sequence);
                events.delete_consumer(&name).await.map_err(|e| self.consumer_error(e.to_string()))?;
            }
            Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => {}
            Err(e) => return Err(self.consumer_error(e.to_string())),
        }
        let consumer: PullConsumer =
            events.create_consumer(wanted).await.map_err(|e| self.consumer_error(e.to_string()))?;
        tracing::info!(tenant = %self.tenant, position = self.position, suppress_through = self.suppress_through,
            "durable consumer positioned after the snapshot");
        Ok((consumer, 1))
    }
}

/// Waits for the tenant's lease; `None` when shutdown came first.
async fn acquire_lease(
    shared: &Shared,
    tenant: &str,
    partition: u16,
    shutdown: &CancellationToken,
) -> Result<Option<Held>, WorkerError> {
    let mut logged = false;
    loop {
        let wait = match shared.leases.acquire(tenant).await {
            Ok(Ok(held)) => return Ok(Some(held)),
            Ok(Err(Busy::HeldBy(lease))) => {
                let detail = format!(
                    "held by {} (pid {}, instance {}) until {}",
                    lease.host, lease.pid, lease.owner, lease.expires_at
                );
                if !logged {
                    tracing::warn!(%tenant, %detail, "tenant is leased by another detector; waiting (are two detectors given the same partitions?)");
                    logged = true;
                }
                shared.board.tenant(tenant, partition, |t| t.phase = Phase::WaitingForLease(detail));
                let until = (lease.expires_at - Utc::now()).to_std().unwrap_or_default();
                until.clamp(Duration::from_millis(200), shared.leases.ttl() / 4 + Duration::from_millis(200))
            }
            Ok(Err(Busy::Raced)) => Duration::from_millis(200),
            Err(e) if e.is_retryable() => {
                tracing::warn!(%tenant, error = %e, "cannot read the tenant's lease; retrying");
                Duration::from_secs(1)
            }
            Err(e) => return Err(e.into()),
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The engine as the tenant's snapshot left it (or a fresh one), and the snapshot.
async fn restore(
    shared: &Shared,
    tenant: &str,
    settings: Settings,
) -> Result<(Engine, Option<TenantSnapshot>), WorkerError> {
    let snapshot = match shared.snapshots.load(tenant).await {
        Ok(Some(snapshot)) if snapshot.stream_created == shared.stream_created => snapshot,
        Ok(Some(snapshot)) => {
            tracing::warn!(%tenant, snapshot_stream = %snapshot.stream_created, stream = %shared.stream_created,
                "the snapshot belongs to an earlier events stream; starting the tenant afresh");
            return Ok((Engine::new(settings), None));
        }
        Ok(None) => {
            tracing::info!(%tenant, "no snapshot yet; starting the tenant afresh");
            return Ok((Engine::new(settings), None));
        }
        Err(SnapshotStoreError::Corrupt { reason, .. }) => {
            tracing::error!(%tenant, %reason, "the snapshot is unreadable; rebuilding the tenant's state from the stream");
            return Ok((Engine::new(settings), None));
        }
        Err(e) => return Err(e.into()),
    };
    match Engine::restore(settings.clone(), snapshot.engine.get().as_bytes()) {
        Ok(engine) => {
            tracing::info!(%tenant, position = snapshot.position, taken_at = %snapshot.taken_at, "state restored from the snapshot");
            Ok((engine, Some(snapshot)))
        }
        Err(e) => {
            tracing::error!(%tenant, error = %e, "the engine cannot read the snapshot; rebuilding the tenant's state from the stream");
            Ok((Engine::new(settings), None))
        }
    }
}
