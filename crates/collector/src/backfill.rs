//! Backfill and catch-up in event-time order across all logs of a tenant.
//!
//! # Why
//!
//! The detection engine keeps one event-time watermark per tenant (the newest event time it has
//! seen) and skips, in its windowed and learning rules, records older than the watermark minus
//! the allowed lateness (`detection.allowed_lateness_minutes`, two hours by default). Read log by
//! log, a first backfill reaches it badly out of order: each log advanced on its own (one ran days
//! ahead of another), and Graph serves each listing newest first, so in a 24-hour slice all but
//! the newest two hours came late. 80–96 % of a first backfill was skipped by those rules: it
//! neither raised the alerts hidden in the history nor taught the learning rules (new country,
//! first sign-ins) what is usual.
//!
//! # How
//!
//! Each tenant has one coordinator. A log whose next window would be a **bounded slice** (a first
//! start, or a collector that was down; see [`crate::poller`]) hands its poller to the coordinator
//! instead of reading alone, and gets it back once it has caught up. The coordinator works in
//! rounds; in each:
//!
//! 1. every log it holds says where its next window starts (`c`, or `c − overlap` after an
//!    open-ended window); logs that are no longer behind (disabled, or within five minutes of
//!    `now − overlap − 5 min`) are handed back and go on polling open-ended windows on their own;
//! 2. the slice is `[s, e]` with `s` the earliest start and `e = min(s + slice, now − overlap −
//!    5 min)`; each log reads `[its start, e]` (a log already at or past `e` sits the round out),
//!    following its own next links with the poller's resume logic, all logs at once (the tenant's
//!    request pacer is shared anyway), keeping the pages in memory;
//! 3. the records of all logs are sorted by event time (stable; ties by log, then id) and
//!    published in that order — each still decided by its own log's seen cache (new, update or
//!    skip) exactly as in steady state, with `Nats-Msg-Id` as always;
//! 4. once every publish is acknowledged, each log that read the slice checkpoints `e` (settled).
//!
//! A crash re-reads at most the slice in progress (JetStream's duplicate window and the seen store
//! recognise what was published). Publishes are started in sorted order with up to 1,024 in
//! flight, so the stream holds them in that order but for the few that overtake each other in
//! flight; records of consecutive slices never mix. The engine therefore sees a backfill
//! (almost) in ascending event time: late only are records Graph shows after their slice was read
//! (the late sweep finds those) and records of a log that missed rounds (below).
//!
//! **A log that fails** (a fatal error such as a missing licence for the beta logs — 403 —, or a
//! listing the Graph client gave up on after its retries and resumes) drops out of the round: its
//! poller is handed back with the error, nothing of its slice is published or checkpointed, and
//! the other logs' records of the slice are published and checkpointed without it. The failed log
//! retries at its own pace (every five minutes for a fatal error, a growing backoff otherwise) and
//! rejoins the coordinator; rounds then start at its (older) checkpoint while the others sit the
//! rounds out until it has caught up with them. Its records are still published in ascending
//! order among themselves, but they come after newer records of the other logs: those older than
//! the tenant's watermark minus the allowed lateness reach the engine late (counted in
//! `m365mon_detector_late_records_total`). The same holds for a log switched on (settings) while
//! the others are up to date. A failed publish or checkpoint hands every log back with the error.
//!
//! **Slice length** adapts to the tenant's total: about ten pages of records per slice over all
//! logs (`page_size × 10` records), at least five minutes and at most 24 hours, starting at the
//! configured first slice (`M365MON_COLLECTOR_SLICE_MINUTES`); a slice is at most twice as long
//! as the one before. A slice that turns out to hold more than three times the target (a slice
//! grown over a quiet night that reaches into the morning) is abandoned while it is read and
//! tried again shorter (unless already five minutes long), and slices then do not grow for four
//! rounds. Peak memory is therefore the records of one slice: normally about ten pages (10,000
//! records of Graph JSON, some 20–40 MB for real sign-ins of 2–4 KB), at most thirty pages plus
//! a page per log. Measured on graph-sim's 3,600-user week (1.04 M records of about 3 KB): 140–170
//! MB peak resident instead of 83–87 MB when each log read alone (see the README's benchmark).
//!
//! **Requests.** Every log costs at least one request per round, and the last page of each
//! log's part is usually a partial one; an abandoned slice costs what was read of it. On the
//! 3,600-user week: 106 slices, 1,442 pages published plus about 150 read in 5 abandoned slices,
//! against 1,192 pages when each log read ten-page slices alone — about a third more requests
//! on Graph's budget of 5 requests per 10 s per tenant (a week of such a tenant took about 40
//! minutes of budget, now about 53). A quiet tenant's slices grow to 24 hours: 7 rounds × 5 logs =
//! 35 requests for a week. The alternatives: sorting each log's slices alone costs the same
//! requests but leaves logs running ahead of one another (late records); short lock-step slices
//! without buffering (each at most the allowed lateness) cost at least five requests per slice
//! even for empty hours — 168 hourly slices × 5 logs = 840 requests for a quiet week.
//!
//! Steady state (open-ended windows) and the late sweep do not pass through the coordinator: their
//! latency is unchanged, and logs publish independently as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use m365mon_contracts::Settings;
use m365mon_graph::Page;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::LogKind;
use crate::poller::{LogPoller, PollError, backfill_limit, keep_horizon};
use crate::publish::{PageOutcome, Planned, Publisher, publish_in_order};
use crate::status::LogState;

