//! The notifier's durable state, in the KV bucket `<ns>_notification_log`, and a live in-memory
//! mirror of it.
//!
//! Keys:
//! - `g.<group id>`: a [`GroupState`]: the group's timers and, per channel, the notification log
//!   entry (what the last message covered), retry state and counters.
//! - `a.<group id>.<alert id>`: a [`StoredAlert`]: the highest revision of an alert in the group.
//!
//! The KV revision of an alert entry is its *change sequence*: a new alert or a new revision gets
//! a higher one, so "has the group changed since the last message" is one comparison with the log
//! entry (see `m365mon_notify_policy::dedup`). Every write that more than one process might race
//! on is a compare-and-set on the entry's revision.
//!
//! The mirror follows the bucket with one ordered watch, so it sees writes in revision order: when
//! it holds an alert at revision r it holds every earlier write too, which the dispatcher relies on
//! when it records "sent through r".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use m365mon_bus::topology::BucketOptions;
use m365mon_bus::{Bus, BusError, JsonKv};
use m365mon_contracts::AlertEvent;
use m365mon_notify_policy::alert::alert_key_token;
use m365mon_notify_policy::{GroupKey, GroupState, Merge, StoredAlert, Timing, merge};
use tokio::sync::Notify;

/// Entries untouched for this long disappear (the longest resolve timeout is 30 days; the margin
/// covers retries). It also clears the markers deleted keys leave behind.
const BUCKET_MAX_AGE: Duration = Duration::from_secs(40 * 86_400);

/// The mirror of the bucket.
#[derive(Debug, Default)]
pub struct Mirror {
    /// Group id → state and its KV revision.
    pub groups: HashMap<String, (GroupState, u64)>,
    /// Group id → alert token → stored alert and its KV revision (the change sequence).
    pub alerts: HashMap<String, HashMap<String, (StoredAlert, u64)>>,
    /// The last revision applied.
    pub revision: u64,
    /// Whether the mirror has read everything that was in the bucket when it started.
    pub caught_up: bool,
}

impl Mirror {
    fn apply(&mut self, entry: &kv::Entry) {
        self.revision = self.revision.max(entry.revision);
        let deleted = entry.operation != Operation::Put;
        if let Some(gid) = entry.key.strip_prefix("g.") {
            if deleted {
                self.groups.remove(gid);
            } else {
                match serde_json::from_slice::<GroupState>(&entry.value) {
                    Ok(state) => {
                        self.groups.insert(gid.to_string(), (state, entry.revision));
                    }
                    Err(e) => tracing::error!(key = %entry.key, error = %e, "undecodable group state in KV; ignored"),
                }
            }
        } else if let Some(rest) = entry.key.strip_prefix("a.") {
            let Some((gid, token)) = rest.split_once('.') else { return };
            if deleted {
                if let Some(alerts) = self.alerts.get_mut(gid) {
                    alerts.remove(token);
                    if alerts.is_empty() {
                        self.alerts.remove(gid);
                    }
                }
            } else {
                match serde_json::from_slice::<StoredAlert>(&entry.value) {
                    Ok(alert) => {
                        self.alerts
                            .entry(gid.to_string())
                            .or_default()
                            .insert(token.to_string(), (alert, entry.revision));
                    }
                    Err(e) => tracing::error!(key = %entry.key, error = %e, "undecodable stored alert in KV; ignored"),
                }
            }
        }
    }

    /// Number of alerts held.
    pub fn alert_count(&self) -> usize {
        self.alerts.values().map(HashMap::len).sum()
    }
}

/// The state store: KV access plus the mirror.
#[derive(Debug, Clone)]
pub struct StateStore {
    store: kv::Store,
    groups: JsonKv<GroupState>,
    alerts: JsonKv<StoredAlert>,
    mirror: Arc<Mutex<Mirror>>,
    changed: Arc<Notify>,
    bucket: String,
}

pub fn group_key(gid: &str) -> String {
    format!("g.{gid}")
}

pub fn alert_key(gid: &str, alert_id: &str) -> String {
    format!("a.{gid}.{}", alert_key_token(alert_id))
}

impl StateStore {
    /// Opens (creates) the bucket and starts the mirror. The mirror task stops when every clone of
    /// the store is dropped.
    pub async fn open(bus: &Bus) -> Result<StateStore, BusError> {
        let bucket = bus.namespace().notification_log_bucket();
        let store = bus
            .ensure_bucket(
                &bucket,
                BucketOptions::new("m365-monitor notifier: alert groups, notification log, pending alerts")
                    .max_age(BUCKET_MAX_AGE),
            )
            .await?;
        let state = StateStore {
            groups: JsonKv::new(store.clone(), bucket.clone()),
            alerts: JsonKv::new(store.clone(), bucket.clone()),
            store,
            mirror: Arc::new(Mutex::new(Mirror::default())),
            changed: Arc::new(Notify::new()),
            bucket,
        };
        state.start_mirror().await?;
        Ok(state)
    }

    fn err(&self, reason: impl ToString) -> BusError {
        BusError::Kv { bucket: self.bucket.clone(), reason: reason.to_string() }
    }

