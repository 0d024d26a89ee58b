//! When to try again: `Retry-After` as Graph sends it, and exponential backoff with jitter when
//! it does not.
//!
//! Graph documents `Retry-After` as whole seconds (`10`), has been seen sending fractions
//! (`2.128`), and HTTP allows a date (`Wed, 21 Oct 2015 07:28:00 GMT`); all three are honoured.
//! Tools that treated a 429 as fatal skipped whole windows of sign-ins; here a throttled request
//! waits and tries the same URL again.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included. After the last, the error is returned (classed
    /// retryable), and the caller decides when to come back.
    pub max_attempts: u32,
    /// First backoff delay; doubled after every failure.
    pub base_delay: Duration,
    /// Backoff never waits longer than this (unless `Retry-After` asks for more).
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is capped (a bogus hour-long value must not stall a
    /// tenant); the cap is logged.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (each request is tried once).
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The wait before attempt `failures + 1`: exponential with "equal jitter" (half fixed, half
    /// random), so synchronized clients spread out but never retry instantly.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let ceiling = self.base_delay.saturating_mul(1u32 << exponent).min(self.max_delay);
        let half = ceiling / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }

    /// The wait for an answer that carried `Retry-After`, capped by [`RetryPolicy::max_retry_after`].
    pub fn retry_after(&self, asked: Duration) -> Duration {
        asked.min(self.max_retry_after)
    }
}

/// Parses a `Retry-After` value: seconds (integer or fractional) or an HTTP date. `None` when
/// the value is none of these; a date in the past gives zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let seconds: f64 = value.parse().ok()?;
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_every_documented_spelling() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 07:27:50 GMT
        assert_eq!(parse_retry_after("10", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after(" 2.128 ", now), Some(Duration::from_millis(2_128)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(10)));
        // RFC 850 and asctime forms are allowed by HTTP too.
        assert_eq!(parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Wed Oct 21 07:28:00 2015", now), Some(Duration::from_secs(10)));
        // A date already past means "now".
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        for junk in ["", "soon", "-5", "1e3", "NaN", "1.2.3"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1), "{first:?}");
            let third = policy.backoff(3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4), "{third:?}");
            let late = policy.backoff(30);
            assert!(late >= Duration::from_secs(4) && late <= Duration::from_secs(8), "{late:?}");
        }
        assert_eq!(policy.retry_after(Duration::from_secs(3_600)), policy.max_retry_after);
    }
}