/// Slices adapt their length to hold about this many pages over all logs: few requests for a
/// quiet tenant (Graph's request budget is small), little to hold and to read again after a crash
/// for a busy one.
const SLICE_TARGET_PAGES: u64 = 10;
/// The shortest and the longest slice. A log whose next window starts less than the shortest
/// slice before the backfill limit is not behind.
pub(crate) const MIN_SLICE: TimeDelta = TimeDelta::minutes(5);
const MAX_SLICE: TimeDelta = TimeDelta::hours(24);
/// How long the first round waits for the tenant's other logs to join after the first one did.
const GATHER: Duration = Duration::from_secs(5);
/// A slice read is abandoned (and tried shorter) beyond this many times the target.
const ABANDON_FACTOR: u64 = 3;
/// Rounds after an abandoned slice in which slices do not grow.
const HOLD_ROUNDS: u32 = 4;

/// What a log gets back from the coordinator: its poller, and `Ok` once it has caught up (or
/// was switched off), or the error that made it drop out.
pub(crate) type Returned = (LogPoller, Result<(), PollError>);

struct Joining {
    poller: LogPoller,
    reply: oneshot::Sender<Returned>,
}

impl Joining {
    fn hand_back(self, result: Result<(), PollError>) {
        // The poller task is waiting for it; it is gone only when the collector is stopping.
        let _ = self.reply.send((self.poller, result));
    }
}

/// Where a tenant's logs hand their pollers to the coordinator.
#[derive(Debug, Clone)]
pub struct BackfillHandle {
    tx: mpsc::UnboundedSender<Joining>,
}

impl std::fmt::Debug for Joining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.poller.fmt(f)
    }
}

impl BackfillHandle {
    /// Hands `poller` to the coordinator until it has caught up, failed, or the collector stops.
    /// `None` only if the coordinator is gone without handing it back (it panicked).
    pub(crate) async fn backfill(&self, poller: LogPoller) -> Option<Returned> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(joining)) = self.tx.send(Joining { poller, reply }) {
            return Some((joining.poller, Err(PollError::Shutdown)));
        }
        answer.await.ok()
    }
}

/// The coordinator of one tenant's backfill; run it as a task next to the tenant's pollers.
#[derive(Debug)]
pub struct Coordinator {
    tenant: String,
    rx: mpsc::UnboundedReceiver<Joining>,
    settings: watch::Receiver<Arc<Settings>>,
    shutdown: CancellationToken,
    /// Length of the next slice.
    slice: TimeDelta,
    /// Records of a slice aimed at (ten pages).
    target_records: u64,
    /// Rounds left in which the slice must not grow (after one was abandoned: the traffic is
    /// rising, as on a weekday morning, and a longer slice would be abandoned again).
    hold: u32,
}

/// A coordinator for `tenant` and the handle its logs use.
pub fn coordinator(
    tenant: &str,
    first_slice: TimeDelta,
    page_size: u32,
    settings: watch::Receiver<Arc<Settings>>,
    shutdown: CancellationToken,
) -> (BackfillHandle, Coordinator) {
    let (tx, rx) = mpsc::unbounded_channel();
    let coordinator = Coordinator {
        tenant: tenant.to_string(),
        rx,
        settings,
        shutdown,
        slice: first_slice.clamp(MIN_SLICE, MAX_SLICE),
        target_records: SLICE_TARGET_PAGES * u64::from(page_size.clamp(1, 1000)),
        hold: 0,
    };
    (BackfillHandle { tx }, coordinator)
}

/// A log of the round: its poller and where its next window starts.
struct Member {
    joining: Joining,
    start: DateTime<Utc>,
}

