//! Errors of the Graph client, classed as retryable or fatal, with Microsoft's own error code and
//! message kept so a status page can show "AADSTS7000215: Invalid client secret provided" rather
//! than "request failed".

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Whether trying again later may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Throttling, a server error, a network failure: the same request may work later.
    Retryable,
    /// A wrong secret, a missing permission or licence, a bad configuration: a human must act.
    Fatal,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Fatal => "fatal",
        })
    }
}

/// A failure talking to Microsoft Graph or to the identity platform.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// The client cannot work with this configuration (an unreadable certificate, a bad URL …).
    #[error("configuration error: {0}")]
    Config(String),
    /// The identity platform refused to issue a token, or could not be reached.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Graph answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A `@odata.nextLink` was refused with a 4xx status: its skip token expired or was invalidated
    /// (Graph documents this after retries). The listing must start again from its first page.
    #[error("the next link was refused, so the listing has to start again: {0}")]
    StaleNextLink(ApiError),
    /// The network failed: no connection, a reset, a timeout, a body cut short.
    #[error("network error talking to {host} ({kind}): {message}")]
    Transport { host: String, kind: TransportKind, message: String },
    /// A successful answer whose body is not the JSON that was expected.
    #[error("unreadable answer from {path}: {message}")]
    Decode {
        path: String,
        message: String,
        /// The body ended early (a truncated transfer), as opposed to being malformed.
        truncated: bool,
    },
}

/// What kind of network failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// No connection could be made (DNS, refused, TLS handshake).
    Connect,
    /// The request or the body took longer than the configured timeout.
    Timeout,
    /// The connection broke while the request or the response was in flight.
    Reset,
    /// The response body could not be read to its end.
    Body,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Reset => "connection reset",
            TransportKind::Body => "body read",
        })
    }
}

/// An error answer from Graph: `{"error": {"code": …, "message": …, "innerError": {…}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub status: u16,
    /// Graph's error code, e.g. `Authorization_RequestDenied`,
    /// `Authentication_RequestFromNonPremiumTenantOrB2CTenant`, `TooManyRequests`.
    pub code: Option<String>,
    pub message: String,
    /// `request-id` from the body or the header; what Microsoft support asks for.
    pub request_id: Option<String>,
    /// The path of the request (no query string, which may be long).
    pub path: String,
    /// The wait Graph asked for, when it sent `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph {} answered HTTP {}", self.path, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The identity platform's answer to a failed token request:
/// `{"error": "invalid_client", "error_description": "AADSTS7000215: …", "error_codes": [7000215]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenError {
    pub tenant: String,
    /// HTTP status, when an answer came at all.
    pub status: Option<u16>,
    /// The OAuth `error`, e.g. `invalid_client`, `unauthorized_client`, `invalid_request`.
    pub error: Option<String>,
    /// `AADSTS` codes, e.g. `AADSTS7000215` (wrong secret), `AADSTS7000222` (expired secret),
    /// `AADSTS700016` (unknown application), `AADSTS90002` (unknown tenant).
    pub codes: Vec<String>,
    /// The first line of `error_description` (trace and correlation ids follow in the original).
    pub description: String,
    /// Whether the failure is transient (network, 5xx, throttling of the token endpoint).
    pub retryable: bool,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token request for tenant {} failed", self.tenant)?;
        match (self.status, &self.error) {
            (Some(status), Some(error)) => write!(f, " (HTTP {status} {error})")?,
            (Some(status), None) => write!(f, " (HTTP {status})")?,
            (None, Some(error)) => write!(f, " ({error})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.description)
    }
}

impl std::error::Error for TokenError {}

impl GraphError {
    /// Retryable or fatal.
    pub fn class(&self) -> ErrorClass {
        let retryable = match self {
            GraphError::Config(_) => false,
            GraphError::Token(e) => e.retryable,
            // 401 after the token was replaced: tokens being revoked or not yet valid everywhere;
            // a credential that is really wrong fails at the token endpoint instead.
            GraphError::Api(e) => is_retryable_status(e.status) || e.status == 401,
            GraphError::StaleNextLink(_) => true,
            GraphError::Transport { .. } => true,
            GraphError::Decode { truncated, .. } => *truncated,
        };
        if retryable { ErrorClass::Retryable } else { ErrorClass::Fatal }
    }

    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// Microsoft's error code: Graph's `error.code`, or the first `AADSTS…` code of a token error.
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Token(e) => e.codes.first().map(String::as_str).or(e.error.as_deref()),
            GraphError::Api(e) | GraphError::StaleNextLink(e) => e.code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of the failed answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Token(e) => e.status,
            GraphError::Api(e) | GraphError::StaleNextLink(e) => Some(e.status),
            _ => None,
        }
    }

    /// A short kind name for logs and metrics labels (bounded set).
    pub fn kind_name(&self) -> &'static str {
        match self {
            GraphError::Config(_) => "config",
            GraphError::Token(_) => "token",
            GraphError::Api(e) if e.status == 429 => "throttled",
            GraphError::Api(e) if e.status >= 500 => "server",
            GraphError::Api(_) => "api",
            GraphError::StaleNextLink(_) => "stale_next_link",
            GraphError::Transport { .. } => "network",
            GraphError::Decode { .. } => "decode",
        }
    }
}

