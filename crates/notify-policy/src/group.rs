//! An aggregation group's timers and per-channel delivery state, as data plus pure functions.
//!
//! Timers (Alertmanager's): the first message waits `group_wait` after the group's first alert
//! (critical alerts may skip that wait), so related alerts arrive first; then the group is looked
//! at every `group_interval`, and a message goes out when the notification log says so
//! ([`crate::dedup::needs_update`]).
//!
//! Delivery, per channel: a failure schedules a retry with exponential backoff and does not move
//! the log; the retry sends the group as it is then (so alerts that arrived meanwhile ride along).
//! After `max_attempts` consecutive failures, or at once for a permanent failure (a 5xx reply, a
//! refused address), the delivery is dead-lettered: the caller publishes it with the reason and
//! the log moves past it, so the alerts are not retried for ever but are not lost either. A
//! delivery that finds the rate limit exhausted is deferred to when a token is free.
//!
//! The caller persists [`GroupState`] (the notifier keeps it in KV) and must record an outcome
//! only after its effect (a sent message, a stored dead letter) is durable.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use m365mon_contracts::settings::NotificationSettings;
use m365mon_contracts::{AlertEvent, Severity};
use serde::{Deserialize, Serialize};

use crate::dedup::{LogEntry, NotifyReason, needs_update};
use crate::retry::backoff;
use crate::route::GroupKey;

/// The timing settings, in chrono durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub resolve_timeout: Duration,
    pub critical_without_wait: bool,
    pub retry_initial: std::time::Duration,
    pub retry_max: std::time::Duration,
    pub max_attempts: u32,
}

impl Timing {
    pub fn from_settings(n: &NotificationSettings) -> Timing {
        Timing {
            group_wait: Duration::seconds(i64::from(n.group_wait_seconds)),
            group_interval: Duration::seconds(i64::from(n.group_interval_seconds.max(1))),
            repeat_interval: Duration::seconds(i64::from(n.repeat_interval_seconds)),
            resolve_timeout: Duration::seconds(i64::from(n.resolve_timeout_seconds)),
            critical_without_wait: n.critical_without_wait,
            retry_initial: std::time::Duration::from_secs(u64::from(n.retry_initial_seconds.max(1))),
            retry_max: std::time::Duration::from_secs(u64::from(n.retry_max_seconds.max(1))),
            max_attempts: n.max_attempts.max(1),
        }
    }
}

/// Someone is sending this group's messages until `until`; others keep off. A claim outlives a
/// crashed owner only until `until`, after which anyone may take over (and re-send at most the
/// one message that was in flight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub owner: String,
    pub until: DateTime<Utc>,
}

/// Delivery state of one channel of a group: the notification-log entry plus retry bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// The last message sent (or dead-lettered): the notification log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogEntry>,
    /// The id of this group's first message on this channel, so mail clients thread the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Consecutive failures of the pending delivery.
    #[serde(default)]
    pub attempts: u32,
    /// A retry or a rate-limit deferral is due then; ticks are ignored until it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default)]
    pub sent: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub deferred: u64,
    #[serde(default)]
    pub dead_lettered: u64,
}

/// A group's persistent state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub key: GroupKey,
    pub created_at: DateTime<Utc>,
    /// The next tick: `group_wait` after creation, then every `group_interval`.
    pub next_flush_at: DateTime<Utc>,
    /// Whether the first tick happened (the `group_wait` is over).
    #[serde(default)]
    pub flushed: bool,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
}

/// An alert of the group with its change sequence.
#[derive(Debug, Clone, Copy)]
pub struct PendingAlert<'a> {
    pub seq: u64,
    pub alert: &'a AlertEvent,
    pub received_at: DateTime<Utc>,
}

/// A message due on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDelivery {
    pub channel: String,
    pub reason: NotifyReason,
    /// The highest change sequence the message covers.
    pub through: u64,
    /// What the previous message on this channel covered (alerts above it are new or updated).
    pub previously_through: u64,
    /// 1 for a first attempt.
    pub attempt: u32,
    pub thread_id: Option<String>,
    pub previous_sent_at: Option<DateTime<Utc>>,
}