    async fn start_mirror(&self) -> Result<(), BusError> {
        let status = self.store.status().await.map_err(|e| self.err(e))?;
        let last_at_start = status.info.state.last_sequence;
        if last_at_start == 0 {
            self.lock().caught_up = true;
        }
        let first = self.store.watch_with_history(">").await.map_err(|e| self.err(e))?;
        let store = self.store.clone();
        let mirror = Arc::downgrade(&self.mirror);
        let changed = self.changed.clone();
        tokio::spawn(async move {
            let mut watch = first;
            loop {
                while let Some(next) = watch.next().await {
                    let Some(mirror) = mirror.upgrade() else { return };
                    match next {
                        Ok(entry) => {
                            let mut m = mirror.lock().unwrap_or_else(|e| e.into_inner());
                            m.apply(&entry);
                            if entry.seen_current || entry.revision >= last_at_start {
                                m.caught_up = true;
                            }
                            drop(m);
                            changed.notify_one();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "notification log watch error");
                            break;
                        }
                    }
                }
                // The watch ended (NATS restarted, a consumer was lost): resume after the last
                // revision applied, so nothing is missed and nothing is applied twice.
                loop {
                    let Some(mirror) = mirror.upgrade() else { return };
                    let from = mirror.lock().unwrap_or_else(|e| e.into_inner()).revision + 1;
                    drop(mirror);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match store.watch_all_from_revision(from).await {
                        Ok(w) => {
                            watch = w;
                            break;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot resume the notification log watch; retrying"),
                    }
                }
            }
        });
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the mirror (briefly; never across an await).
    pub fn with_mirror<T>(&self, f: impl FnOnce(&Mirror) -> T) -> T {
        f(&self.lock())
    }

    /// Whether the mirror has caught up with the bucket.
    pub fn caught_up(&self) -> bool {
        self.lock().caught_up
    }

    /// Waits until the bucket changes or `timeout` passes.
    pub async fn changed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.changed.notified()).await;
    }

    /// Wakes the dispatcher (after a settings change, for instance).
    pub fn poke(&self) {
        self.changed.notify_one();
    }

    /// Stores `alert` in group `group` unless the stored copy is as new. Returns what happened.
    pub async fn upsert_alert(
        &self,
        group: &GroupKey,
        alert: &AlertEvent,
        now: DateTime<Utc>,
        published_at: Option<DateTime<Utc>>,
    ) -> Result<Merge, BusError> {
        let key = alert_key(&group.id(), &alert.id);
        for _ in 0..10 {
            let stored = self.alerts.get(&key).await?;
            let decision = merge(stored.as_ref().map(|s| &s.value.alert), alert);
            if decision == Merge::Keep {
                return Ok(Merge::Keep);
            }
            let value = StoredAlert { alert: alert.clone(), group: group.clone(), received_at: now, published_at };
            if self.alerts.compare_and_set(&key, &value, stored.map(|s| s.revision)).await?.is_some() {
                return Ok(decision);
            }
        }
        Err(self.err(format!("{key}: too many concurrent writers")))
    }

    /// Makes sure the group exists (created with its `group_wait`), and lets a critical alert end
    /// a running wait.
    pub async fn ensure_group(
        &self,
        group: &GroupKey,
        alert: &AlertEvent,
        timing: &Timing,
        now: DateTime<Utc>,
    ) -> Result<(), BusError> {
        let gid = group.id();
        let key = group_key(&gid);
        for _ in 0..10 {
            match self.groups.get(&key).await? {
                None => {
                    let state = GroupState::new(group.clone(), alert, timing, now);
                    if self.groups.compare_and_set(&key, &state, None).await?.is_some() {
                        return Ok(());
                    }
                }
                Some(mut current) => {
                    if !current.value.on_alert(alert, timing, now) {
                        return Ok(());
                    }
                    if self.groups.compare_and_set(&key, &current.value, Some(current.revision)).await?.is_some() {
                        return Ok(());
                    }
                }
            }
        }
        Err(self.err(format!("{key}: too many concurrent writers")))
    }

    /// The group's current state from KV (not the mirror).
    pub async fn group(&self, gid: &str) -> Result<Option<(GroupState, u64)>, BusError> {
        Ok(self.groups.get(&group_key(gid)).await?.map(|v| (v.value, v.revision)))
    }

    /// Writes a group's state if it is still at `revision`; `Ok(None)` when someone else wrote.
    pub async fn write_group(&self, gid: &str, state: &GroupState, revision: u64) -> Result<Option<u64>, BusError> {
        self.groups.compare_and_set(&group_key(gid), state, Some(revision)).await
    }

    /// Recreates a group record for alerts whose group record is missing (a crash between
    /// storing an alert and creating its group, or a group removed while an alert joined).
    pub async fn create_group(&self, gid: &str, state: &GroupState) -> Result<bool, BusError> {
        Ok(self.groups.compare_and_set(&group_key(gid), state, None).await?.is_some())
    }

    /// Removes a group record if it is still at `revision`.
    pub async fn delete_group(&self, gid: &str, revision: u64) -> Result<bool, BusError> {
        match self.store.delete_expect_revision(group_key(gid), Some(revision)).await {
            Ok(()) => Ok(true),
            Err(e) if e.to_string().contains("wrong last sequence") => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Removes an alert if it is still at `revision` (a newer revision stays).
    pub async fn delete_alert(&self, gid: &str, token: &str, revision: u64) -> Result<bool, BusError> {
        match self.store.delete_expect_revision(format!("a.{gid}.{token}"), Some(revision)).await {
            Ok(()) => Ok(true),
            Err(e) if e.to_string().contains("wrong last sequence") => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }
}
