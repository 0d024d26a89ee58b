//! A tenant's records: the generated background traffic (regenerated per slice on demand), the
//! records injected by scenarios, and recorded records in replay mode; and the page query over
//! them that the list endpoints use.
//!
//! Pages are keyset-paginated on (time, key) and evaluated against a snapshot time (`as_of`):
//! a pagination started at T serves exactly the records visible at T that match the query, each
//! once, however long the client takes to follow the nextLinks and whatever arrives meanwhile.
//! Records that become visible later are picked up by the client's next poll, as with Graph.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::Value;

use crate::faults::{Latency, change_delay, visibility_delay};
use crate::odata::{Expr, Order};
use crate::records::{AuditData, Filterable, LogKind, SignInData};
use crate::time::Ticks;
use crate::traffic::{self, Event, SLICE_TICKS, Volume, slice_of};
use crate::world::Tenant;

/// Key bit marking records injected by scenarios.
pub const KEY_INJECTED: u64 = 1 << 63;
/// Key bit marking replayed records.
pub const KEY_REPLAY: u64 = 1 << 62;

/// A record kept in memory (scenario or replay).
#[derive(Debug)]
pub enum StoredBody {
    SignIn(Box<SignInData<'static>>),
    Audit(Box<AuditData<'static>>),
    /// A recorded record, served as recorded (v1.0 gets only v1.0 properties).
    Json(Value),
}

/// A record injected by a scenario or loaded for replay.
#[derive(Debug)]
pub struct StoredRecord {
    pub ticks: Ticks,
    pub key: u64,
    pub kind: LogKind,
    pub id: String,
    pub body: StoredBody,
    /// The first version served when Graph fills in details later (see `late_changes`).
    pub early: Option<StoredBody>,
    pub roll: u64,
}

/// A record a query may return.
#[derive(Debug, Clone)]
pub enum Candidate {
    Synthetic(Event),
    Stored(Arc<StoredRecord>),
}

impl Candidate {
    pub fn pos(&self) -> (Ticks, u64) {
        match self {
            Candidate::Synthetic(e) => (e.ticks, e.key),
            Candidate::Stored(r) => (r.ticks, r.key),
        }
    }

    pub fn kind(&self) -> LogKind {
        match self {
            Candidate::Synthetic(e) => e.kind,
            Candidate::Stored(r) => r.kind,
        }
    }

    pub fn roll(&self) -> u64 {
        match self {
            Candidate::Synthetic(e) => e.roll,
            Candidate::Stored(r) => r.roll,
        }
    }

    pub fn key(&self) -> u64 {
        self.pos().1
    }

    /// Whether this record has an early version that is later completed.
    pub fn may_change(&self) -> bool {
        match self {
            Candidate::Synthetic(e) => e.template.may_change_later(),
            Candidate::Stored(r) => r.early.is_some(),
        }
    }
}

/// A record expanded for filtering and rendering (short-lived, never stored: not boxed).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum RecordView<'a> {
    SignIn(SignInData<'a>),
    Audit(AuditData<'a>),
    Borrowed(&'a StoredBody),
}

impl RecordView<'_> {
    pub fn filterable(&self) -> &dyn Filterable {
        match self {
            RecordView::SignIn(d) => d,
            RecordView::Audit(a) => a,
            RecordView::Borrowed(StoredBody::SignIn(d)) => d.as_ref(),
            RecordView::Borrowed(StoredBody::Audit(a)) => a.as_ref(),
            RecordView::Borrowed(StoredBody::Json(v)) => v,
        }
    }
}

/// The parts of a tenant that change at run time.
#[derive(Debug, Clone, Serialize)]
pub struct TenantState {
    /// Entra ID P1/P2: without it, sign-in logs answer 403.
    pub premium: bool,
    pub apps: Vec<crate::auth::AppRegistration>,
    /// Role index → member user indexes.
    #[serde(skip)]
    pub role_members: Vec<BTreeSet<usize>>,
}

/// One tenant with its records.
#[derive(Debug)]
pub struct TenantStore {
    pub tenant: Tenant,
    pub state: RwLock<TenantState>,
    stored: RwLock<BTreeMap<(Ticks, u64), Arc<StoredRecord>>>,
    next_injected: std::sync::atomic::AtomicU64,
    /// Generate background traffic (off in replay mode).
    pub synthetic: bool,
    /// Synthetic traffic starts here.
    pub history_start: Ticks,
    pub volume: Volume,
}

/// What a page query asks for.
#[derive(Debug, Clone)]
pub struct PageQuery<'q> {
    pub kinds: &'q [LogKind],
    /// Inclusive time bounds.
    pub lo: Ticks,
    pub hi: Ticks,
    pub order: Order,
    /// Continue strictly after this position.
    pub cursor: Option<(Ticks, u64)>,
    /// Visibility snapshot.
    pub as_of: Ticks,
    /// Now, for the content version of records that change.
    pub now: Ticks,
    pub filter: Option<&'q Expr>,
    pub top: usize,
    pub latency: Latency,
    pub late_changes: f64,
    /// Stop after examining this many records and return what was found, with a nextLink.
    pub scan_limit: usize,
}

/// A page: the records and where the next page starts.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<(Candidate, bool)>,
    pub next: Option<(Ticks, u64)>,
    pub examined: usize,
}

impl TenantStore {
    pub fn new(
        tenant: Tenant,
        premium: bool,
        apps: Vec<crate::auth::AppRegistration>,
        synthetic: bool,
        history_start: Ticks,
        volume: Volume,
    ) -> TenantStore {
        let mut role_members = vec![BTreeSet::new(); tenant.roles.len()];
        for u in &tenant.users {
            for r in &u.initial_roles {
                role_members[*r].insert(u.index);
            }
        }
        TenantStore {
            tenant,
            state: RwLock::new(TenantState { premium, apps, role_members }),
            stored: RwLock::new(BTreeMap::new()),
            next_injected: std::sync::atomic::AtomicU64::new(1),
            synthetic,
            history_start,
            volume,
        }
    }

