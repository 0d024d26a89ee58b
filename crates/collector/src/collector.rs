//! The collector: every tenant, every log, until shutdown.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use m365mon_bus::{Bus, BusError, StreamLimits};
use m365mon_contracts::Settings;
use m365mon_contracts::settings::CollectorSettings;
use m365mon_graph::GraphClient;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::CheckpointStore;
use crate::poller::{LogPoller, keep_horizon};
use crate::publish::Publisher;
use crate::seen::SeenStore;
use crate::status::{ErrorReport, LogState, StatusBoard};
use crate::tenant::{CollectorOptions, TenantContext, TenantSpec, check_tenant_id};
use crate::{LogKind, buckets, roles};

/// A failure that stops the collector as a whole (one tenant's failure never does).
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Collects from every configured tenant.
#[derive(Debug)]
pub struct Collector {
    bus: Bus,
    options: CollectorOptions,
    tenants: Vec<TenantSpec>,
    status: StatusBoard,
}

impl Collector {
    /// Checks the tenant list (ids usable as subject tokens, no tenant twice).
    pub fn new(bus: Bus, options: CollectorOptions, tenants: Vec<TenantSpec>) -> Result<Collector, CollectorError> {
        if tenants.is_empty() {
            return Err(CollectorError::Config("no tenant configured".into()));
        }
        let mut seen = HashSet::new();
        for spec in &tenants {
            check_tenant_id(&spec.tenant_id).map_err(CollectorError::Config)?;
            if !seen.insert(spec.tenant_id.to_ascii_lowercase()) {
                return Err(CollectorError::Config(format!("tenant {} is configured twice", spec.tenant_id)));
            }
        }
        let status = StatusBoard::default();
        for spec in &tenants {
            status.add_tenant(&spec.tenant_id, spec.name.as_deref().unwrap_or(&spec.tenant_id));
        }
        Ok(Collector { bus, options, tenants, status })
    }

    /// The live status (what the service `status` endpoint answers).
    pub fn status(&self) -> StatusBoard {
        self.status.clone()
    }

    /// Runs until `shutdown` is cancelled, then lets every log finish the page in hand (its
    /// checkpoint is not advanced past an unfinished window) and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), CollectorError> {
        let Collector { bus, options, tenants, status } = self;
        let settings = bus.watch_settings().await?;
        let initial = settings.borrow().clone();
        let events = bus.ensure_events_stream(events_limits(options.events_limits, &initial.collector)).await?;
        bus.ensure_dead_letter_stream().await?;
        buckets::checkpoints(&bus).await?;
        let seen_store = buckets::seen(&bus, seen_max_age(&initial.collector)).await?;
        let roles_store = buckets::directory_roles(&bus).await?;

        let mut tasks = JoinSet::new();
        for spec in tenants {
            let tenant = spec.tenant_id.clone();
            let name = spec.name.clone().unwrap_or_else(|| tenant.clone());
            let graph = match GraphClient::new(spec.graph) {
                Ok(graph) => graph,
                Err(e) => {
                    tracing::error!(%tenant, error = %e, "cannot set up the Graph client for this tenant; skipping it");
                    for log in LogKind::ALL {
                        status.update(&tenant, log.as_str(), |s| {
                            s.state = LogState::Error;
                            s.last_error = Some(ErrorReport::from_graph(&e, 1));
                        });
                    }
                    continue;
                }
            };
            let ctx = Arc::new(TenantContext {
                tenant: tenant.clone(),
                name,
                graph,
                bus: bus.clone(),
                status: status.clone(),
                options: options.clone(),
            });
            tracing::info!(tenant = %ctx.tenant, name = %ctx.name, "collecting");
            let (backfill, coordinator) = crate::backfill::coordinator(
                &tenant,
                options.backfill_slice,
                options.page_size,
                settings.clone(),
                shutdown.clone(),
            );
            tasks.spawn(coordinator.run());
            for log in LogKind::ALL {
                let checkpoints = CheckpointStore::open(&bus, &tenant, log).await?;
                let seen = SeenStore::new(&bus, seen_store.clone(), &tenant, log);
                let publisher =
                    Publisher::new(bus.clone(), events.clone(), &tenant, log, seen, options.publish_concurrency)?;
                let poller = LogPoller::new(
                    ctx.clone(),
                    log,
                    checkpoints,
                    publisher,
                    settings.clone(),
                    shutdown.clone(),
                    backfill.clone(),
                );
                tasks.spawn(poller.run());
            }
            tasks.spawn(roles::run(ctx.clone(), roles_store.clone(), settings.clone(), shutdown.clone()));
        }
        tasks.spawn(follow_settings(bus.clone(), options.events_limits, settings.clone(), shutdown.clone()));
        let gauges = status.clone();
        let gauges_shutdown = shutdown.clone();
        tasks.spawn(async move {
            loop {
                gauges.export_gauges();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = gauges_shutdown.cancelled() => return,
                }
            }
        });

        let started = std::time::Instant::now();
        if options.exit_when_caught_up {
            let done = status.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stop.cancelled() => return,
                    }
                    if done.all_caught_up() {
                        tracing::info!("every log has caught up; stopping as asked");
                        stop.cancel();
                        return;
                    }
                }
            });
        }
        shutdown.cancelled().await;
        tracing::info!("stopping: finishing the pages in hand");
        let drained = tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(result) = tasks.join_next().await {
                if let Err(e) = result
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "a collector task panicked");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "some tasks did not stop within 90 s; aborting them (nothing unacknowledged was checkpointed)"
            );
            tasks.abort_all();
        }
        status.export_gauges();
        let (published, updated) = status.totals();
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            published,
            updated,
            seconds = format!("{seconds:.1}"),
            records_per_second = format!("{:.0}", (published + updated) as f64 / seconds.max(0.001)),
            "collector stopped"
        );
        Ok(())
    }
}

