//! A per-tenant request pacer: at most `requests` starts in any sliding `per` window, shared by
//! every endpoint of the tenant.
//!
//! Graph throttles the identity and access reports (sign-ins, directory audits) at 5 requests per
//! 10 seconds per app and tenant, one budget for all of them. Staying just below it (4 per 10 s
//! by default) means the collector is almost never answered 429 at all, instead of bouncing off
//! the limit. When Graph does throttle, [`Pacer::hold_until`] pauses every request of the tenant
//! for the `Retry-After` time, not only the one that was refused.
//!
//! Waiters are served first come, first served (the queue is a fair async mutex), so a long
//! backfill on one endpoint cannot starve the regular polls of the others.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Pacing of one tenant's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// No client-side limit (benchmarks against a simulator; Graph's own 429s are still honoured).
    Off,
    /// At most `requests` request starts in any window of `per`.
    Limit { requests: u32, per: Duration },
}

impl Pacing {
    /// Just below Graph's reporting limit of 5 requests per 10 s per app and tenant.
    pub const GRAPH_REPORTS: Pacing = Pacing::Limit { requests: 4, per: Duration::from_secs(10) };
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing::GRAPH_REPORTS
    }
}

/// The pacer of one tenant.
#[derive(Debug)]
pub struct Pacer {
    requests: usize,
    per: Duration,
    /// Start times of the requests in the current window; the lock is held while waiting, which
    /// makes it the queue.
    starts: tokio::sync::Mutex<VecDeque<Instant>>,
    /// Set by a throttled answer: nobody starts before this.
    hold: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `None` when pacing is off.
    pub fn new(pacing: Pacing) -> Option<Pacer> {
        match pacing {
            Pacing::Off => None,
            Pacing::Limit { requests, per } => Some(Pacer {
                requests: requests.max(1) as usize,
                per,
                starts: tokio::sync::Mutex::new(VecDeque::new()),
                hold: Mutex::new(None),
            }),
        }
    }

    /// Waits for a slot; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let began = Instant::now();
        let mut starts = self.starts.lock().await;
        loop {
            let now = Instant::now();
            while starts.front().is_some_and(|&t| now.duration_since(t) >= self.per) {
                starts.pop_front();
            }
            let window_free_at =
                if starts.len() < self.requests { now } else { starts.front().map_or(now, |&t| t + self.per) };
            let held_until = self.hold.lock().map(|h| *h).unwrap_or(None).unwrap_or(now);
            let ready_at = window_free_at.max(held_until);
            if ready_at <= now {
                starts.push_back(now);
                return now.duration_since(began);
            }
            tokio::time::sleep_until(ready_at).await;
        }
    }

    /// Nobody of this tenant starts a request before `until` (a 429's `Retry-After`).
    pub fn hold_until(&self, until: Instant) {
        if let Ok(mut hold) = self.hold.lock() {
            *hold = Some(hold.map_or(until, |h| h.max(until)));
        }
    }

    /// The configured rate as `(requests, per)`.
    pub fn rate(&self) -> (usize, Duration) {
        (self.requests, self.per)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_any_window() {
        let pacer =
            std::sync::Arc::new(Pacer::new(Pacing::Limit { requests: 4, per: Duration::from_secs(10) }).unwrap());
        let origin = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let pacer = pacer.clone();
            tasks.push(tokio::spawn(async move {
                pacer.acquire().await;
                Instant::now().duration_since(origin)
            }));
        }
        let mut at = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap());
        }
        at.sort();
        // 4 at once, 4 after 10 s, 4 after 20 s.
        for (i, t) in at.iter().enumerate() {
            let expected = Duration::from_secs(10 * (i as u64 / 4));
            assert_eq!(*t, expected, "request {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_pauses_everyone() {
        let pacer = Pacer::new(Pacing::Limit { requests: 100, per: Duration::from_secs(10) }).unwrap();
        pacer.acquire().await;
        pacer.hold_until(Instant::now() + Duration::from_millis(2_128));
        let waited = pacer.acquire().await;
        assert_eq!(waited, Duration::from_millis(2_128));
        // An earlier hold never shortens a later one.
        pacer.hold_until(Instant::now() + Duration::from_secs(5));
        pacer.hold_until(Instant::now() + Duration::from_secs(1));
        assert_eq!(pacer.acquire().await, Duration::from_secs(5));
    }

    #[test]
    fn off_means_no_pacer() {
        assert!(Pacer::new(Pacing::Off).is_none());
    }
}
