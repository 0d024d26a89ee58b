//! The HTTPS listener and request routing: the identity platform (`/{tenant}/oauth2/v2.0/token`),
//! Graph (`/v1.0/...`, `/beta/...`) and the control API (`/_sim/...`) on one port.
//!
//! Built directly on hyper so faults can be exact: a dropped connection is a reset with no
//! response at all, and a truncated response really stops in the middle of its body.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Claims, StsError, TokenForm, check_scope, encode_token, verify_assertion};
use crate::rng::guid_of;
use crate::sim::SimState;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// A response before faults are applied.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(header::HeaderName, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: StatusCode, value: &Value) -> Reply {
        Reply::bytes(status, "application/json", Bytes::from(value.to_string()))
    }

    pub fn bytes(status: StatusCode, content_type: &str, body: Bytes) -> Reply {
        Reply { status, headers: vec![(header::CONTENT_TYPE, content_type.to_string())], body }
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply { status, headers: Vec::new(), body: Bytes::new() }
    }

    pub fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// A request was answered by closing the connection (fault injection).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// What a handler decided.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    /// Send the head and half the body, then reset.
    Truncated(Reply),
    Drop,
}

/// A parsed incoming request.
#[derive(Debug)]
pub struct Incoming2 {
    pub method: Method,
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub host: Option<String>,
}

fn finish(reply: Reply, truncated: bool) -> Response<Body> {
    let len = reply.body.len();
    let body: Body = if truncated && len > 1 {
        let half = reply.body.slice(..len / 2);
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
            vec![Ok(Frame::data(half)), Err(std::io::Error::other("response truncated by fault injection"))];
        BodyExt::boxed(StreamBody::new(futures::stream::iter(frames)))
    } else {
        Full::new(reply.body).map_err(|never: Infallible| match never {}).boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, v);
        }
    }
    if truncated {
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

/// Binds the listeners and spawns the accept loops.
pub async fn run(
    state: Arc<SimState>,
    http: std::net::TcpListener,
    smtp: Option<std::net::TcpListener>,
    stop: CancellationToken,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    http.set_nonblocking(true)?;
    let listener = TcpListener::from_std(http)?;
    let tls_config = state.certificates.server_config(true).map_err(std::io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
    let mut tasks = Vec::new();
    let http_state = Arc::clone(&state);
    let http_stop = stop.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = http_stop.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((tcp, peer)) = accepted else { continue };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let state = Arc::clone(&http_state);
            let stop = http_stop.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let state = Arc::clone(&state);
                    async move { handle(state, req).await }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(tls), service);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    r = conn => {
                        if let Err(e) = r {
                            tracing::trace!(%peer, error = %e, "connection ended");
                        }
                    }
                }
            });
        }
    }));
    if let Some(smtp) = smtp {
        smtp.set_nonblocking(true)?;
        let smtp_listener = TcpListener::from_std(smtp)?;
        let smtp_tls = state.certificates.server_config(false).map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(smtp_tls);
        tasks.push(tokio::spawn(crate::smtp::serve(smtp_listener, Arc::clone(&state), acceptor, stop.clone())));
    }
    Ok(tasks)
}

async fn handle(state: Arc<SimState>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, 4 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let r = Reply::json(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": {"code": "RequestEntityTooLarge", "message": "The request body is larger than 4 MB."}}),
            );
            return Ok(finish(r, false));
        }
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let request = Incoming2 {
        method: parts.method,
        path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
        host,
    };
    let path = request.path.clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let first = segments.first().copied().unwrap_or("");
    let (endpoint, outcome) = if first == "_sim" {
        ("control".to_string(), Outcome::Reply(crate::control::handle(&state, &request, &segments[1..])))
    } else if first.eq_ignore_ascii_case("v1.0") || first.eq_ignore_ascii_case("beta") {
        crate::graph::handle(&state, &request, &segments).await
    } else if segments.len() == 4 && segments[1] == "oauth2" && segments[2] == "v2.0" && segments[3] == "token" {
        ("token".to_string(), Outcome::Reply(token_endpoint(&state, &request, segments[0])))
    } else if segments.len() == 4
        && segments[1] == "v2.0"
        && segments[2] == ".well-known"
        && segments[3] == "openid-configuration"
    {
        ("openid-configuration".to_string(), Outcome::Reply(openid_configuration(&state, segments[0])))
    } else if path == "/" {
        ("index".to_string(), Outcome::Reply(Reply::json(StatusCode::OK, &crate::control::index(&state))))
    } else {
        (
            "unknown".to_string(),
            Outcome::Reply(Reply::json(
                StatusCode::NOT_FOUND,
                &json!({"error": {"code": "NotFound", "message": format!("graph-sim serves /{{tenant}}/oauth2/v2.0/token, /v1.0, /beta and /_sim; not '{path}'")}}),
            )),
        )
    };
    match outcome {
        Outcome::Reply(r) => {
            state.stats.count_request(&endpoint, r.status.as_u16());
            Ok(finish(r, false))
        }
        Outcome::Truncated(r) => {
            state.stats.count_request(&endpoint, r.status.as_u16());
            Ok(finish(r, true))
        }
        Outcome::Drop => {
            state.stats.count_request(&endpoint, 0);
            Err(Dropped)
        }
    }
}

