//! Event time as integer microseconds since the Unix epoch: cheap to compare, store and
//! serialise, and exact (Graph timestamps carry at most 7 fractional digits; we keep 6).

use chrono::{DateTime, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub(crate) type Micros = i64;

pub(crate) const SECOND: Micros = 1_000_000;
pub(crate) const MINUTE: Micros = 60 * SECOND;
pub(crate) const HOUR: Micros = 60 * MINUTE;
pub(crate) const DAY: Micros = 24 * HOUR;

pub(crate) fn micros(t: DateTime<Utc>) -> Micros {
    t.timestamp_micros()
}

pub(crate) fn datetime(t: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t).unwrap_or_default()
}

/// Start of the UTC day holding `t`.
pub(crate) fn utc_day(t: Micros) -> Micros {
    t.div_euclid(DAY) * DAY
}

/// `minutes` as microseconds.
pub(crate) fn minutes(minutes: u32) -> Micros {
    Micros::from(minutes) * MINUTE
}
