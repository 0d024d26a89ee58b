//! The retry schedule: exponential backoff, `initial × 2^(n−1)` after the n-th consecutive
//! failure, capped at `max`. No jitter: the rate limiter and the grouping already keep deliveries
//! apart, and a deterministic schedule is easier to explain in a status page and to test.

use std::time::Duration;

/// The wait after `failures` consecutive failures (1 for the first).
pub fn backoff(failures: u32, initial: Duration, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    initial.saturating_mul(1u32 << exponent).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_until_the_cap() {
        let s = |n| backoff(n, Duration::from_secs(30), Duration::from_secs(900)).as_secs();
        assert_eq!([s(1), s(2), s(3), s(4), s(5), s(6), s(7)], [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(s(0), 30);
        assert_eq!(s(u32::MAX), 900, "no overflow");
    }
}
