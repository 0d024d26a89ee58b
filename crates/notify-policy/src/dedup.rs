//! The notification-log decision, after Alertmanager's `needsUpdate`: given what was last sent to
//! a channel for a group, and the group as it is now, is a message due?
//!
//! A log entry is two numbers: when the last message went out and the highest change sequence
//! (see the crate docs) it covered. An alert that is new, or a new revision of one already sent,
//! has a higher sequence, so "changed since the last message" is one comparison, and a
//! redelivered alert (no new sequence) can never cause a second message.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What was last sent for a (group, channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub sent_at: DateTime<Utc>,
    /// The highest change sequence the message covered.
    pub sent_through: u64,
}

/// Why a message is (or is not) due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyReason {
    /// Nothing was sent for this group and channel yet.
    FirstNotification,
    /// Alerts arrived, or grew, since the last message.
    NewOrUpdatedAlerts,
    /// Nothing changed for `repeat_interval`: a reminder that the alerts are still open.
    RepeatIntervalElapsed,
    /// Nothing to say.
    NoChange,
    /// The group holds no alerts.
    Empty,
}

impl NotifyReason {
    pub fn should_send(self) -> bool {
        matches!(
            self,
            NotifyReason::FirstNotification | NotifyReason::NewOrUpdatedAlerts | NotifyReason::RepeatIntervalElapsed
        )
    }
}

/// The decision. `latest` is the highest change sequence among the group's alerts, `None` for an
/// empty group.
pub fn needs_update(
    entry: Option<&LogEntry>,
    latest: Option<u64>,
    repeat: Duration,
    now: DateTime<Utc>,
) -> NotifyReason {
    let Some(latest) = latest else { return NotifyReason::Empty };
    match entry {
        None => NotifyReason::FirstNotification,
        Some(entry) if latest > entry.sent_through => NotifyReason::NewOrUpdatedAlerts,
        Some(entry) if now - entry.sent_at >= repeat => NotifyReason::RepeatIntervalElapsed,
        Some(_) => NotifyReason::NoChange,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn needs_update_table() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let repeat = Duration::hours(4);
        let sent =
            |through: u64, ago_min: i64| LogEntry { sent_at: t0 - Duration::minutes(ago_min), sent_through: through };
        use NotifyReason::*;
        let table: [(&str, Option<LogEntry>, Option<u64>, NotifyReason); 9] = [
            ("empty group, never sent", None, None, Empty),
            ("empty group, sent before", Some(sent(7, 10)), None, Empty),
            ("first alert", None, Some(1), FirstNotification),
            ("first, even with a high sequence", None, Some(900), FirstNotification),
            ("a new alert or revision", Some(sent(7, 10)), Some(8), NewOrUpdatedAlerts),
            ("nothing new, recently sent", Some(sent(7, 10)), Some(7), NoChange),
            ("redelivered older data", Some(sent(7, 10)), Some(5), NoChange),
            ("nothing new, repeat interval just elapsed", Some(sent(7, 240)), Some(7), RepeatIntervalElapsed),
            ("new alerts win over repeat", Some(sent(7, 500)), Some(9), NewOrUpdatedAlerts),
        ];
        for (case, entry, latest, expected) in table {
            assert_eq!(needs_update(entry.as_ref(), latest, repeat, t0), expected, "{case}");
            assert_eq!(
                expected.should_send(),
                matches!(expected, FirstNotification | NewOrUpdatedAlerts | RepeatIntervalElapsed)
            );
        }
        // One second before the repeat interval: still nothing.
        let entry = LogEntry { sent_at: t0 - repeat + Duration::seconds(1), sent_through: 7 };
        assert_eq!(needs_update(Some(&entry), Some(7), repeat, t0), NoChange);
    }
}
