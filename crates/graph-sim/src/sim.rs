//! The simulator as a value: its configuration, its shared state, and [`GraphSim`], the handle
//! tests hold (`GraphSim::start(config)` → base URL, CA certificate, tenants and credentials,
//! control methods, `shutdown`).
//!
//! The simulator runs on a runtime of its own, in a thread of its own, so it works the same
//! under `#[tokio::test]` (either flavour), in synchronous tests and in the binary, and a test
//! that blocks its own runtime cannot stall it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::auth::{AppRegistration, DEFAULT_PERMISSIONS};
use crate::faults::{Dice, FaultConfig, Throttle};
use crate::mail::{CapturedMail, MailStore};
use crate::records::LogKind;
use crate::scenarios::{InjectedScenario, ScenarioRequest};
use crate::smtp::{Refusal, RefusalStage, SmtpOptions};
use crate::store::TenantStore;
use crate::time::{SimClock, TICKS_PER_DAY, Ticks};
use crate::tls::SimCertificates;
use crate::traffic::Volume;
use crate::world::Tenant;

/// How to start the simulator. `SimConfig::default()` is one tenant of 50 users with 7 days of
/// history, no faults, HTTPS on an ephemeral loopback port and no SMTP listener.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// HTTPS listener (port 0 picks a free port).
    pub listen: SocketAddr,
    /// SMTP listener, if any.
    pub smtp_listen: Option<SocketAddr>,
    /// Extra names for the server certificate (e.g. a container name).
    pub tls_names: Vec<String>,
    /// Where to write the CA certificate (PEM) for clients to trust.
    pub tls_cert_out: Option<PathBuf>,
    pub seed: u64,
    pub users: usize,
    pub tenants: usize,
    /// Days of backfilled history (synthetic traffic starts this long before start-up).
    pub history_days: f64,
    /// Days Graph keeps (30 with P1/P2); older records are never served.
    pub retention_days: u32,
    /// Multiplies background volume (1.0 ≈ 60 records per user per working day).
    pub activity: f64,
    pub scenarios: Vec<ScenarioRequest>,
    /// Recorded records to serve instead of synthetic traffic.
    pub replay: Vec<PathBuf>,
    /// Move replayed timestamps so the newest record is now.
    pub shift_to_now: bool,
    pub faults: FaultConfig,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// Accept `lt`/`gt` on the date properties (Graph does not document them).
    pub allow_lt_gt: bool,
    /// Tenant indexes without an Entra ID P1/P2 licence.
    pub non_premium_tenants: Vec<usize>,
    /// Record which records were served (needed for exactly-once checks; costs ~40 bytes per record).
    pub ledger: bool,
    pub worker_threads: usize,
    /// SMTP credentials (defaults: user `m365mon`, a password derived from the seed).
    pub smtp_users: Vec<(String, String)>,
    pub smtp_require_auth: bool,
    pub smtp_require_tls_for_auth: bool,
    /// Records examined per page request before a partial page is returned.
    pub scan_limit: usize,
    /// Simulated time at start (the record clock then runs in real time from there); default now.
    /// Tests use a fixed time to be independent of the hour and weekday they run at.
    pub start_at: Option<Ticks>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            smtp_listen: None,
            tls_names: Vec::new(),
            tls_cert_out: None,
            seed: 1,
            users: 50,
            tenants: 1,
            history_days: 7.0,
            retention_days: 30,
            activity: 1.0,
            scenarios: Vec::new(),
            replay: Vec::new(),
            shift_to_now: false,
            faults: FaultConfig::default(),
            token_lifetime: Duration::from_secs(3599),
            allow_lt_gt: false,
            non_premium_tenants: Vec::new(),
            ledger: true,
            worker_threads: 2,
            smtp_users: Vec::new(),
            smtp_require_auth: false,
            smtp_require_tls_for_auth: false,
            scan_limit: 250_000,
            start_at: None,
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot generate the TLS certificate: {0}")]
    Tls(String),
    #[error("cannot write the CA certificate to {path}: {source}")]
    WriteCert { path: PathBuf, source: std::io::Error },
    #[error("replay: {0}")]
    Replay(String),
    #[error("scenario: {0}")]
    Scenario(String),
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(std::io::Error),
}

