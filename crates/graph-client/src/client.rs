//! The client: one per tenant, cheap to clone, shared by every task of that tenant (so they share
//! its token and its pacer).
//!
//! Every request goes through one loop ([`GraphClient::execute`]) that paces, authenticates,
//! retries and classifies:
//! - 429: waits `Retry-After` (or backs off when absent), and holds the whole tenant's pacer for
//!   that time;
//! - 408/500/502/503/504, connection failures, resets, timeouts, bodies cut short: exponential
//!   backoff with jitter, then the same URL again (a retried page is the last good next link, as
//!   Graph's paging guidance asks);
//! - 401: the token is replaced and the same URL tried again (tokens expire mid-listing); a
//!   freshly issued token refused again is replaced after a pause, up to three times;
//! - 4xx on a next link: [`GraphError::StaleNextLink`], so the listing restarts from its first page;
//! - anything else: returned at once, with Graph's code and message.
//!
//! POST is retried only where the request certainly had no effect (429, 503, no connection):
//! sending a mail twice is worse than reporting a failure the caller can retry knowingly.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::Utc;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::auth::TokenSource;
use crate::error::{is_retryable_status, parse_api_error, snippet};
use crate::page::url_path;
use crate::retry::parse_retry_after;
use crate::{GraphConfig, GraphError, Pacer, Page, RetryPolicy, TransportKind};

/// A Microsoft Graph client for one tenant.
#[derive(Clone, Debug)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    tokens: TokenSource,
    pacer: Option<Pacer>,
    retry: RetryPolicy,
    graph_base: Url,
    tenant_id: String,
    label: String,
}

/// The answer to a POST.
#[derive(Debug, Clone)]
pub struct PostResponse {
    pub status: u16,
    pub body: Bytes,
    /// Graph's `request-id` header.
    pub request_id: Option<String>,
}

/// How often one request may replace a refused token before the 401 is returned.
const MAX_TOKEN_REPLACEMENTS: u32 = 3;

/// A raw successful answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

/// How a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A first page or a single resource.
    Get,
    /// A `@odata.nextLink`: a 4xx means the skip token went stale.
    NextLink,
    /// Not idempotent: retried only when it certainly had no effect.
    Post,
}

