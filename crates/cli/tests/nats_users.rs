//! The repository's nats.conf, with its one user per service, on a private NATS server: every
//! service runs its real code as its own user (the collector against graph-sim, the detector,
//! the notifier with its intake, test-message responder and service endpoint, and the `m365mon`
//! binary's `settings put`, `tail`, `status` and `notify test` as the `cli` user), an attack in
//! graph-sim arrives as an alert and as mail, and the server logs no permission violation on the
//! way. Then each user is shown to be refused what it must not do (design §5).
//!
//! The server is started from a copy of nats.conf changed only where the test needs it: a free
//! loopback port, no monitoring port, the JetStream store in a temporary directory, and
//! `sync_interval` removed on servers older than 2.10. Skipped, with a notice, when no
//! `nats-server` is installed.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use m365mon_bus::{Bus, BusConfig, DeadLetterOrigin};
use m365mon_collector::{Collector, CollectorOptions, LogKind, LogState, StatusBoard, TenantSpec};
use m365mon_contracts::settings::Receiver;
use m365mon_contracts::{Namespace, RuleId, Settings};
use m365mon_detector::{Board, Detector, DetectorConfig, DetectorError, PartitionSet};
use m365mon_graph_sim::{GraphSim, ScenarioRequest, SimConfig};
use m365mon_notifier::channels::{MailTransport, SmtpAuth, SmtpConfig, SmtpMailer, SmtpTls};
use m365mon_notifier::{Notifier, NotifierConfig, SystemClock};
use m365mon_runtime::CancellationToken;
use m365mon_testkit::{NatsServerBinary, eventually};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;

/// The users of nats.conf and the variables their passwords come from.
const USERS: &[(&str, &str)] = &[
    ("collector", "NATS_COLLECTOR_PASSWORD"),
    ("detector", "NATS_DETECTOR_PASSWORD"),
    ("notifier", "NATS_NOTIFIER_PASSWORD"),
    ("cli", "NATS_CLI_PASSWORD"),
];

fn password(user: &str) -> String {
    format!("test-password-of-{user}")
}

/// A NATS server of this test's own, stopped on drop.
struct PrivateNats {
    child: Child,
    url: String,
    log: PathBuf,
}

impl PrivateNats {
    fn start(dir: &Path, server: &NatsServerBinary) -> anyhow::Result<PrivateNats> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let original = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nats.conf"))?;
        let store = dir.join("jetstream");
        let mut adapted = Vec::new();
        for line in original.lines() {
            let trimmed = line.trim_start();
            let replaced = if trimmed.starts_with("listen:") {
                format!("listen: 127.0.0.1:{port}")
            } else if trimmed.starts_with("http:") {
                continue;
            } else if trimmed.starts_with("store_dir:") {
                format!("  store_dir: \"{}\"", store.display())
            } else if trimmed.starts_with("sync_interval") && !server.knows_sync_interval() {
                continue;
            } else {
                line.to_string()
            };
            adapted.push(replaced);
        }
        let conf = dir.join("nats.conf");
        std::fs::write(&conf, adapted.join("\n"))?;
        // The server logs to standard error.
        let log = dir.join("nats.log");
        let mut command = Command::new(&server.path);
        command.arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::from(File::create(&log)?));
        for (user, variable) in USERS {
            command.env(variable, password(user));
        }
        let child = command.spawn()?;
        Ok(PrivateNats { child, url: format!("nats://127.0.0.1:{port}"), log })
    }

    /// Lines of the server's log that report a permission violation.
    fn violations(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|l| l.contains("Violation")).map(str::to_string).collect()
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("permission violations the server logged: {:#?}", self.violations());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service's connection, as the service makes it (user and password, default namespace).
async fn bus_as(url: &str, user: &str) -> anyhow::Result<Bus> {
    let mut config = BusConfig::new(url, format!("m365mon-{user}"));
    config.user_password = Some((user.to_string(), password(user)));
    Ok(Bus::connect(&config, Namespace::default()).await?)
}

