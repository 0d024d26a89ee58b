//! A per-channel rate limit: a token bucket that never lets more than `limit` messages out in
//! any rolling minute.
//!
//! A plain bucket of capacity `limit` refilled at `limit` per minute can send `2 × limit` within
//! one minute (a full bucket, then a minute of refill), and Exchange Online rejects SMTP
//! submissions over 30 a minute per mailbox. So the bucket holds a burst `b = max(1, limit / 6)`
//! and refills at `(limit − b + 1)` per minute: a half-open minute then holds at most
//! `b + (limit − b)` = `limit` sends. For 30 a minute that is a burst of 5 and a sustained 26.
//!
//! A delivery that finds no token is deferred until one is available, never dropped; the caller
//! queues deferred deliveries in due order.

use chrono::{DateTime, Utc};

/// A token bucket with an injected clock.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    /// Tokens per second.
    refill: f64,
    tokens: f64,
    updated: Option<DateTime<Utc>>,
}

impl TokenBucket {
    /// A bucket for at most `limit_per_minute` messages in any rolling minute; starts full.
    pub fn per_minute(limit_per_minute: u32) -> TokenBucket {
        let limit = f64::from(limit_per_minute.max(1));
        let capacity = (limit / 6.0).floor().max(1.0);
        TokenBucket { capacity, refill: (limit - capacity + 1.0) / 60.0, tokens: capacity, updated: None }
    }

    /// The burst size.
    pub fn capacity(&self) -> u32 {
        self.capacity as u32
    }

    fn refill_to(&mut self, now: DateTime<Utc>) {
        if let Some(updated) = self.updated {
            let elapsed = (now - updated).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
            self.tokens = (self.tokens + elapsed * self.refill).min(self.capacity);
        }
        if self.updated.is_none_or(|u| now > u) {
            self.updated = Some(now);
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn try_take(&mut self, now: DateTime<Utc>) -> Result<(), std::time::Duration> {
        self.refill_to(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let seconds = (1.0 - self.tokens) / self.refill;
            // Round up to the next millisecond so a caller sleeping exactly this long finds a token.
            Err(std::time::Duration::from_millis((seconds * 1000.0).ceil() as u64 + 1))
        }
    }

    /// Gives back a token taken for a send that did not happen (the transport was not reachable
    /// before anything was submitted).
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }

    /// Changes the limit (settings applied live), keeping the tokens already earned.
    pub fn set_limit(&mut self, limit_per_minute: u32) {
        let fresh = TokenBucket::per_minute(limit_per_minute);
        if (fresh.capacity, fresh.refill) != (self.capacity, self.refill) {
            self.capacity = fresh.capacity;
            self.refill = fresh.refill;
            self.tokens = self.tokens.min(self.capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    /// Drives a bucket as fast as it allows for `seconds` and returns the send times.
    fn drain(limit: u32, seconds: i64) -> Vec<DateTime<Utc>> {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let mut bucket = TokenBucket::per_minute(limit);
        let mut now = start;
        let mut sent = Vec::new();
        while now < start + Duration::seconds(seconds) {
            match bucket.try_take(now) {
                Ok(()) => sent.push(now),
                Err(wait) => now += Duration::from_std(wait).unwrap(),
            }
        }
        sent
    }

    #[test]
    fn never_more_than_the_limit_in_any_rolling_minute() {
        for limit in [1, 2, 5, 6, 7, 30, 100, 1000] {
            let sent = drain(limit, 600);
            for (i, t) in sent.iter().enumerate() {
                let in_window = sent[i..].iter().take_while(|s| **s < *t + Duration::seconds(60)).count();
                assert!(in_window <= limit as usize, "limit {limit}: {in_window} sends in the minute from {t}");
            }
            // And it is not needlessly slow: close to the limit over ten minutes.
            assert!(sent.len() as f64 >= f64::from(limit) * 10.0 * 0.8, "limit {limit}: only {} in 10 min", sent.len());
        }
    }

    #[test]
    fn exchange_defaults_burst_five_then_wait() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let mut bucket = TokenBucket::per_minute(30);
        assert_eq!(bucket.capacity(), 5);
        for _ in 0..5 {
            bucket.try_take(t0).unwrap();
        }
        let wait = bucket.try_take(t0).unwrap_err();
        assert!(wait > std::time::Duration::from_secs(2) && wait < std::time::Duration::from_secs(3), "{wait:?}");
        assert!(bucket.try_take(t0 + Duration::from_std(wait).unwrap()).is_ok());
        bucket.give_back();
        bucket.set_limit(6);
        assert_eq!(bucket.capacity(), 1);
        // A clock that goes backwards never mints tokens.
        let mut b = TokenBucket::per_minute(6);
        b.try_take(t0).unwrap();
        assert!(b.try_take(t0 - Duration::seconds(100)).is_err());
    }
}
