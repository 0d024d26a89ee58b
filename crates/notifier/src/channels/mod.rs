//! Delivery channels: mail (SMTP through lettre, or Microsoft Graph `sendMail`) and webhooks
//! (Teams, Slack, generic JSON). Each send returns the server's own words on success and a
//! classified error on failure: permanent (a 5xx reply, a refused address, a 4xx from a webhook)
//! is dead-lettered at once, anything else is retried with backoff.

pub mod graph;
pub mod smtp;
pub mod webhook;

use std::fmt;

pub use graph::GraphMailer;
pub use smtp::{SmtpAuth, SmtpConfig, SmtpMailer, SmtpTls};
pub use webhook::WebhookSender;

/// One mail, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Sender address (`alerts@contoso.com`).
    pub from: String,
    /// Sender display name.
    pub from_name: String,
    pub to: Vec<String>,
    /// One line, already neutralised.
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `local@domain`, without angle brackets; the same for a re-send after a crash.
    pub message_id: String,
    /// The Message-ID of the group's first message, for threading.
    pub thread_id: Option<String>,
}

/// The server accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The server's reply, e.g. `250 2.0.0 Ok: queued as 4F2A` or `HTTP 202`.
    pub detail: String,
}

/// A failed send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SendError {
    /// Retrying the same message cannot help (a 5xx reply, a bad address, a 4xx from a webhook).
    pub permanent: bool,
    /// The exact error, with the server's reply when there was one.
    pub message: String,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> SendError {
        SendError { permanent: false, message: message.into() }
    }

    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError { permanent: true, message: message.into() }
    }
}

/// How mail goes out.
#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp(SmtpMailer),
    Graph(GraphMailer),
    /// No mail transport configured: mail deliveries fail (and are retried) with a message that
    /// says what to configure; webhooks still work.
    None,
}

impl MailTransport {
    /// `smtp`, `graph` or `none`.
    pub fn name(&self) -> &'static str {
        match self {
            MailTransport::Smtp(_) => "smtp",
            MailTransport::Graph(_) => "graph",
            MailTransport::None => "none",
        }
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendError> {
        match self {
            MailTransport::Smtp(smtp) => smtp.send(mail).await,
            MailTransport::Graph(graph) => graph.send(mail).await,
            MailTransport::None => Err(SendError::transient(
                "no mail transport is configured: set M365MON_SMTP_HOST (SMTP) or M365MON_GRAPH_TENANT_ID, \
                 M365MON_GRAPH_CLIENT_ID and a credential (Graph sendMail)",
            )),
        }
    }
}
