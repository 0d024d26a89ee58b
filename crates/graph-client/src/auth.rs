//! Access tokens for one tenant, from azure_identity, refreshed before they expire and again when
//! Graph says a token is no longer good (401), including in the middle of a paged listing.
//!
//! azure_identity caches tokens inside each credential and offers no way to drop that cache, so a
//! forced refresh builds a fresh credential (cheap: a struct and an HTTP pipeline over the shared
//! connection pool). Access tokens live 60–90 minutes; a long backfill outlives several.
//!
//! One request at a time asks for a token (the state lock is held while asking), so ten endpoints
//! of a tenant whose token just expired cause one token request, not ten. After a failure that
//! needs a human (a wrong secret), the same error is answered for a cooldown instead of hammering
//! the identity platform from every endpoint.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientMethodOptions, ClientOptions, RetryOptions, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::certificate::CertificateCredential;
use crate::error::{TokenError, parse_token_error};
use crate::{ClientCredential, GraphConfig, GraphError, RetryPolicy};

/// A bearer token and when it stops being good.
#[derive(Debug, Clone)]
pub(crate) struct Bearer {
    pub secret: Arc<str>,
    /// Unix seconds.
    expires_at: u64,
    refresh_at: Instant,
}

type CredentialFactory = Box<dyn Fn() -> Result<Arc<dyn TokenCredential>, GraphError> + Send + Sync>;

#[derive(Default)]
struct State {
    credential: Option<Arc<dyn TokenCredential>>,
    bearer: Option<Bearer>,
    failure: Option<(Instant, GraphError)>,
}