impl Coordinator {
    /// Runs rounds while any log is behind, until shutdown; every poller it holds is handed back.
    pub async fn run(mut self) {
        let mut members: Vec<Joining> = Vec::new();
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            if members.is_empty() {
                let first = tokio::select! {
                    joining = self.rx.recv() => joining,
                    _ = self.shutdown.cancelled() => None,
                };
                let Some(first) = first else { break };
                members.push(first);
                self.gather(&mut members).await;
            } else {
                while let Ok(joining) = self.rx.try_recv() {
                    members.push(joining);
                }
            }
            members = self.round(members).await;
        }
        self.rx.close();
        while let Ok(joining) = self.rx.try_recv() {
            members.push(joining);
        }
        for joining in members {
            joining.hand_back(Err(PollError::Shutdown));
        }
    }

    /// Waits (a little) for the tenant's other enabled logs, so that a first start or a catch-up
    /// begins with all of them in the same slice.
    async fn gather(&mut self, members: &mut Vec<Joining>) {
        let deadline = tokio::time::Instant::now() + GATHER;
        loop {
            let enabled = {
                let settings = self.settings.borrow();
                LogKind::ALL.iter().filter(|log| log.enabled(&settings.collector)).count()
            };
            if members.len() >= enabled {
                return;
            }
            tokio::select! {
                joining = self.rx.recv() => match joining {
                    Some(joining) => members.push(joining),
                    None => return,
                },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = self.shutdown.cancelled() => return,
            }
        }
    }

    /// One slice for every log that is behind; returns the logs that stay.
    async fn round(&mut self, joined: Vec<Joining>) -> Vec<Joining> {
        let settings = self.settings.borrow().clone();
        let collector = &settings.collector;
        let now = Utc::now();
        let limit = backfill_limit(collector, now);

        let mut members = Vec::with_capacity(joined.len());
        for mut joining in joined {
            if !joining.poller.log().enabled(collector) {
                joining.hand_back(Ok(()));
                continue;
            }
            match joining.poller.window_start(collector, now).await {
                Err(e) => joining.hand_back(Err(e)),
                Ok(start) if start + MIN_SLICE >= limit => joining.hand_back(Ok(())),
                Ok(start) => members.push(Member { joining, start }),
            }
        }
        let Some(s) = members.iter().map(|m| m.start).min() else { return Vec::new() };
        let e = (s + self.slice).min(limit);
        let readers: Vec<bool> = members.iter().map(|m| m.start < e).collect();
        let window_text = |start: DateTime<Utc>| format!("{} .. {}", start.to_rfc3339(), e.to_rfc3339());
        for (m, _) in members.iter().zip(&readers).filter(|(_, r)| **r) {
            let window = window_text(m.start);
            m.joining.poller.set_status(|st| {
                st.state = LogState::Backfilling;
                st.last_poll_started = Some(now);
                st.window = Some(window);
            });
        }
        tracing::debug!(tenant = %self.tenant, from = %s, until = %e, logs = readers.iter().filter(|r| **r).count(), "reading a backfill slice");

        // Read every log's part of the slice, all at once.
        let records_read = AtomicU64::new(0);
        let abandon_at = (self.slice > MIN_SLICE).then_some(self.target_records * ABANDON_FACTOR);
        let reads: Vec<Option<Result<Option<Vec<Page>>, PollError>>> =
            futures::future::join_all(members.iter_mut().zip(&readers).map(|(m, reader)| {
                let records_read = &records_read;
                async move {
                    if *reader {
                        Some(m.joining.poller.read_slice(m.start, e, records_read, abandon_at).await)
                    } else {
                        None
                    }
                }
            }))
            .await;

        if reads.iter().any(|r| matches!(r, Some(Ok(None)))) {
            let read = records_read.load(Ordering::Relaxed).max(1);
            self.slice = adapt(self.slice, read, self.target_records).min(self.slice / 2).max(MIN_SLICE);
            self.hold = HOLD_ROUNDS;
            tracing::info!(tenant = %self.tenant, records = read, slice_minutes = self.slice.num_minutes(), "backfill slice too large to hold; reading it again shorter");
            // Errors of this round are handed back; the others read the shorter slice next.
            let mut stay = Vec::with_capacity(members.len());
            for (m, read) in members.into_iter().zip(reads) {
                match read {
                    Some(Err(e)) => m.joining.hand_back(Err(e)),
                    _ => stay.push(m.joining),
                }
            }
            return stay;
        }

        // Logs that failed drop out; the others' records are planned (dead letters sent here).
        let persist_from = now - keep_horizon(collector);
        let mut stay: Vec<Joining> = Vec::with_capacity(members.len());
        let mut done: Vec<(Joining, PageOutcome)> = Vec::new();
        let mut pages_of: Vec<Vec<Page>> = Vec::new();
        let mut shorten = false;
        for (m, read) in members.into_iter().zip(reads) {
            match read {
                None => stay.push(m.joining),
                Some(Err(e)) => {
                    shorten |= !e.is_fatal() && !matches!(e, PollError::Shutdown);
                    tracing::warn!(tenant = %self.tenant, log = %m.joining.poller.log(), error = %e, "a log dropped out of the backfill slice; the others go on");
                    m.joining.hand_back(Err(e));
                }
                Some(Ok(pages)) => {
                    done.push((m.joining, PageOutcome::default()));
                    pages_of.push(pages.unwrap_or_default());
                }
            }
        }
        if shorten {
            // A slice that could not be read in one go is tried smaller, as a lone log's is.
            self.slice = (self.slice / 2).max(MIN_SLICE);
        }
        if done.is_empty() {
            return stay;
        }

        let mut records: Vec<(usize, Planned)> = Vec::new();
        let mut failure = None;
        'plan: for (i, ((joining, outcome), pages)) in done.iter_mut().zip(&pages_of).enumerate() {
            for page in pages {
                match joining.poller.publisher_mut().plan_page(page, persist_from).await {
                    Ok((planned, page_outcome)) => {
                        outcome.add(&page_outcome);
                        records.extend(planned.into_iter().map(|p| (i, p)));
                    }
                    Err(e) => {
                        failure = Some(PollError::from(e));
                        break 'plan;
                    }
                }
            }
        }
        drop(pages_of);
        let total_records = records.len() as u64;
        if failure.is_none() {
            let logs: Vec<LogKind> = done.iter().map(|(j, _)| j.poller.log()).collect();
            records.sort_by(|(i, a), (j, b)| a.at.cmp(&b.at).then(logs[*i].cmp(&logs[*j])).then(a.id.cmp(&b.id)));
            let mut outcomes: Vec<PageOutcome> = done.iter().map(|(_, o)| *o).collect();
            let mut publishers: Vec<&mut Publisher> = done.iter_mut().map(|(j, _)| j.poller.publisher_mut()).collect();
            let published = publish_in_order(&mut publishers, records, persist_from, &mut outcomes).await;
            for ((_, outcome), counted) in done.iter_mut().zip(outcomes) {
                *outcome = counted;
            }
            if let Err(e) = published {
                failure = Some(e.into());
            }
        }
        if let Some(e) = failure {
            // Nothing of the slice is checkpointed; every log that read it retries after its
            // backoff and rejoins.
            tracing::warn!(tenant = %self.tenant, error = %e, "publishing a backfill slice failed");
            let text = e.to_string();
            let mut first = Some(e);
            for (joining, _) in done {
                let error = first.take().unwrap_or_else(|| PollError::Slice(text.clone()));
                joining.hand_back(Err(error));
            }
            return stay;
        }

        // Every record of the slice is acknowledged: checkpoint it for each log that read it.
        let mut pages = 0;
        for (mut joining, outcome) in done {
            pages += outcome.pages;
            match joining.poller.finish_slice(collector, e, &outcome, now).await {
                Ok(()) => stay.push(joining),
                Err(err) => joining.hand_back(Err(err)),
            }
        }
        let next = adapt(self.slice, total_records, self.target_records);
        if self.hold > 0 {
            self.hold -= 1;
            self.slice = next.min(self.slice);
        } else {
            self.slice = next;
        }
        tracing::debug!(tenant = %self.tenant, until = %e, records = total_records, pages, next_slice_minutes = self.slice.num_minutes(), "backfill slice published");
        stay
    }
}