/// Statuses worth retrying: throttling, request timeout, and the transient server errors.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Reads Graph's error body. Tolerates `innerError` and `innererror`, missing pieces, and bodies
/// that are not JSON at all (a proxy's HTML page): then the start of the text is the message.
pub(crate) fn parse_api_error(
    status: u16,
    path: &str,
    body: &[u8],
    header_request_id: Option<String>,
    retry_after: Option<Duration>,
) -> ApiError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Option<Body>,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        code: Option<String>,
        message: Option<String>,
        #[serde(rename = "innerError", alias = "innererror")]
        inner: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(rename = "request-id")]
        request_id: Option<String>,
    }
    let parsed = serde_json::from_slice::<Envelope>(body).ok().and_then(|e| e.error);
    let (code, message, body_request_id) = match parsed {
        Some(b) => (b.code, b.message.unwrap_or_default(), b.inner.and_then(|i| i.request_id)),
        None => (None, snippet(body, 300), None),
    };
    ApiError {
        status,
        code: code.filter(|c| !c.is_empty()),
        message,
        request_id: body_request_id.or(header_request_id),
        path: path.to_string(),
        retry_after,
    }
}

/// Reads the identity platform's error body.
pub(crate) fn parse_token_error(tenant: &str, status: Option<u16>, body: &[u8], fallback: &str) -> TokenError {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Body {
        error: Option<String>,
        error_description: Option<String>,
        error_codes: Vec<i64>,
    }
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let (error, description, mut codes) = match parsed {
        Some(b) => {
            let codes: Vec<String> = b.error_codes.iter().map(|c| format!("AADSTS{c}")).collect();
            (b.error, b.error_description.unwrap_or_default(), codes)
        }
        None => (None, String::new(), Vec::new()),
    };
    let description = first_line(&description);
    let description = if description.is_empty() { fallback.to_string() } else { description };
    if codes.is_empty() {
        // Some answers carry the code only in the text ("AADSTS90002: Tenant … not found").
        if let Some(code) = aadsts_in(&description) {
            codes.push(code);
        }
    }
    let transient_code = codes.iter().any(|c| c == "AADSTS90055" || c == "AADSTS50196");
    let retryable = match status {
        None => true,
        Some(s) => s >= 500 || s == 429 || s == 408,
    } || error.as_deref() == Some("temporarily_unavailable")
        || transient_code;
    TokenError { tenant: tenant.to_string(), status, error, codes, description, retryable }
}

fn aadsts_in(text: &str) -> Option<String> {
    let start = text.find("AADSTS")?;
    let digits: String = text[start + 6..].chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

/// The start of a body as text, on one line, for messages.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    one_line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_bodies_keep_code_message_and_request_id() {
        let body = br#"{"error":{"code":"Authentication_RequestFromNonPremiumTenantOrB2CTenant","message":"Neither tenant is B2C or tenant doesn't have premium license","innerError":{"date":"2024-01-01T00:00:00","request-id":"abc-123"}}}"#;
        let e = parse_api_error(403, "/v1.0/auditLogs/signIns", body, None, None);
        assert_eq!(e.code.as_deref(), Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant"));
        assert_eq!(e.request_id.as_deref(), Some("abc-123"));
        let err = GraphError::Api(e);
        assert_eq!(err.class(), ErrorClass::Fatal);
        assert!(err.to_string().contains("premium license"), "{err}");

        let lower = br#"{"error":{"code":"TooManyRequests","message":"Please retry again later.","innererror":{"request-id":"r-2"}}}"#;
        let e = parse_api_error(429, "/beta/auditLogs/signIns", lower, None, Some(Duration::from_secs(3)));
        assert_eq!(e.request_id.as_deref(), Some("r-2"));
        assert_eq!(GraphError::Api(e).class(), ErrorClass::Retryable);
    }

    #[test]
    fn non_json_error_bodies_become_the_message() {
        let e = parse_api_error(502, "/v1.0/x", b"<html>\n<body>Bad gateway</body></html>", Some("h-1".into()), None);
        assert_eq!(e.code, None);
        assert!(e.message.contains("Bad gateway"));
        assert_eq!(e.request_id.as_deref(), Some("h-1"));
    }

    #[test]
    fn token_errors_carry_the_aadsts_code_and_are_classed() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z"}"#;
        let e = parse_token_error("t-1", Some(401), body, "failed");
        assert_eq!(e.codes, vec!["AADSTS7000215"]);
        assert_eq!(e.error.as_deref(), Some("invalid_client"));
        assert!(!e.description.contains("Trace ID"), "{}", e.description);
        assert!(!e.retryable);
        let err = GraphError::Token(e);
        assert_eq!(err.code(), Some("AADSTS7000215"));
        assert!(err.to_string().contains("AADSTS7000215: Invalid client secret"), "{err}");

        let throttled =
            br#"{"error":"temporarily_unavailable","error_description":"AADSTS90055: TenantThrottlingError"}"#;
        let e = parse_token_error("t-1", Some(400), throttled, "failed");
        assert!(e.retryable);
        assert_eq!(e.codes, vec!["AADSTS90055"]);

        let gateway = parse_token_error("t-1", Some(503), b"oops", "service unavailable");
        assert!(gateway.retryable);
        assert_eq!(gateway.description, "service unavailable");
    }
}