/// The tokens of one tenant.
pub(crate) struct TokenSource {
    tenant: String,
    label: String,
    scope: String,
    retry: RetryPolicy,
    cooldown: Duration,
    factory: CredentialFactory,
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").field("tenant", &self.tenant).field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(config: &GraphConfig, http: reqwest::Client) -> Result<TokenSource, GraphError> {
        let tenant = config.tenant_id.clone();
        let client_id = config.client_id.clone();
        let authority = config.endpoints.authority_host.as_str().trim_end_matches('/').to_string();
        let client_options = move || {
            let mut cloud = CustomConfiguration::default();
            cloud.authority_host = authority.clone();
            ClientOptions {
                cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
                transport: Some(Transport::new(Arc::new(http.clone()))),
                // Retries are ours (classified, logged, with the tenant's policy).
                retry: RetryOptions::none(),
                ..Default::default()
            }
        };
        let token_endpoint =
            format!("{}/{}/oauth2/v2.0/token", config.endpoints.authority_host.as_str().trim_end_matches('/'), tenant);
        let factory: CredentialFactory = match &config.credential {
            ClientCredential::Secret(secret) => {
                let (tenant, client_id, secret) = (tenant.clone(), client_id.clone(), secret.clone());
                Box::new(move || {
                    let options = ClientSecretCredentialOptions { client_options: client_options() };
                    let credential: Arc<dyn TokenCredential> = ClientSecretCredential::new(
                        &tenant,
                        client_id.clone(),
                        Secret::new(secret.expose().to_string()),
                        Some(options),
                    )
                    .map_err(|e| GraphError::Config(format!("client secret credential: {e}")))?;
                    Ok(credential)
                })
            }
            ClientCredential::Certificate(certificate) => {
                let (tenant, client_id, certificate) = (tenant.clone(), client_id.clone(), certificate.clone());
                Box::new(move || {
                    let assertion = SignedAssertion {
                        certificate: certificate.clone(),
                        client_id: client_id.clone(),
                        audience: token_endpoint.clone(),
                    };
                    let options = ClientAssertionCredentialOptions { client_options: client_options() };
                    let credential: Arc<dyn TokenCredential> =
                        ClientAssertionCredential::new(tenant.clone(), client_id.clone(), assertion, Some(options))
                            .map_err(|e| GraphError::Config(format!("certificate credential: {e}")))?;
                    Ok(credential)
                })
            }
        };
        // Build one now so configuration mistakes (a tenant id with a slash …) show at start-up.
        let first = factory()?;
        Ok(TokenSource {
            tenant,
            label: config.label.clone(),
            scope: config.scope(),
            retry: config.retry,
            cooldown: config.auth_failure_cooldown,
            factory,
            state: Mutex::new(State { credential: Some(first), ..State::default() }),
        })
    }

    /// A token good for a while yet.
    pub(crate) async fn bearer(&self) -> Result<Bearer, GraphError> {
        let mut state = self.state.lock().await;
        if let Some(bearer) = &state.bearer
            && Instant::now() < bearer.refresh_at
        {
            return Ok(bearer.clone());
        }
        self.fetch(&mut state).await
    }

    /// Graph refused `rejected` (401): unless another request already replaced it, drop it and the
    /// credential's cache, and get a new one.
    pub(crate) async fn replace(&self, rejected: &Bearer) -> Result<Bearer, GraphError> {
        let mut state = self.state.lock().await;
        if let Some(current) = &state.bearer
            && current.secret != rejected.secret
            && Instant::now() < current.refresh_at
        {
            return Ok(current.clone());
        }
        tracing::info!(tenant = %self.label, "Graph refused the access token; requesting a new one");
        state.bearer = None;
        state.credential = None;
        self.fetch(&mut state).await
    }

    async fn fetch(&self, state: &mut State) -> Result<Bearer, GraphError> {
        if let Some((at, error)) = &state.failure
            && at.elapsed() < self.cooldown
        {
            return Err(error.clone());
        }
        let mut failures = 0u32;
        loop {
            let credential = match &state.credential {
                Some(c) => c.clone(),
                None => {
                    let c = (self.factory)()?;
                    state.credential = Some(c.clone());
                    c
                }
            };
            let started = Instant::now();
            let result = credential
                .get_token(
                    &[self.scope.as_str()],
                    Some(azure_core::credentials::TokenRequestOptions {
                        method_options: ClientMethodOptions::default(),
                    }),
                )
                .await;
            match result {
                Ok(token) => {
                    metrics::counter!("m365mon_graph_token_requests_total", "tenant" => self.label.clone(), "outcome" => "ok")
                        .increment(1);
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                    let expires_at = u64::try_from(token.expires_on.unix_timestamp()).unwrap_or(0);
                    let lifetime = Duration::from_secs(expires_at.saturating_sub(now));
                    // Refresh five minutes ahead, or at three quarters of a short lifetime.
                    let margin = (lifetime / 4).min(Duration::from_secs(300));
                    let bearer = Bearer {
                        secret: Arc::from(token.token.secret()),
                        expires_at,
                        refresh_at: started + lifetime.saturating_sub(margin),
                    };
                    tracing::debug!(tenant = %self.label, lifetime_s = lifetime.as_secs(), "access token obtained");
                    state.bearer = Some(bearer.clone());
                    state.failure = None;
                    return Ok(bearer);
                }
                Err(e) => {
                    metrics::counter!("m365mon_graph_token_requests_total", "tenant" => self.label.clone(), "outcome" => "error")
                        .increment(1);
                    let error = GraphError::Token(token_error(&self.tenant, &e));
                    // A token that might have been cached is not trusted after an error.
                    state.credential = None;
                    failures += 1;
                    if !error.is_retryable() || failures >= self.retry.max_attempts {
                        tracing::warn!(tenant = %self.label, error = %error, "token request failed");
                        state.failure = Some((Instant::now(), error.clone()));
                        return Err(error);
                    }
                    let delay = self.retry.backoff(failures);
                    tracing::info!(tenant = %self.label, error = %error, retry_in_ms = delay.as_millis() as u64, "token request failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

impl Bearer {
    /// Seconds until the token expires (zero when it has).
    #[allow(dead_code)]
    pub(crate) fn remaining(&self) -> Duration {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Duration::from_secs(self.expires_at.saturating_sub(now))
    }
}

/// Finds the identity platform's answer inside azure_identity's error (it wraps it once more in a
/// credential error with a troubleshooting link).
fn token_error(tenant: &str, error: &azure_core::Error) -> TokenError {
    use azure_core::error::ErrorKind;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut network = false;
    while let Some(e) = current {
        if let Some(az) = e.downcast_ref::<azure_core::Error>() {
            match az.kind() {
                ErrorKind::HttpResponse { status, raw_response, .. } => {
                    let body: &[u8] = raw_response.as_ref().map(|r| r.body().as_ref()).unwrap_or(&[]);
                    return parse_token_error(tenant, Some(u16::from(*status)), body, &az.to_string());
                }
                ErrorKind::Connection | ErrorKind::Io => network = true,
                _ => {}
            }
        }
        if e.downcast_ref::<reqwest::Error>().is_some() {
            network = true;
        }
        current = e.source();
    }
    // The outermost message says what failed, the innermost why (e.g. "invalid peer certificate:
    // UnknownIssuer" when the extra CA is missing).
    let mut description = error.to_string().lines().next().unwrap_or("").trim().to_string();
    let mut deepest: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    let cause = deepest.to_string();
    if !std::ptr::addr_eq(deepest, error as &dyn std::error::Error) && !description.contains(&cause) {
        description = format!("{description}: {cause}");
    }
    TokenError {
        tenant: tenant.to_string(),
        status: None,
        error: None,
        codes: Vec::new(),
        description,
        retryable: network,
    }
}

/// Supplies azure_identity's assertion credential with a freshly signed JWT.
#[derive(Debug)]
struct SignedAssertion {
    certificate: Arc<CertificateCredential>,
    client_id: String,
    audience: String,
}

#[async_trait::async_trait]
impl ClientAssertion for SignedAssertion {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.certificate
            .assertion(&self.client_id, &self.audience)
            .map_err(|e| azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e.to_string()))
    }
}