/// The next slice: proportional to how far the last one was from the target, at most twice
/// and at least a quarter as long, within 5 minutes .. 24 hours. (Growing faster, a slice
/// stretched over a quiet night reaches into the morning's traffic and has to be abandoned.)
fn adapt(slice: TimeDelta, records: u64, target: u64) -> TimeDelta {
    let factor = target as f64 / records.max(1) as f64;
    let factor = factor.clamp(0.25, 2.0);
    let millis = (slice.num_milliseconds() as f64 * factor) as i64;
    TimeDelta::milliseconds(millis).clamp(MIN_SLICE, MAX_SLICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_follow_the_tenant_total() {
        let hour = TimeDelta::hours(1);
        assert_eq!(adapt(hour, 10_000, 10_000), hour);
        assert_eq!(adapt(hour, 5_000, 10_000), TimeDelta::hours(2));
        assert_eq!(adapt(hour, 0, 10_000), TimeDelta::hours(2));
        assert_eq!(adapt(hour, 40_000, 10_000), TimeDelta::minutes(15));
        assert_eq!(adapt(TimeDelta::hours(20), 0, 10_000), MAX_SLICE);
        assert_eq!(adapt(hour, 2_500, 10_000), TimeDelta::hours(2));
        assert_eq!(adapt(TimeDelta::minutes(6), 1_000_000, 10_000), MIN_SLICE);
    }
}
