//! Time in the simulator: 100-nanosecond ticks since the Unix epoch (Graph writes seven fractional
//! digits), a clock that tests can move forward, and the formats Graph and OData use.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// 100-ns ticks since 1970-01-01T00:00:00Z.
pub type Ticks = i64;

pub const TICKS_PER_SECOND: i64 = 10_000_000;
pub const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
pub const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
pub const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

pub fn from_datetime(t: DateTime<Utc>) -> Ticks {
    t.timestamp() * TICKS_PER_SECOND + i64::from(t.timestamp_subsec_nanos() / 100)
}

pub fn to_datetime(t: Ticks) -> DateTime<Utc> {
    let secs = t.div_euclid(TICKS_PER_SECOND);
    let nanos = (t.rem_euclid(TICKS_PER_SECOND) * 100) as u32;
    Utc.timestamp_opt(secs, nanos).single().unwrap_or_default()
}

/// `2024-05-01T10:11:12.1234567Z`, as Graph writes `createdDateTime`.
pub fn format_graph(t: Ticks) -> String {
    let dt = to_datetime(t);
    format!("{}.{:07}Z", dt.format("%Y-%m-%dT%H:%M:%S"), t.rem_euclid(TICKS_PER_SECOND))
}

/// `2024-05-01T10:11:12`, as Graph writes `innerError.date`.
pub fn format_inner_error_date(t: Ticks) -> String {
    to_datetime(t).format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// `2016-01-09 02:02:12Z`, as the identity platform writes `timestamp`.
pub fn format_sts(t: Ticks) -> String {
    to_datetime(t).format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Parses an OData `DateTimeOffset` literal: RFC 3339 with any number of fractional digits and
/// `Z` or an offset; a date alone means midnight UTC.
pub fn parse_odata_datetime(text: &str) -> Option<Ticks> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(from_datetime(t.with_timezone(&Utc)));
    }
    // More than 9 fractional digits, or none of the zone: not valid OData, but be exact about it.
    if let Ok(t) = NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        && text.ends_with('Z')
    {
        return Some(from_datetime(t.and_utc()));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(from_datetime(d.and_hms_opt(0, 0, 0)?.and_utc()));
    }
    None
}

/// The simulator's clock: real time plus an offset tests can increase (to make late records
/// visible or let hours pass) without waiting. Tokens and throttling use real time, not this.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ticks: AtomicI64,
}

impl SimClock {
    /// A clock that reads `start` now (in the past or the future) and then runs in real time.
    pub fn starting_at(start: Ticks) -> SimClock {
        SimClock { offset_ticks: AtomicI64::new(start - from_datetime(Utc::now())) }
    }

    pub fn now(&self) -> Ticks {
        from_datetime(Utc::now()) + self.offset_ticks.load(Ordering::Relaxed)
    }

    pub fn offset_seconds(&self) -> f64 {
        self.offset_ticks.load(Ordering::Relaxed) as f64 / TICKS_PER_SECOND as f64
    }

    /// Moves the clock forward (never backward: records already served stay in the past).
    pub fn advance(&self, seconds: f64) {
        if seconds > 0.0 {
            self.offset_ticks.fetch_add((seconds * TICKS_PER_SECOND as f64) as i64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_format_round_trips() {
        let t = parse_odata_datetime("2020-03-13T19:15:41.6195833Z").unwrap();
        assert_eq!(format_graph(t), "2020-03-13T19:15:41.6195833Z");
        assert_eq!(
            parse_odata_datetime("2021-06-30T16:34:32Z").map(format_graph).unwrap(),
            "2021-06-30T16:34:32.0000000Z"
        );
        assert_eq!(parse_odata_datetime("2021-06-30T18:34:32+02:00"), parse_odata_datetime("2021-06-30T16:34:32Z"));
        assert_eq!(parse_odata_datetime("2021-06-30"), parse_odata_datetime("2021-06-30T00:00:00Z"));
        assert_eq!(parse_odata_datetime("yesterday"), None);
        assert_eq!(format_sts(t), "2020-03-13 19:15:41Z");
    }

    #[test]
    fn clock_only_moves_forward() {
        let clock = SimClock::default();
        let before = clock.now();
        clock.advance(3600.0);
        clock.advance(-100.0);
        assert!(clock.now() >= before + TICKS_PER_HOUR);
        assert!((clock.offset_seconds() - 3600.0).abs() < 1e-6);
    }
}
