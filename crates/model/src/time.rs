//! Timestamps as they appear in real exports, and Graph's own way of writing them.
//!
//! Why hand-written: Microsoft Graph writes `2020-03-13T19:15:41.6195833Z`, but the same instant
//! reaches us as `2019-10-18T04:45:48.0729893-05:00` (Event Hub), `2023-07-26 22:58:30.983201900`
//! (Panther), `2007-01-09T09:41:00` without a zone, `1/9/2007 9:41:00 AM` (US locale) or
//! `4/28/2021, 2:08:45.221 PM` (a Log Analytics UI export). chrono's RFC 3339 parser takes only the
//! first two. This parser takes all of them in one pass over the bytes, without allocating,
//! because a scan of millions of records parses millions of timestamps.
//!
//! Rules: a missing zone means UTC (Graph timestamps are UTC, and exports that drop the zone drop
//! `Z`); offsets `Z`, `±HH:MM`, `±HHMM` and `±HH` are honoured; more than nine fractional digits are
//! cut to nanoseconds; US dates are month first; anything else is `None`, never a guess.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};

/// Parses a timestamp as found in Graph and Azure exports; `None` when it is not one.
///
/// Accepted: ISO 8601 / RFC 3339 with `T` or a space between date and time, 0–9 (or more,
/// truncated) fractional digits, optional seconds, and `Z`, `±HH:MM`, `±HHMM`, `±HH` or no zone
/// (UTC); US `M/D/YYYY h:mm[:ss[.fff]] [AM|PM] [±HH:MM]`, also with a comma after the date.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.trim().as_bytes();
    if bytes.len() >= 10 && bytes[4] == b'-' { parse_iso(bytes) } else { parse_us(bytes) }
}

/// Writes a timestamp the way Microsoft Graph does: UTC with `Z`, and the fractional seconds with
/// trailing zeros removed (none at all on a whole second), e.g. `2020-03-13T19:15:41.6195833Z`.
///
/// Graph's own values therefore survive a read and write unchanged.
pub fn format_graph_timestamp(time: &DateTime<Utc>) -> String {
    let mut out = String::with_capacity(30);
    write_graph_timestamp(time, &mut out);
    out
}

pub(crate) fn write_graph_timestamp(time: &DateTime<Utc>, out: &mut String) {
    let date = time.date_naive();
    let clock = time.time();
    let year = date.year();
    if (0..=9999).contains(&year) {
        push_digits(out, year as u32, 4);
    } else {
        // Outside ISO 8601's basic range: sign and at least four digits, as chrono writes it.
        out.push_str(&format!("{year:+05}"));
    }
    out.push('-');
    push_digits(out, date.month(), 2);
    out.push('-');
    push_digits(out, date.day(), 2);
    out.push('T');
    push_digits(out, clock.hour(), 2);
    out.push(':');
    push_digits(out, clock.minute(), 2);
    out.push(':');
    // A leap second is stored by chrono as second 59 with nanoseconds >= 1e9.
    let mut nanos = clock.nanosecond();
    let mut second = clock.second();
    if nanos >= 1_000_000_000 {
        nanos -= 1_000_000_000;
        second += 1;
    }
    push_digits(out, second, 2);
    if nanos != 0 {
        let mut digits = 9;
        while nanos.is_multiple_of(10) {
            nanos /= 10;
            digits -= 1;
        }
        out.push('.');
        push_digits(out, nanos, digits);
    }
    out.push('Z');
}

fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + ((value / divisor) % 10) as u8));
        divisor /= 10;
    }
}

