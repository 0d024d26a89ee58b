//! `m365mon-notifier`: reads alerts from the bus, groups them and delivers them by mail (Graph
//! `sendMail` or SMTP) and webhooks. Configuration: the environment (see the crate README);
//! notification settings: the settings document in KV, applied live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use m365mon_bus::{Bus, BusConfig};
use m365mon_contracts::Namespace;
use m365mon_graph::{ClientCredential, ClientSecret, CloudEndpoints, GraphClient, GraphConfig, Pacing};
use m365mon_notifier::channels::smtp::TokenSource;
use m365mon_notifier::channels::{GraphMailer, MailTransport, SmtpAuth, SmtpConfig, SmtpMailer, SmtpTls};
use m365mon_notifier::{Notifier, NotifierConfig, SystemClock};
use m365mon_runtime::{HealthServer, LogFormat};

#[derive(Debug, Parser)]
#[command(name = "m365mon-notifier", version, about = "m365-monitor notifier: grouped alert mail and webhooks")]
struct Args {
    /// NATS server URL(s), comma-separated.
    #[arg(long, env = "M365MON_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// NATS credentials file (.creds).
    #[arg(long, env = "M365MON_NATS_CREDS")]
    nats_creds: Option<PathBuf>,
    #[arg(long, env = "M365MON_NATS_USER")]
    nats_user: Option<String>,
    #[arg(long, env = "M365MON_NATS_PASSWORD", hide_env_values = true)]
    nats_password: Option<String>,
    #[arg(long, env = "M365MON_NATS_PASSWORD_FILE")]
    nats_password_file: Option<PathBuf>,
    /// CA certificate (PEM) for a tls:// NATS server with a private CA.
    #[arg(long, env = "M365MON_NATS_CA_FILE")]
    nats_ca_file: Option<PathBuf>,
    /// Namespace of subjects, streams and buckets.
    #[arg(long, env = "M365MON_NAMESPACE", default_value = Namespace::DEFAULT)]
    namespace: Namespace,
    /// Where /healthz and /metrics listen.
    #[arg(long, env = "M365MON_NOTIFIER_HEALTH_ADDR", default_value = "0.0.0.0:9183")]
    health_addr: SocketAddr,
    /// How long one send may take.
    #[arg(long, env = "M365MON_NOTIFIER_SEND_TIMEOUT", default_value = "30s", value_parser = humantime_duration)]
    send_timeout: Duration,
    /// This process's name in group claims (default: host, pid and a random suffix).
    #[arg(long, env = "M365MON_NOTIFIER_INSTANCE")]
    instance: Option<String>,

    /// `auto` (SMTP if M365MON_SMTP_HOST is set, else Graph if M365MON_GRAPH_TENANT_ID is set),
    /// `graph`, `smtp` or `none`.
    #[arg(long, env = "M365MON_MAIL_TRANSPORT", default_value = "auto")]
    mail_transport: String,
    /// Sender address when the settings have no notifications.mail_from.
    #[arg(long, env = "M365MON_MAIL_FROM")]
    mail_from: Option<String>,
    #[arg(long, env = "M365MON_MAIL_FROM_NAME", default_value = "m365-monitor")]
    mail_from_name: String,