/// The events stream's duplicate window must cover at least the overlap.
fn events_limits(base: StreamLimits, collector: &CollectorSettings) -> StreamLimits {
    let overlap = Duration::from_secs(u64::from(collector.overlap_minutes) * 60);
    let wanted = overlap + Duration::from_secs(30 * 60);
    StreamLimits { duplicate_window: base.duplicate_window.max(wanted), ..base }
}

/// Seen entries must outlive every window that can read a record again.
fn seen_max_age(collector: &CollectorSettings) -> Duration {
    let horizon = keep_horizon(collector) + chrono::TimeDelta::hours(1);
    horizon.to_std().unwrap_or(Duration::from_secs(8 * 3600))
}

/// Follows setting changes that affect the bus topology.
async fn follow_settings(
    bus: Bus,
    base: StreamLimits,
    mut settings: watch::Receiver<Arc<Settings>>,
    shutdown: CancellationToken,
) {
    let mut applied = settings.borrow_and_update().collector.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = settings.changed() => if changed.is_err() { return },
        }
        let collector = settings.borrow_and_update().collector.clone();
        if collector == applied {
            continue;
        }
        if seen_max_age(&collector) != seen_max_age(&applied)
            && let Err(e) = buckets::seen(&bus, seen_max_age(&collector)).await
        {
            tracing::warn!(error = %e, "could not adjust the seen-records horizon");
        }
        if events_limits(base, &collector) != events_limits(base, &applied)
            && let Err(e) = bus.ensure_events_stream(events_limits(base, &collector)).await
        {
            tracing::warn!(error = %e, "could not adjust the events stream's duplicate window");
        }
        applied = collector;
    }
}

/// Runs the collector as a service: the NATS service API with the status document, `/healthz`
/// and `/metrics` on `health_addr`, until `shutdown`.
pub async fn serve(
    collector: Collector,
    health_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let status = collector.status();
    let bus = collector.bus.clone();
    if let Some(addr) = health_addr {
        let health_status = status.clone();
        let client = bus.client().clone();
        let health: m365mon_runtime::Health = Arc::new(move || {
            let connected = client.connection_state() == async_nats::connection::State::Connected;
            let mut document = health_status.document();
            if let Some(object) = document.as_object_mut() {
                object.insert("nats_connected".into(), connected.into());
            }
            (connected, document)
        });
        let server = m365mon_runtime::HealthServer::start(addr, health, shutdown.clone()).await?;
        tracing::info!(addr = %server.local_addr, "serving /healthz and /metrics");
    }
    let service_status = status.clone();
    let _service = bus
        .register_service(
            "collector",
            env!("CARGO_PKG_VERSION"),
            "m365-monitor collector: Entra ID sign-in and audit logs from Graph onto JetStream",
            Arc::new(move || service_status.document()),
        )
        .await?;
    collector.run(shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duplicate_window_covers_the_overlap() {
        let mut collector = CollectorSettings::default();
        assert_eq!(events_limits(StreamLimits::EVENTS, &collector), StreamLimits::EVENTS);
        collector.overlap_minutes = 180;
        assert_eq!(events_limits(StreamLimits::EVENTS, &collector).duplicate_window, Duration::from_secs(210 * 60));
        // Seen entries outlive the late sweep (6 h by default) by two hours.
        assert_eq!(seen_max_age(&CollectorSettings::default()), Duration::from_secs(8 * 3600));
    }
}
