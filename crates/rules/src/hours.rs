//! Working hours in an IANA time zone.
//!
//! Working hours are wall-clock times on working days in the configured zone, so 08:00 in
//! Berlin is 06:00 UTC in summer and 07:00 UTC in winter: the check converts each sign-in to
//! local time with the zone's rules (chrono-tz, the IANA database), never with a fixed offset.
//! Hours whose end is before their start run past midnight into the next day (night shifts).

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use m365mon_contracts::settings::WorkingHours;

use crate::time::{Micros, datetime, micros};

/// A sign-in's local time and, when it is outside working hours, the off-hours period around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffHours {
    pub local: NaiveDateTime,
    /// Start of the off-hours period (UTC microseconds): the end of the last working interval.
    pub period_start: Micros,
    /// End of the off-hours period: the start of the next working interval.
    pub period_end: Micros,
}

fn interval(hours: &WorkingHours, day: NaiveDate) -> Option<(NaiveDateTime, NaiveDateTime)> {
    if !hours.days.contains(&day.weekday()) {
        return None;
    }
    let start = day.and_time(hours.start);
    let end =
        if hours.end > hours.start { day.and_time(hours.end) } else { (day + Duration::days(1)).and_time(hours.end) };
    Some((start, end))
}

/// Local wall-clock time to UTC: the earlier instant when the clock runs twice (autumn), the
/// first valid instant after a gap (spring).
fn to_utc(tz: Tz, local: NaiveDateTime) -> Micros {
    let mut probe = local;
    for _ in 0..4 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return micros(t.with_timezone(&Utc)),
            LocalResult::None => probe += Duration::minutes(30),
        }
    }
    micros(Utc.from_utc_datetime(&local))
}

/// The last answers of [`off_hours`], as UTC spans: the working interval or the off-hours
/// period around the last time asked. Records come roughly in time order, so nearly every
/// question falls into the span of the one before, and the calendar arithmetic is done once
/// per period instead of once per sign-in. Valid for one time zone and one set of working
/// hours: clear it when the settings change.
#[derive(Debug, Clone, Default)]
pub(crate) struct HoursCache {
    working: Option<(Micros, Micros)>,
    off: Option<(Micros, Micros)>,
}

impl HoursCache {
    /// Like [`off_hours`]: `None` within working hours, else the off-hours period as
    /// `(period_start, period_end)`.
    pub fn off_period(&mut self, tz: Tz, hours: &WorkingHours, t: Micros) -> Option<(Micros, Micros)> {
        if self.working.is_some_and(|(start, end)| start <= t && t < end) {
            return None;
        }
        if let Some((start, end)) = self.off.filter(|(start, end)| *start <= t && t < *end) {
            return Some((start, end));
        }
        match off_hours(tz, hours, t) {
            Some(off) => {
                // Cache only spans that agree with the calculation at their edges (a period cut
                // by a daylight-saving change is asked afresh each time).
                let span = (off.period_start, off.period_end);
                if span.0 <= t && t < span.1 && off_hours(tz, hours, span.0).is_some() {
                    self.off = Some(span);
                }
                Some(span)
            }
            None => {
                if let Some(span) = working_interval(tz, hours, t)
                    && span.0 <= t
                    && t < span.1
                    && off_hours(tz, hours, span.0).is_none()
                    && off_hours(tz, hours, span.1 - 1).is_none()
                {
                    self.working = Some(span);
                }
                None
            }
        }
    }
}

/// The working interval holding `t` (which must be within working hours), as UTC.
fn working_interval(tz: Tz, hours: &WorkingHours, t: Micros) -> Option<(Micros, Micros)> {
    let local = datetime(t).with_timezone(&tz).naive_local();
    let today = local.date();
    (0..=1).find_map(|back| {
        interval(hours, today - Duration::days(back))
            .filter(|(start, end)| *start <= local && local < *end)
            .map(|(start, end)| (to_utc(tz, start), to_utc(tz, end)))
    })
}

/// A sign-in's wall-clock time in the zone.
pub(crate) fn local_time(tz: Tz, t: Micros) -> NaiveDateTime {
    datetime(t).with_timezone(&tz).naive_local()
}

