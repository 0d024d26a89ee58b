//! One log of one tenant: windows, backfill slices, late sweeps, checkpoints.
//!
//! # Windows
//!
//! With checkpoint c (see [`crate::checkpoint`] for its exact meaning), each poll reads
//! `[c − overlap, …]` (or `[c, …]` right after a backfill slice) and follows every next link.
//!
//! - While that start lies more than a few minutes plus the overlap in the past — a first start,
//!   which reads `backfill_days` back, or a collector that was down — the log is **behind** and
//!   hands itself to the tenant's backfill coordinator ([`crate::backfill`]), which reads it in
//!   **bounded slices** `[start, end]` together with the tenant's other logs that are behind,
//!   publishes each slice's records in event-time order across them (so the detection engine
//!   does not take a backfill as late) and checkpoints c = the slice end once all are
//!   acknowledged. A crash re-reads at most the slice in progress, whose records JetStream's
//!   duplicate window recognises.
//! - Otherwise the window is **open-ended** (`ge start`, no upper bound, so neither clock skew nor
//!   a simulator's clock can hide records), and afterwards c becomes the newest event time read
//!   (never the local clock, and never more than ten minutes ahead of it).
//!
//! Records Graph shows up to `overlap` late are read by a later poll. Records shown later still,
//! and records Graph changes hours after they happened, are caught by the **late sweep**: every
//! `late_sweep_interval_minutes` the log re-reads `[c − late_sweep_hours, c − overlap]`; records
//! already published with the same content cost nothing but the read.
//!
//! Errors: the Graph client retries each request; when it gives up, the poller waits and resumes
//! the same listing from its last good next link (a stale link restarts the listing); a fatal error
//! (wrong secret, missing permission or licence) ends the window and is retried at a slower pace.
//! Nothing of a failed window is checkpointed, so nothing is lost; what was published is
//! recognised when read again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use m365mon_bus::BusError;
use m365mon_contracts::Settings;
use m365mon_contracts::settings::CollectorSettings;
use m365mon_graph::{GraphError, Page, Pager};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::LogKind;
use crate::backfill::{BackfillHandle, MIN_SLICE};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore};
use crate::publish::{PageOutcome, Publisher};
use crate::status::{ErrorReport, LogState, StatusBoard};
use crate::tenant::TenantContext;

/// Graph keeps 30 days at most; there is no point asking for older records.
const RETENTION: TimeDelta = TimeDelta::days(30);
/// A bounded slice must end at least this long before "now − overlap" (local clocks drift).
const SKEW_MARGIN: TimeDelta = TimeDelta::minutes(5);
/// The newest record time may run at most this far ahead of the local clock.
const FUTURE_TOLERANCE: TimeDelta = TimeDelta::minutes(10);
/// Listing resumptions after the client gave up, before the window is abandoned.
const MAX_RESUMES: u32 = 10;

/// Why a poll did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("NATS: {0}")]
    Bus(#[from] BusError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("shutting down")]
    Shutdown,
    /// Another log's failure made the tenant's backfill slice fail (see [`crate::backfill`]).
    #[error("the backfill slice failed: {0}")]
    Slice(String),
}

impl PollError {
    fn report(&self, consecutive: u32) -> ErrorReport {
        match self {
            PollError::Graph(e) => ErrorReport::from_graph(e, consecutive),
            PollError::Bus(e) => ErrorReport::other("bus", true, e.to_string(), consecutive),
            PollError::Checkpoint(e) => ErrorReport::other("checkpoint", true, e.to_string(), consecutive),
            PollError::Shutdown => ErrorReport::other("shutdown", true, self.to_string(), consecutive),
            PollError::Slice(_) => ErrorReport::other("backfill", true, self.to_string(), consecutive),
        }
    }

    pub(crate) fn is_fatal(&self) -> bool {
        matches!(self, PollError::Graph(e) if !e.is_retryable())
    }
}