impl GraphClient {
    /// Builds the HTTP client (with the extra CA, if any) and the credential. Fails on a
    /// configuration that cannot work; does not contact anyone yet.
    pub fn new(config: GraphConfig) -> Result<GraphClient, GraphError> {
        let http = build_http(&config)?;
        let tokens = TokenSource::new(&config, http.clone())?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                tokens,
                pacer: Pacer::new(config.pacing),
                retry: config.retry,
                graph_base: config.endpoints.graph_base.clone(),
                tenant_id: config.tenant_id,
                label: config.label,
            }),
        })
    }

    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The label used in metrics and logs.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    pub fn graph_base(&self) -> &Url {
        &self.inner.graph_base
    }

    /// Obtains a token (or reuses the cached one): a cheap way to check the credential at start-up.
    pub async fn check_credentials(&self) -> Result<(), GraphError> {
        self.inner.tokens.bearer().await.map(|_| ())
    }

    /// The access token for the configured scope (cached and refreshed like the tokens of Graph
    /// requests), for protocols that take one directly: the notifier's SMTP XOAUTH2 uses a client
    /// configured with the scope `https://outlook.office365.com/.default`.
    pub async fn access_token(&self) -> Result<String, GraphError> {
        Ok(self.inner.tokens.bearer().await?.secret.to_string())
    }

    /// Resolves a path such as `/v1.0/auditLogs/signIns?$top=1000` against the Graph base URL;
    /// an absolute URL is taken as it is, but only on the Graph host (the token is never sent
    /// anywhere else).
    pub fn url(&self, path_or_url: &str) -> Result<Url, GraphError> {
        if path_or_url.starts_with("https://") || path_or_url.starts_with("http://") {
            let url = Url::parse(path_or_url).map_err(|e| {
                GraphError::Config(format!("'{}' is not a URL: {e}", snippet(path_or_url.as_bytes(), 200)))
            })?;
            let base = &self.inner.graph_base;
            if url.scheme() != base.scheme()
                || url.host_str() != base.host_str()
                || url.port_or_known_default() != base.port_or_known_default()
            {
                return Err(GraphError::Decode {
                    path: url.path().to_string(),
                    message: format!(
                        "refusing to follow a link to {} (not the Graph host {}): the access token is only sent to Graph",
                        url.origin().ascii_serialization(),
                        base.origin().ascii_serialization()
                    ),
                    truncated: false,
                });
            }
            return Ok(url);
        }
        let joined =
            format!("{}/{}", self.inner.graph_base.as_str().trim_end_matches('/'), path_or_url.trim_start_matches('/'));
        Url::parse(&joined).map_err(|e| GraphError::Config(format!("'{joined}' is not a URL: {e}")))
    }

    /// The first page of a collection (`/v1.0/auditLogs/signIns?$filter=…`).
    pub async fn get_page(&self, path_or_url: &str) -> Result<Page, GraphError> {
        let url = self.url(path_or_url)?;
        self.fetch_page(url, Mode::Get).await
    }

    /// A following page: `next_link` exactly as Graph gave it in `@odata.nextLink`. A 4xx answer
    /// is [`GraphError::StaleNextLink`]: start the listing again.
    pub async fn get_next_page(&self, next_link: &str) -> Result<Page, GraphError> {
        let url = self.url(next_link)?;
        self.fetch_page(url, Mode::NextLink).await
    }

    /// Every page of a collection, following next links, resuming from the last good link after
    /// an error and restarting from the first page after a stale one.
    pub fn pages(&self, path_or_url: impl Into<String>) -> Pager {
        Pager {
            client: self.clone(),
            first: path_or_url.into(),
            next: None,
            started: false,
            restarts: 0,
            max_restarts: 3,
        }
    }

    /// A single resource, deserialised.
    pub async fn get_json<T: DeserializeOwned>(&self, path_or_url: &str) -> Result<T, GraphError> {
        let url = self.url(path_or_url)?;
        let path = url.path().to_string();
        self.execute(Method::GET, url, None, Mode::Get, |answer| {
            serde_json::from_slice(&answer.body).map_err(|e| GraphError::Decode {
                path: path.clone(),
                message: e.to_string(),
                truncated: e.is_eof(),
            })
        })
        .await
    }

    /// POSTs a JSON body (e.g. `/v1.0/users/{id}/sendMail`); any 2xx is success (sendMail answers
    /// 202 with no body).
    pub async fn post_json<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<PostResponse, GraphError> {
        let url = self.url(path)?;
        let bytes = Bytes::from(
            serde_json::to_vec(body)
                .map_err(|e| GraphError::Config(format!("request body cannot be serialised: {e}")))?,
        );
        self.execute(Method::POST, url, Some(bytes), Mode::Post, |answer| {
            let request_id = answer.headers.get("request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
            Ok(PostResponse { status: answer.status, body: answer.body, request_id })
        })
        .await
    }

    async fn fetch_page(&self, url: Url, mode: Mode) -> Result<Page, GraphError> {
        let text = url.to_string();
        self.execute(Method::GET, url, None, mode, |answer| Page::parse(&text, answer.body, Utc::now())).await
    }

    /// The one request loop: pace, authenticate, send, classify, retry.
    async fn execute<T>(
        &self,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        mode: Mode,
        accept: impl Fn(Answer) -> Result<T, GraphError>,
    ) -> Result<T, GraphError> {
        let inner = &*self.inner;
        let policy = inner.retry;
        let path = url_path(url.as_str());
        let endpoint = endpoint_label(&path);
        let host = url.host_str().unwrap_or("").to_string();
        let mut failures = 0u32;
        let mut token_replacements = 0u32;
        loop {
            if let Some(pacer) = &inner.pacer {
                let waited = pacer.acquire().await;
                if !waited.is_zero() {
                    metrics::histogram!("m365mon_graph_throttle_wait_seconds", "tenant" => inner.label.clone(), "cause" => "pacer")
                        .record(waited.as_secs_f64());
                }
            }
            let bearer = inner.tokens.bearer().await?;
            let mut request = inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&*bearer.secret)
                .header(ACCEPT, "application/json")
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            if let Some(body) = &body {
                request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
            }
            let started = Instant::now();
            let sent = async {
                let response = request.send().await?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>(Answer { status, headers, body })
            }
            .await;
            let elapsed = started.elapsed().as_secs_f64();

            // What went wrong this time, and how long Graph asked us to wait.
            let (failure, asked_wait): (GraphError, Option<Duration>) = match sent {
                Ok(answer) => {
                    let status = answer.status;
                    record_request(&inner.label, endpoint, &status.to_string(), elapsed);
                    if (200..300).contains(&status) {
                        match accept(answer) {
                            Ok(value) => return Ok(value),
                            Err(e) if mode == Mode::Post => return Err(e),
                            Err(e) => {
                                metrics::counter!("m365mon_graph_retries_total", "tenant" => inner.label.clone(), "reason" => "unreadable_body")
                                    .increment(1);
                                (e, None)
                            }
                        }
                    } else {
                        let retry_after = answer
                            .headers
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, SystemTime::now()));
                        let request_id =
                            answer.headers.get("request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
                        let api = parse_api_error(status, &path, &answer.body, request_id, retry_after);
                        if status == 401 && token_replacements < MAX_TOKEN_REPLACEMENTS {
                            token_replacements += 1;
                            metrics::counter!("m365mon_graph_retries_total", "tenant" => inner.label.clone(), "reason" => "unauthorized")
                                .increment(1);
                            if token_replacements > 1 {
                                // A token issued a moment ago was refused too: give the identity
                                // platform a moment (revocations are per second) before the next.
                                tokio::time::sleep(policy.backoff(token_replacements).max(Duration::from_secs(1)))
                                    .await;
                            }
                            inner.tokens.replace(&bearer).await?;
                            continue;
                        }
                        if status == 429 {
                            let wait =
                                retry_after.map_or_else(|| policy.backoff(failures + 1), |d| policy.retry_after(d));
                            if let Some(pacer) = &inner.pacer {
                                pacer.hold_until(Instant::now() + wait);
                            }
                            if mode == Mode::Post && failures + 1 >= policy.max_attempts {
                                return Err(GraphError::Api(api));
                            }
                            (GraphError::Api(api), Some(wait))
                        } else if is_retryable_status(status) {
                            if mode == Mode::Post && status != 503 {
                                return Err(GraphError::Api(api));
                            }
                            let wait = retry_after.map(|d| policy.retry_after(d));
                            (GraphError::Api(api), wait)
                        } else if mode == Mode::NextLink && matches!(status, 400 | 404 | 410 | 422) {
                            return Err(GraphError::StaleNextLink(api));
                        } else {
                            return Err(GraphError::Api(api));
                        }
                    }
                }
                Err(e) => {
                    let kind = transport_kind(&e);
                    record_request(&inner.label, endpoint, "network", elapsed);
                    let error = GraphError::Transport { host: host.clone(), kind, message: error_chain(&e) };
                    if mode == Mode::Post && kind != TransportKind::Connect {
                        return Err(error);
                    }
                    (error, None)
                }
            };

            failures += 1;
            if failures >= policy.max_attempts {
                tracing::warn!(tenant = %inner.label, endpoint, attempts = failures, error = %failure, "giving up on this request for now");
                return Err(failure);
            }
            let wait = asked_wait.unwrap_or_else(|| policy.backoff(failures));
            let reason = failure.kind_name();
            metrics::counter!("m365mon_graph_retries_total", "tenant" => inner.label.clone(), "reason" => reason)
                .increment(1);
            if asked_wait.is_some() {
                metrics::histogram!("m365mon_graph_throttle_wait_seconds", "tenant" => inner.label.clone(), "cause" => "retry_after")
                    .record(wait.as_secs_f64());
            }
            tracing::info!(
                tenant = %inner.label,
                endpoint,
                attempt = failures,
                retry_in_ms = wait.as_millis() as u64,
                error = %failure,
                "Graph request failed; retrying the same URL"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// Pages of a collection.
///
/// [`Pager::next_page`] follows `@odata.nextLink` exactly as given. After an error the pager
/// still points at the last good link, so calling `next_page` again resumes there. When a next
/// link is refused as stale, the listing starts again from the first page (at most three times
/// before the error is returned, then again on the next call); callers de-duplicate by record id,
/// so records read twice are harmless.
#[derive(Debug)]
pub struct Pager {
    client: GraphClient,
    first: String,
    next: Option<String>,
    started: bool,
    restarts: u32,
    max_restarts: u32,
}

impl Pager {
    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page>, GraphError> {
        loop {
            let result = match (&self.next, self.started) {
                (Some(link), _) => self.client.get_next_page(link).await,
                (None, false) => self.client.get_page(&self.first).await,
                (None, true) => return Ok(None),
            };
            match result {
                Ok(page) => {
                    self.started = true;
                    self.next = page.next_link().map(str::to_string);
                    if self.next.is_none() {
                        // The listing completed: restarts are counted per attempt to complete it.
                        self.restarts = 0;
                    }
                    return Ok(Some(page));
                }
                Err(GraphError::StaleNextLink(e)) => {
                    self.next = None;
                    self.started = false;
                    metrics::counter!("m365mon_graph_listing_restarts_total", "tenant" => self.client.label().to_string())
                        .increment(1);
                    if self.restarts >= self.max_restarts {
                        self.restarts = 0;
                        return Err(GraphError::StaleNextLink(e));
                    }
                    self.restarts += 1;
                    tracing::warn!(tenant = %self.client.label(), error = %e, "next link refused; listing again from the first page");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// How often the listing started again because a next link went stale.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The URL the next call will read (the first URL, or the last good next link).
    pub fn position(&self) -> &str {
        self.next.as_deref().unwrap_or(&self.first)
    }
}

fn build_http(config: &GraphConfig) -> Result<reqwest::Client, GraphError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("m365-monitor/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(config.timeouts.connect)
        .timeout(config.timeouts.request)
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(pem) = &config.extra_ca_pem {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| GraphError::Config(format!("extra CA certificate file is not PEM: {e}")))?;
        if certificates.is_empty() {
            return Err(GraphError::Config("extra CA certificate file holds no CERTIFICATE block".into()));
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().map_err(|e| GraphError::Config(format!("cannot build the HTTP client: {}", error_chain(&e))))
}

fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_body() || e.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Reset
    }
}

/// An error with its causes, on one line ("error sending request: connection reset by peer").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn record_request(tenant: &str, endpoint: &'static str, status: &str, seconds: f64) {
    metrics::counter!("m365mon_graph_requests_total", "tenant" => tenant.to_string(), "endpoint" => endpoint, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("m365mon_graph_request_duration_seconds", "tenant" => tenant.to_string(), "endpoint" => endpoint)
        .record(seconds);
}

/// A bounded label for a request path (ids and query strings never become label values).
pub(crate) fn endpoint_label(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    if lower.contains("/auditlogs/signins") {
        "signIns"
    } else if lower.contains("/auditlogs/directoryaudits") {
        "directoryAudits"
    } else if lower.contains("/directoryroles") && lower.contains("/members") {
        "directoryRoleMembers"
    } else if lower.contains("/directoryroles") {
        "directoryRoles"
    } else if lower.ends_with("/sendmail") {
        "sendMail"
    } else if lower.contains("/users") {
        "users"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_labels_are_bounded() {
        assert_eq!(endpoint_label("/v1.0/auditLogs/signIns"), "signIns");
        assert_eq!(endpoint_label("/beta/auditLogs/signins"), "signIns");
        assert_eq!(endpoint_label("/v1.0/auditLogs/directoryAudits"), "directoryAudits");
        assert_eq!(
            endpoint_label("/v1.0/directoryRoles/62e90394-69f5-4237-9190-012177145e10/members"),
            "directoryRoleMembers"
        );
        assert_eq!(endpoint_label("/v1.0/users/a@b.c/sendMail"), "sendMail");
        assert_eq!(endpoint_label("/v1.0/organization"), "other");
    }
}