/// `None` when `t` is within working hours; else the off-hours period.
pub(crate) fn off_hours(tz: Tz, hours: &WorkingHours, t: Micros) -> Option<OffHours> {
    let local = local_time(tz, t);
    let today = local.date();
    // Inside an interval that started today or yesterday (night shifts)?
    for back in 0..=1 {
        if let Some((start, end)) = interval(hours, today - Duration::days(back))
            && start <= local
            && local < end
        {
            return None;
        }
    }
    let mut period_start = None;
    for back in 0..=8 {
        if let Some((_, end)) = interval(hours, today - Duration::days(back))
            && end <= local
            && period_start.is_none_or(|p| end > p)
        {
            period_start = Some(end);
        }
    }
    let mut period_end = None;
    for ahead in 0..=8 {
        if let Some((start, _)) = interval(hours, today + Duration::days(ahead))
            && start > local
            && period_end.is_none_or(|p| start < p)
        {
            period_end = Some(start);
        }
    }
    let start = period_start.unwrap_or_else(|| today.and_hms_opt(0, 0, 0).unwrap_or(local));
    let end = period_end.unwrap_or_else(|| (today + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or(local));
    Some(OffHours { local, period_start: to_utc(tz, start), period_end: to_utc(tz, end) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};

    fn hours(start: (u32, u32), end: (u32, u32), days: &[Weekday]) -> WorkingHours {
        WorkingHours {
            start: NaiveTime::from_hms_opt(start.0, start.1, 0).unwrap(),
            end: NaiveTime::from_hms_opt(end.0, end.1, 0).unwrap(),
            days: days.to_vec(),
        }
    }

    fn at(s: &str) -> Micros {
        micros(s.parse::<chrono::DateTime<Utc>>().unwrap())
    }

    const WEEK: [Weekday; 5] = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];

    #[test]
    fn the_cache_answers_as_the_calculation_does() {
        // A year in 7-minute steps (with a few steps back), in zones with and without daylight
        // saving, for day hours, night shifts and a single working day.
        let cases = [
            (chrono_tz::UTC, hours((8, 0), (18, 0), &WEEK)),
            (chrono_tz::Europe::Berlin, hours((8, 0), (18, 0), &WEEK)),
            (chrono_tz::America::New_York, hours((22, 0), (6, 0), &[Weekday::Mon, Weekday::Sat])),
            (chrono_tz::America::New_York, hours((2, 30), (3, 30), &[Weekday::Sun])),
            (chrono_tz::Australia::Lord_Howe, hours((0, 0), (1, 30), &WEEK)),
            (chrono_tz::Europe::London, hours((9, 0), (9, 0), &WEEK)),
            (chrono_tz::UTC, hours((8, 0), (18, 0), &[])),
        ];
        for (tz, h) in cases {
            let mut cache = HoursCache::default();
            let mut t = at("2026-01-01T00:00:00Z");
            let mut step = 0u64;
            while t < at("2027-01-02T00:00:00Z") {
                let expected = off_hours(tz, &h, t).map(|o| (o.period_start, o.period_end));
                assert_eq!(cache.off_period(tz, &h, t), expected, "{tz} {h:?} at {}", datetime(t));
                step += 1;
                t += if step.is_multiple_of(97) { -3 * 3_600_000_000 } else { 7 * 60_000_000 };
            }
        }
    }

    #[test]
    fn berlin_working_hours_follow_daylight_saving() {
        let h = hours((8, 0), (18, 0), &WEEK);
        let tz = chrono_tz::Europe::Berlin;
        // Summer (CEST, UTC+2): 08:00 local is 06:00 UTC.
        assert!(off_hours(tz, &h, at("2026-07-01T05:59:00Z")).is_some());
        assert!(off_hours(tz, &h, at("2026-07-01T06:00:00Z")).is_none());
        assert!(off_hours(tz, &h, at("2026-07-01T15:59:00Z")).is_none());
        assert!(off_hours(tz, &h, at("2026-07-01T16:00:00Z")).is_some());
        // Winter (CET, UTC+1): 06:30 UTC is 07:30 local, before work.
        assert!(off_hours(tz, &h, at("2026-01-07T06:30:00Z")).is_some());
        assert!(off_hours(tz, &h, at("2026-01-07T07:00:00Z")).is_none());
    }

    #[test]
    fn the_weekend_is_one_off_hours_period() {
        let h = hours((8, 0), (18, 0), &WEEK);
        let tz = chrono_tz::Europe::Berlin;
        let sat = off_hours(tz, &h, at("2026-07-04T10:00:00Z")).unwrap();
        let sun = off_hours(tz, &h, at("2026-07-05T22:00:00Z")).unwrap();
        assert_eq!(sat.period_start, sun.period_start);
        assert_eq!(sat.period_start, at("2026-07-03T16:00:00Z")); // Friday 18:00 CEST
        assert_eq!(sat.period_end, at("2026-07-06T06:00:00Z")); // Monday 08:00 CEST
    }

    #[test]
    fn night_shifts_run_past_midnight() {
        let h = hours((22, 0), (6, 0), &[Weekday::Mon]);
        let tz = chrono_tz::UTC;
        assert!(off_hours(tz, &h, at("2026-07-06T21:59:00Z")).is_some()); // Monday 21:59
        assert!(off_hours(tz, &h, at("2026-07-06T23:00:00Z")).is_none());
        assert!(off_hours(tz, &h, at("2026-07-07T05:59:00Z")).is_none()); // Tuesday early
        assert!(off_hours(tz, &h, at("2026-07-07T06:00:00Z")).is_some());
    }

    #[test]
    fn the_spring_gap_and_autumn_repeat_do_not_break_periods() {
        // New York springs forward on 2026-03-08 at 02:00; working hours start at 02:30 on Sundays.
        let h = hours((2, 30), (3, 30), &[Weekday::Sun]);
        let tz = chrono_tz::America::New_York;
        let off = off_hours(tz, &h, at("2026-03-08T05:00:00Z")).unwrap(); // 00:00 EST
        assert!(off.period_end > at("2026-03-08T05:00:00Z"));
        // Autumn: 01:30 happens twice on 2026-11-01; both are off-hours for 08–18 weekdays.
        let h = hours((8, 0), (18, 0), &WEEK);
        assert!(off_hours(tz, &h, at("2026-11-01T05:30:00Z")).is_some());
        assert!(off_hours(tz, &h, at("2026-11-01T06:30:00Z")).is_some());
    }
}