/// Counters for `/_sim/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests_by_status: Mutex<BTreeMap<u16, u64>>,
    pub requests_by_endpoint: Mutex<BTreeMap<String, u64>>,
    pub throttled: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub token_errors: AtomicU64,
    pub records_served: [AtomicU64; 5],
    pub pages_served: AtomicU64,
    pub faults_injected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Stats {
    pub fn count_request(&self, endpoint: &str, status: u16) {
        *self.requests_by_status.lock().unwrap_or_else(|e| e.into_inner()).entry(status).or_default() += 1;
        *self
            .requests_by_endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint.to_string())
            .or_default() += 1;
    }

    pub fn count_fault(&self, name: &'static str) {
        *self.faults_injected.lock().unwrap_or_else(|e| e.into_inner()).entry(name).or_default() += 1;
    }
}

/// What the ledger knows about one served record.
#[derive(Debug, Clone, Copy, Default)]
pub struct LedgerEntry {
    pub kind_index: u8,
    pub served: u32,
    /// Bit 0: the early version was served; bit 1: the final version.
    pub versions: u8,
}

/// The state every request handler shares.
#[derive(Debug)]
pub struct SimState {
    pub base_url: String,
    pub seed: u64,
    pub clock: SimClock,
    pub tenants: Vec<TenantStore>,
    pub faults: RwLock<FaultConfig>,
    pub token_lifetime_seconds: AtomicU64,
    pub token_key: Vec<u8>,
    /// Tokens issued before this (Unix seconds) are refused: a way to revoke every token.
    pub tokens_valid_after: AtomicI64,
    pub throttle: Throttle,
    pub dice: Dice,
    pub stats: Stats,
    pub ledger_enabled: bool,
    pub ledger: Vec<Mutex<HashMap<u64, LedgerEntry>>>,
    pub mail: MailStore,
    pub smtp_options: SmtpOptions,
    pub smtp_refusal: Mutex<Option<Refusal>>,
    /// Graph sendMail outage: until when, and which status.
    pub sendmail_refusal: Mutex<Option<(Instant, u16)>>,
    pub scenarios: Mutex<Vec<InjectedScenario>>,
    pub allow_lt_gt: bool,
    pub retention_days: u32,
    /// Serving recorded records instead of synthetic traffic.
    pub replay_mode: bool,
    pub scan_limit: usize,
    pub certificates: SimCertificates,
    pub smtp_addr: Option<SocketAddr>,
    pub started: Instant,
}

impl SimState {
    pub fn faults(&self) -> FaultConfig {
        self.faults.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The tenant a name (id or domain) refers to.
    pub fn tenant_index(&self, name: &str) -> Option<usize> {
        self.tenants.iter().position(|t| t.tenant.answers_to(name))
    }

    /// The oldest time served. Replayed records are served whatever their age: the user chose them.
    pub fn retention_start(&self, now: Ticks) -> Ticks {
        if self.replay_mode { i64::MIN / 2 } else { now - i64::from(self.retention_days) * TICKS_PER_DAY }
    }

    /// Records that `key` of `tenant` was served in the given version.
    pub fn record_served(&self, tenant: usize, key: u64, kind: LogKind, changed: bool) {
        self.stats.records_served[kind.index()].fetch_add(1, Ordering::Relaxed);
        if !self.ledger_enabled {
            return;
        }
        let mut ledger = self.ledger[tenant].lock().unwrap_or_else(|e| e.into_inner());
        let e = ledger.entry(key).or_insert(LedgerEntry { kind_index: kind.index() as u8, served: 0, versions: 0 });
        e.served += 1;
        e.versions |= if changed { 2 } else { 1 };
    }
}

/// The credentials of an app, as printed at start-up and returned by the control API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppInfo {
    pub client_id: String,
    pub client_secret: String,
    pub display_name: String,
    pub permissions: Vec<String>,
}

/// A tenant as tests and scripts see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantInfo {
    pub tenant_id: String,
    pub display_name: String,
    pub domain: String,
    pub initial_domain: String,
    pub premium: bool,
    /// `https://host:port/{tenant_id}/oauth2/v2.0/token`
    pub token_url: String,
    pub apps: Vec<AppInfo>,
    pub users: usize,
    pub break_glass_upn: String,
    /// Members of directory roles at start (for `admin_sign_in`).
    pub admin_upns: Vec<String>,
}

