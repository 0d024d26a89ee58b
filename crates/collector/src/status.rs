//! What the collector is doing, per tenant and log: for the NATS service `status` endpoint, for
//! `/healthz`, and for the lag and checkpoint-age gauges.
//!
//! A failing tenant (wrong secret, no licence, throttled) shows here with Microsoft's error code
//! and message, while the other tenants keep going.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use m365mon_graph::GraphError;
use serde::Serialize;

/// A log's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogState {
    Starting,
    /// Reading old records in slices (first start, or after a long outage).
    Backfilling,
    /// Up to date; polling every interval.
    Polling,
    /// Switched off in the settings.
    Disabled,
    /// The last attempt failed; see `last_error`.
    Error,
    Stopped,
}

/// An error as a status page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    /// `retryable` or `fatal`.
    pub class: String,
    /// `token`, `throttled`, `server`, `api`, `network`, `bus` …
    pub kind: String,
    /// Microsoft's code (`AADSTS7000215`, `Authorization_RequestDenied` …).
    pub code: Option<String>,
    pub http_status: Option<u16>,
    pub message: String,
    pub at: DateTime<Utc>,
    /// Failures in a row.
    pub consecutive: u32,
}

impl ErrorReport {
    pub fn from_graph(error: &GraphError, consecutive: u32) -> ErrorReport {
        ErrorReport {
            class: error.class().to_string(),
            kind: error.kind_name().to_string(),
            code: error.code().map(str::to_string),
            http_status: error.status(),
            message: error.to_string(),
            at: Utc::now(),
            consecutive,
        }
    }

    pub fn other(kind: &str, retryable: bool, message: String, consecutive: u32) -> ErrorReport {
        ErrorReport {
            class: if retryable { "retryable" } else { "fatal" }.to_string(),
            kind: kind.to_string(),
            code: None,
            http_status: None,
            message,
            at: Utc::now(),
            consecutive,
        }
    }
}

/// Status of one log (or of the directory-role sync) of a tenant.
#[derive(Debug, Clone, Serialize)]
pub struct LogStatus {
    pub state: LogState,
    pub checkpoint: Option<DateTime<Utc>>,
    pub newest_record: Option<DateTime<Utc>>,
    pub last_poll_started: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// When the last poll that completed (window and late sweep) had started.
    pub last_completed_poll_started: Option<DateTime<Utc>>,
    /// When the log is due next, while it waits (none while it reads).
    pub next_poll: Option<DateTime<Utc>>,
    pub last_sweep: Option<DateTime<Utc>>,
    /// The window being read (or last read), e.g. `2026-11-26T08:00:00Z .. now`.
    pub window: Option<String>,
    pub records_published: u64,
    pub records_updated: u64,
    pub records_deduplicated: u64,
    pub records_dead_lettered: u64,
    /// Records (new or changed) that only a late sweep found.
    pub late_records: u64,
    pub last_error: Option<ErrorReport>,
}

