//! m365-monitor's NATS JetStream adapter.
//!
//! Every service meets the bus through this crate, so the rules of design §2 and §7 hold in one
//! place: streams and buckets are declared in code and created idempotently at start-up
//! ([`topology`]); every JetStream publish carries a `Nats-Msg-Id` and waits for the server's
//! acknowledgement ([`Bus::publish`]), so a retried publish never duplicates; messages a service
//! cannot process go to the dead-letter stream with the reason ([`Bus::dead_letter`]); the
//! settings document is read from and watched in the KV bucket ([`settings`]); each service
//! answers the NATS service protocol with its status ([`service`]).
//!
//! All names come from [`m365mon_contracts::names`], under the [`Namespace`] the bus was opened
//! with, so tests and separate installs share one server without meeting.

pub mod error;
pub mod kv;
pub mod service;
pub mod settings;
pub mod topology;

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind};
use bytes::Bytes;
use m365mon_contracts::Namespace;
use m365mon_contracts::names::headers;

pub use error::BusError;
pub use kv::JsonKv;
pub use topology::StreamLimits;

/// How to reach NATS.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// e.g. `nats://127.0.0.1:4222`; several comma-separated URLs for a cluster.
    pub url: String,
    /// The connection name the server shows (`m365mon-collector` …).
    pub client_name: String,
    /// A `.creds` file (NATS decentralised auth), if the server wants one.
    pub credentials_file: Option<std::path::PathBuf>,
    /// User and password, if the server wants them.
    pub user_password: Option<(String, String)>,
    /// A token, if the server wants one.
    pub token: Option<String>,
    /// A CA certificate (PEM) for `tls://` servers with a private CA.
    pub ca_file: Option<std::path::PathBuf>,
}

impl BusConfig {
    /// A plain connection to `url`.
    pub fn new(url: impl Into<String>, client_name: impl Into<String>) -> Self {
        BusConfig {
            url: url.into(),
            client_name: client_name.into(),
            credentials_file: None,
            user_password: None,
            token: None,
            ca_file: None,
        }
    }
}

/// A connection to NATS with JetStream, scoped to a namespace.
#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    ns: Namespace,
}

/// What JetStream said about a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Stream sequence of the stored message (of the original, for a duplicate).
    pub sequence: u64,
    /// The message id was already in the duplicate window: nothing new was stored.
    pub duplicate: bool,
}

