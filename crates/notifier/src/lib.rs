//! m365-monitor's notifier: the right people get one clear message per incident, never a
//! flood, never a miss.
//!
//! ```text
//! M365_ALERTS ──(shared durable pull consumer)──► intake ──► KV <ns>_notification_log ──► dispatcher ──► mail / webhooks
//!                                                 route, store          (groups, alerts,        plan (pure), claim,
//!                                                 highest revision,     notification log)       rate limit, send,
//!                                                 then ack                                       record, dead-letter
//! ```
//!
//! The decisions (routing, grouping timers, "is a message due", retry schedule, rate limit,
//! message text) are pure functions in `m365mon-notify-policy`; this crate stores, sends and
//! watches the clock.
//!
//! **What survives a `kill -9`, and why.** An alert message is acknowledged only after the alert
//! is stored in its group in KV (and the group exists), so an acknowledged alert is never only in
//! memory. A group's notification log (per channel: what the last message covered, when) is
//! written after the server accepted the message; before sending, the dispatcher claims the group
//! in KV for the send timeout. A crash between the server's acceptance and the log write therefore
//! repeats exactly that one message, once the claim expires, with the same Message-ID (and the
//! same webhook delivery id), which receivers can de-duplicate on. Redelivered alert messages find
//! their revision already stored and change nothing. A dead letter is stored on the bus before the
//! log moves past it. Nothing else is kept: rate-limit buckets and timers restart fresh.
//!
//! Several notifiers may run (a queue group on one durable consumer): all state is in KV, every
//! write is a compare-and-set, and the claim keeps two instances from sending one group. Each
//! instance has its own rate-limit buckets, so N instances may send up to N × the limit; run one
//! per sending mailbox unless the server queues rather than rejects.

pub mod channels;
pub mod clock;
mod dispatch;
mod intake;
pub mod metrics;
mod status;
pub mod store;
mod test_send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use m365mon_bus::{Bus, BusError, StreamLimits};
use m365mon_contracts::Settings;
use m365mon_notify_policy::TokenBucket;
use m365mon_runtime::CancellationToken;
use tokio::sync::watch;

pub use channels::{MailTransport, WebhookSender};
pub use clock::{Clock, ManualClock, SystemClock};
pub use status::Status;
pub use store::StateStore;

/// The service name on the bus (`<ns>-notifier`) and in dead letters.
pub const SERVICE: &str = "notifier";

/// How the notifier runs (everything but the settings document, which is watched live).
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// A unique name of this process, for group claims (default: host, process id, random).
    pub instance: String,
    /// One send may take this long (connection, TLS, AUTH, DATA) before it counts as failed.
    pub send_timeout: Duration,
    /// The sender address when the settings have no `notifications.mail_from`.
    pub mail_from: Option<String>,
    /// The sender display name.
    pub from_name: String,
    /// Longest sleep of the dispatcher between looks at the clock (it also wakes on every change).
    pub tick: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            instance: default_instance(),
            send_timeout: Duration::from_secs(30),
            mail_from: None,
            from_name: "m365-monitor".into(),
            tick: Duration::from_millis(500),
        }
    }
}

/// `host-pid-random`.
pub fn default_instance() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "notifier".into());
    format!("{host}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// A failure starting the notifier.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("configuration: {0}")]
    Config(String),
}

/// Shared by the notifier's tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub bus: Bus,
    pub store: StateStore,
    pub settings: watch::Receiver<Arc<Settings>>,
    pub clock: Arc<dyn Clock>,
    pub mail: MailTransport,
    pub webhooks: WebhookSender,
    pub config: NotifierConfig,
    pub buckets: Mutex<HashMap<String, TokenBucket>>,
    pub status: Mutex<Status>,
}

impl Shared {
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.borrow().clone()
    }

    pub fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a token from the channel's bucket (sized from the current settings), or says how long
    /// to wait for one.
    pub fn take_token(&self, rate_key: &str, limit_per_minute: u32) -> Result<(), Duration> {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(rate_key.to_string()).or_insert_with(|| TokenBucket::per_minute(limit_per_minute));
        bucket.set_limit(limit_per_minute);
        bucket.try_take(now)
    }
}

/// A running notifier.
#[derive(Debug)]
pub struct Notifier {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Notifier {
    /// Ensures the streams and the bucket, then starts the intake, the dispatcher and the
    /// test-message responder. Stops when `shutdown` is cancelled (or [`Notifier::stop`]).
    pub async fn start(
        bus: Bus,
        config: NotifierConfig,
        mail: MailTransport,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> Result<Notifier, NotifierError> {
        metrics::describe();
        bus.ensure_alerts_stream(StreamLimits::ALERTS).await?;
        bus.ensure_dead_letter_stream().await?;
        let store = StateStore::open(&bus).await?;
        let settings = bus.watch_settings().await?;
        let webhooks = WebhookSender::new(config.send_timeout).map_err(NotifierError::Config)?;
        let shared = Arc::new(Shared {
            bus,
            store,
            settings,
            clock,
            mail,
            webhooks,
            config,
            buckets: Mutex::new(HashMap::new()),
            status: Mutex::new(Status::default()),
        });
        shared.status().mail_transport = shared.mail.name().to_string();
        let consumer = intake::consumer(&shared).await?;
        let test_subscription = test_send::subscribe(&shared).await?;
        let tasks = vec![
            tokio::spawn(intake::run(shared.clone(), consumer, shutdown.clone())),
            tokio::spawn(dispatch::run(shared.clone(), shutdown.clone())),
            tokio::spawn(test_send::run(shared.clone(), test_subscription, shutdown.clone())),
            tokio::spawn(settings_poke(shared.clone(), shutdown.clone())),
        ];
        tracing::info!(instance = %shared.config.instance, transport = shared.mail.name(), "notifier started");
        Ok(Notifier { shared, tasks, shutdown })
    }

    /// The current status document (also the NATS service status and `/healthz` body).
    pub fn status(&self) -> serde_json::Value {
        status::document(&self.shared)
    }

    /// A function producing the status document, for `register_service` and the health endpoint.
    pub fn status_fn(&self) -> Arc<dyn Fn() -> serde_json::Value + Send + Sync> {
        let shared = self.shared.clone();
        Arc::new(move || status::document(&shared))
    }

    /// Whether the notifier is healthy: connected to NATS, its state mirror caught up and its
    /// tasks running.
    pub fn healthy(&self) -> bool {
        let connected = self.shared.bus.client().connection_state() == async_nats::connection::State::Connected;
        connected && self.shared.store.caught_up() && self.tasks.iter().all(|t| !t.is_finished())
    }

    /// Stops and waits for the tasks to finish their current step (a send in flight completes
    /// and is recorded).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }
}

/// Wakes the dispatcher when the settings change, so new timings apply at once.
async fn settings_poke(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut settings = shared.settings.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = settings.changed() => {
                if changed.is_err() { return; }
                shared.store.poke();
            }
        }
    }
}
