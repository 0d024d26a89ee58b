//! Sliding event-time windows that give the same answer whatever the arrival order.
//!
//! A window holds the qualifying records of one key (a user's credential failures, an IP
//! address's failures) for the window width plus the allowed lateness. An entry is *hot* when
//! some span of the window width that contains it holds at least `threshold` distinct units
//! (attempts, or users for a spray). Hotness depends only on the set of entries, never on the
//! order they came in, and it only ever grows as entries arrive: so the hot entries, and hence
//! the incidents built from them, are the same for any arrival order. Spans are half-open:
//! `[start, start + width)`.

use serde::{Deserialize, Serialize};

use crate::event::SignInEvent;
use crate::keys::KeyMap;
use crate::time::Micros;

/// Entries kept per key at most; beyond this the oldest are dropped (a flood from one attacker
/// must not make every insert slower without bound). Counted in the engine's statistics.
pub(crate) const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Window {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    t: Micros,
    record: u64,
    unit: u64,
    hot: bool,
    /// The record's fields, until the entry turns hot and they move into an incident.
    evidence: Option<Box<SignInEvent<'static>>>,
}

/// Result of an insert.
#[derive(Debug, Default)]
pub(crate) struct Inserted {
    /// Entries that turned hot, with their evidence.
    pub newly_hot: Vec<SignInEvent<'static>>,
    /// The record was already in the window (a redelivery or an updated record).
    pub duplicate: bool,
    /// Entries dropped because the window was full.
    pub overflow: u64,
}

impl Window {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, t: Micros, record: u64) -> bool {
        self.position(t, record).is_ok()
    }

    fn position(&self, t: Micros, record: u64) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| (e.t, e.record).cmp(&(t, record)))
    }

    /// Drops entries older than `before`.
    pub fn evict_before(&mut self, before: Micros) {
        let keep_from = self.entries.partition_point(|e| e.t < before);
        if keep_from > 0 {
            self.entries.drain(..keep_from);
        }
    }

    /// Adds an entry and reports which entries turned hot.
    pub fn insert(
        &mut self,
        evidence: SignInEvent<'static>,
        record: u64,
        unit: u64,
        width: Micros,
        threshold: usize,
    ) -> Inserted {
        let t = evidence.time;
        let mut result = Inserted::default();
        let at = match self.position(t, record) {
            Ok(_) => {
                result.duplicate = true;
                return result;
            }
            Err(at) => at,
        };
        self.entries.insert(at, Entry { t, record, unit, hot: false, evidence: Some(Box::new(evidence)) });
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..excess);
            result.overflow = excess as u64;
        }
        let Ok(at) = self.position(t, record) else { return result };
        let threshold = threshold.max(1);
        // Spans that can contain the new entry start in (t - width, t].
        let first = self.entries.partition_point(|e| e.t <= t - width);
        if at + 1 == self.entries.len() {
            // In order (the common case): every such span ends at the new entry, and the widest
            // one holds all the others; it alone decides.
            if distinct_at_least(&self.entries[first..], threshold) {
                self.mark_hot(first, at, &mut result);
            }
            return result;
        }
        // Out of order: slide over every span start in (t - width, t].
        let mut counts: KeyMap<u32> = KeyMap::default();
        let mut distinct = 0usize;
        let mut end = first; // exclusive
        let mut spans = Vec::new();
        for start in first..=at {
            let limit = self.entries[start].t.saturating_add(width);
            while end < self.entries.len() && self.entries[end].t < limit {
                let c = counts.entry(self.entries[end].unit).or_insert(0);
                if *c == 0 {
                    distinct += 1;
                }
                *c += 1;
                end += 1;
            }
            if end > at && distinct >= threshold {
                spans.push((start, end - 1));
            }
            if let Some(c) = counts.get_mut(&self.entries[start].unit) {
                *c -= 1;
                if *c == 0 {
                    distinct -= 1;
                }
            }
        }
        for (start, last) in spans {
            self.mark_hot(start, last, &mut result);
        }
        result
    }

    fn mark_hot(&mut self, start: usize, last: usize, result: &mut Inserted) {
        for entry in &mut self.entries[start..=last] {
            if !entry.hot {
                entry.hot = true;
                if let Some(evidence) = entry.evidence.take() {
                    result.newly_hot.push(*evidence);
                }
            }
        }
    }

    /// Approximate heap bytes, for the state-size estimate.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.entries.iter().filter(|e| e.evidence.is_some()).count() * 512
    }
}

