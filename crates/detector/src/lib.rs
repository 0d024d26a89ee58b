//! The detector service: Graph records from JetStream, through the rules engine, to alert events.
//!
//! ```text
//! <ns>.events.<kind>.<tenant>  ──(one durable pull consumer per tenant)──►  worker(tenant)
//!        stream M365_EVENTS                                                 │ rules engine (m365mon-rules)
//!                                                                           ▼
//!                         <ns>.alerts.<severity>.<rule>.<tenant>  (stream M365_ALERTS, Nats-Msg-Id = alert message id)
//! ```
//!
//! # Work sharing
//! Every rule is scoped to one tenant, so the tenant is the unit of work and of state. NATS 2.9
//! gives a consumer a single filter subject and our subjects end in the tenant, so each tenant
//! gets its own durable consumer (`<ns>-detector-<tenant>`, filter `<ns>.events.*.<tenant>`)
//! rather than one consumer per partition (which would need the partition inside the subject,
//! i.e. a server-side mapping every install must configure, or publishers that know the
//! partition count). Tenants are discovered from the stream's subjects every couple of seconds
//! and mapped to one of N partitions by a stable hash ([`partition`]); a detector process works
//! on the tenants of the partitions it is given (`--partitions 0-7 --partition-count 16`). A
//! lease per tenant ([`lease`]) guarantees that no two processes work on one tenant at once,
//! even when their partition lists overlap by mistake or during a rolling change.
//!
//! # Durable state and exact restarts
//! Each tenant's engine state is snapshotted with the stream position it reflects ([`snapshot`]
//! explains the format and why a restart, even after `kill -9`, publishes exactly the alerts of
//! an uninterrupted run and none twice).
//!
//! # Time
//! The engine knows only event time. Alert events get `created_at` from this service's clock
//! when they are published. While a tenant sends records, its event time is the newest record's;
//! when it falls idle (no records for `idle_advance_after` and none waiting), the worker moves
//! its event time on at the pace of the wall clock (never beyond it), so an incident that stopped
//! growing still gets its last revision published after `realert_minutes`, and closes. Records
//! that arrive later than `allowed_lateness_minutes` behind the tenant's event time only feed the
//! per-record rules (see the rules crate).

pub mod config;
pub mod lease;
pub mod partition;
pub mod roles;
pub mod snapshot;
pub mod status;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use m365mon_bus::service::ServiceHandle;
use m365mon_bus::{Bus, BusError, StreamLimits};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::DetectorConfig;
pub use partition::{PartitionSet, partition_of};
pub use status::{Board, DetectorStatus, TenantStatus};

use crate::worker::{Carry, Exit, Shared, Worker};

/// The detector's version, as the service API reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The detector could not start.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotStoreError),
}

/// A started detector: infrastructure ensured, service registered, not yet consuming.
#[derive(Debug)]
pub struct Detector {
    shared: Shared,
    _service: ServiceHandle,
}

impl Detector {
    /// Ensures the streams and buckets, starts watching settings and privileged accounts, and
    /// registers the NATS service `<ns>-detector` with its status endpoint.
    pub async fn start(bus: Bus, config: DetectorConfig) -> Result<Detector, DetectorError> {
        let mut events = bus.open_events_stream().await?;
        bus.ensure_alerts_stream(StreamLimits::ALERTS).await?;
        bus.ensure_dead_letter_stream().await?;
        let stream_created = {
            let info = events
                .info()
                .await
                .map_err(|e| BusError::Stream { stream: bus.namespace().events_stream(), reason: e.to_string() })?;
            DateTime::<Utc>::from_timestamp_nanos(info.created.unix_timestamp_nanos() as i64)
        };
        let snapshots = snapshot::SnapshotStore::open(&bus).await?;
        let leases = lease::Leases::open(&bus, &config.instance, config.lease_ttl).await?;
        let settings = bus.watch_settings().await?;
        let privileged = roles::watch(&bus).await?;
        let board = Board::new(DetectorStatus {
            service: "detector",
            version: VERSION,
            instance: config.instance.clone(),
            host: lease::host_name(),
            pid: std::process::id(),
            started_at: Utc::now(),
            partitions: config.partitions.to_string(),
            partition_count: config.partitions.count(),
            owned_partitions: config.partitions.owned().collect(),
            nats_connected: true,
            other_tenants: 0,
            tenants: Vec::new(),
        });
        let status_board = board.clone();
        let client = bus.client().clone();
        let service = bus
            .register_service(
                "detector",
                VERSION,
                "m365-monitor detector: Graph records through the rules engine to alert events",
                Arc::new(move || {
                    let connected = client.connection_state() == async_nats::connection::State::Connected;
                    status_board.head(|h| h.nats_connected = connected);
                    serde_json::to_value(status_board.snapshot()).unwrap_or_default()
                }),
            )
            .await?;
        tracing::info!(namespace = %bus.namespace(), partitions = %config.partitions, instance = %config.instance, "detector started");
        let shared = Shared {
            bus,
            config: Arc::new(config),
            events,
            stream_created,
            snapshots,
            leases,
            settings,
            privileged,
            board,
        };
        Ok(Detector { shared, _service: service })
    }