/// SMTP listener details.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SmtpInfo {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub starttls: bool,
}

/// Everything a client needs, printed as the first stdout line of the binary
/// (`{"graph_sim": {...}}`) and available from [`GraphSim::info`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StartupInfo {
    pub version: String,
    /// `https://127.0.0.1:PORT`: both the authority host and the Graph host.
    pub base_url: String,
    pub authority_host: String,
    /// `https://127.0.0.1:PORT/v1.0`
    pub graph_url: String,
    pub control_url: String,
    pub mail_page_url: String,
    pub smtp: Option<SmtpInfo>,
    pub ca_cert_file: Option<String>,
    pub ca_pem: String,
    pub seed: u64,
    pub tenants: Vec<TenantInfo>,
}

impl StartupInfo {
    /// Parses the binary's first stdout line.
    pub fn from_line(line: &str) -> Result<StartupInfo, serde_json::Error> {
        #[derive(Deserialize)]
        struct Wrapper {
            graph_sim: StartupInfo,
        }
        serde_json::from_str::<Wrapper>(line).map(|w| w.graph_sim)
    }

    /// The line the binary prints.
    pub fn to_line(&self) -> String {
        serde_json::json!({ "graph_sim": self }).to_string()
    }
}

/// A running simulator. Dropping it stops it.
#[derive(Debug)]
pub struct GraphSim {
    state: Arc<SimState>,
    info: StartupInfo,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GraphSim {
    /// Builds the tenants, binds the listeners and starts serving. Returns once the simulator
    /// accepts connections.
    pub fn start(config: SimConfig) -> Result<GraphSim, StartError> {
        config.faults.validate().map_err(StartError::Config)?;
        if config.tenants == 0 || config.tenants > 1000 {
            return Err(StartError::Config("tenants must be between 1 and 1000".into()));
        }
        if config.users < 3 || config.users > 1_000_000 {
            return Err(StartError::Config("users must be between 3 and 1,000,000".into()));
        }
        if !(0.0..=3650.0).contains(&config.history_days) {
            return Err(StartError::Config("history-days must be between 0 and 3650".into()));
        }
        if !(config.activity > 0.0 && config.activity <= 1000.0) {
            return Err(StartError::Config("activity must be in (0, 1000]".into()));
        }
        let std_listener = std::net::TcpListener::bind(config.listen)
            .map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let addr = std_listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let smtp_std = match config.smtp_listen {
            Some(a) => Some(std::net::TcpListener::bind(a).map_err(|source| StartError::Bind { addr: a, source })?),
            None => None,
        };
        let smtp_addr = smtp_std.as_ref().and_then(|l| l.local_addr().ok());
        let host = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let base_url = format!("https://{host}:{}", addr.port());

        let mut names = config.tls_names.clone();
        names.push(addr.ip().to_string());
        let certificates = crate::tls::generate(&names).map_err(|e| StartError::Tls(e.to_string()))?;
        if let Some(path) = &config.tls_cert_out {
            std::fs::write(path, &certificates.ca_pem)
                .map_err(|source| StartError::WriteCert { path: path.clone(), source })?;
        }

        let clock = config.start_at.map(SimClock::starting_at).unwrap_or_default();
        let now = clock.now();
        let history_start = now - (config.history_days * TICKS_PER_DAY as f64) as Ticks;
        let synthetic = config.replay.is_empty();
        let volume = Volume { activity: config.activity };
        let tenants: Vec<TenantStore> = (0..config.tenants)
            .map(|i| {
                let tenant = Tenant::generate(config.seed, i, config.users);
                let app = AppRegistration::generate(tenant.seed, 0, "m365-monitor", DEFAULT_PERMISSIONS);
                let premium = !config.non_premium_tenants.contains(&i);
                TenantStore::new(tenant, premium, vec![app], synthetic, history_start, volume)
            })
            .collect();

        let mut key = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
            .map_err(|_| StartError::Tls("no system randomness".into()))?;
        let smtp_users = if config.smtp_users.is_empty() {
            vec![("m365mon".to_string(), crate::auth::secret_value(&[config.seed, 0x5A7]))]
        } else {
            config.smtp_users.clone()
        };
        let ledger = (0..tenants.len()).map(|_| Mutex::new(HashMap::new())).collect();
        let state = Arc::new(SimState {
            base_url: base_url.clone(),
            seed: config.seed,
            clock,
            tenants,
            faults: RwLock::new(config.faults.clone()),
            token_lifetime_seconds: AtomicU64::new(config.token_lifetime.as_secs().max(1)),
            token_key: key,
            tokens_valid_after: AtomicI64::new(0),
            throttle: Throttle::default(),
            dice: Dice::new(config.seed),
            stats: Stats::default(),
            ledger_enabled: config.ledger,
            ledger,
            mail: MailStore::default(),
            smtp_options: SmtpOptions {
                users: smtp_users.clone(),
                require_auth: config.smtp_require_auth,
                require_tls_for_auth: config.smtp_require_tls_for_auth,
            },
            smtp_refusal: Mutex::new(None),
            sendmail_refusal: Mutex::new(None),
            scenarios: Mutex::new(Vec::new()),
            allow_lt_gt: config.allow_lt_gt,
            retention_days: config.retention_days.max(1),
            replay_mode: !synthetic,
            scan_limit: config.scan_limit.max(1000),
            certificates,
            smtp_addr,
            started: Instant::now(),
        });

        if !config.replay.is_empty() {
            crate::replay::load(&state, &config.replay, config.shift_to_now).map_err(StartError::Replay)?;
        }
        for request in &config.scenarios {
            crate::scenarios::inject(&state, request).map_err(|e| StartError::Scenario(e.to_string()))?;
        }

        let info = startup_info(&state, config.tls_cert_out.as_ref());
        let stop = CancellationToken::new();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), std::io::Error>>();
        let thread_state = Arc::clone(&state);
        let thread_stop = stop.clone();
        let workers = config.worker_threads.max(1);
        let thread = std::thread::Builder::new()
            .name("graph-sim".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("graph-sim-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let started = crate::server::run(thread_state, std_listener, smtp_std, thread_stop.clone()).await;
                    match started {
                        Ok(tasks) => {
                            let _ = ready_tx.send(Ok(()));
                            thread_stop.cancelled().await;
                            for t in tasks {
                                t.abort();
                            }
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(StartError::Runtime)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StartError::Runtime(e)),
            Err(_) => return Err(StartError::Runtime(std::io::Error::other("the simulator thread ended early"))),
        }
        Ok(GraphSim { state, info, stop, thread: Some(thread) })
    }

    /// Everything the binary prints at start-up.
    pub fn info(&self) -> &StartupInfo {
        &self.info
    }

    /// `https://127.0.0.1:PORT` (authority host and Graph host).
    pub fn base_url(&self) -> &str {
        &self.info.base_url
    }

    /// `https://127.0.0.1:PORT/v1.0`
    pub fn graph_url(&self) -> &str {
        &self.info.graph_url
    }

    /// The CA certificate clients must trust (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.info.ca_pem
    }

    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.state.smtp_addr
    }