fn openid_configuration(state: &SimState, tenant: &str) -> Reply {
    let Some(i) = state.tenant_index(tenant) else {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_tenant", "error_description": format!("AADSTS90002: Tenant '{tenant}' not found.")}),
        );
    };
    let tid = &state.tenants[i].tenant.id;
    let base = &state.base_url;
    Reply::json(
        StatusCode::OK,
        &json!({
            "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "issuer": format!("{base}/{tid}/v2.0"),
            "tenant_region_scope": "EU",
            "cloud_instance_name": "graph-sim.local",
            "msgraph_host": base.trim_start_matches("https://"),
        }),
    )
}

fn sts_reply(state: &SimState, e: StsError) -> Reply {
    state.stats.token_errors.fetch_add(1, Ordering::Relaxed);
    let trace = guid_of(&[state.dice.roll().to_bits(), 1]);
    let correlation = guid_of(&[state.dice.roll().to_bits(), 2]);
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    Reply::json(status, &e.body(state.clock.now(), &trace, &correlation, &state.base_url))
        .header(header::CACHE_CONTROL, "no-store, no-cache")
        .header(header::HeaderName::from_static("x-ms-request-id"), trace)
}

/// `POST /{tenant}/oauth2/v2.0/token`, client-credentials grant.
fn token_endpoint(state: &SimState, req: &Incoming2, tenant_name: &str) -> Reply {
    if req.method != Method::POST {
        return sts_reply(
            state,
            StsError::new(
                400,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests. Received a GET request.",
            ),
        );
    }
    let auth = req.headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let form = TokenForm::parse(&req.body, auth);
    let Some(grant) = form.grant_type.as_deref() else {
        return sts_reply(
            state,
            StsError::new(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ),
        );
    };
    if grant != "client_credentials" {
        return sts_reply(
            state,
            StsError::new(
                400,
                "unsupported_grant_type",
                70003,
                format!(
                    "The app requested an unsupported grant type '{grant}'. graph-sim supports client_credentials."
                ),
            ),
        );
    }
    let Some(ti) = state.tenant_index(tenant_name) else {
        let status = if ["common", "organizations", "consumers"].contains(&tenant_name.to_ascii_lowercase().as_str()) {
            return sts_reply(
                state,
                StsError::new(
                    400,
                    "invalid_request",
                    9001023,
                    "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
                ),
            );
        } else {
            400
        };
        return sts_reply(
            state,
            StsError::new(
                status,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant_name}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            ),
        );
    };
    let Some(client_id) = form.client_id.as_deref() else {
        return sts_reply(
            state,
            StsError::new(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            ),
        );
    };
    let Some(scope) = form.scope.as_deref() else {
        return sts_reply(
            state,
            StsError::new(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            ),
        );
    };
    let store = &state.tenants[ti];
    let app = store.state().apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id)).cloned();
    let Some(app) = app else {
        return sts_reply(
            state,
            StsError::new(
                400,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                    store.tenant.display_name
                ),
            ),
        );
    };
    if app.disabled {
        return sts_reply(
            state,
            StsError::new(
                400,
                "unauthorized_client",
                7000112,
                format!("Application '{}'({}) is disabled.", app.client_id, app.display_name),
            ),
        );
    }
    let now_unix = chrono::Utc::now().timestamp();
    match (&form.client_secret, &form.client_assertion) {
        (Some(secret), _) => {
            if *secret != app.client_secret {
                return sts_reply(
                    state,
                    StsError::new(
                        401,
                        "invalid_client",
                        7000215,
                        format!(
                            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                            app.client_id
                        ),
                    ),
                );
            }
            if app.secret_expired {
                return sts_reply(
                    state,
                    StsError::new(
                        401,
                        "invalid_client",
                        7000222,
                        format!(
                            "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                            app.client_id
                        ),
                    ),
                );
            }
        }
        (None, Some(assertion)) => {
            if form.client_assertion_type.as_deref() != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
                return sts_reply(
                    state,
                    StsError::new(
                        400,
                        "invalid_request",
                        900144,
                        "The request body must contain the following parameter: 'client_assertion_type'.",
                    ),
                );
            }
            let suffix = format!("/{tenant_name}/oauth2/v2.0/token");
            let alt = format!("/{}/oauth2/v2.0/token", store.tenant.id);
            if let Err(e) = verify_assertion(assertion, &app, &suffix, now_unix)
                && verify_assertion(assertion, &app, &alt, now_unix).is_err()
            {
                return sts_reply(state, e);
            }
        }
        (None, None) => {
            return sts_reply(
                state,
                StsError::new(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ),
            );
        }
    }
    let audience = match check_scope(scope) {
        Ok(a) => a,
        Err(e) => return sts_reply(state, e),
    };
    let lifetime = state.token_lifetime_seconds.load(Ordering::Relaxed) as i64;
    let claims = Claims {
        aud: audience,
        iss: format!("https://sts.windows.net/{}/", store.tenant.id),
        iat: now_unix,
        nbf: now_unix,
        exp: now_unix + lifetime,
        app_displayname: app.display_name.clone(),
        appid: app.client_id.clone(),
        appidacr: if form.client_assertion.is_some() { "2".into() } else { "1".into() },
        idp: format!("https://sts.windows.net/{}/", store.tenant.id),
        idtyp: "app".into(),
        oid: app.service_principal_id.clone(),
        roles: app.permissions.clone(),
        sub: app.service_principal_id.clone(),
        tid: store.tenant.id.clone(),
        uti: guid_of(&[state.dice.roll().to_bits(), 3]),
        ver: "1.0".into(),
    };
    state.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
    Reply::json(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": encode_token(&state.token_key, &claims),
        }),
    )
    .header(header::CACHE_CONTROL, "no-store, no-cache")
}