/// What a flush at `now` should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushPlan {
    pub deliveries: Vec<PlannedDelivery>,
    /// Whether this flush is the group's tick (moves `next_flush_at`).
    pub tick: bool,
}

/// The result of one planned delivery, recorded with [`GroupState::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server accepted the message.
    Sent { message_id: String },
    /// No rate-limit token; try again then.
    Deferred { until: DateTime<Utc> },
    /// A failure worth retrying; see [`GroupState::after_failure`].
    Failed { error: String, retry_at: DateTime<Utc> },
    /// Given up; the caller has stored the dead letter.
    DeadLettered { error: String },
}

/// Whether a failure is retried or dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureVerdict {
    RetryAt(DateTime<Utc>),
    DeadLetter,
}

impl GroupState {
    /// A new group, created for its first alert at `now`.
    pub fn new(key: GroupKey, first: &AlertEvent, timing: &Timing, now: DateTime<Utc>) -> GroupState {
        let wait = if timing.critical_without_wait && first.severity == Severity::Critical {
            Duration::zero()
        } else {
            timing.group_wait
        };
        GroupState {
            key,
            created_at: now,
            next_flush_at: now + wait,
            flushed: false,
            channels: BTreeMap::new(),
            claim: None,
        }
    }

    /// Called when an alert joins or grows in the group. A critical alert ends a `group_wait` that
    /// is still running, if the settings say so. Returns whether the state changed.
    pub fn on_alert(&mut self, alert: &AlertEvent, timing: &Timing, now: DateTime<Utc>) -> bool {
        if !self.flushed
            && timing.critical_without_wait
            && alert.severity == Severity::Critical
            && self.next_flush_at > now
        {
            self.next_flush_at = now;
            return true;
        }
        false
    }

    /// Whether another process holds a live claim.
    pub fn claimed_by_other(&self, owner: &str, now: DateTime<Utc>) -> bool {
        self.claim.as_ref().is_some_and(|c| c.owner != owner && c.until > now)
    }

    /// When this group next needs attention: its tick or a retry. (A live claim of another process
    /// is the caller's to respect, with [`GroupState::claimed_by_other`].)
    pub fn due_at(&self, channels: &[String]) -> DateTime<Utc> {
        let mut due = self.next_flush_at;
        for id in channels {
            if let Some(retry_at) = self.channels.get(id).and_then(|c| c.retry_at) {
                due = due.min(retry_at);
            }
        }
        due
    }