enum Progress {
    /// More backfill slices are due: poll again at once.
    MoreToDo,
    /// Up to date: wait for the next interval.
    CaughtUp,
}

/// Polls one log.
pub struct LogPoller {
    ctx: Arc<TenantContext>,
    log: LogKind,
    checkpoints: CheckpointStore,
    publisher: Publisher,
    current: Option<Checkpoint>,
    seen_loaded: bool,
    settings: watch::Receiver<Arc<Settings>>,
    shutdown: CancellationToken,
    status: StatusBoard,
    /// The tenant's backfill coordinator: bounded slices are read through it.
    backfill: BackfillHandle,
}

impl std::fmt::Debug for LogPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogPoller").field("tenant", &self.ctx.tenant).field("log", &self.log).finish_non_exhaustive()
    }
}

impl LogPoller {
    pub fn new(
        ctx: Arc<TenantContext>,
        log: LogKind,
        checkpoints: CheckpointStore,
        publisher: Publisher,
        settings: watch::Receiver<Arc<Settings>>,
        shutdown: CancellationToken,
        backfill: BackfillHandle,
    ) -> LogPoller {
        let status = ctx.status.clone();
        LogPoller {
            ctx,
            log,
            checkpoints,
            publisher,
            current: None,
            seen_loaded: false,
            settings,
            shutdown,
            status,
            backfill,
        }
    }

    pub(crate) fn log(&self) -> LogKind {
        self.log
    }

    pub(crate) fn publisher_mut(&mut self) -> &mut Publisher {
        &mut self.publisher
    }

    pub(crate) fn set_status(&self, change: impl FnOnce(&mut crate::status::LogStatus)) {
        self.status.update(&self.ctx.tenant, self.log.as_str(), change);
    }