    pub fn state(&self) -> std::sync::RwLockReadGuard<'_, TenantState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, TenantState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A new key for an injected (or replayed, with `replay`) record.
    pub fn next_key(&self, replay: bool) -> u64 {
        let n = self.next_injected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if replay { KEY_REPLAY | n } else { KEY_INJECTED | n }
    }

    /// Adds records (scenarios, replay).
    pub fn insert(&self, records: Vec<StoredRecord>) -> Vec<Arc<StoredRecord>> {
        let mut stored = self.stored.write().unwrap_or_else(|e| e.into_inner());
        records
            .into_iter()
            .map(|r| {
                let r = Arc::new(r);
                stored.insert((r.ticks, r.key), Arc::clone(&r));
                r
            })
            .collect()
    }

    pub fn stored_count(&self) -> usize {
        self.stored.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The stored record with this key.
    pub fn stored_by_key(&self, key: u64) -> Option<Arc<StoredRecord>> {
        self.stored.read().unwrap_or_else(|e| e.into_inner()).values().find(|r| r.key == key).cloned()
    }

    /// The newest stored record time (for `--shift-to-now`).
    pub fn newest_stored(&self) -> Option<Ticks> {
        self.stored.read().unwrap_or_else(|e| e.into_inner()).keys().next_back().map(|k| k.0)
    }

    /// Every record of slice `s` of the wanted kinds, sorted by (time, key).
    pub fn slice_candidates(&self, s: i64, kinds: &[LogKind]) -> Vec<Candidate> {
        let start = s * SLICE_TICKS;
        let mut out: Vec<Candidate> = Vec::new();
        if self.synthetic && start + SLICE_TICKS > self.history_start {
            out.extend(
                traffic::generate_slice(&self.tenant, s, self.volume)
                    .into_iter()
                    .filter(|e| e.ticks >= self.history_start && kinds.contains(&e.kind))
                    .map(Candidate::Synthetic),
            );
        }
        let stored = self.stored.read().unwrap_or_else(|e| e.into_inner());
        let before = out.len();
        out.extend(
            stored
                .range((Bound::Included((start, 0)), Bound::Excluded((start + SLICE_TICKS, 0))))
                .filter(|(_, r)| kinds.contains(&r.kind))
                .map(|(_, r)| Candidate::Stored(Arc::clone(r))),
        );
        if out.len() > before && before > 0 {
            out.sort_by_key(Candidate::pos);
        }
        out
    }

    /// When a record becomes visible.
    pub fn visible_at(c: &Candidate, latency: Latency) -> Ticks {
        let (t, _) = c.pos();
        t + visibility_delay(latency, c.kind(), c.roll())
    }

    /// Whether a record shows its final content at `now`.
    pub fn is_changed(c: &Candidate, latency: Latency, late_changes: f64, now: Ticks) -> bool {
        if !c.may_change() {
            return true;
        }
        match change_delay(late_changes, c.roll()) {
            None => true,
            Some(d) => now >= Self::visible_at(c, latency) + d,
        }
    }

    /// Expands a candidate.
    pub fn view<'a>(&'a self, c: &'a Candidate, changed: bool) -> RecordView<'a> {
        match c {
            Candidate::Synthetic(e) if e.kind == LogKind::DirectoryAudit => {
                RecordView::Audit(traffic::audit(&self.tenant, e))
            }
            Candidate::Synthetic(e) => RecordView::SignIn(traffic::sign_in(&self.tenant, e, changed)),
            Candidate::Stored(r) => match (&r.early, changed) {
                (Some(early), false) => RecordView::Borrowed(early),
                _ => RecordView::Borrowed(&r.body),
            },
        }
    }

    /// The record id of a candidate.
    pub fn id_of(&self, c: &Candidate) -> String {
        match c {
            Candidate::Synthetic(e) => traffic::record_id(&self.tenant, e),
            Candidate::Stored(r) => r.id.clone(),
        }
    }

    /// Stored records of the wanted kinds in `[lo, hi]`, sorted by (time, key).
    fn stored_range(&self, lo: Ticks, hi: Ticks, kinds: &[LogKind]) -> Vec<Candidate> {
        let stored = self.stored.read().unwrap_or_else(|e| e.into_inner());
        stored
            .range((Bound::Included((lo, 0)), Bound::Included((hi, u64::MAX))))
            .filter(|(_, r)| kinds.contains(&r.kind))
            .map(|(_, r)| Candidate::Stored(Arc::clone(r)))
            .collect()
    }

    /// Runs a page query.
    pub fn page(&self, q: &PageQuery<'_>) -> Page {
        let hi = q.hi.min(q.as_of);
        // Nothing exists before the history (or the oldest stored record): do not scan it.
        let oldest_stored = self.stored.read().unwrap_or_else(|e| e.into_inner()).keys().next().map(|k| k.0);
        let floor = match (self.synthetic, oldest_stored) {
            (true, Some(o)) => self.history_start.min(o),
            (true, None) => self.history_start,
            (false, Some(o)) => o,
            (false, None) => hi + 1,
        };
        let lo = q.lo.max(floor);
        let mut items = Vec::new();
        let mut examined = 0usize;
        let mut last_examined: Option<(Ticks, u64)> = None;
        if lo > hi {
            return Page { items, next: None, examined };
        }
        let batches: Box<dyn Iterator<Item = Vec<Candidate>> + '_> = if self.synthetic {
            let (first, last) = (slice_of(lo), slice_of(hi));
            let slices: Box<dyn Iterator<Item = i64>> = match q.order {
                Order::NewestFirst => Box::new((first..=q.cursor.map_or(last, |c| slice_of(c.0).min(last))).rev()),
                Order::OldestFirst => Box::new(q.cursor.map_or(first, |c| slice_of(c.0).max(first))..=last),
            };
            Box::new(slices.map(move |s| self.slice_candidates(s, q.kinds)))
        } else {
            Box::new(std::iter::once(self.stored_range(lo, hi, q.kinds)))
        };
        let mut batches = batches.peekable();
        while let Some(mut cands) = batches.next() {
            if q.order == Order::NewestFirst {
                cands.reverse();
            }
            for c in cands {
                let pos = c.pos();
                if pos.0 < lo || pos.0 > hi {
                    continue;
                }
                if let Some(cur) = q.cursor {
                    let after = match q.order {
                        Order::NewestFirst => pos < cur,
                        Order::OldestFirst => pos > cur,
                    };
                    if !after {
                        continue;
                    }
                }
                if Self::visible_at(&c, q.latency) > q.as_of {
                    continue;
                }
                if items.len() == q.top {
                    // One more match exists: the page is full and there is a next page.
                    if self.matches(&c, q) {
                        let next = items.last().map(|(c, _): &(Candidate, bool)| c.pos());
                        return Page { items, next, examined };
                    }
                } else if self.matches(&c, q) {
                    let changed = Self::is_changed(&c, q.latency, q.late_changes, q.now);
                    items.push((c, changed));
                }
                examined += 1;
                last_examined = Some(pos);
            }
            if examined >= q.scan_limit && batches.peek().is_some() {
                // Long scans return what they have and a nextLink, like Graph's partial pages.
                let next = if items.len() == q.top { items.last().map(|(c, _)| c.pos()) } else { last_examined };
                return Page { items, next: next.or(q.cursor), examined };
            }
        }
        Page { items, next: None, examined }
    }