fn distinct_at_least(entries: &[Entry], threshold: usize) -> bool {
    if entries.len() < threshold {
        return false;
    }
    let mut seen: KeyMap<()> = KeyMap::default();
    for e in entries.iter().rev() {
        seen.insert(e.unit, ());
        if seen.len() >= threshold {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MINUTE;
    use std::borrow::Cow;

    fn ev(t: Micros, id: &str) -> SignInEvent<'static> {
        SignInEvent {
            id: Cow::Owned(id.to_string()),
            time: t,
            user_principal_name: None,
            user_id: None,
            service_principal: None,
            app_display_name: None,
            ip_address: None,
            client_app_used: None,
            user_agent: None,
            correlation_id: None,
            interactive: true,
            error_code: Some(50126),
            failure_reason: None,
            additional_details: None,
            city: None,
            state: None,
            country: None,
            latitude: None,
            longitude: None,
            risk_level_during_sign_in: None,
            risk_level_aggregated: None,
            risk_state: None,
            risk_detail: None,
            risk_event_types: Vec::new(),
            authentication_requirement: None,
        }
    }

    fn hot_ids(times: &[i64], order: &[usize], threshold: usize) -> Vec<String> {
        let mut w = Window::default();
        let mut hot = Vec::new();
        for &i in order {
            let t = times[i] * MINUTE;
            let r = w.insert(ev(t, &format!("r{i}")), i as u64, i as u64, 10 * MINUTE, threshold);
            hot.extend(r.newly_hot.into_iter().map(|e| e.id.into_owned()));
        }
        hot.sort();
        hot
    }

    #[test]
    fn hot_entries_do_not_depend_on_order() {
        // 0..=4 in 10 minutes (hot), 30 alone (cold), 50..=58 (five, hot)
        let times = [0, 2, 4, 6, 9, 30, 50, 52, 54, 56, 58];
        let ascending: Vec<usize> = (0..times.len()).collect();
        let descending: Vec<usize> = ascending.iter().rev().copied().collect();
        let shuffled = vec![5, 9, 0, 3, 10, 1, 7, 4, 2, 8, 6];
        let a = hot_ids(&times, &ascending, 5);
        assert_eq!(a.len(), 10, "{a:?}");
        assert!(!a.contains(&"r5".to_string()));
        assert_eq!(a, hot_ids(&times, &descending, 5));
        assert_eq!(a, hot_ids(&times, &shuffled, 5));
    }

    #[test]
    fn a_span_just_wider_than_the_window_is_not_hot() {
        // five failures spread over exactly ten minutes: the half-open span misses the last one
        let times = [0, 2, 5, 8, 10];
        let order: Vec<usize> = (0..5).collect();
        assert!(hot_ids(&times, &order, 5).is_empty());
        let times = [0, 2, 5, 8, 9];
        assert_eq!(hot_ids(&times, &order, 5).len(), 5);
    }

    #[test]
    fn duplicates_are_ignored_and_units_are_distinct() {
        let mut w = Window::default();
        for i in 0..5 {
            // five records of one attempt (same unit) are one attempt
            let r = w.insert(ev(i * MINUTE, &format!("r{i}")), i as u64, 7, 10 * MINUTE, 2);
            assert!(r.newly_hot.is_empty());
        }
        let r = w.insert(ev(0, "r0"), 0, 7, 10 * MINUTE, 2);
        assert!(r.duplicate);
        let r = w.insert(ev(3 * MINUTE, "x"), 99, 8, 10 * MINUTE, 2);
        assert_eq!(r.newly_hot.len(), 6);
    }
}