    /// What is due at `now` on the receiver's current `channels`, for the group's `alerts`.
    pub fn plan(
        &self,
        alerts: &[PendingAlert<'_>],
        channels: &[String],
        timing: &Timing,
        now: DateTime<Utc>,
    ) -> FlushPlan {
        let tick = now >= self.next_flush_at;
        let latest = alerts.iter().map(|a| a.seq).max();
        let mut deliveries = Vec::new();
        for id in channels {
            let state = self.channels.get(id);
            let retry_at = state.and_then(|s| s.retry_at);
            let eligible = match retry_at {
                Some(at) => at <= now,
                None => tick,
            };
            if !eligible {
                continue;
            }
            let log = state.and_then(|s| s.log.as_ref());
            let reason = needs_update(log, latest, timing.repeat_interval, now);
            if reason.should_send() {
                deliveries.push(PlannedDelivery {
                    channel: id.clone(),
                    reason,
                    through: latest.unwrap_or(0),
                    previously_through: log.map_or(0, |l| l.sent_through),
                    attempt: state.map_or(0, |s| s.attempts) + 1,
                    thread_id: state.and_then(|s| s.thread_id.clone()),
                    previous_sent_at: log.map(|l| l.sent_at),
                });
            }
        }
        FlushPlan { deliveries, tick }
    }

    /// Whether a failure of `delivery` is retried or dead-lettered.
    pub fn after_failure(
        delivery: &PlannedDelivery,
        permanent: bool,
        timing: &Timing,
        now: DateTime<Utc>,
    ) -> FailureVerdict {
        if permanent || delivery.attempt >= timing.max_attempts {
            FailureVerdict::DeadLetter
        } else {
            let wait = backoff(delivery.attempt, timing.retry_initial, timing.retry_max);
            FailureVerdict::RetryAt(now + Duration::from_std(wait).unwrap_or(Duration::hours(1)))
        }
    }

    /// Records a flush: the outcome of each planned delivery, and the tick. Channels that were due
    /// for a retry but had nothing left to send are cleared.
    pub fn record(
        &mut self,
        plan: &FlushPlan,
        outcomes: &[(String, Outcome)],
        channels: &[String],
        timing: &Timing,
        now: DateTime<Utc>,
    ) {
        for (id, outcome) in outcomes {
            let Some(delivery) = plan.deliveries.iter().find(|d| &d.channel == id) else { continue };
            let state = self.channels.entry(id.clone()).or_default();
            match outcome {
                Outcome::Sent { message_id } => {
                    state.log = Some(LogEntry { sent_at: now, sent_through: delivery.through });
                    state.thread_id.get_or_insert_with(|| message_id.clone());
                    state.attempts = 0;
                    state.retry_at = None;
                    state.last_error = None;
                    state.sent += 1;
                }
                Outcome::Deferred { until } => {
                    state.retry_at = Some(*until);
                    state.deferred += 1;
                }
                Outcome::Failed { error, retry_at } => {
                    state.attempts = delivery.attempt;
                    state.retry_at = Some(*retry_at);
                    state.last_error = Some(error.clone());
                    state.failed += 1;
                }
                Outcome::DeadLettered { error } => {
                    // The log moves past the dead-lettered alerts: they are stored with the reason,
                    // not retried for ever. Alerts that arrive later are delivered normally.
                    state.log = Some(LogEntry { sent_at: now, sent_through: delivery.through });
                    state.attempts = 0;
                    state.retry_at = None;
                    state.last_error = Some(error.clone());
                    state.failed += 1;
                    state.dead_lettered += 1;
                }
            }
        }
        for id in channels {
            if let Some(state) = self.channels.get_mut(id)
                && state.retry_at.is_some_and(|at| at <= now)
                && !outcomes.iter().any(|(o, _)| o == id)
            {
                state.retry_at = None;
                state.attempts = 0;
            }
        }
        // Channels the receiver no longer has are forgotten.
        self.channels.retain(|id, _| channels.contains(id));
        if plan.tick {
            self.flushed = true;
            self.next_flush_at = now + timing.group_interval;
        }
    }

    /// The alerts that are over: no new revision for `resolve_timeout`, and already delivered (or
    /// dead-lettered) on every channel, so expiry can never lose one.
    pub fn expired<'a>(
        &self,
        alerts: &[PendingAlert<'a>],
        channels: &[String],
        timing: &Timing,
        now: DateTime<Utc>,
    ) -> Vec<PendingAlert<'a>> {
        let delivered_through = channels
            .iter()
            .map(|id| self.channels.get(id).and_then(|s| s.log.as_ref()).map_or(0, |l| l.sent_through))
            .min()
            .unwrap_or(u64::MAX);
        alerts
            .iter()
            .filter(|a| a.seq <= delivered_through && now - a.received_at >= timing.resolve_timeout)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::alert;
    use chrono::TimeZone;
    use m365mon_contracts::RuleId;

    fn timing() -> Timing {
        Timing::from_settings(&NotificationSettings::default())
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    fn key() -> GroupKey {
        GroupKey { receiver: "soc".into(), labels: vec![("tenant".into(), "t".into())] }
    }

    fn secs(s: i64) -> Duration {
        Duration::seconds(s)
    }

    /// Sends everything the plan says and records success.
    fn flush_ok(g: &mut GroupState, alerts: &[PendingAlert<'_>], channels: &[String], now: DateTime<Utc>) -> FlushPlan {
        let plan = g.plan(alerts, channels, &timing(), now);
        let outcomes: Vec<(String, Outcome)> = plan
            .deliveries
            .iter()
            .map(|d| (d.channel.clone(), Outcome::Sent { message_id: format!("m{}", d.through) }))
            .collect();
        g.record(&plan, &outcomes, channels, &timing(), now);
        plan
    }

    #[test]
    fn alertmanager_timers_with_an_injected_clock() {
        let ch = vec!["mail".to_string()];
        let a1 = alert("a1", RuleId::FailedLogins, Severity::Medium, "t", 0);
        let a2 = alert("a2", RuleId::FailedLogins, Severity::Medium, "t", 0);
        let mut g = GroupState::new(key(), &a1, &timing(), t0());
        let mut alerts = vec![PendingAlert { seq: 1, alert: &a1, received_at: t0() }];

        // Inside group_wait: nothing, even with more alerts arriving.
        assert!(flush_ok(&mut g, &alerts, &ch, t0() + secs(29)).deliveries.is_empty());
        alerts.push(PendingAlert { seq: 2, alert: &a2, received_at: t0() + secs(10) });
        assert_eq!(g.due_at(&ch), t0() + secs(30));

        // At group_wait: one message for both.
        let plan = flush_ok(&mut g, &alerts, &ch, t0() + secs(30));
        assert_eq!(plan.deliveries.len(), 1);
        assert_eq!(plan.deliveries[0].reason, NotifyReason::FirstNotification);
        assert_eq!(plan.deliveries[0].through, 2);
        assert_eq!(g.next_flush_at, t0() + secs(330));

        // A new revision 1 min later waits for the next group_interval tick.
        let a1r1 = alert("a1", RuleId::FailedLogins, Severity::Medium, "t", 1);
        alerts[0] = PendingAlert { seq: 3, alert: &a1r1, received_at: t0() + secs(90) };
        assert!(flush_ok(&mut g, &alerts, &ch, t0() + secs(329)).deliveries.is_empty());
        let plan = flush_ok(&mut g, &alerts, &ch, t0() + secs(330));
        assert_eq!(plan.deliveries[0].reason, NotifyReason::NewOrUpdatedAlerts);
        assert_eq!(plan.deliveries[0].previously_through, 2);
        assert_eq!(g.channels["mail"].thread_id.as_deref(), Some("m2"), "the thread is the first message");

        // Nothing changes: ticks pass silently until repeat_interval (4 h), rounded up to a tick.
        let mut now = t0() + secs(330);
        let mut reminders = Vec::new();
        for _ in 0..60 {
            now += secs(300);
            let plan = flush_ok(&mut g, &alerts, &ch, now);
            reminders.extend(plan.deliveries.iter().map(|d| (now, d.reason)));
        }
        assert_eq!(reminders.len(), 1, "{reminders:?}");
        assert_eq!(reminders[0].1, NotifyReason::RepeatIntervalElapsed);
        assert_eq!(reminders[0].0 - (t0() + secs(330)), secs(4 * 3600));
    }

    #[test]
    fn critical_alerts_skip_group_wait_only_if_configured() {
        let crit = alert("c", RuleId::BreakGlass, Severity::Critical, "t", 0);
        let low = alert("l", RuleId::BreakGlass, Severity::Low, "t", 0);
        let g = GroupState::new(key(), &crit, &timing(), t0());
        assert_eq!(g.next_flush_at, t0());

        let mut g = GroupState::new(key(), &low, &timing(), t0());
        assert_eq!(g.next_flush_at, t0() + secs(30));
        assert!(g.on_alert(&crit, &timing(), t0() + secs(5)));
        assert_eq!(g.next_flush_at, t0() + secs(5));

        let waiting = Timing { critical_without_wait: false, ..timing() };
        let mut g = GroupState::new(key(), &crit, &waiting, t0());
        assert_eq!(g.next_flush_at, t0() + secs(30));
        assert!(!g.on_alert(&crit, &waiting, t0() + secs(5)));
    }

    #[test]
    fn failures_back_off_then_dead_letter_and_deferrals_wait() {
        let ch = vec!["mail".to_string(), "webhook-1".to_string()];
        let a = alert("a", RuleId::FailedLogins, Severity::Medium, "t", 0);
        let alerts = [PendingAlert { seq: 5, alert: &a, received_at: t0() }];
        let tm = Timing { max_attempts: 3, ..timing() };
        let mut g = GroupState::new(key(), &a, &tm, t0());
        let mut now = t0() + secs(30);

        // mail fails, the webhook is deferred by the rate limit.
        let plan = g.plan(&alerts, &ch, &tm, now);
        assert_eq!(plan.deliveries.len(), 2);
        let FailureVerdict::RetryAt(retry) = GroupState::after_failure(&plan.deliveries[0], false, &tm, now) else {
            panic!("first failure is retried")
        };
        assert_eq!(retry, now + secs(30));
        let outcomes = vec![
            ("mail".to_string(), Outcome::Failed { error: "421 busy".into(), retry_at: retry }),
            ("webhook-1".to_string(), Outcome::Deferred { until: now + secs(2) }),
        ];
        g.record(&plan, &outcomes, &ch, &tm, now);
        assert_eq!(g.due_at(&ch), now + secs(2));

        // The deferred webhook goes when its token is free; mail waits for its retry.
        now += secs(2);
        let plan = g.plan(&alerts, &ch, &tm, now);
        assert_eq!(plan.deliveries.iter().map(|d| d.channel.as_str()).collect::<Vec<_>>(), ["webhook-1"]);
        g.record(&plan, &[("webhook-1".into(), Outcome::Sent { message_id: "w".into() })], &ch, &tm, now);

        // Second failure: waits twice as long. Third: dead letter.
        now = retry;
        let plan = g.plan(&alerts, &ch, &tm, now);
        assert_eq!(plan.deliveries[0].attempt, 2);
        let FailureVerdict::RetryAt(retry) = GroupState::after_failure(&plan.deliveries[0], false, &tm, now) else {
            panic!("second failure is retried")
        };
        assert_eq!(retry, now + secs(60));
        g.record(&plan, &[("mail".into(), Outcome::Failed { error: "421".into(), retry_at: retry })], &ch, &tm, now);
        now = retry;
        let plan = g.plan(&alerts, &ch, &tm, now);
        assert_eq!(plan.deliveries[0].attempt, 3);
        assert_eq!(GroupState::after_failure(&plan.deliveries[0], false, &tm, now), FailureVerdict::DeadLetter);
        g.record(&plan, &[("mail".into(), Outcome::DeadLettered { error: "421".into() })], &ch, &tm, now);
        let mail = &g.channels["mail"];
        assert_eq!((mail.dead_lettered, mail.attempts, mail.retry_at), (1, 0, None));
        assert_eq!(mail.log.unwrap().sent_through, 5, "dead-lettered alerts are not retried for ever");

        // A permanent failure is dead-lettered at once.
        let d = PlannedDelivery {
            channel: "mail".into(),
            reason: NotifyReason::FirstNotification,
            through: 1,
            previously_through: 0,
            attempt: 1,
            thread_id: None,
            previous_sent_at: None,
        };
        assert_eq!(GroupState::after_failure(&d, true, &tm, now), FailureVerdict::DeadLetter);
    }

    #[test]
    fn alerts_expire_only_once_delivered_and_quiet() {
        let ch = vec!["mail".to_string()];
        let a = alert("a", RuleId::FailedLogins, Severity::Medium, "t", 0);
        let b = alert("b", RuleId::FailedLogins, Severity::Medium, "t", 0);
        let mut g = GroupState::new(key(), &a, &timing(), t0());
        let alerts = [
            PendingAlert { seq: 1, alert: &a, received_at: t0() },
            PendingAlert { seq: 2, alert: &b, received_at: t0() + secs(3600) },
        ];
        let resolve = timing().resolve_timeout;
        assert!(g.expired(&alerts, &ch, &timing(), t0() + resolve * 4).is_empty(), "never delivered: kept");
        flush_ok(&mut g, &alerts[..1], &ch, t0() + secs(30));
        let gone = g.expired(&alerts, &ch, &timing(), t0() + resolve);
        assert_eq!(gone.iter().map(|a| a.seq).collect::<Vec<_>>(), [1], "alert 2 was never delivered");
        assert!(g.expired(&alerts, &ch, &timing(), t0() + resolve - secs(1)).is_empty());
    }

    #[test]
    fn claims_keep_others_off_until_they_expire() {
        let a = alert("a", RuleId::FailedLogins, Severity::Medium, "t", 0);
        let mut g = GroupState::new(key(), &a, &timing(), t0());
        g.claim = Some(Claim { owner: "n1".into(), until: t0() + secs(60) });
        assert!(g.claimed_by_other("n2", t0() + secs(59)));
        assert!(!g.claimed_by_other("n1", t0() + secs(59)));
        assert!(!g.claimed_by_other("n2", t0() + secs(60)));
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<GroupState>(&json).unwrap(), g);
    }
}