    fn matches(&self, c: &Candidate, q: &PageQuery<'_>) -> bool {
        match q.filter {
            None => true,
            Some(f) => {
                let changed = Self::is_changed(c, q.latency, q.late_changes, q.now);
                let view = self.view(c, changed);
                f.matches(view.filterable())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{TICKS_PER_DAY, TICKS_PER_HOUR, parse_odata_datetime};

    fn store() -> TenantStore {
        let tenant = Tenant::generate(11, 0, 60);
        let start = parse_odata_datetime("2025-03-03T00:00:00Z").unwrap();
        TenantStore::new(tenant, true, Vec::new(), true, start, Volume { activity: 1.0 })
    }

    fn query<'q>(
        kinds: &'q [LogKind],
        lo: Ticks,
        hi: Ticks,
        cursor: Option<(Ticks, u64)>,
        order: Order,
        top: usize,
    ) -> PageQuery<'q> {
        PageQuery {
            kinds,
            lo,
            hi,
            order,
            cursor,
            as_of: hi,
            now: hi,
            filter: None,
            top,
            latency: Latency::None,
            late_changes: 0.0,
            scan_limit: 1_000_000,
        }
    }

    #[test]
    fn paging_serves_everything_once_in_order() {
        let s = store();
        let lo = parse_odata_datetime("2025-03-04T06:00:00Z").unwrap();
        let hi = lo + 12 * TICKS_PER_HOUR;
        let kinds = [LogKind::NonInteractiveUser, LogKind::InteractiveUser];
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let all = s.page(&query(&kinds, lo, hi, None, order, 1_000_000 - 1));
            assert!(all.next.is_none());
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let p = s.page(&query(&kinds, lo, hi, cursor, order, 97));
                seen.extend(p.items.iter().map(|(c, _)| c.pos()));
                match p.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            let expected: Vec<_> = all.items.iter().map(|(c, _)| c.pos()).collect();
            assert_eq!(seen, expected);
            assert!(seen.len() > 500);
            match order {
                Order::NewestFirst => assert!(seen.windows(2).all(|w| w[0] > w[1])),
                Order::OldestFirst => assert!(seen.windows(2).all(|w| w[0] < w[1])),
            }
        }
    }