    /// Polls until shutdown.
    pub async fn run(mut self) {
        let mut failures = 0u32;
        let log_name = format!("{}/{}", self.ctx.tenant, self.log);
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            let settings = self.settings.borrow_and_update().clone();
            let collector = &settings.collector;
            if !self.log.enabled(collector) {
                self.set_status(|s| s.state = LogState::Disabled);
                tokio::select! {
                    _ = self.shutdown.cancelled() => break,
                    changed = self.settings.changed() => if changed.is_err() { break },
                }
                continue;
            }
            let interval = Duration::from_secs(u64::from(collector.poll_interval_seconds.max(1)));
            let result = match self.behind(collector).await {
                Ok(true) => match self.backfill.clone().backfill(self).await {
                    Some((poller, result)) => {
                        self = poller;
                        result.map(|()| Progress::MoreToDo)
                    }
                    None => {
                        tracing::error!(log = %log_name, "the backfill coordinator is gone; this log stops");
                        return;
                    }
                },
                Ok(false) => self.poll(collector).await,
                Err(e) => Err(e),
            };
            let wait = match result {
                Ok(Progress::MoreToDo) => {
                    failures = 0;
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Progress::CaughtUp) => {
                    failures = 0;
                    interval
                }
                Err(PollError::Shutdown) => break,
                Err(e) => {
                    failures += 1;
                    let report = e.report(failures);
                    self.set_status(|s| {
                        s.state = LogState::Error;
                        s.last_error = Some(report);
                    });
                    metrics::counter!("m365mon_collector_poll_errors_total", "tenant" => self.ctx.tenant.clone(), "log" => self.log.as_str(), "kind" => error_kind(&e))
                        .increment(1);
                    if e.is_fatal() {
                        tracing::error!(tenant = %self.ctx.tenant, log = %self.log, error = %e, code = ?error_code(&e), "poll failed; a human must act (retrying every few minutes)");
                        interval.max(Duration::from_secs(300))
                    } else {
                        tracing::warn!(tenant = %self.ctx.tenant, log = %self.log, error = %e, failures, "poll failed; retrying");
                        let backoff = Duration::from_secs(15).saturating_mul(1 << failures.min(5));
                        backoff.min(interval.max(Duration::from_secs(60)))
                    }
                }
            };
            let next = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::zero());
            self.set_status(|s| s.next_poll = Some(next));
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                changed = self.settings.changed() => if changed.is_err() { break },
            }
            self.set_status(|s| s.next_poll = None);
        }
        self.set_status(|s| s.state = LogState::Stopped);
        tracing::info!(tenant = %self.ctx.tenant, log = %self.log, "poller stopped");
    }

    async fn checkpoint(&mut self, collector: &CollectorSettings) -> Result<Checkpoint, PollError> {
        if let Some(current) = &self.current {
            return Ok(current.clone());
        }
        let now = Utc::now();
        let loaded = match self.checkpoints.load().await? {
            Some(loaded) => {
                tracing::info!(tenant = %self.ctx.tenant, log = %self.log, checkpoint = %loaded.checkpoint, settled = loaded.settled, "resuming from the stored checkpoint");
                loaded
            }
            None => {
                let from = now - TimeDelta::days(i64::from(collector.backfill_days));
                let first = Checkpoint {
                    version: 1,
                    tenant: self.ctx.tenant.clone(),
                    log: self.log.as_str().to_string(),
                    checkpoint: from,
                    settled: true,
                    newest_record: None,
                    backfill_from: Some(from),
                    last_sweep_at: None,
                    records_published: 0,
                    updated_at: now,
                };
                tracing::info!(tenant = %self.ctx.tenant, log = %self.log, from = %from, days = collector.backfill_days, "first start: backfilling");
                self.checkpoints.save(&first).await?;
                first
            }
        };
        if !self.seen_loaded {
            let from = loaded.checkpoint - keep_horizon(collector) - TimeDelta::hours(1);
            let count = self.publisher.load_seen(from).await?;
            tracing::debug!(tenant = %self.ctx.tenant, log = %self.log, count, "seen records loaded");
            self.seen_loaded = true;
        }
        self.set_status(|s| {
            s.checkpoint = Some(loaded.checkpoint);
            s.newest_record = loaded.newest_record;
            s.last_sweep = loaded.last_sweep_at;
        });
        self.current = Some(loaded.clone());
        Ok(loaded)
    }

    async fn save(&mut self, next: Checkpoint) -> Result<(), PollError> {
        match self.checkpoints.save(&next).await {
            Ok(()) => {
                self.current = Some(next);
                Ok(())
            }
            Err(e) => {
                // Re-read next time: the other writer's checkpoint wins.
                self.current = None;
                Err(e.into())
            }
        }
    }

    /// One poll of a log that is not behind: the open-ended window, then a late sweep when due.
    async fn poll(&mut self, collector: &CollectorSettings) -> Result<Progress, PollError> {
        let now = Utc::now();
        let start = self.window_start(collector, now).await?;
        let cp = self.current.clone().expect("window_start loaded the checkpoint");
        let overlap = TimeDelta::minutes(i64::from(collector.overlap_minutes));
        let window = format!("{} .. now", start.to_rfc3339());
        self.set_status(|s| {
            s.state = s.state_if_ok();
            s.last_poll_started = Some(now);
            s.window = Some(window.clone());
        });
        tracing::debug!(tenant = %self.ctx.tenant, log = %self.log, %window, "reading window");

        let persist_from = now - keep_horizon(collector);
        let outcome = self.walk(self.log.query(start, None, self.ctx.options.page_size), persist_from).await?;
        let next = self.advance(collector, cp, None, &outcome, now).await?;

        // The late sweep, when due.
        let interval = TimeDelta::minutes(i64::from(collector.late_sweep_interval_minutes));
        let due = collector.late_sweep_interval_minutes > 0
            && next.last_sweep_at.is_none_or(|last| Utc::now() - last >= interval);
        if due {
            let from = next.checkpoint - TimeDelta::hours(i64::from(collector.late_sweep_hours));
            let until = next.checkpoint - overlap;
            if until > from {
                self.set_status(|s| {
                    s.window = Some(format!("late sweep {} .. {}", from.to_rfc3339(), until.to_rfc3339()))
                });
                let swept =
                    self.walk(self.log.query(from, Some(until), self.ctx.options.page_size), persist_from).await?;
                if swept.published + swept.updated > 0 {
                    tracing::info!(tenant = %self.ctx.tenant, log = %self.log, new = swept.published, updated = swept.updated, "late sweep found records the regular polls had not seen");
                }
                metrics::counter!("m365mon_collector_late_sweeps_total", "tenant" => self.ctx.tenant.clone(), "log" => self.log.as_str())
                    .increment(1);
                metrics::counter!("m365mon_collector_late_records_total", "tenant" => self.ctx.tenant.clone(), "log" => self.log.as_str())
                    .increment(swept.published + swept.updated);
                self.set_status(|s| s.late_records += swept.published + swept.updated);
                let mut swept_checkpoint = self.current.clone().unwrap_or(next);
                swept_checkpoint.last_sweep_at = Some(Utc::now());
                swept_checkpoint.records_published += swept.published + swept.updated;
                swept_checkpoint.updated_at = Utc::now();
                self.save(swept_checkpoint.clone()).await?;
                self.set_status(|s| s.last_sweep = swept_checkpoint.last_sweep_at);
            }
        }
        self.set_status(|s| s.last_completed_poll_started = Some(now));
        Ok(Progress::CaughtUp)
    }

    /// Where the next window starts: c, or c − overlap after an open-ended window, and never
    /// before what Graph keeps.
    pub(crate) async fn window_start(
        &mut self,
        collector: &CollectorSettings,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, PollError> {
        let cp = self.checkpoint(collector).await?;
        let overlap = TimeDelta::minutes(i64::from(collector.overlap_minutes));
        let start = if cp.settled { cp.checkpoint } else { cp.checkpoint - overlap };
        if start < now - RETENTION {
            tracing::warn!(tenant = %self.ctx.tenant, log = %self.log, checkpoint = %cp.checkpoint, "the checkpoint is older than Graph keeps records; records before {} are gone", now - RETENTION);
            return Ok(now - RETENTION);
        }
        Ok(start)
    }

    /// Whether the next window would be a bounded slice: then the poller goes to the coordinator.
    async fn behind(&mut self, collector: &CollectorSettings) -> Result<bool, PollError> {
        let now = Utc::now();
        let start = self.window_start(collector, now).await?;
        Ok(start + MIN_SLICE < backfill_limit(collector, now))
    }

    /// Reads every page of `[from, until]` into memory, resuming as [`LogPoller::walk`] does.
    /// `records_read` counts the records of every log reading the same slice; past `abandon_at`
    /// the read stops early and answers `None`.
    pub(crate) async fn read_slice(
        &mut self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        records_read: &AtomicU64,
        abandon_at: Option<u64>,
    ) -> Result<Option<Vec<Page>>, PollError> {
        let mut pager = self.ctx.graph.pages(self.log.query(from, Some(until), self.ctx.options.page_size));
        let mut pages = Vec::new();
        while let Some(page) = fetch(&mut pager, &self.shutdown, &self.ctx.tenant, self.log).await? {
            let read = page.len() as u64;
            let total = records_read.fetch_add(read, AtomicOrdering::Relaxed) + read;
            pages.push(page);
            if abandon_at.is_some_and(|limit| total > limit) {
                return Ok(None);
            }
        }
        Ok(Some(pages))
    }

    /// After every record of a coordinated slice ending at `until` was published and
    /// acknowledged: counts it, checkpoints `until` (settled) and prunes the seen cache.
    pub(crate) async fn finish_slice(
        &mut self,
        collector: &CollectorSettings,
        until: DateTime<Utc>,
        outcome: &PageOutcome,
        started: DateTime<Utc>,
    ) -> Result<(), PollError> {
        count(&self.ctx.tenant, self.log.as_str(), outcome);
        self.set_status(|s| {
            s.records_published += outcome.published;
            s.records_updated += outcome.updated;
            s.records_deduplicated += outcome.deduplicated;
            s.records_dead_lettered += outcome.dead_lettered;
        });
        let cp = self.checkpoint(collector).await?;
        self.advance(collector, cp, Some(until), outcome, Utc::now()).await?;
        self.set_status(|s| s.last_completed_poll_started = Some(started));
        Ok(())
    }

    /// After every record of a window was published and acknowledged: advances checkpoint `cp`
    /// to `slice_end` (settled) after a bounded slice, else to the newest record read, saves and
    /// shows it, and prunes the seen cache.
    async fn advance(
        &mut self,
        collector: &CollectorSettings,
        mut next: Checkpoint,
        slice_end: Option<DateTime<Utc>>,
        outcome: &PageOutcome,
        now: DateTime<Utc>,
    ) -> Result<Checkpoint, PollError> {
        if let Some(end) = slice_end {
            next.checkpoint = end;
            next.settled = true;
        } else {
            if let Some(newest) = outcome.newest {
                next.checkpoint = next.checkpoint.max(newest.min(now + FUTURE_TOLERANCE));
            }
            next.settled = false;
        }
        if let Some(newest) = outcome.newest {
            let newest = newest.min(now + FUTURE_TOLERANCE);
            next.newest_record = Some(next.newest_record.map_or(newest, |n| n.max(newest)));
        }
        next.records_published += outcome.published + outcome.updated;
        next.updated_at = Utc::now();
        self.save(next.clone()).await?;
        self.set_status(|s| {
            s.state = if slice_end.is_some() { LogState::Backfilling } else { LogState::Polling };
            s.checkpoint = Some(next.checkpoint);
            s.newest_record = next.newest_record;
            s.last_success = Some(Utc::now());
            s.last_error = None;
        });
        self.prune(collector, &next);
        Ok(next)
    }

    fn prune(&mut self, collector: &CollectorSettings, cp: &Checkpoint) {
        let overlap = TimeDelta::minutes(i64::from(collector.overlap_minutes));
        let reach = if collector.late_sweep_interval_minutes > 0 {
            TimeDelta::hours(i64::from(collector.late_sweep_hours)).max(overlap)
        } else {
            overlap
        };
        self.publisher.prune_seen(cp.checkpoint - reach - TimeDelta::minutes(10));
    }

    /// Reads every page of a listing and publishes it; the next page is fetched while the current
    /// one is published. Returns once every page is published and acknowledged.
    async fn walk(&mut self, first_url: String, persist_from: DateTime<Utc>) -> Result<PageOutcome, PollError> {
        let mut pager = self.ctx.graph.pages(first_url);
        let mut total = PageOutcome::default();
        let labels = (self.ctx.tenant.clone(), self.log.as_str());
        let mut page = fetch(&mut pager, &self.shutdown, &self.ctx.tenant, self.log).await?;
        while let Some(current) = page {
            let started = std::time::Instant::now();
            let (published, next) = tokio::join!(
                async {
                    let result = self.publisher.publish_page(&current, persist_from).await;
                    (result, started.elapsed())
                },
                async {
                    let result = fetch(&mut pager, &self.shutdown, &self.ctx.tenant, self.log).await;
                    (result, started.elapsed())
                },
            );
            let ((published, publish_time), (next, fetch_time)) = (published, next);
            tracing::debug!(
                tenant = %self.ctx.tenant,
                log = %self.log,
                records = current.len(),
                publish_ms = publish_time.as_millis() as u64,
                fetch_next_ms = fetch_time.as_millis() as u64,
                "page"
            );
            let outcome = published?;
            count(&labels.0, labels.1, &outcome);
            total.add(&outcome);
            self.set_status(|s| {
                s.records_published += outcome.published;
                s.records_updated += outcome.updated;
                s.records_deduplicated += outcome.deduplicated;
                s.records_dead_lettered += outcome.dead_lettered;
                if let Some(newest) = outcome.newest {
                    s.newest_record = Some(s.newest_record.map_or(newest, |n| n.max(newest)));
                }
            });
            page = next?;
        }
        Ok(total)
    }
}