impl Bus {
    /// Connects, retrying the first connection for a while (services may start before NATS), and
    /// reconnecting for ever afterwards.
    pub async fn connect(config: &BusConfig, ns: Namespace) -> Result<Bus, BusError> {
        let mut options = async_nats::ConnectOptions::new()
            .name(&config.client_name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Disconnected => tracing::warn!("nats connection lost; reconnecting"),
                    async_nats::Event::Connected => tracing::info!("nats connected"),
                    other => tracing::debug!(event = %other, "nats event"),
                }
            });
        if let Some(path) = &config.credentials_file {
            options = options.credentials_file(path).await.map_err(|e| BusError::Connect(e.to_string()))?;
        }
        if let Some((user, password)) = &config.user_password {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &config.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &config.ca_file {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        let client = tokio::time::timeout(Duration::from_secs(60), options.connect(config.url.as_str()))
            .await
            .map_err(|_| BusError::Connect(format!("no NATS server answered at {} within 60 s", config.url)))?
            .map_err(|e| BusError::Connect(format!("{}: {e}", config.url)))?;
        Ok(Bus::from_client(client, ns))
    }

    /// Wraps an existing connection.
    pub fn from_client(client: async_nats::Client, ns: Namespace) -> Bus {
        let js = jetstream::ContextBuilder::new().timeout(Duration::from_secs(10)).build(client.clone());
        Bus { client, js, ns }
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Publishes to a stream with `Nats-Msg-Id` = `message_id` and waits for JetStream's
    /// acknowledgement. Retries transient failures (timeouts, a server restarting) with backoff
    /// for up to `deadline`; a retried publish is safe because of the message id.
    pub async fn publish(
        &self,
        subject: String,
        message_id: &str,
        mut header_map: HeaderMap,
        payload: Bytes,
        deadline: Duration,
    ) -> Result<Published, BusError> {
        header_map.insert(headers::MSG_ID, message_id);
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let attempt = async {
                let ack_future = self
                    .js
                    .publish_with_headers(subject.clone(), header_map.clone(), payload.clone())
                    .await
                    .map_err(|e| (e.kind(), e.to_string()))?;
                ack_future.await.map_err(|e| (e.kind(), e.to_string()))
            };
            match attempt.await {
                Ok(ack) => return Ok(Published { sequence: ack.sequence, duplicate: ack.duplicate }),
                Err((kind, text)) => {
                    let retryable = matches!(
                        kind,
                        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound
                    ) || text.contains("no responders");
                    if !retryable || started.elapsed() + delay > deadline {
                        return Err(BusError::Publish { subject, reason: text });
                    }
                    tracing::warn!(%subject, error = %text, retry_in_ms = delay.as_millis() as u64, "publish failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Sends a message a service cannot process to the dead-letter stream, with the reason and
    /// where it came from in headers; the original payload is kept unchanged.
    pub async fn dead_letter(
        &self,
        service: &str,
        kind: &str,
        origin: DeadLetterOrigin<'_>,
        reason: &str,
        payload: Bytes,
    ) -> Result<Published, BusError> {
        let subject = self.ns.dead_letter_subject(service, kind).map_err(|e| BusError::Name(e.to_string()))?;
        let mut header_map = HeaderMap::new();
        // Headers must stay one line: a reason quoting hostile input must not break the framing.
        header_map.insert(headers::DEAD_LETTER_REASON, one_line(reason, 1_000).as_str());
        header_map.insert(headers::DEAD_LETTER_SERVICE, service);
        header_map.insert(headers::DEAD_LETTER_SUBJECT, origin.subject);
        let message_id = format!("dl:{service}:{}", origin.identity);
        self.publish(subject, &message_id, header_map, payload, Duration::from_secs(30)).await
    }
}

/// Where a dead letter came from.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterOrigin<'a> {
    /// The subject it was read from.
    pub subject: &'a str,
    /// Something unique and stable for the message (its stream sequence, a record id), so a
    /// retried dead-lettering does not store it twice.
    pub identity: &'a str,
}

/// A single line of at most `max` characters, safe for a header value.
pub fn one_line(text: &str, max: usize) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect()
}

/// The NATS options every m365-monitor binary takes, with the same flags and environment
/// variables everywhere.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated for a cluster.
    #[arg(long = "nats-url", env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Namespace of every subject, stream and bucket (several installs can share one server).
    #[arg(long, env = "M365MON_NAMESPACE", default_value = Namespace::DEFAULT)]
    pub namespace: Namespace,
    /// NATS credentials file (.creds), for servers with decentralised auth.
    #[arg(long = "nats-creds", env = "NATS_CREDS_FILE")]
    pub nats_creds: Option<std::path::PathBuf>,
    /// NATS user name (with --nats-password or NATS_PASSWORD_FILE).
    #[arg(long = "nats-user", env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(long = "nats-password", env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// File holding the NATS password.
    #[arg(long = "nats-password-file", env = "NATS_PASSWORD_FILE")]
    pub nats_password_file: Option<std::path::PathBuf>,
    /// NATS authentication token, for servers configured with one.
    #[arg(long = "nats-token", env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// File holding the NATS token.
    #[arg(long = "nats-token-file", env = "NATS_TOKEN_FILE")]
    pub nats_token_file: Option<std::path::PathBuf>,
    /// CA certificate (PEM) of a tls:// NATS server with a private CA.
    #[arg(long = "nats-ca", env = "NATS_CA_FILE")]
    pub nats_ca: Option<std::path::PathBuf>,
}

/// A secret given directly or in a file (whose trailing newline is not part of it; an empty file
/// is an error, as for every secret file of m365-monitor).
fn secret(value: &Option<String>, file: &Option<std::path::PathBuf>, what: &str) -> Result<Option<String>, BusError> {
    match (value, file) {
        (Some(value), _) => Ok(Some(value.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| BusError::Connect(format!("cannot read {what} file {}: {e}", path.display())))?;
            let secret = text.trim_end();
            if secret.is_empty() {
                return Err(BusError::Connect(format!("{what} file {} is empty", path.display())));
            }
            Ok(Some(secret.to_string()))
        }
        (None, None) => Ok(None),
    }
}

impl NatsArgs {
    /// The connection settings these options describe.
    pub fn bus_config(&self, client_name: &str) -> Result<BusConfig, BusError> {
        let password = secret(&self.nats_password, &self.nats_password_file, "NATS password")?;
        let token = secret(&self.nats_token, &self.nats_token_file, "NATS token")?;
        let user_password = match (&self.nats_user, password) {
            (Some(user), Some(password)) => Some((user.clone(), password)),
            (Some(_), None) => {
                return Err(BusError::Connect(
                    "NATS_USER is set but neither NATS_PASSWORD nor NATS_PASSWORD_FILE".into(),
                ));
            }
            (None, _) => None,
        };
        Ok(BusConfig {
            url: self.nats_url.clone(),
            client_name: client_name.to_string(),
            credentials_file: self.nats_creds.clone(),
            user_password,
            token,
            ca_file: self.nats_ca.clone(),
        })
    }

    /// Connects with these options.
    pub async fn connect(&self, client_name: &str) -> Result<Bus, BusError> {
        Bus::connect(&self.bus_config(client_name)?, self.namespace.clone()).await
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_the_value_or_its_file_and_an_empty_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("m365mon-bus-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "t0ken\n").unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert_eq!(
            secret(&Some("direct".into()), &Some(file.clone()), "NATS token").unwrap().as_deref(),
            Some("direct")
        );
        assert_eq!(secret(&None, &Some(file), "NATS token").unwrap().as_deref(), Some("t0ken"));
        assert_eq!(secret(&None, &None, "NATS token").unwrap(), None);
        let err = secret(&None, &Some(empty), "NATS token").unwrap_err().to_string();
        assert!(err.contains("NATS token file") && err.contains("is empty"), "{err}");
        let err = secret(&None, &Some(dir.join("missing")), "NATS password").unwrap_err().to_string();
        assert!(err.contains("cannot read NATS password file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
