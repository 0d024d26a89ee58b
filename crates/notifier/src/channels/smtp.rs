//! SMTP through lettre: STARTTLS (submission, port 587), implicit TLS (port 465) or plain (a
//! relay on a trusted network); AUTH PLAIN / LOGIN with a password, or XOAUTH2 with an OAuth
//! token (Exchange Online after basic authentication ends). Headers are built by lettre's typed
//! builder only: nothing from a record is ever written into a header by hand.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Accepted, OutgoingMail, SendError};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: only for a relay on a trusted network or a local test server.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" | "implicit" | "smtps" => Ok(SmtpTls::Implicit),
            "none" | "plain" | "off" => Ok(SmtpTls::None),
            other => Err(format!("'{other}' is not an SMTP TLS mode; use starttls, tls or none")),
        }
    }
}

/// Produces a fresh OAuth access token for XOAUTH2.
pub type TokenSource = Arc<dyn Fn() -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// How to authenticate.
#[derive(Clone)]
pub enum SmtpAuth {
    None,
    /// AUTH PLAIN or LOGIN (whichever the server offers, PLAIN first).
    Password {
        user: String,
        password: String,
    },
    /// AUTH XOAUTH2 with a token from `token` (fetched for every connection; the source caches).
    Xoauth2 {
        user: String,
        token: TokenSource,
    },
}

impl std::fmt::Debug for SmtpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmtpAuth::None => f.write_str("None"),
            SmtpAuth::Password { user, .. } => write!(f, "Password {{ user: {user:?}, password: <hidden> }}"),
            SmtpAuth::Xoauth2 { user, .. } => write!(f, "Xoauth2 {{ user: {user:?} }}"),
        }
    }
}

/// Where and how to submit mail.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub auth: SmtpAuth,
    /// Extra CA certificate(s), PEM, for a server with a private CA.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Connection and command timeout.
    pub timeout: Duration,
}

/// An SMTP mailer.
#[derive(Clone)]
pub struct SmtpMailer {
    config: SmtpConfig,
    /// Built once for password or no authentication (with a connection pool); XOAUTH2 builds a
    /// transport per send because the token changes.
    pooled: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").field("config", &self.config).finish()
    }
}

impl SmtpMailer {
    pub fn new(config: SmtpConfig) -> Result<SmtpMailer, String> {
        let pooled = match &config.auth {
            SmtpAuth::Xoauth2 { .. } => {
                // Check the TLS settings now rather than at the first alert.
                transport(&config, None)?;
                None
            }
            SmtpAuth::None => Some(transport(&config, None)?),
            SmtpAuth::Password { user, password } => Some(transport(
                &config,
                Some((Credentials::new(user.clone(), password.clone()), vec![Mechanism::Plain, Mechanism::Login])),
            )?),
        };
        Ok(SmtpMailer { config, pooled })
    }

    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendError> {
        let message = build_message(mail)?;
        let result = match (&self.pooled, &self.config.auth) {
            (Some(transport), _) => transport.send(message).await,
            (None, auth) => {
                let SmtpAuth::Xoauth2 { user, token } = auth else {
                    return Err(SendError::permanent("SMTP transport not initialised"));
                };
                let token = token()
                    .await
                    .map_err(|e| SendError::transient(format!("cannot get an OAuth token for SMTP XOAUTH2: {e}")))?;
                let transport =
                    transport(&self.config, Some((Credentials::new(user.clone(), token), vec![Mechanism::Xoauth2])))
                        .map_err(SendError::permanent)?;
                transport.send(message).await
            }
        };
        match result {
            Ok(response) => {
                let lines: Vec<&str> = response.message().collect();
                Ok(Accepted { detail: format!("{} {}", response.code(), lines.join(" ")).trim().to_string() })
            }
            Err(e) => Err(classify(&self.config, &e)),
        }
    }
}

