//! What the detector reports about itself: the status document of its NATS service endpoint
//! (`<ns>.status.detector`, read by `m365mon status` and the UI), `/healthz`, and the gauges of
//! `/metrics` that summarise all tenants.
//!
//! Workers write their tenant's entry; readers take a consistent copy. Tenants are not metric
//! labels (an MSP may have hundreds): per-tenant detail lives in the status document, and the
//! metrics carry totals and worst cases.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a tenant's worker is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum Phase {
    /// Another process holds the tenant's lease.
    WaitingForLease(String),
    /// Loading the snapshot and positioning the consumer.
    Starting,
    Running,
    /// Failed; restarting from the last snapshot after a pause.
    Failed(String),
    Stopped,
}

/// One tenant as this detector sees it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub partition: u16,
    #[serde(flatten)]
    pub phase: Phase,
    /// Stream sequence of the last record processed.
    pub position: u64,
    /// The newest event time seen (or moved to while idle).
    pub event_time: Option<DateTime<Utc>>,
    /// Records waiting in the tenant's consumer (as of the last delivery).
    pub backlog: u64,
    /// Since this process started.
    pub records: u64,
    pub alerts: u64,
    /// Alerts not published again while replaying records whose alerts were already published.
    pub alerts_suppressed: u64,
    pub dead_letters: u64,
    pub late_records: u64,
    pub last_snapshot_at: Option<DateTime<Utc>>,
    pub snapshot_bytes: usize,
    /// Users tracked by the engine for this tenant.
    pub users: usize,
    pub open_incidents: usize,
    pub restarts: u32,
    pub last_error: Option<String>,
    /// When the worker last took the settings document (at start and on every change).
    pub settings_applied_at: Option<DateTime<Utc>>,
}

impl TenantStatus {
    pub fn new(tenant: &str, partition: u16) -> TenantStatus {
        TenantStatus {
            tenant: tenant.to_string(),
            partition,
            phase: Phase::Starting,
            position: 0,
            event_time: None,
            backlog: 0,
            records: 0,
            alerts: 0,
            alerts_suppressed: 0,
            dead_letters: 0,
            late_records: 0,
            last_snapshot_at: None,
            snapshot_bytes: 0,
            users: 0,
            open_incidents: 0,
            restarts: 0,
            last_error: None,
            settings_applied_at: None,
        }
    }
}

/// The detector's status document.
#[derive(Debug, Clone, Serialize)]
pub struct DetectorStatus {
    pub service: &'static str,
    pub version: &'static str,
    pub instance: String,
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    /// e.g. `0-7 of 16`.
    pub partitions: String,
    pub partition_count: u16,
    pub owned_partitions: Vec<u16>,
    pub nats_connected: bool,
    /// Tenants seen on the events stream that belong to other detectors' partitions.
    pub other_tenants: usize,
    pub tenants: Vec<TenantStatus>,
}

/// Shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct Board {
    inner: Arc<Mutex<BoardInner>>,
}

#[derive(Debug)]
struct BoardInner {
    head: DetectorStatus,
    tenants: BTreeMap<String, TenantStatus>,
}

impl Board {
    pub fn new(head: DetectorStatus) -> Board {
        Board { inner: Arc::new(Mutex::new(BoardInner { head, tenants: BTreeMap::new() })) }
    }

    fn lock(&self) -> MutexGuard<'_, BoardInner> {
        // A worker that panicked while holding the lock left plain data behind: still readable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes a tenant's entry, creating it when missing.
    pub fn tenant(&self, tenant: &str, partition: u16, change: impl FnOnce(&mut TenantStatus)) {
        let mut inner = self.lock();
        let entry = inner.tenants.entry(tenant.to_string()).or_insert_with(|| TenantStatus::new(tenant, partition));
        change(entry);
    }

    pub fn head(&self, change: impl FnOnce(&mut DetectorStatus)) {
        change(&mut self.lock().head);
    }

    pub fn snapshot(&self) -> DetectorStatus {
        let inner = self.lock();
        let mut status = inner.head.clone();
        status.tenants = inner.tenants.values().cloned().collect();
        status
    }

    pub fn is_running(&self, tenant: &str) -> bool {
        self.lock().tenants.get(tenant).is_some_and(|t| t.phase != Phase::Stopped)
    }

    /// Publishes the summary gauges (called every few seconds).
    pub fn report_metrics(&self) {
        let now = Utc::now();
        let inner = self.lock();
        let mut backlog = 0u64;
        let mut oldest_snapshot = 0f64;
        let mut snapshot_bytes = 0usize;
        let mut users = 0usize;
        let mut incidents = 0usize;
        let mut running = 0usize;
        let mut failed = 0usize;
        let mut newest_event: Option<DateTime<Utc>> = None;
        for t in inner.tenants.values() {
            backlog += t.backlog;
            snapshot_bytes += t.snapshot_bytes;
            users += t.users;
            incidents += t.open_incidents;
            match t.phase {
                Phase::Running => running += 1,
                Phase::Failed(_) => failed += 1,
                _ => {}
            }
            if t.phase == Phase::Running {
                let age = t.last_snapshot_at.map_or(0.0, |at| (now - at).num_milliseconds() as f64 / 1000.0);
                oldest_snapshot = oldest_snapshot.max(age);
            }
            newest_event = newest_event.max(t.event_time);
        }
        metrics::gauge!("m365mon_detector_backlog_records").set(backlog as f64);
        metrics::gauge!("m365mon_detector_snapshot_age_seconds").set(oldest_snapshot);
        metrics::gauge!("m365mon_detector_snapshot_bytes").set(snapshot_bytes as f64);
        metrics::gauge!("m365mon_detector_tracked_users").set(users as f64);
        metrics::gauge!("m365mon_detector_open_incidents").set(incidents as f64);
        metrics::gauge!("m365mon_detector_tenants", "state" => "running").set(running as f64);
        metrics::gauge!("m365mon_detector_tenants", "state" => "failed").set(failed as f64);
        if let Some(newest) = newest_event {
            let lag = (now - newest).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::gauge!("m365mon_detector_event_time_lag_seconds").set(lag);
        }
    }
}
