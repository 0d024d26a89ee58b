//! `m365mon-notifier`: reads alerts from the bus, groups them and delivers them by mail (Graph
//! `sendMail` or SMTP) and webhooks. Configuration: the environment (see the crate README);
//! notification settings: the settings document in KV, applied live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use m365mon_bus::NatsArgs;
use m365mon_graph::{
    CertificateCredential, ClientCredential, ClientSecret, Cloud, CloudEndpoints, GraphClient, GraphConfig, Pacing,
};
use m365mon_notifier::channels::smtp::TokenSource;
use m365mon_notifier::channels::{GraphMailer, MailTransport, SmtpAuth, SmtpConfig, SmtpMailer, SmtpTls};
use m365mon_notifier::{Notifier, NotifierConfig, SystemClock};
use m365mon_runtime::{HealthServer, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "m365mon-notifier",
    version,
    about = "m365-monitor notifier: groups alerts and delivers them by Graph sendMail, SMTP and webhooks"
)]
struct Args {
    #[command(flatten)]
    nats: NatsArgs,
    /// Where /healthz and /metrics listen.
    #[arg(long, env = "M365MON_NOTIFIER_HEALTH_ADDR", default_value = "0.0.0.0:9183")]
    health_addr: SocketAddr,
    /// How long one send may take (connect, TLS, AUTH, DATA; or the webhook request).
    #[arg(long, env = "M365MON_NOTIFIER_SEND_TIMEOUT", default_value = "30s", value_parser = humantime_duration)]
    send_timeout: Duration,
    /// This process's name in group claims (default: host, pid and a random suffix).
    #[arg(long, env = "M365MON_NOTIFIER_INSTANCE")]
    instance: Option<String>,

    /// `auto` (SMTP if M365MON_SMTP_HOST is set, else Graph if a tenant is configured), `graph`,
    /// `smtp` or `none`.
    #[arg(long, env = "M365MON_MAIL_TRANSPORT", default_value = "auto")]
    mail_transport: String,
    /// Sender address when the settings have no notifications.mail_from; for Graph, the mailbox
    /// that sends (unless M365MON_MAIL_GRAPH_SENDER says otherwise).
    #[arg(long, env = "M365MON_MAIL_FROM")]
    mail_from: Option<String>,
    #[arg(long, env = "M365MON_MAIL_FROM_NAME", default_value = "m365-monitor")]
    mail_from_name: String,
    /// The mailbox Graph sendMail sends as (default: the sender address).
    #[arg(long, env = "M365MON_MAIL_GRAPH_SENDER")]
    graph_sender: Option<String>,

    #[arg(long, env = "M365MON_SMTP_HOST")]
    smtp_host: Option<String>,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    #[arg(long, env = "M365MON_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// `starttls`, `tls` (implicit, port 465) or `none`.
    #[arg(long, env = "M365MON_SMTP_TLS", default_value = "starttls")]
    smtp_tls: SmtpTls,
    /// `password` (AUTH PLAIN/LOGIN; the default when M365MON_SMTP_USER is set), `xoauth2` (a
    /// token from the Graph app credential, for Exchange Online) or `none`.
    #[arg(long, env = "M365MON_SMTP_AUTH")]
    smtp_auth: Option<String>,
    /// The password comes from M365MON_SMTP_PASSWORD or M365MON_SMTP_PASSWORD_FILE.
    #[arg(long, env = "M365MON_SMTP_USER")]
    smtp_user: Option<String>,
    /// Extra CA certificate (PEM) for an SMTP server with a private CA.
    #[arg(long, env = "M365MON_SMTP_CA_FILE")]
    smtp_ca_file: Option<PathBuf>,
    /// OAuth scope of the XOAUTH2 token.
    #[arg(long, env = "M365MON_SMTP_OAUTH_SCOPE", default_value = "https://outlook.office365.com/.default")]
    smtp_oauth_scope: String,

    /// The tenant of the sending mailbox (default: M365MON_TENANT_ID, the collector's).
    #[arg(long, env = "M365MON_MAIL_TENANT_ID")]
    mail_tenant_id: Option<String>,
    /// The app that may send (default: M365MON_CLIENT_ID). Its secret: M365MON_MAIL_CLIENT_SECRET
    /// (or _FILE), else M365MON_CLIENT_SECRET (or _FILE).
    #[arg(long, env = "M365MON_MAIL_CLIENT_ID")]
    mail_client_id: Option<String>,
    #[arg(long, env = "M365MON_TENANT_ID", hide = true)]
    tenant_id: Option<String>,
    #[arg(long, env = "M365MON_CLIENT_ID", hide = true)]
    client_id: Option<String>,
    /// Certificate credential instead of a secret: PEM with the certificate and its key.
    #[arg(long, env = "M365MON_CLIENT_CERTIFICATE_FILE")]
    client_certificate_file: Option<PathBuf>,
    /// The certificate's private key, when it is in a file of its own.
    #[arg(long, env = "M365MON_CLIENT_KEY_FILE")]
    client_key_file: Option<PathBuf>,
    /// National cloud: public, usgov, usgov-dod, china.
    #[arg(long, env = "M365MON_CLOUD", default_value = "public")]
    cloud: String,
    /// Authority host override (https), e.g. a simulator.
    #[arg(long, env = "M365MON_AUTHORITY_HOST")]
    authority_host: Option<String>,
    /// Graph base URL override, e.g. a simulator.
    #[arg(long, env = "M365MON_GRAPH_URL")]
    graph_url: Option<String>,
    /// Extra CA certificate(s) (PEM) for the identity platform and Graph.
    #[arg(long, env = "M365MON_EXTRA_CA_FILE")]
    extra_ca_file: Option<PathBuf>,
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration such as 30s or 2m: {e}"))
}

