//! Webhooks: Teams (Workflows), Slack (incoming webhook) and generic JSON signed with
//! HMAC-SHA256. A 2xx answer is acceptance; 408, 429 and 5xx (and network errors) are retried;
//! any other 4xx means the hook is wrong or gone, so retrying cannot help.

use std::time::Duration;

use m365mon_contracts::settings::{WebhookKind, WebhookTarget};
use m365mon_notify_policy::render::SIGNATURE_HEADER;

use super::{Accepted, SendError};

/// Header carrying the delivery id, the same for a re-send, for receivers that de-duplicate.
pub const DELIVERY_HEADER: &str = "X-M365Mon-Delivery";

/// Posts webhook payloads.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
}

impl WebhookSender {
    pub fn new(timeout: Duration) -> Result<WebhookSender, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("m365-monitor-notifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(WebhookSender { http })
    }

    /// Posts `body` (JSON bytes) to the hook; a generic hook with a `secret_env` is signed with
    /// the secret read from that environment variable now (so a rotated secret applies at once).
    pub async fn send(&self, target: &WebhookTarget, body: Vec<u8>, delivery_id: &str) -> Result<Accepted, SendError> {
        let mut request = self
            .http
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, delivery_id);
        if target.kind == WebhookKind::Generic
            && let Some(name) = &target.secret_env
        {
            let secret = std::env::var(name).map_err(|_| {
                SendError::transient(format!(
                    "the webhook secret environment variable {name} is not set in the notifier's environment"
                ))
            })?;
            request = request.header(SIGNATURE_HEADER, m365mon_notify_policy::render::sign(secret.as_bytes(), &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::transient(format!("webhook {}: {}", redact(&target.url), error_chain(&e))))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let snippet: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
        let detail = format!("HTTP {} {}", status.as_u16(), snippet).trim().to_string();
        if status.is_success() {
            Ok(Accepted { detail })
        } else {
            let message = format!("webhook {} answered {detail}", redact(&target.url));
            let code = status.as_u16();
            if code == 408 || code == 429 || status.is_server_error() {
                Err(SendError::transient(message))
            } else {
                Err(SendError::permanent(message))
            }
        }
    }
}

/// Webhook URLs carry their secret in the path (Slack, Teams): logs and errors show only the
/// scheme and host.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!("{}://{}/…", parsed.scheme(), parsed.host_str().unwrap_or("?")),
        Err(_) => "<invalid URL>".to_string(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact("https://hooks.slack.com/services/T000/B000/XXXX"), "https://hooks.slack.com/…");
        assert_eq!(redact("nope"), "<invalid URL>");
    }
}