    #[arg(long, env = "M365MON_SMTP_HOST")]
    smtp_host: Option<String>,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    #[arg(long, env = "M365MON_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// `starttls`, `tls` (implicit, port 465) or `none`.
    #[arg(long, env = "M365MON_SMTP_TLS", default_value = "starttls")]
    smtp_tls: SmtpTls,
    /// `password` (AUTH PLAIN/LOGIN; the default when M365MON_SMTP_USER is set), `xoauth2`
    /// (a token from the Graph app credential) or `none`.
    #[arg(long, env = "M365MON_SMTP_AUTH")]
    smtp_auth: Option<String>,
    #[arg(long, env = "M365MON_SMTP_USER")]
    smtp_user: Option<String>,
    #[arg(long, env = "M365MON_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    #[arg(long, env = "M365MON_SMTP_PASSWORD_FILE")]
    smtp_password_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) for an SMTP server with a private CA.
    #[arg(long, env = "M365MON_SMTP_CA_FILE")]
    smtp_ca_file: Option<PathBuf>,
    /// OAuth scope of the XOAUTH2 token.
    #[arg(long, env = "M365MON_SMTP_OAUTH_SCOPE", default_value = "https://outlook.office365.com/.default")]
    smtp_oauth_scope: String,

    #[arg(long, env = "M365MON_GRAPH_TENANT_ID")]
    graph_tenant_id: Option<String>,
    #[arg(long, env = "M365MON_GRAPH_CLIENT_ID")]
    graph_client_id: Option<String>,
    #[arg(long, env = "M365MON_GRAPH_CLIENT_SECRET", hide_env_values = true)]
    graph_client_secret: Option<String>,
    #[arg(long, env = "M365MON_GRAPH_CLIENT_SECRET_FILE")]
    graph_client_secret_file: Option<PathBuf>,
    /// PEM file with the app's certificate and private key (instead of a secret).
    #[arg(long, env = "M365MON_GRAPH_CERTIFICATE_FILE")]
    graph_certificate_file: Option<PathBuf>,
    /// Identity platform host, e.g. https://login.microsoftonline.com (a simulator's in tests).
    #[arg(long, env = "M365MON_GRAPH_AUTHORITY_HOST")]
    graph_authority_host: Option<String>,
    /// Graph base URL, e.g. https://graph.microsoft.com.
    #[arg(long, env = "M365MON_GRAPH_BASE_URL")]
    graph_base_url: Option<String>,
    /// Extra CA certificate (PEM) for the identity platform and Graph.
    #[arg(long, env = "M365MON_GRAPH_CA_FILE")]
    graph_ca_file: Option<PathBuf>,
    /// The mailbox Graph sendMail sends as (default: the sender address).
    #[arg(long, env = "M365MON_MAIL_GRAPH_SENDER")]
    graph_sender: Option<String>,
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration such as 30s or 2m: {e}"))
}

/// A secret from a variable or from the file a `*_FILE` variable names (trailing newline removed).
fn secret(value: &Option<String>, file: &Option<PathBuf>, what: &str) -> anyhow::Result<Option<String>> {
    match (value, file) {
        (Some(_), Some(_)) => bail!("{what}: set the value or the _FILE variable, not both"),
        (Some(value), None) => Ok(Some(value.clone())),
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("{what}: cannot read {}", path.display()))?;
            Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
        }
        (None, None) => Ok(None),
    }
}

fn read_pem(path: &Option<PathBuf>, what: &str) -> anyhow::Result<Option<Vec<u8>>> {
    path.as_ref().map(|p| std::fs::read(p).with_context(|| format!("{what}: cannot read {}", p.display()))).transpose()
}

fn graph_client(args: &Args, scope: Option<String>) -> anyhow::Result<GraphClient> {
    let tenant = args.graph_tenant_id.clone().context("M365MON_GRAPH_TENANT_ID is not set")?;
    let client_id = args.graph_client_id.clone().context("M365MON_GRAPH_CLIENT_ID is not set")?;
    let credential = match (
        secret(&args.graph_client_secret, &args.graph_client_secret_file, "M365MON_GRAPH_CLIENT_SECRET")?,
        &args.graph_certificate_file,
    ) {
        (Some(secret), None) => ClientCredential::Secret(ClientSecret::new(secret)),
        (None, Some(path)) => {
            let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            ClientCredential::Certificate(Arc::new(
                m365mon_graph::CertificateCredential::from_pem(&pem).context("M365MON_GRAPH_CERTIFICATE_FILE")?,
            ))
        }
        (Some(_), Some(_)) => bail!("set a Graph client secret or a certificate, not both"),
        (None, None) => {
            bail!("no Graph credential: set M365MON_GRAPH_CLIENT_SECRET(_FILE) or M365MON_GRAPH_CERTIFICATE_FILE")
        }
    };
    let mut config = GraphConfig::new(tenant, client_id, credential);
    if args.graph_authority_host.is_some() || args.graph_base_url.is_some() {
        config.endpoints = CloudEndpoints::custom(
            args.graph_authority_host.as_deref().unwrap_or("https://login.microsoftonline.com"),
            args.graph_base_url.as_deref().unwrap_or("https://graph.microsoft.com"),
        )?;
    }
    config.extra_ca_pem = read_pem(&args.graph_ca_file, "M365MON_GRAPH_CA_FILE")?;
    // The notifier's own rate limit paces mail; the reporting-API pacing does not apply.
    config.pacing = Pacing::Off;
    config.scope = scope;
    Ok(GraphClient::new(config)?)
}

