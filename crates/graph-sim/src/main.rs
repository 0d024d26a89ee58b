//! `m365mon-graph-sim`: runs the simulator until SIGTERM or SIGINT.
//!
//! The first line on stdout is one JSON object, `{"graph_sim": {...}}`, with the base URL, the
//! CA certificate, the SMTP port and credentials, and every tenant's id and app credentials, for
//! scripts and tests to parse; human-readable lines follow.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use m365mon_graph_sim::{FaultConfig, FaultProfile, GraphSim, ScenarioRequest, SimConfig};

#[derive(Debug, Parser)]
#[command(
    name = "m365mon-graph-sim",
    version,
    about = "A local Microsoft identity platform and Microsoft Graph for m365-monitor's tests and demo"
)]
struct Args {
    /// HTTPS listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "GRAPH_SIM_LISTEN")]
    listen: SocketAddr,
    /// SMTP listen address (STARTTLS, AUTH PLAIN/LOGIN); no SMTP server when absent.
    #[arg(long, env = "GRAPH_SIM_SMTP_LISTEN")]
    smtp_listen: Option<SocketAddr>,
    /// Write the CA certificate (PEM) clients must trust to this file.
    #[arg(long, env = "GRAPH_SIM_TLS_CERT_OUT")]
    tls_cert_out: Option<PathBuf>,
    /// Extra DNS name or IP for the server certificate (repeatable), e.g. a container name.
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
    /// Seed: same seed, same tenants and records.
    #[arg(long, default_value_t = 1, env = "GRAPH_SIM_SEED")]
    seed: u64,
    /// Users per tenant (at least 3).
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Number of tenants.
    #[arg(long, default_value_t = 1)]
    tenants: usize,
    /// Days of history before start-up.
    #[arg(long, default_value_t = 7.0)]
    history_days: f64,
    /// Multiplies the background volume (1.0 is about 60 records per user per working day).
    #[arg(long, default_value_t = 1.0)]
    activity: f64,
    /// Attack scenario to inject at start (repeatable); see GET /_sim/scenarios.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Serve these recorded files instead of synthetic traffic.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// With --replay: move timestamps so the newest record is now.
    #[arg(long, requires = "replay")]
    shift_to_now: bool,
    /// Fault profile.
    #[arg(long, value_enum, default_value = "none", env = "GRAPH_SIM_FAULTS")]
    faults: FaultProfile,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// Accept lt/gt on createdDateTime/activityDateTime (Graph documents only eq, ge, le).
    #[arg(long)]
    allow_lt_gt: bool,
    /// Tenant index without an Entra ID P1/P2 licence (repeatable): sign-ins answer 403.
    #[arg(long = "non-premium-tenant")]
    non_premium_tenants: Vec<usize>,
    /// Do not record which records were served (saves ~40 bytes per served record).
    #[arg(long)]
    no_ledger: bool,
    /// Require SMTP AUTH before MAIL.
    #[arg(long)]
    smtp_require_auth: bool,
    /// Simulated time at start (RFC 3339), e.g. a fixed weekday morning for reproducible demos.
    #[arg(long)]
    start_at: Option<String>,
    /// Worker threads of the simulator's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GRAPH_SIM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = SimConfig {
        listen: args.listen,
        smtp_listen: args.smtp_listen,
        tls_names: args.tls_names,
        tls_cert_out: args.tls_cert_out,
        seed: args.seed,
        users: args.users,
        tenants: args.tenants,
        history_days: args.history_days,
        activity: args.activity,
        scenarios: args.scenarios.iter().map(|n| ScenarioRequest::named(n)).collect(),
        replay: args.replay,
        shift_to_now: args.shift_to_now,
        faults: FaultConfig::profile(args.faults),
        token_lifetime: Duration::from_secs(args.token_lifetime),
        allow_lt_gt: args.allow_lt_gt,
        non_premium_tenants: args.non_premium_tenants,
        ledger: !args.no_ledger,
        worker_threads: args.threads,
        smtp_require_auth: args.smtp_require_auth,
        start_at: match &args.start_at {
            Some(t) => Some(
                m365mon_graph_sim::time::parse_odata_datetime(t)
                    .with_context(|| format!("--start-at '{t}' is not an RFC 3339 date-time"))?,
            ),
            None => None,
        },
        ..SimConfig::default()
    };
    let sim = GraphSim::start(config).context("graph-sim could not start")?;
    let info = sim.info().clone();
    println!("{}", info.to_line());
    println!("graph-sim {} (seed {}, faults {:?})", info.version, info.seed, args.faults);
    println!("  authority host and Graph: {}   (Graph v1.0: {})", info.base_url, info.graph_url);
    println!("  control API: {}   captured mail: {}", info.control_url, info.mail_page_url);
    if let Some(smtp) = &info.smtp {
        println!(
            "  SMTP: {}:{} (STARTTLS; AUTH user {} password {})",
            smtp.host, smtp.port, smtp.username, smtp.password
        );
    }
    match &info.ca_cert_file {
        Some(f) => println!("  CA certificate: {f}"),
        None => println!("  CA certificate: in the JSON line above (ca_pem), or pass --tls-cert-out FILE"),
    }
    for t in &info.tenants {
        println!(
            "  tenant {} ({}, {} users{})",
            t.tenant_id,
            t.display_name,
            t.users,
            if t.premium { "" } else { ", no P1/P2 licence" }
        );
        for a in &t.apps {
            println!("    app {}: client id {} secret {}", a.display_name, a.client_id, a.client_secret);
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    eprintln!("graph-sim: stopping");
    sim.shutdown();
    Ok(())
}