    /// The live status (what the service endpoint answers).
    pub fn board(&self) -> Board {
        self.shared.board.clone()
    }

    /// Discovers tenants and works on those of this process's partitions until `shutdown`;
    /// then lets every worker write its final snapshot and release its lease (bounded by the
    /// configured grace period).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), DetectorError> {
        let shared = self.shared;
        let workers_stop = CancellationToken::new();
        let mut workers: BTreeMap<String, JoinHandle<()>> = BTreeMap::new();
        let mut rejected: BTreeSet<String> = BTreeSet::new();
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(shared.config.discovery_interval) => {}
                }
            }
            first = false;
            match discover_tenants(&shared).await {
                Ok(tenants) => {
                    let mut others = 0;
                    for tenant in tenants {
                        if !shared.config.partitions.owns(&tenant) {
                            others += 1;
                            continue;
                        }
                        if workers.get(&tenant).is_some_and(|w| !w.is_finished()) || rejected.contains(&tenant) {
                            continue;
                        }
                        if let Err(e) = shared.bus.namespace().detector_consumer(&tenant) {
                            tracing::error!(%tenant, error = %e, "tenant id cannot name a consumer; its records are not evaluated");
                            rejected.insert(tenant);
                            continue;
                        }
                        let partition = partition_of(&tenant, shared.config.partitions.count());
                        tracing::info!(%tenant, partition, "working on tenant");
                        let handle =
                            tokio::spawn(supervise(shared.clone(), tenant.clone(), partition, workers_stop.clone()));
                        workers.insert(tenant, handle);
                    }
                    shared.board.head(|h| h.other_tenants = others);
                }
                Err(e) => tracing::warn!(error = %e, "cannot list the tenants on the events stream; retrying"),
            }
            shared.board.report_metrics();
        }
        tracing::info!(workers = workers.len(), "stopping: writing final snapshots");
        workers_stop.cancel();
        let deadline = Instant::now() + shared.config.shutdown_grace;
        for (tenant, handle) in workers {
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                tracing::warn!(%tenant, "worker did not stop within the grace period; it resumes from its last snapshot");
            }
        }
        shared.board.report_metrics();
        Ok(())
    }
}

/// The tenants with records on the events stream.
async fn discover_tenants(shared: &Shared) -> Result<BTreeSet<String>, BusError> {
    let filter = format!("{}.events.*.*", shared.bus.namespace());
    let err = |e: &dyn std::fmt::Display| BusError::Stream {
        stream: shared.bus.namespace().events_stream(),
        reason: e.to_string(),
    };
    let mut subjects = shared.events.info_with_subjects(&filter).await.map_err(|e| err(&e))?;
    let mut tenants = BTreeSet::new();
    while let Some((subject, _count)) = subjects.try_next().await.map_err(|e| err(&e))? {
        if let Some(tenant) = subject.rsplit('.').next() {
            tenants.insert(tenant.to_string());
        }
    }
    Ok(tenants)
}

/// Runs a tenant's worker, restarting it from its snapshot after failures (with backoff).
async fn supervise(shared: Shared, tenant: String, partition: u16, stop: CancellationToken) {
    let carry = Arc::new(Carry::default());
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let outcome = Worker::run(shared.clone(), tenant.clone(), partition, carry.clone(), stop.clone()).await;
        let problem = match outcome {
            Ok(Exit::Shutdown) => return,
            Ok(Exit::LeaseLost) => "lease lost".to_string(),
            Err(e) => {
                tracing::error!(%tenant, error = %e, "tenant worker failed; restarting from the last snapshot");
                e.to_string()
            }
        };
        metrics::counter!("m365mon_detector_worker_restarts_total").increment(1);
        shared.board.tenant(&tenant, partition, |t| {
            t.phase = status::Phase::Failed(problem.clone());
            t.last_error = Some(problem);
            t.restarts += 1;
        });
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tokio::select! {
            _ = stop.cancelled() => {
                shared.board.tenant(&tenant, partition, |t| t.phase = status::Phase::Stopped);
                return;
            }
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