fn mail_transport(args: &Args) -> anyhow::Result<MailTransport> {
    let choice = match args.mail_transport.as_str() {
        "auto" if args.smtp_host.is_some() => "smtp",
        "auto" if args.graph_tenant_id.is_some() => "graph",
        "auto" => "none",
        other => other,
    };
    match choice {
        "none" => {
            tracing::warn!("no mail transport configured: mail receivers will not get messages (webhooks still work)");
            Ok(MailTransport::None)
        }
        "graph" => {
            let sender =
                args.graph_sender.clone().or_else(|| args.mail_from.clone()).context(
                    "Graph sendMail needs a sender mailbox: set M365MON_MAIL_GRAPH_SENDER or M365MON_MAIL_FROM",
                )?;
            Ok(MailTransport::Graph(GraphMailer::from_client(graph_client(args, None)?, sender)))
        }
        "smtp" => {
            let host = args.smtp_host.clone().context("M365MON_SMTP_HOST is not set")?;
            let password = secret(&args.smtp_password, &args.smtp_password_file, "M365MON_SMTP_PASSWORD")?;
            let auth_mode = args
                .smtp_auth
                .clone()
                .unwrap_or_else(|| if args.smtp_user.is_some() { "password".into() } else { "none".into() });
            let auth = match auth_mode.as_str() {
                "none" => SmtpAuth::None,
                "password" | "plain" | "login" => SmtpAuth::Password {
                    user: args.smtp_user.clone().context("M365MON_SMTP_USER is not set")?,
                    password: password.context("M365MON_SMTP_PASSWORD(_FILE) is not set")?,
                },
                "xoauth2" => {
                    let client = graph_client(args, Some(args.smtp_oauth_scope.clone()))?;
                    let token: TokenSource = Arc::new(move || {
                        let client = client.clone();
                        Box::pin(async move { client.access_token().await.map_err(|e| e.to_string()) })
                    });
                    SmtpAuth::Xoauth2 {
                        user: args.smtp_user.clone().context("M365MON_SMTP_USER (the mailbox) is not set")?,
                        token,
                    }
                }
                other => bail!("M365MON_SMTP_AUTH '{other}': use password, xoauth2 or none"),
            };
            let config = SmtpConfig {
                port: args.smtp_port.unwrap_or(args.smtp_tls.default_port()),
                host,
                tls: args.smtp_tls,
                auth,
                extra_ca_pem: read_pem(&args.smtp_ca_file, "M365MON_SMTP_CA_FILE")?,
                timeout: args.send_timeout,
            };
            Ok(MailTransport::Smtp(SmtpMailer::new(config).map_err(anyhow::Error::msg)?))
        }
        other => bail!("M365MON_MAIL_TRANSPORT '{other}': use auto, graph, smtp or none"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    m365mon_runtime::install_crypto_provider();
    m365mon_runtime::init_logging(LogFormat::from_env());
    let args = Args::parse();
    let shutdown = m365mon_runtime::shutdown_signal();

    let mail = mail_transport(&args)?;
    let mut bus_config = BusConfig::new(args.nats_url.clone(), "m365mon-notifier");
    bus_config.credentials_file = args.nats_creds.clone();
    bus_config.ca_file = args.nats_ca_file.clone();
    if let Some(user) = &args.nats_user {
        let password =
            secret(&args.nats_password, &args.nats_password_file, "M365MON_NATS_PASSWORD")?.unwrap_or_default();
        bus_config.user_password = Some((user.clone(), password));
    }
    let bus = Bus::connect(&bus_config, args.namespace.clone()).await.context("connecting to NATS")?;
    let config = NotifierConfig {
        instance: args.instance.clone().unwrap_or_else(m365mon_notifier::default_instance),
        send_timeout: args.send_timeout,
        mail_from: args.mail_from.clone(),
        from_name: args.mail_from_name.clone(),
        ..NotifierConfig::default()
    };
    let notifier = Notifier::start(bus.clone(), config, mail, Arc::new(SystemClock), shutdown.clone())
        .await
        .context("starting the notifier")?;

    let status = notifier.status_fn();
    let health_status = status.clone();
    let health: m365mon_runtime::Health = Arc::new(move || {
        let document = health_status();
        (document["healthy"].as_bool().unwrap_or(false), document)
    });
    let server = HealthServer::start(args.health_addr, health, shutdown.clone()).await?;
    tracing::info!(addr = %server.local_addr, "health and metrics listening");
    let _service = bus
        .register_service(
            m365mon_notifier::SERVICE,
            env!("CARGO_PKG_VERSION"),
            "alert notifications (mail, webhooks)",
            status,
        )
        .await
        .context("registering the NATS service")?;

    notifier.wait().await;
    tracing::info!("notifier stopped");
    Ok(())
}
