//! Mail through Microsoft Graph `sendMail` (`POST /v1.0/users/{sender}/sendMail`) with the
//! application's own credential and the `Mail.Send` application permission: the default for
//! Microsoft 365, since Exchange Online turns SMTP basic authentication off for existing tenants
//! at the end of December 2026. Restrict the app to the sender mailbox with an Exchange
//! application access policy (see the crate README).
//!
//! The HTTP client (token acquisition, custom authority, extra CA, retries on 429/5xx with
//! `Retry-After`) is the shared Graph client; the same client posts the message.

use std::sync::Arc;

use serde_json::json;

use super::{Accepted, OutgoingMail, SendError};

/// Posts a JSON body to a Graph path. The notifier uses `m365mon_graph::GraphClient::post_json`;
/// the indirection keeps this module testable and the binary's wiring in one place.
pub type PostJson = Arc<
    dyn Fn(String, serde_json::Value) -> futures::future::BoxFuture<'static, Result<(u16, String), SendError>>
        + Send
        + Sync,
>;

/// A Graph `sendMail` mailer for one sender mailbox.
#[derive(Clone)]
pub struct GraphMailer {
    sender: String,
    post: PostJson,
}

impl std::fmt::Debug for GraphMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphMailer").field("sender", &self.sender).finish()
    }
}

impl GraphMailer {
    pub fn new(sender: impl Into<String>, post: PostJson) -> GraphMailer {
        GraphMailer { sender: sender.into(), post }
    }

    /// A mailer posting through the shared Graph client (token, authority, CA, retries).
    pub fn from_client(client: m365mon_graph::GraphClient, sender: impl Into<String>) -> GraphMailer {
        let post: PostJson = Arc::new(move |path: String, body: serde_json::Value| {
            let client = client.clone();
            Box::pin(async move {
                match client.post_json(&path, &body).await {
                    Ok(response) => {
                        let id = response.request_id.map(|id| format!("(request-id {id})")).unwrap_or_default();
                        Ok((response.status, id))
                    }
                    Err(e) => Err(classify(&e)),
                }
            }) as futures::future::BoxFuture<'static, Result<(u16, String), SendError>>
        });
        GraphMailer::new(sender, post)
    }

    pub fn sender(&self) -> &str {
        &self.sender
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendError> {
        let path = format!("/v1.0/users/{}/sendMail", path_segment(&self.sender));
        let (status, detail) = (self.post)(path, send_mail_body(mail)).await?;
        Ok(Accepted { detail: format!("HTTP {status} {detail}").trim().to_string() })
    }
}

/// The `sendMail` request body. Graph takes one body type per message, so the HTML part goes;
/// custom headers must start with `X-` and carry our ids for filtering and de-duplication.
pub fn send_mail_body(mail: &OutgoingMail) -> serde_json::Value {
    let recipients: Vec<serde_json::Value> =
        mail.to.iter().map(|address| json!({"emailAddress": {"address": address}})).collect();
    let mut headers = vec![json!({"name": "X-M365Mon-Message-Id", "value": mail.message_id})];
    if let Some(thread) = &mail.thread_id {
        headers.push(json!({"name": "X-M365Mon-Thread-Id", "value": thread}));
    }
    json!({
        "message": {
            "subject": mail.subject,
            "body": {"contentType": "HTML", "content": mail.html},
            "from": {"emailAddress": {"address": mail.from, "name": mail.from_name}},
            "toRecipients": recipients,
            "internetMessageHeaders": headers,
        },
        "saveToSentItems": false,
    })
}

/// Permanent: Graph refused the message itself (400 invalid recipients, 413 too large). Missing
/// permissions (401/403), an unknown sender mailbox (404), throttling and outages are retried:
/// an administrator can fix those before `max_attempts` runs out.
fn classify(error: &m365mon_graph::GraphError) -> SendError {
    let message = format!("Graph sendMail: {error}");
    match error.status() {
        Some(400 | 413 | 422) => SendError::permanent(message),
        _ => SendError::transient(message),
    }
}

fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_html_recipients_and_ids() {
        let mail = OutgoingMail {
            from: "alerts@contoso.com".into(),
            from_name: "m365-monitor".into(),
            to: vec!["a@contoso.com".into(), "b@contoso.com".into()],
            subject: "s".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            message_id: "m1@contoso.com".into(),
            thread_id: None,
        };
        let body = send_mail_body(&mail);
        assert_eq!(body["message"]["body"]["contentType"], "HTML");
        assert_eq!(body["message"]["toRecipients"][1]["emailAddress"]["address"], "b@contoso.com");
        assert_eq!(body["message"]["internetMessageHeaders"][0]["value"], "m1@contoso.com");
        assert_eq!(body["saveToSentItems"], false);
        assert_eq!(path_segment("alerts@contoso.com"), "alerts@contoso.com");
        assert_eq!(path_segment("a/b"), "a%2Fb");
    }
}