impl crate::status::LogStatus {
    fn state_if_ok(&self) -> LogState {
        match self.state {
            LogState::Backfilling | LogState::Polling => self.state,
            _ => LogState::Polling,
        }
    }
}

/// The next page, resuming from the last good link after the client gave up on a request.
async fn fetch(
    pager: &mut Pager,
    shutdown: &CancellationToken,
    tenant: &str,
    log: LogKind,
) -> Result<Option<Page>, PollError> {
    let mut resumes = 0u32;
    loop {
        let result = tokio::select! {
            result = pager.next_page() => result,
            _ = shutdown.cancelled() => return Err(PollError::Shutdown),
        };
        match result {
            Ok(page) => return Ok(page),
            Err(e) if e.is_retryable() && resumes < MAX_RESUMES => {
                resumes += 1;
                // A listing whose next links keep going stale starts over at once (waiting only
                // ages the next skip token); other failures wait, growing to five minutes.
                let wait = if matches!(e, GraphError::StaleNextLink(_)) {
                    Duration::ZERO
                } else {
                    Duration::from_secs(5).saturating_mul(1 << resumes.min(6)).min(Duration::from_secs(300))
                };
                tracing::warn!(%tenant, %log, error = %e, resumes, wait_s = wait.as_secs(), "listing interrupted; resuming from the last good next link");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => return Err(PollError::Shutdown),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn count(tenant: &str, log: &'static str, outcome: &PageOutcome) {
    let labels = [("tenant", tenant.to_string()), ("log", log.to_string())];
    metrics::counter!("m365mon_collector_records_fetched_total", &labels).increment(outcome.fetched);
    metrics::counter!("m365mon_collector_records_published_total", &labels).increment(outcome.published);
    metrics::counter!("m365mon_collector_records_updated_total", &labels).increment(outcome.updated);
    metrics::counter!("m365mon_collector_records_deduplicated_total", &labels).increment(outcome.deduplicated);
    metrics::counter!("m365mon_collector_records_dead_lettered_total", &labels).increment(outcome.dead_lettered);
    metrics::counter!("m365mon_collector_pages_total", &labels).increment(outcome.pages);
}

/// A bounded slice must end before this: now − overlap − a margin for clock drift.
pub(crate) fn backfill_limit(collector: &CollectorSettings, now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::minutes(i64::from(collector.overlap_minutes)) - SKEW_MARGIN
}

/// How far back a record may still be read again: the overlap or the late sweep, and an hour.
pub fn keep_horizon(collector: &CollectorSettings) -> TimeDelta {
    let overlap = TimeDelta::minutes(i64::from(collector.overlap_minutes));
    let sweep = if collector.late_sweep_interval_minutes > 0 {
        TimeDelta::hours(i64::from(collector.late_sweep_hours))
    } else {
        TimeDelta::zero()
    };
    overlap.max(sweep) + TimeDelta::hours(1)
}

fn error_kind(e: &PollError) -> &'static str {
    match e {
        PollError::Graph(g) => g.kind_name(),
        PollError::Bus(_) => "bus",
        PollError::Checkpoint(_) => "checkpoint",
        PollError::Shutdown => "shutdown",
        PollError::Slice(_) => "backfill",
    }
}

fn error_code(e: &PollError) -> Option<&str> {
    match e {
        PollError::Graph(g) => g.code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keep_horizon_covers_overlap_and_sweep() {
        let mut collector = CollectorSettings::default();
        assert_eq!(keep_horizon(&collector), TimeDelta::hours(7));
        collector.late_sweep_interval_minutes = 0;
        assert_eq!(keep_horizon(&collector), TimeDelta::minutes(90));
    }
}