/// A small cursor over ASCII bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Exactly `count` digits.
    fn fixed(&mut self, count: usize) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + count)?;
        let mut value = 0u32;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(d - b'0');
        }
        self.pos += count;
        Some(value)
    }

    /// Between `min` and `max` digits.
    fn variable(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.pos;
        let mut value = 0u32;
        while self.pos - start < max {
            match self.peek() {
                Some(d) if d.is_ascii_digit() => {
                    value = value * 10 + u32::from(d - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        (self.pos - start >= min).then_some(value)
    }

    /// `.` or `,` followed by digits: nanoseconds, digits beyond the ninth ignored.
    fn fraction(&mut self) -> Option<u32> {
        if !(self.eat(b'.') || self.eat(b',')) {
            return Some(0);
        }
        let start = self.pos;
        let mut nanos = 0u32;
        let mut scale = 100_000_000u32;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            self.pos += 1;
        }
        (self.pos > start).then_some(nanos)
    }

    /// `Z`, `±HH:MM`, `±HHMM`, `±HH`, or nothing (UTC). Returns the offset in seconds east of UTC.
    fn zone(&mut self) -> Option<i32> {
        self.skip_spaces();
        match self.peek() {
            None => Some(0),
            Some(b'Z' | b'z') => {
                self.pos += 1;
                Some(0)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.pos += 1;
                let hours = self.fixed(2)?;
                let minutes = if self.eat(b':') { self.fixed(2)? } else { self.fixed(2).unwrap_or(0) };
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let seconds = (hours * 3600 + minutes * 60) as i32;
                Some(if sign == b'-' { -seconds } else { seconds })
            }
            Some(_) => {
                // "UTC" / "GMT" spelled out.
                let rest = &self.bytes[self.pos..];
                if rest.eq_ignore_ascii_case(b"UTC") || rest.eq_ignore_ascii_case(b"GMT") {
                    self.pos = self.bytes.len();
                    Some(0)
                } else {
                    None
                }
            }
        }
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

fn assemble(date: NaiveDate, hour: u32, minute: u32, second: u32, nanos: u32, offset: i32) -> Option<DateTime<Utc>> {
    // A leap second (":60") is kept the way chrono represents it.
    let time = if second == 60 {
        NaiveTime::from_hms_nano_opt(hour, minute, 59, nanos + 1_000_000_000)?
    } else {
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?
    };
    let local = NaiveDateTime::new(date, time);
    let utc = local.checked_sub_signed(chrono::Duration::seconds(i64::from(offset)))?;
    Some(Utc.from_utc_datetime(&utc))
}

/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fffffffff]][zone]`
fn parse_iso(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let mut c = Cursor { bytes, pos: 0 };
    let year = c.fixed(4)?;
    if !c.eat(b'-') {
        return None;
    }
    let month = c.fixed(2)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = c.fixed(2)?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    if c.at_end() {
        return assemble(date, 0, 0, 0, 0, 0);
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let hour = c.fixed(2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = c.fixed(2)?;
    let (second, nanos) = if c.eat(b':') { (c.fixed(2)?, c.fraction()?) } else { (0, 0) };
    let offset = c.zone()?;
    if !c.at_end() {
        return None;
    }
    assemble(date, hour, minute, second, nanos, offset)
}

/// `M/D/YYYY[,] h:mm[:ss[.fff]] [AM|PM] [zone]`
fn parse_us(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let mut c = Cursor { bytes, pos: 0 };
    let month = c.variable(1, 2)?;
    if !c.eat(b'/') {
        return None;
    }
    let day = c.variable(1, 2)?;
    if !c.eat(b'/') {
        return None;
    }
    let year = c.fixed(4)?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    c.eat(b',');
    c.skip_spaces();
    if c.at_end() {
        return assemble(date, 0, 0, 0, 0, 0);
    }
    let mut hour = c.variable(1, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = c.fixed(2)?;
    let (second, nanos) = if c.eat(b':') { (c.fixed(2)?, c.fraction()?) } else { (0, 0) };
    c.skip_spaces();
    let rest = &bytes[c.pos..];
    let meridiem = if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"AM") {
        Some(false)
    } else if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"PM") {
        Some(true)
    } else {
        None
    };
    if let Some(pm) = meridiem {
        c.pos += 2;
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = match (pm, hour) {
            (false, 12) => 0,
            (false, h) => h,
            (true, 12) => 12,
            (true, h) => h + 12,
        };
    }
    let offset = c.zone()?;
    if !c.at_end() {
        return None;
    }
    assemble(date, hour, minute, second, nanos, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn graph_spellings() {
        assert_eq!(parse_timestamp("2020-03-13T19:15:41.6195833Z"), Some(utc("2020-03-13T19:15:41.6195833Z")));
        assert_eq!(parse_timestamp("2021-06-30T16:34:32Z"), Some(utc("2021-06-30T16:34:32Z")));
        assert_eq!(parse_timestamp(" 2021-06-30T16:34:32z "), Some(utc("2021-06-30T16:34:32Z")));
    }

    #[test]
    fn offsets_and_missing_zone() {
        let instant = utc("2019-10-18T09:45:48.0729893Z");
        assert_eq!(parse_timestamp("2019-10-18T04:45:48.0729893-05:00"), Some(instant));
        assert_eq!(parse_timestamp("2019-10-18T09:45:48.0729893+00:00"), Some(instant));
        assert_eq!(parse_timestamp("2019-10-18T11:45:48.0729893+0200"), Some(instant));
        assert_eq!(parse_timestamp("2019-10-18T11:45:48.0729893+02"), Some(instant));
        assert_eq!(parse_timestamp("2019-10-18T09:45:48.0729893"), Some(instant));
        assert_eq!(parse_timestamp("2019-10-18 09:45:48.0729893 UTC"), Some(instant));
    }

    #[test]
    fn fractional_digits_zero_to_many() {
        assert_eq!(parse_timestamp("2007-01-09T09:41:00.22Z"), Some(utc("2007-01-09T09:41:00.22Z")));
        assert_eq!(parse_timestamp("2007-01-09T09:41:00.535404056Z"), Some(utc("2007-01-09T09:41:00.535404056Z")));
        assert_eq!(parse_timestamp("2007-01-09T09:41:00.5354040569999Z"), Some(utc("2007-01-09T09:41:00.535404056Z")));
        assert_eq!(parse_timestamp("2023-07-26 22:58:30.983201900"), Some(utc("2023-07-26T22:58:30.9832019Z")));
        assert_eq!(parse_timestamp("2025-01-15 09:30:25.123"), Some(utc("2025-01-15T09:30:25.123Z")));
        assert_eq!(parse_timestamp("2025-01-15T09:30Z"), Some(utc("2025-01-15T09:30:00Z")));
        assert_eq!(parse_timestamp("2025-01-15"), Some(utc("2025-01-15T00:00:00Z")));
    }

    #[test]
    fn us_locale() {
        let instant = utc("2007-01-09T09:41:00Z");
        for text in [
            "01/09/2007 09:41:00",
            "1/9/2007 09:41:00",
            "01/09/2007 09:41:00 AM",
            "1/9/2007 9:41:00 AM",
            "1/9/2007 10:41:00 AM +01:00",
            "1/9/2007, 9:41 AM",
        ] {
            assert_eq!(parse_timestamp(text), Some(instant), "{text}");
        }
        assert_eq!(parse_timestamp("4/28/2021, 2:08:45.221 PM"), Some(utc("2021-04-28T14:08:45.221Z")));
        assert_eq!(parse_timestamp("4/28/2021 12:08:45 AM"), Some(utc("2021-04-28T00:08:45Z")));
        assert_eq!(parse_timestamp("4/28/2021 12:08:45 PM"), Some(utc("2021-04-28T12:08:45Z")));
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for text in [
            "",
            "now",
            "2021-13-01T00:00:00Z",
            "2021-02-30T00:00:00Z",
            "2021-01-01T24:00:00Z",
            "2021-01-01T10:00:00+25:00",
            "2021-01-01T10:00:00Zjunk",
            "2021-01-01T10:00:00.Z",
            "13/1/2021 10:00",
            "1/1/2021 13:00 PM",
            "1/1/21 10:00",
            "1/1/2021 10",
            "2021-01-01X10:00:00",
            "\u{feff}2021",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text:?}");
        }
    }

    #[test]
    fn graph_format_trims_trailing_zeros() {
        for text in ["2020-03-13T19:15:41.6195833Z", "2021-06-30T16:34:32Z", "2007-01-09T09:41:00.535404056Z"] {
            assert_eq!(format_graph_timestamp(&parse_timestamp(text).unwrap()), text);
        }
        assert_eq!(format_graph_timestamp(&utc("2023-07-26T22:58:30.983201900Z")), "2023-07-26T22:58:30.9832019Z");
        assert_eq!(format_graph_timestamp(&utc("0001-01-01T00:00:00Z")), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn leap_second_round_trips() {
        let leap = parse_timestamp("2016-12-31T23:59:60.5Z").unwrap();
        assert_eq!(format_graph_timestamp(&leap), "2016-12-31T23:59:60.5Z");
    }
}