fn read_pem(path: &Option<PathBuf>, what: &str) -> anyhow::Result<Option<Vec<u8>>> {
    path.as_ref().map(|p| std::fs::read(p).with_context(|| format!("{what}: cannot read {}", p.display()))).transpose()
}

fn graph_client(args: &Args, scope: Option<String>) -> anyhow::Result<GraphClient> {
    let tenant = args
        .mail_tenant_id
        .clone()
        .or_else(|| args.tenant_id.clone())
        .context("no tenant for Graph: set M365MON_MAIL_TENANT_ID or M365MON_TENANT_ID")?;
    let client_id = args
        .mail_client_id
        .clone()
        .or_else(|| args.client_id.clone())
        .context("no app for Graph: set M365MON_MAIL_CLIENT_ID or M365MON_CLIENT_ID")?;
    let secret = match m365mon_runtime::secret_from_env("M365MON_MAIL_CLIENT_SECRET")? {
        Some(secret) => Some(secret),
        None => m365mon_runtime::secret_from_env("M365MON_CLIENT_SECRET")?,
    };
    let credential = match (secret, &args.client_certificate_file) {
        (Some(secret), None) => ClientCredential::Secret(ClientSecret::new(secret)),
        (None, Some(path)) => {
            let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let credential = match &args.client_key_file {
                Some(key) => {
                    let key = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
                    CertificateCredential::from_pem_parts(&pem, &key)
                }
                None => CertificateCredential::from_pem(&pem),
            }
            .context("M365MON_CLIENT_CERTIFICATE_FILE")?;
            ClientCredential::Certificate(Arc::new(credential))
        }
        (Some(_), Some(_)) => bail!("set a client secret or a certificate for Graph, not both"),
        (None, None) => bail!(
            "no Graph credential: set M365MON_MAIL_CLIENT_SECRET(_FILE), M365MON_CLIENT_SECRET(_FILE) or \
             M365MON_CLIENT_CERTIFICATE_FILE"
        ),
    };
    let mut config = GraphConfig::new(tenant, client_id, credential);
    let cloud: Cloud = args.cloud.parse().map_err(anyhow::Error::msg)?;
    config.endpoints = cloud.endpoints();
    if args.authority_host.is_some() || args.graph_url.is_some() {
        config.endpoints = CloudEndpoints::custom(
            args.authority_host.as_deref().unwrap_or(config.endpoints.authority_host.as_str()),
            args.graph_url.as_deref().unwrap_or(config.endpoints.graph_base.as_str()),
        )?;
    }
    config.extra_ca_pem = read_pem(&args.extra_ca_file, "M365MON_EXTRA_CA_FILE")?;
    // The notifier's own rate limit paces mail; the reporting-API pacing does not apply.
    config.pacing = Pacing::Off;
    config.scope = scope;
    Ok(GraphClient::new(config)?)
}

fn mail_transport(args: &Args) -> anyhow::Result<MailTransport> {
    let choice = match args.mail_transport.as_str() {
        "auto" if args.smtp_host.is_some() => "smtp",
        "auto" if args.mail_tenant_id.is_some() || args.tenant_id.is_some() => "graph",
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
            let password = m365mon_runtime::secret_from_env("M365MON_SMTP_PASSWORD")?;
            let auth_mode = args
                .smtp_auth
                .clone()
                .unwrap_or_else(|| if args.smtp_user.is_some() { "password".into() } else { "none".into() });
            let auth = match auth_mode.as_str() {
                "none" => SmtpAuth::None,
                "password" | "plain" | "login" => SmtpAuth::Password {
                    user: args.smtp_user.clone().context("M365MON_SMTP_USER is not set")?,
                    password: password.context(
                        "M365MON_SMTP_USER is set but neither M365MON_SMTP_PASSWORD nor M365MON_SMTP_PASSWORD_FILE",
                    )?,
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
    let bus = args.nats.connect("m365mon-notifier").await.context("connecting to NATS")?;
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