impl Default for LogStatus {
    fn default() -> Self {
        LogStatus {
            state: LogState::Starting,
            checkpoint: None,
            newest_record: None,
            last_poll_started: None,
            last_success: None,
            last_completed_poll_started: None,
            next_poll: None,
            last_sweep: None,
            window: None,
            records_published: 0,
            records_updated: 0,
            records_deduplicated: 0,
            records_dead_lettered: 0,
            late_records: 0,
            last_error: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct TenantStatus {
    name: String,
    logs: BTreeMap<String, LogStatus>,
}

/// Everyone's status; cheap to clone and update.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<BTreeMap<String, TenantStatus>>>,
}

impl StatusBoard {
    pub fn add_tenant(&self, tenant: &str, name: &str) {
        if let Ok(mut map) = self.inner.lock() {
            map.entry(tenant.to_string())
                .or_insert_with(|| TenantStatus { name: name.to_string(), logs: BTreeMap::new() });
        }
    }

    /// Changes one log's status.
    pub fn update(&self, tenant: &str, log: &str, change: impl FnOnce(&mut LogStatus)) {
        if let Ok(mut map) = self.inner.lock() {
            let tenant_status = map
                .entry(tenant.to_string())
                .or_insert_with(|| TenantStatus { name: tenant.to_string(), logs: BTreeMap::new() });
            change(tenant_status.logs.entry(log.to_string()).or_default());
        }
    }

    /// A copy of one log's status.
    pub fn get(&self, tenant: &str, log: &str) -> Option<LogStatus> {
        self.inner.lock().ok()?.get(tenant)?.logs.get(log).cloned()
    }

    /// The status document (JSON).
    pub fn document(&self) -> serde_json::Value {
        let now = Utc::now();
        let Ok(map) = self.inner.lock() else { return serde_json::json!({"error": "status unavailable"}) };
        let tenants: Vec<serde_json::Value> = map
            .iter()
            .map(|(tenant, t)| {
                let logs: serde_json::Map<String, serde_json::Value> = t
                    .logs
                    .iter()
                    .map(|(log, s)| {
                        let mut value = serde_json::to_value(s).unwrap_or_default();
                        if let Some(object) = value.as_object_mut() {
                            object.insert(
                                "lag_seconds".into(),
                                s.newest_record.map(|n| (now - n).num_seconds().max(0)).into(),
                            );
                            object.insert(
                                "checkpoint_age_seconds".into(),
                                s.checkpoint.map(|c| (now - c).num_seconds().max(0)).into(),
                            );
                        }
                        (log.clone(), value)
                    })
                    .collect();
                let failing = t.logs.values().filter(|s| s.state == LogState::Error).count();
                serde_json::json!({"tenant": tenant, "name": t.name, "healthy": failing == 0, "logs": logs})
            })
            .collect();
        serde_json::json!({
            "service": "collector",
            "version": env!("CARGO_PKG_VERSION"),
            "time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "tenants": tenants,
        })
    }

    /// Whether every log has caught up once (its last poll read up to now), is switched off, or
    /// failed in a way that needs a human.
    pub fn all_caught_up(&self) -> bool {
        let Ok(map) = self.inner.lock() else { return false };
        map.values().all(|t| {
            let logs: Vec<&LogStatus> =
                t.logs.iter().filter(|(name, _)| name.as_str() != crate::roles::STATUS_NAME).map(|(_, s)| s).collect();
            !logs.is_empty()
                && logs.len() >= crate::LogKind::ALL.len()
                && logs.iter().all(|s| match s.state {
                    LogState::Polling => s.last_completed_poll_started.is_some(),
                    LogState::Disabled => true,
                    LogState::Error => s.last_error.as_ref().is_some_and(|e| e.class == "fatal"),
                    _ => false,
                })
        })
    }

    /// Records published as new and as updates, over every tenant and log.
    pub fn totals(&self) -> (u64, u64) {
        let Ok(map) = self.inner.lock() else { return (0, 0) };
        map.values()
            .flat_map(|t| t.logs.values())
            .fold((0, 0), |(n, u), s| (n + s.records_published, u + s.records_updated))
    }

    /// Sets the lag and checkpoint-age gauges from the current status.
    pub fn export_gauges(&self) {
        let now = Utc::now();
        let Ok(map) = self.inner.lock() else { return };
        for (tenant, t) in map.iter() {
            for (log, s) in &t.logs {
                if let Some(newest) = s.newest_record {
                    metrics::gauge!("m365mon_collector_lag_seconds", "tenant" => tenant.clone(), "log" => log.clone())
                        .set((now - newest).num_milliseconds().max(0) as f64 / 1000.0);
                }
                if let Some(checkpoint) = s.checkpoint {
                    metrics::gauge!("m365mon_collector_checkpoint_age_seconds", "tenant" => tenant.clone(), "log" => log.clone())
                        .set((now - checkpoint).num_milliseconds().max(0) as f64 / 1000.0);
                }
                let up = if s.state == LogState::Error { 0.0 } else { 1.0 };
                metrics::gauge!("m365mon_collector_log_up", "tenant" => tenant.clone(), "log" => log.clone()).set(up);
            }
        }
    }
}