/// A connection as `user` that reports the server's errors (permission violations) to the test.
struct Probe {
    client: async_nats::Client,
    errors: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Probe {
    async fn connect(url: &str, user: &str) -> anyhow::Result<Probe> {
        let (sender, errors) = tokio::sync::mpsc::unbounded_channel();
        let client = async_nats::ConnectOptions::with_user_and_password(user.to_string(), password(user))
            .event_callback(move |event| {
                let sender = sender.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        let _ = sender.send(e.to_string());
                    }
                }
            })
            .connect(url)
            .await?;
        Ok(Probe { client, errors })
    }

    /// A JetStream context that gives up quickly (a refused request is never answered).
    fn jetstream(&self) -> jetstream::Context {
        jetstream::ContextBuilder::new().timeout(Duration::from_secs(2)).build(self.client.clone())
    }

    /// Waits for the server's "Permissions Violation" about `subject`.
    async fn denied(&mut self, subject: &str) -> anyhow::Result<String> {
        let wait = async {
            while let Some(error) = self.errors.recv().await {
                if error.to_lowercase().contains("permissions violation") && error.contains(subject) {
                    return Some(error);
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(Some(error)) => Ok(error),
            _ => anyhow::bail!("the server did not refuse {subject}"),
        }
    }
}

fn m365mon(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_m365mon"))
        .args(args)
        .env("NATS_URL", url)
        .env("NATS_USER", "cli")
        .env("NATS_PASSWORD", password("cli"))
        .env_remove("M365MON_NAMESPACE")
        .env("NO_COLOR", "1")
        .output()
        .expect("m365mon runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn settings() -> Settings {
    let mut s = Settings::default();
    let n = &mut s.notifications;
    n.receivers = vec![Receiver {
        name: "soc".into(),
        email: vec!["soc@contoso.test".into()],
        rules: vec![RuleId::PasswordSpray],
        ..Receiver::default()
    }];
    n.mail_from = Some("alerts@contoso.test".into());
    n.group_wait_seconds = 1;
    n.group_interval_seconds = 2;
    n.retry_initial_seconds = 1;
    n.retry_max_seconds = 2;
    s.collector.poll_interval_seconds = 10;
    s.collector.backfill_days = 1;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_works_as_its_own_user_and_is_refused_the_rest() -> anyhow::Result<()> {
    let Some(server) = NatsServerBinary::find() else {
        eprintln!("skipping: no nats-server installed to run nats.conf's users with");
        return Ok(());
    };
    m365mon_testkit::init_test_logging();
    m365mon_runtime::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let nats = PrivateNats::start(dir.path(), &server)?;
    let url = nats.url.clone();
    let address = url.trim_start_matches("nats://").to_string();
    let listening = eventually(Duration::from_secs(20), &format!("{} listening at {url}", server.version_text), || {
        let up = std::net::TcpStream::connect(&address).is_ok();
        async move { up.then_some(()) }
    })
    .await;
    if let Err(e) = listening {
        panic!("{e}: {}", std::fs::read_to_string(&nats.log).unwrap_or_default());
    }
    let result = scenario(&nats, dir.path()).await;
    if result.is_err() {
        eprintln!("permission violations the server logged: {:#?}", nats.violations());
    }
    result
}

async fn scenario(nats: &PrivateNats, dir: &Path) -> anyhow::Result<()> {
    let url = nats.url.clone();

    // No anonymous access, and a wrong password is refused.
    assert!(
        async_nats::ConnectOptions::new().connect(url.as_str()).await.is_err(),
        "a connection without a user is refused"
    );
    assert!(
        async_nats::ConnectOptions::with_user_and_password("collector".into(), "wrong".into())
            .connect(url.as_str())
            .await
            .is_err(),
        "a wrong password is refused"
    );

    // The settings go in first, before any service ran (the demo's `demo-settings`).
    let settings_file = dir.join("settings.json");
    std::fs::write(&settings_file, serde_json::to_vec_pretty(&settings())?)?;
    let out = m365mon(&url, &["settings", "put", settings_file.to_str().unwrap()]);
    assert!(out.status.success(), "settings put as cli: {}{}", text(&out.stdout), text(&out.stderr));
    let out = m365mon(&url, &["settings", "get"]);
    assert!(out.status.success(), "settings get as cli: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("soc@contoso.test"), "{}", text(&out.stdout));

    // The Microsoft side: a password spray in graph-sim, mail captured by its SMTP listener.
    let sim = GraphSim::start(SimConfig {
        smtp_listen: Some("127.0.0.1:0".parse()?),
        users: 30,
        history_days: 0.05,
        ledger: false,
        worker_threads: 1,
        ..SimConfig::default()
    })?;
    sim.inject(&ScenarioRequest::named("password_spray"))?;
    let tenant = sim.tenants()[0].clone();
    let smtp = sim.info().smtp.clone().expect("graph-sim SMTP listener");
    let mail = MailTransport::Smtp(
        SmtpMailer::new(SmtpConfig {
            host: smtp.host,
            port: smtp.port,
            tls: SmtpTls::StartTls,
            auth: SmtpAuth::Password { user: smtp.username, password: smtp.password },
            extra_ca_pem: Some(sim.ca_pem().as_bytes().to_vec()),
            timeout: Duration::from_secs(5),
        })
        .map_err(anyhow::Error::msg)?,
    );

    let shutdown = CancellationToken::new();

    // notifier: as in its main, with the service endpoint.
    let notifier_bus = bus_as(&url, "notifier").await?;
    let notifier_config =
        NotifierConfig { send_timeout: Duration::from_secs(5), tick: Duration::from_millis(100), ..Default::default() };
    let notifier =
        Notifier::start(notifier_bus.clone(), notifier_config, mail, Arc::new(SystemClock), shutdown.clone()).await?;
    let _notifier_service = notifier_bus
        .register_service(
            m365mon_notifier::SERVICE,
            env!("CARGO_PKG_VERSION"),
            "alert notifications",
            notifier.status_fn(),
        )
        .await?;

    let detector_task = start_detector(&url, &shutdown).await?.1;
    let collector_spec = collector_tenant(&sim);
    let collector_task = start_collector(&url, collector_spec.clone(), &shutdown).await?.1;

    // End to end: the spray is detected, published, read by the notifier and mailed.
    let flowed = eventually(Duration::from_secs(120), "the password spray mail", || {
        let found = sim.mail().into_iter().find(|m| m.subject.as_deref().unwrap_or("").contains("Password spray"));
        async move { found }
    })
    .await;
    flowed?;

    // The command line as `cli`: tail shows the alert, status sees the three services.
    let out = m365mon(&url, &["tail", "--no-follow", "--since", "all", "--format", "jsonl"]);
    assert!(out.status.success(), "tail as cli: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"rule\":\"password_spray\""), "tail: {}", text(&out.stdout));
    let status = eventually(Duration::from_secs(30), "status listing all three services", || {
        let out = m365mon(&url, &["status", "--format", "json", "--wait", "1s"]);
        async move {
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let missing = report["missing_services"].as_array().map(Vec::len).unwrap_or(1);
            (missing == 0).then_some(report)
        }
    })
    .await?;
    assert!(status["tenants"].to_string().contains(&tenant.tenant_id), "{status:#}");
    let out = m365mon(&url, &["notify", "test", "--to", "soc@contoso.test", "--timeout", "30s"]);
    assert!(out.status.success(), "notify test as cli: {}{}", text(&out.stdout), text(&out.stderr));

    // The paths not taken yet, through each service's own connection: dead letters, and the
    // collector reading back a stored record (what it does when JetStream reports a duplicate).
    for (user, service) in [("collector", "collector"), ("detector", "detector"), ("notifier", "notifier")] {
        let bus = bus_as(&url, user).await?;
        let origin = DeadLetterOrigin { subject: "m365.test", identity: "permission-test" };
        bus.dead_letter(service, "test", origin, "permission test", "{}".into()).await?;
    }
    let collector_bus = bus_as(&url, "collector").await?;
    let events = collector_bus.jetstream().get_stream("M365_EVENTS").await?;
    events.get_raw_message(1).await?;

    // Stopped and started again: the detector writes its final snapshots and restores them, the
    // collector loads its checkpoints and seen versions.
    shutdown.cancel();
    detector_task.await??;
    collector_task.await??;
    notifier.wait().await;
    let detector_bus = bus_as(&url, "detector").await?;
    let snapshots = detector_bus.jetstream().get_object_store("m365_detector_state").await?;
    let mut snapshot = Vec::new();
    snapshots.get(&tenant.tenant_id).await?.read_to_end(&mut snapshot).await?;
    assert!(!snapshot.is_empty(), "the detector saved the tenant's state");
    let shutdown = CancellationToken::new();
    let (board, detector_task) = start_detector(&url, &shutdown).await?;
    let (collector_status, collector_task) = start_collector(&url, collector_spec, &shutdown).await?;
    eventually(Duration::from_secs(60), "the detector resuming from its snapshot", || {
        let resumed =
            board.snapshot().tenants.iter().any(|t| {
                t.tenant == tenant.tenant_id && serde_json::to_value(t).is_ok_and(|v| v["state"] == "running")
            });
        async move { resumed.then_some(()) }
    })
    .await?;
    eventually(Duration::from_secs(60), "the collector polling again", || {
        let polling = LogKind::ALL.iter().all(|log| {
            collector_status.get(&tenant.tenant_id, log.as_str()).is_some_and(|s| s.state == LogState::Polling)
        });
        async move { polling.then_some(()) }
    })
    .await?;
    shutdown.cancel();
    detector_task.await??;
    collector_task.await??;

    // Nothing the services did was refused.
    let violations = nats.violations();
    assert!(violations.is_empty(), "the services hit permission violations: {violations:#?}");

    // What each user must not do.
    let events_subject = format!("m365.events.signin.{}", tenant.tenant_id);
    let mut notifier_probe = Probe::connect(&url, "notifier").await?;
    notifier_probe.client.publish(events_subject.clone(), "{}".into()).await?;
    notifier_probe.client.flush().await?;
    notifier_probe.denied(&events_subject).await?;
    assert!(notifier_probe.jetstream().delete_consumer_from_stream("m365-detector-x", "M365_EVENTS").await.is_err());
    notifier_probe.denied("$JS.API.CONSUMER.DELETE.M365_EVENTS").await?;

    let mut detector_probe = Probe::connect(&url, "detector").await?;
    assert!(detector_probe.jetstream().delete_stream("M365_EVENTS").await.is_err(), "the detector deleted the events");
    detector_probe.denied("$JS.API.STREAM.DELETE.M365_EVENTS").await?;
    let mut events = detector_probe.jetstream().get_stream("M365_EVENTS").await?;
    assert!(events.purge().await.is_err(), "the detector purged the events");
    detector_probe.denied("$JS.API.STREAM.PURGE.M365_EVENTS").await?;
    assert!(events.info().await?.state.messages > 0, "the events are still there");
    detector_probe.client.publish("$KV.m365_settings.settings", "{}".into()).await?;
    detector_probe.denied("$KV.m365_settings.settings").await?;

    let mut collector_probe = Probe::connect(&url, "collector").await?;
    let _refused = collector_probe.client.subscribe("m365.alerts.>").await?;
    collector_probe.denied("m365.alerts.>").await?;
    collector_probe.client.publish("m365.alerts.high.password_spray.x", "{}".into()).await?;
    collector_probe.denied("m365.alerts.high.password_spray.x").await?;
    assert!(collector_probe.jetstream().delete_key_value("m365_settings").await.is_err());
    collector_probe.denied("$JS.API.STREAM.DELETE.KV_m365_settings").await?;

    let mut cli_probe = Probe::connect(&url, "cli").await?;
    cli_probe.client.publish("m365.alerts.critical.admin_role_assigned.x", "{}".into()).await?;
    cli_probe.denied("m365.alerts.critical.admin_role_assigned.x").await?;
    assert!(cli_probe.jetstream().delete_consumer_from_stream("m365-notifier", "M365_ALERTS").await.is_err());
    cli_probe.denied("$JS.API.CONSUMER.DELETE.M365_ALERTS.m365-notifier").await?;
    let _refused = cli_probe.client.subscribe("m365.notify.test").await?;
    cli_probe.denied("m365.notify.test").await?;
    Ok(())
}

/// The detector as its main starts it, as user `detector`.
async fn start_detector(
    url: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Board, JoinHandle<Result<(), DetectorError>>)> {
    let mut config = DetectorConfig::new(PartitionSet::all(16)?);
    config.discovery_interval = Duration::from_millis(200);
    config.idle_advance_after = Duration::from_secs(5);
    let detector = Detector::start(bus_as(url, "detector").await?, config).await?;
    let board = detector.board();
    Ok((board, tokio::spawn(detector.run_until_stopped(shutdown.clone()))))
}

/// graph-sim's tenant as the collector's.
fn collector_tenant(sim: &GraphSim) -> TenantSpec {
    let tenant = &sim.tenants()[0];
    let graph = m365mon_testkit::graph_sim_client(sim, 0, None);
    TenantSpec { tenant_id: tenant.tenant_id.clone(), name: Some(tenant.display_name.clone()), graph }
}

/// The collector as its main runs it (`serve` registers the service), as user `collector`.
async fn start_collector(
    url: &str,
    spec: TenantSpec,
    shutdown: &CancellationToken,
) -> anyhow::Result<(StatusBoard, JoinHandle<anyhow::Result<()>>)> {
    let collector = Collector::new(bus_as(url, "collector").await?, CollectorOptions::default(), vec![spec])?;
    let status = collector.status();
    Ok((status, tokio::spawn(m365mon_collector::serve(collector, None, shutdown.clone()))))
}