    /// Tenants with their credentials as they are now (apps added or changed through the
    /// control API included).
    pub fn tenants(&self) -> Vec<TenantInfo> {
        tenant_infos(&self.state)
    }

    /// The shared state (for the control functions in [`crate::control`]).
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Injects an attack scenario; returns the records it produced.
    pub fn inject(&self, request: &ScenarioRequest) -> Result<InjectedScenario, crate::scenarios::ScenarioError> {
        crate::scenarios::inject(&self.state, request)
    }

    /// Replaces the fault configuration.
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), String> {
        faults.validate()?;
        *self.state.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
        Ok(())
    }

    pub fn faults(&self) -> FaultConfig {
        self.state.faults()
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state.token_lifetime_seconds.store(lifetime.as_secs().max(1), Ordering::Relaxed);
    }

    /// Makes every token issued so far invalid (Graph answers 401 until the client gets a new one).
    pub fn revoke_tokens(&self) {
        crate::control::revoke_tokens(&self.state);
    }

    /// Moves the record clock forward (records become visible, late changes arrive).
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by.as_secs_f64());
    }

    /// Sets whether a tenant has an Entra ID P1/P2 licence.
    pub fn set_premium(&self, tenant: usize, premium: bool) {
        if let Some(t) = self.state.tenants.get(tenant) {
            t.state_mut().premium = premium;
        }
    }

    /// Sets the permissions of an app (they apply to tokens issued afterwards).
    pub fn set_permissions(&self, tenant: usize, client_id: &str, permissions: &[&str]) -> bool {
        crate::control::set_permissions(
            &self.state,
            tenant,
            client_id,
            permissions.iter().map(|p| p.to_string()).collect(),
        )
    }

    /// Counters.
    pub fn stats(&self) -> serde_json::Value {
        crate::control::stats_json(&self.state, true)
    }

    /// Which records of a tenant were served how often (regenerating ids as needed).
    pub fn ledger(&self, tenant: usize) -> Vec<crate::control::LedgerRecord> {
        crate::control::ledger_records(&self.state, tenant, None)
    }

    /// Forgets what was served.
    pub fn clear_ledger(&self) {
        for l in &self.state.ledger {
            l.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// Ids of the records of `kind` visible now with event time in `[from, to]`.
    pub fn visible_ids(&self, tenant: usize, kind: LogKind, from: Ticks, to: Ticks) -> Vec<String> {
        crate::control::visible_ids(&self.state, tenant, kind, from, to)
    }

    /// Captured mail (SMTP and Graph sendMail), oldest first.
    pub fn mail(&self) -> Vec<CapturedMail> {
        self.state.mail.list()
    }

    pub fn clear_mail(&self) -> usize {
        self.state.mail.clear()
    }

    /// Refuses SMTP mail with `code` (4xx) at `stage` for `duration`.
    pub fn refuse_smtp(&self, duration: Duration, stage: RefusalStage, code: u16) {
        *self.state.smtp_refusal.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Refusal { until: Instant::now() + duration, stage, code });
    }

    /// Makes Graph sendMail answer `status` (429 or 503) for `duration`.
    pub fn refuse_sendmail(&self, duration: Duration, status: u16) {
        *self.state.sendmail_refusal.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now() + duration, status));
    }

    /// Stops serving and waits for the simulator's thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for GraphSim {
    fn drop(&mut self) {
        self.stop_now();
    }
}

