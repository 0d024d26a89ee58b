//! `m365mon-detector`: Graph records from the bus through the rules engine to alert events.
//! Configuration comes from flags or the environment (see the crate README); the detection
//! settings come from the settings document in KV, applied live.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use m365mon_bus::NatsArgs;
use m365mon_detector::{Detector, DetectorConfig, PartitionSet};
use m365mon_runtime::{HealthServer, LogFormat};

#[derive(Debug, Parser)]
#[command(name = "m365mon-detector", version, about = "m365-monitor detector: records in, alert events out")]
struct Args {
    #[command(flatten)]
    nats: NatsArgs,
    /// The partitions this process works on: `all`, or a list such as `0-7` or `0,2,4-5`.
    #[arg(long, env = "M365MON_DETECTOR_PARTITIONS", default_value = "all")]
    partitions: String,
    /// How many partitions tenants are spread over. Every detector of an install must use the
    /// same number.
    #[arg(long, env = "M365MON_DETECTOR_PARTITION_COUNT", default_value_t = 16)]
    partition_count: u16,
    /// Where /healthz and /metrics listen.
    #[arg(long, env = "M365MON_DETECTOR_HEALTH_ADDR", default_value = "0.0.0.0:9182")]
    health_addr: SocketAddr,
    /// How often a tenant's state is snapshotted while it changes.
    #[arg(long, env = "M365MON_DETECTOR_SNAPSHOT_INTERVAL", default_value = "30s", value_parser = duration)]
    snapshot_interval: Duration,
    /// After this long without records, a tenant's event time follows the wall clock.
    #[arg(long, env = "M365MON_DETECTOR_IDLE_ADVANCE_AFTER", default_value = "60s", value_parser = duration)]
    idle_advance_after: Duration,
    /// Time to live of tenant leases: how soon a crashed detector's tenants are taken over.
    #[arg(long, env = "M365MON_DETECTOR_LEASE_TTL", default_value = "20s", value_parser = duration)]
    lease_ttl: Duration,
    /// How often the events stream is asked for new tenants.
    #[arg(long, env = "M365MON_DETECTOR_DISCOVERY_INTERVAL", default_value = "2s", value_parser = duration)]
    discovery_interval: Duration,
    /// Records pulled per request.
    #[arg(long, env = "M365MON_DETECTOR_BATCH", default_value_t = 500)]
    batch: usize,
    /// How long a graceful shutdown may take.
    #[arg(long, env = "M365MON_DETECTOR_SHUTDOWN_GRACE", default_value = "30s", value_parser = duration)]
    shutdown_grace: Duration,
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration such as 30s or 2m: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    m365mon_runtime::install_crypto_provider();
    m365mon_runtime::init_logging(LogFormat::from_env());
    let args = Args::parse();
    let partitions = PartitionSet::parse(&args.partitions, args.partition_count).context("--partitions")?;
    if args.lease_ttl < Duration::from_secs(2) {
        anyhow::bail!("--lease-ttl must be at least 2s (got {:?})", args.lease_ttl);
    }
    let mut config = DetectorConfig::new(partitions);
    config.snapshot_interval = args.snapshot_interval;
    config.idle_advance_after = args.idle_advance_after;
    config.lease_ttl = args.lease_ttl;
    config.discovery_interval = args.discovery_interval;
    config.batch = args.batch.clamp(1, 10_000);
    config.shutdown_grace = args.shutdown_grace;

    let shutdown = m365mon_runtime::shutdown_signal();
    let bus = tokio::select! {
        bus = args.nats.connect("m365mon-detector") => bus.with_context(|| format!("connecting to NATS at {}", args.nats.nats_url))?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    let detector = Detector::start(bus.clone(), config).await.context("starting the detector")?;

    let board = detector.board();
    let client = bus.client().clone();
    let health: m365mon_runtime::Health = Arc::new(move || {
        let connected = client.connection_state() == async_nats::connection::State::Connected;
        let status = board.snapshot();
        let failed: Vec<&str> = status
            .tenants
            .iter()
            .filter(|t| matches!(t.phase, m365mon_detector::status::Phase::Failed(_)))
            .map(|t| t.tenant.as_str())
            .collect();
        let document = serde_json::json!({
            "nats_connected": connected,
            "tenants": status.tenants.len(),
            "failed_tenants": failed,
            "partitions": status.partitions,
        });
        (connected, document)
    });
    let server = HealthServer::start(args.health_addr, health, shutdown.clone()).await?;
    tracing::info!(addr = %server.local_addr, "health and metrics listening");

    detector.run_until_stopped(shutdown).await?;
    bus.client().flush().await.ok();
    tracing::info!("detector stopped");
    Ok(())
}