    #[test]
    fn latency_hides_recent_records() {
        let s = store();
        let hi = parse_odata_datetime("2025-03-04T12:00:00Z").unwrap();
        let lo = hi - TICKS_PER_HOUR;
        let kinds = [LogKind::NonInteractiveUser];
        let mut q = query(&kinds, lo, hi, None, Order::NewestFirst, 1000);
        let everything = s.page(&q).items.len();
        q.latency = Latency::Realistic;
        let visible = s.page(&q).items.len();
        assert!(visible < everything, "{visible} < {everything}");
        q.as_of = hi + TICKS_PER_DAY;
        assert_eq!(s.page(&q).items.len(), everything);
    }

    #[test]
    fn scan_limit_gives_partial_pages_that_still_cover_everything() {
        let s = store();
        let lo = parse_odata_datetime("2025-03-04T00:00:00Z").unwrap();
        let hi = lo + TICKS_PER_DAY;
        let kinds = [LogKind::NonInteractiveUser];
        let total = s.page(&query(&kinds, lo, hi, None, Order::NewestFirst, 999_999)).items.len();
        let mut cursor = None;
        let mut count = 0;
        let mut pages = 0;
        loop {
            let mut q = query(&kinds, lo, hi, cursor, Order::NewestFirst, 1000);
            q.scan_limit = 50;
            let p = s.page(&q);
            count += p.items.len();
            pages += 1;
            match p.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
            assert!(pages < 10_000);
        }
        assert_eq!(count, total);
        assert!(pages > 1);
    }
}