pub(crate) fn tenant_infos(state: &SimState) -> Vec<TenantInfo> {
    state
        .tenants
        .iter()
        .map(|t| {
            let s = t.state();
            let admins = s
                .role_members
                .iter()
                .flatten()
                .filter_map(|u| t.tenant.users.get(*u))
                .map(|u| u.user_principal_name.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            TenantInfo {
                tenant_id: t.tenant.id.clone(),
                display_name: t.tenant.display_name.clone(),
                domain: t.tenant.domain.clone(),
                initial_domain: t.tenant.initial_domain.clone(),
                premium: s.premium,
                token_url: format!("{}/{}/oauth2/v2.0/token", state.base_url, t.tenant.id),
                apps: s
                    .apps
                    .iter()
                    .map(|a| AppInfo {
                        client_id: a.client_id.clone(),
                        client_secret: a.client_secret.clone(),
                        display_name: a.display_name.clone(),
                        permissions: a.permissions.clone(),
                    })
                    .collect(),
                users: t.tenant.users.len(),
                break_glass_upn: t
                    .tenant
                    .users
                    .iter()
                    .find(|u| u.break_glass)
                    .map(|u| u.user_principal_name.clone())
                    .unwrap_or_default(),
                admin_upns: admins,
            }
        })
        .collect()
}

fn startup_info(state: &SimState, cert_file: Option<&PathBuf>) -> StartupInfo {
    StartupInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        base_url: state.base_url.clone(),
        authority_host: state.base_url.clone(),
        graph_url: format!("{}/v1.0", state.base_url),
        control_url: format!("{}/_sim", state.base_url),
        mail_page_url: format!("{}/_sim/mail/view", state.base_url),
        smtp: state.smtp_addr.map(|a| SmtpInfo {
            host: a.ip().to_string(),
            port: a.port(),
            username: state.smtp_options.users[0].0.clone(),
            password: state.smtp_options.users[0].1.clone(),
            starttls: true,
        }),
        ca_cert_file: cert_file.map(|p| p.display().to_string()),
        ca_pem: state.certificates.ca_pem.clone(),
        seed: state.seed,
        tenants: tenant_infos(state),
    }
}
