//! `m365mon-collector`: reads configuration, connects to NATS, collects until SIGTERM.

use anyhow::Context;
use clap::Parser;
use m365mon_bus::Bus;
use m365mon_collector::config::Args;
use m365mon_collector::{Collector, serve};
use m365mon_runtime::{LogFormat, init_logging, install_crypto_provider, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    install_crypto_provider();
    init_logging(LogFormat::from_env());
    let args = Args::parse();
    let config = args.resolve().context("configuration")?;
    let shutdown = shutdown_signal();
    let bus = Bus::connect(&config.bus, config.namespace.clone()).await.context("NATS")?;
    tracing::info!(tenants = config.tenants.len(), namespace = %config.namespace, "m365mon-collector starting");
    let collector = Collector::new(bus, config.options, config.tenants)?;
    serve(collector, config.health_addr, shutdown).await?;
    tracing::info!("m365mon-collector stopped");
    Ok(())
}
