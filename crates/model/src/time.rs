//! Timestamp parsing tolerant of the spellings found in real exports.
//!
//! SKELETON: RFC 3339 only; the model work (issue 2) adds the variants in the datasets
//! (no zone, 0–9 fractional digits, `+02:00`, US `M/D/YYYY h:mm:ss AM`, ...).

use chrono::{DateTime, Utc};

/// Parses a timestamp as found in Graph and Azure exports; `None` when it is not one.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}