/// Builds the lettre transport.
fn transport(
    config: &SmtpConfig,
    credentials: Option<(Credentials, Vec<Mechanism>)>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls_parameters = || -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(config.host.clone());
        if let Some(pem) = &config.extra_ca_pem {
            let certificate =
                Certificate::from_pem(pem).map_err(|e| format!("the SMTP CA certificate cannot be read: {e}"))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder.build_rustls().map_err(|e| format!("cannot set up TLS for {}: {e}", config.host))
    };
    let tls = match config.tls {
        SmtpTls::StartTls => Tls::Required(tls_parameters()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    if let Some((credentials, mechanisms)) = credentials {
        builder = builder.credentials(credentials).authentication(mechanisms);
    }
    Ok(builder.build())
}

/// The message, through lettre's typed builder.
pub fn build_message(mail: &OutgoingMail) -> Result<Message, SendError> {
    let from_address = mail.from.parse().map_err(|e| {
        SendError::permanent(format!("the sender address '{}' is invalid: {e}", mail.from.escape_debug()))
    })?;
    let mut builder = Message::builder()
        .from(Mailbox::new(Some(mail.from_name.clone()), from_address))
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}>", mail.message_id)))
        .date_now();
    if let Some(thread) = &mail.thread_id
        && thread != &mail.message_id
    {
        builder = builder.in_reply_to(format!("<{thread}>")).references(format!("<{thread}>"));
    }
    for to in &mail.to {
        let address = to.parse().map_err(|e| {
            SendError::permanent(format!("the recipient address '{}' is invalid: {e}", to.escape_debug()))
        })?;
        builder = builder.to(Mailbox::new(None, address));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| SendError::permanent(format!("the message cannot be built: {e}")))
}

/// Permanent: a 5xx reply, except authentication failures (530, 534, 535, 538), which an
/// administrator fixes in the environment, so they are retried until `max_attempts`.
fn classify(config: &SmtpConfig, error: &lettre::transport::smtp::Error) -> SendError {
    let code = error.status().map(|c| c.to_string());
    let auth_failure = matches!(code.as_deref(), Some("530" | "534" | "535" | "538"));
    let message = format!("SMTP {}:{}: {error}", config.host, config.port);
    if error.is_permanent() && !auth_failure { SendError::permanent(message) } else { SendError::transient(message) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            from: "alerts@contoso.com".into(),
            from_name: "m365-monitor".into(),
            to: vec!["soc@contoso.com".into()],
            subject: "[m365-monitor] HIGH Failed sign-ins: <b>x</b> Bcc: evil@x.test".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
            message_id: "abc.mail.7@contoso.com".into(),
            thread_id: Some("abc.mail.3@contoso.com".into()),
        }
    }

    #[test]
    fn headers_come_from_the_typed_builder() {
        let raw = String::from_utf8(build_message(&mail()).unwrap().formatted()).unwrap();
        let headers = &raw[..raw.find("\r\n\r\n").unwrap()];
        assert!(headers.contains("Message-ID: <abc.mail.7@contoso.com>"), "{headers}");
        assert!(headers.contains("In-Reply-To: <abc.mail.3@contoso.com>"), "{headers}");
        assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{headers}");
        // A subject with a line break (should one get past rendering) is still one header.
        let mut hostile = mail();
        hostile.subject = "a\r\nBcc: evil@x.test".into();
        let raw = String::from_utf8(build_message(&hostile).unwrap().formatted()).unwrap();
        let headers = &raw[..raw.find("\r\n\r\n").unwrap()];
        assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{headers}");
    }

    #[test]
    fn bad_addresses_are_permanent_errors() {
        let mut m = mail();
        m.to = vec!["not an address".into()];
        assert!(build_message(&m).unwrap_err().permanent);
        assert_eq!("STARTTLS".parse::<SmtpTls>().unwrap(), SmtpTls::StartTls);
        assert!("ssl3".parse::<SmtpTls>().unwrap_err().contains("starttls, tls or none"));
    }
}
