//! Test support (a dev-dependency only).
//!
//! Tests talk to the real NATS server (`NATS_URL`, default `nats://127.0.0.1:4222`; start one with
//! `scripts/ensure-services`). Each test gets its own [`Namespace`], so its streams, buckets and
//! subjects never meet another test's, and tests run in parallel. The namespace is deleted when
//! the [`TestBus`] is dropped, even when the test panics.

use std::future::Future;
use std::time::Duration;

use m365mon_bus::{Bus, BusConfig};
use m365mon_contracts::Namespace;
use rand::Rng;

/// The NATS server tests use.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string())
}

/// A fresh namespace such as `t3f9c2a1b`.
pub fn unique_namespace() -> Namespace {
    let n: u64 = rand::rng().random();
    Namespace::new(format!("t{:012x}", n & 0xffff_ffff_ffff)).expect("valid namespace")
}

/// A Graph client configuration for graph-sim's tenant `index` as its first app, with the app's
/// secret (or `secret`, e.g. a wrong one), graph-sim's endpoints, trusting its CA, and no
/// client-side pacing (tests that need pacing or other retries set them after).
pub fn graph_sim_client(
    sim: &m365mon_graph_sim::GraphSim,
    index: usize,
    secret: Option<&str>,
) -> m365mon_graph::GraphConfig {
    use m365mon_graph::{ClientCredential, ClientSecret, CloudEndpoints, GraphConfig, Pacing};
    let tenant = &sim.tenants()[index];
    let app = &tenant.apps[0];
    let secret = secret.map_or_else(|| app.client_secret.clone(), str::to_string);
    let mut config =
        GraphConfig::new(&tenant.tenant_id, &app.client_id, ClientCredential::Secret(ClientSecret::new(secret)));
    config.endpoints = CloudEndpoints::custom(sim.base_url(), sim.base_url()).expect("graph-sim's URL is valid");
    config.extra_ca_pem = Some(sim.ca_pem().as_bytes().to_vec());
    config.pacing = Pacing::Off;
    config
}

/// Graph client retries for tests against graph-sim's faults: as many attempts as in production,
/// with short waits, so a test under the harsh profile takes seconds rather than minutes.
pub fn quick_graph_retries() -> m365mon_graph::RetryPolicy {
    m365mon_graph::RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(5),
    }
}

/// A `nats-server` binary installed on this machine, for tests that run a server of their own
/// (with the repository's nats.conf).
#[derive(Debug, Clone)]
pub struct NatsServerBinary {
    /// What to run.
    pub path: String,
    /// What `--version` printed, e.g. `nats-server: v2.9.10`.
    pub version_text: String,
    /// Major and minor version.
    pub version: (u32, u32),
}

impl NatsServerBinary {
    /// The installed server (on `PATH`, else Debian's `/usr/sbin`), or `None`.
    pub fn find() -> Option<NatsServerBinary> {
        ["nats-server", "/usr/sbin/nats-server"].into_iter().find_map(|path| {
            let output = std::process::Command::new(path).arg("--version").output().ok()?;
            if !output.status.success() {
                return None;
            }
            let version_text = String::from_utf8_lossy(&output.stdout).trim().to_string();
            let numbers: Vec<u32> = version_text
                .split(|c: char| !c.is_ascii_digit() && c != '.')
                .find(|p| p.contains('.'))
                .unwrap_or("0.0")
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect();
            let version = (numbers.first().copied().unwrap_or(0), numbers.get(1).copied().unwrap_or(0));
            Some(NatsServerBinary { path: path.to_string(), version_text, version })
        })
    }

    /// Whether it knows the 2.10 setting `sync_interval` that nats.conf uses (Debian's 2.9 does
    /// not: tests drop that line for it).
    pub fn knows_sync_interval(&self) -> bool {
        self.version >= (2, 10)
    }
}

/// Logs to the test output when `TEST_LOG` is set (`TEST_LOG=debug cargo nextest run ...`).
pub fn init_test_logging() {
    if let Ok(level) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(if level.is_empty() { "info".into() } else { level }))
            .with_test_writer()
            .try_init();
    }
}

/// A bus in a namespace of its own, removed again on drop.
#[derive(Debug)]
pub struct TestBus {
    pub bus: Bus,
    pub url: String,
}

impl TestBus {
    /// Connects to the test NATS server in a new namespace. Fails with instructions when no server
    /// answers.
    pub async fn new() -> anyhow::Result<TestBus> {
        init_test_logging();
        let url = nats_url();
        let client = tokio::time::timeout(Duration::from_secs(10), async_nats::connect(url.as_str()))
            .await
            .map_err(|_| anyhow::anyhow!("no NATS server at {url} within 10 s; run scripts/ensure-services"))?
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url} ({e}); run scripts/ensure-services"))?;
        Ok(TestBus { bus: Bus::from_client(client, unique_namespace()), url })
    }

    pub fn namespace(&self) -> &Namespace {
        self.bus.namespace()
    }

    /// A bus config for a service process or library under test, in this namespace's server.
    pub fn config(&self, client_name: &str) -> BusConfig {
        BusConfig::new(self.url.clone(), client_name)
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let bus = self.bus.clone();
        // Drop cannot await; clean up on a thread of its own so this works inside and outside a
        // runtime, and whether or not the test panicked.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let Ok(client) = async_nats::connect(nats_url()).await else { return };
                let bus = Bus::from_client(client, bus.namespace().clone());
                let _ = tokio::time::timeout(Duration::from_secs(10), bus.delete_namespace()).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what` in the message.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
