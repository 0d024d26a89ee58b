//! Graph endpoints: `auditLogs/signIns` (v1.0 interactive, beta every kind), `auditLogs/
//! directoryAudits`, `directoryRoles` (with `$expand=members`) and `users/{id}/sendMail`, behind
//! Graph's token validation, permission checks, licence gate, throttle and the injected faults.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::auth::{Claims, TokenProblem, decode_token};
use crate::mail::{CapturedMail, MailTransport};
use crate::odata::{Expr, FilterContext, Order, QueryError, parse_filter, parse_orderby, parse_top};
use crate::paging::{SkipToken, TokenRefusal, query_without_skiptoken};
use crate::records::{ApiVersion, Field, LogKind, RenderAudit, RenderSignIn};
use crate::rng::{guid_of, hash_str, mix64};
use crate::server::{Incoming2, Outcome, Reply};
use crate::sim::SimState;
use crate::store::{PageQuery, RecordView, StoredBody};
use crate::time::{TICKS_PER_SECOND, format_inner_error_date};

/// Graph's error body.
pub fn graph_error(state: &SimState, req: &Incoming2, status: StatusCode, code: &str, message: &str) -> Reply {
    let request_id = guid_of(&[state.dice.roll().to_bits(), 0xE7]);
    let client_request_id = req
        .headers
        .get("client-request-id")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    Reply::json(
        status,
        &json!({"error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": format_inner_error_date(state.clock.now()),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }}),
    )
    .header(header::HeaderName::from_static("request-id"), request_id.clone())
    .header(header::HeaderName::from_static("client-request-id"), client_request_id)
}

fn too_many_requests(state: &SimState, req: &Incoming2, retry_after: Option<f64>) -> Reply {
    state.stats.throttled.fetch_add(1, Ordering::Relaxed);
    let request_id = guid_of(&[state.dice.roll().to_bits(), 0x429]);
    let mut r = Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"error": {
            "code": "TooManyRequests",
            "innerError": {
                "code": "429",
                "date": format_inner_error_date(state.clock.now()),
                "message": "Please retry after",
                "request-id": request_id,
                "status": "429"
            },
            "message": "Please retry again later."
        }}),
    )
    .header(header::HeaderName::from_static("request-id"), request_id);
    if let Some(secs) = retry_after {
        r = r.header(header::RETRY_AFTER, format_retry_after(secs));
    }
    let _ = req;
    r
}

/// Whole seconds (rounded up) normally; three decimals when fractional.
fn format_retry_after(secs: f64) -> String {
    if secs.fract() == 0.0 { format!("{}", secs as u64) } else { format!("{secs:.3}") }
}

fn unauthorized(state: &SimState, req: &Incoming2, problem: TokenProblem) -> Reply {
    graph_error(state, req, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", &problem.to_string()).header(
        header::WWW_AUTHENTICATE,
        format!(
            "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            state.base_url
        ),
    )
}

fn authenticate(state: &SimState, req: &Incoming2) -> Result<(usize, Claims), Reply> {
    let header = req.headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or("");
    let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    let claims = decode_token(&state.token_key, token, now).map_err(|p| unauthorized(state, req, p))?;
    if claims.iat < state.tokens_valid_after.load(Ordering::Relaxed) {
        return Err(unauthorized(state, req, TokenProblem::Expired));
    }
    let tenant = state.tenant_index(&claims.tid).ok_or_else(|| unauthorized(state, req, TokenProblem::BadSignature))?;
    Ok((tenant, claims))
}

fn has_any(claims: &Claims, permissions: &[&str]) -> bool {
    claims.roles.iter().any(|r| permissions.iter().any(|p| p.eq_ignore_ascii_case(r)))
}

fn denied(state: &SimState, req: &Incoming2) -> Reply {
    graph_error(
        state,
        req,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// Routes a Graph request. Returns the endpoint name for stats and the outcome.
pub async fn handle(state: &SimState, req: &Incoming2, segments: &[&str]) -> (String, Outcome) {
    let version = if segments[0].eq_ignore_ascii_case("beta") { ApiVersion::Beta } else { ApiVersion::V1 };
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let endpoint = match lower.get(1..).unwrap_or(&[]) {
        [a, b] if a == "auditlogs" && b == "signins" => "signIns",
        [a, b] if a == "auditlogs" && b == "directoryaudits" => "directoryAudits",
        [a, ..] if a == "directoryroles" || a.starts_with("directoryroles(") => "directoryRoles",
        [a, _, c] if a == "users" && c == "sendmail" => "sendMail",
        _ => "unknown",
    };
    let name = format!("{}/{endpoint}", version.path());
    let faults = state.faults();
    let graph_faults = endpoint != "unknown";

    if graph_faults && state.dice.chance(faults.drop_connection) {
        state.stats.count_fault("drop_connection");
        return (name, Outcome::Drop);
    }
    let [lo, hi] = faults.response_delay_ms;
    if hi > 0 {
        let ms = lo + (state.dice.roll() * (hi - lo + 1) as f64) as u64;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let (tenant, claims) = match authenticate(state, req) {
        Ok(x) => x,
        Err(r) => return (name, Outcome::Reply(r)),
    };
    if endpoint == "unknown" {
        let seg = segments.get(1).copied().unwrap_or("");
        return (
            name,
            Outcome::Reply(graph_error(
                state,
                req,
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Resource not found for the segment '{seg}'."),
            )),
        );
    }
    let is_report = matches!(endpoint, "signIns" | "directoryAudits");
    let expected_method = if endpoint == "sendMail" { Method::POST } else { Method::GET };
    if req.method != expected_method {
        return (
            name,
            Outcome::Reply(graph_error(
                state,
                req,
                StatusCode::METHOD_NOT_ALLOWED,
                "Request_BadRequest",
                &format!("The request method '{}' is not supported on this resource.", req.method),
            )),
        );
    }
    // Permissions before throttling: a denied call is refused whatever the budget.
    let allowed = match endpoint {
        "signIns" => has_any(&claims, &["AuditLog.Read.All"]) && has_any(&claims, &["Directory.Read.All"]),
        "directoryAudits" => has_any(&claims, &["AuditLog.Read.All"]),
        "directoryRoles" => {
            has_any(&claims, &["Directory.Read.All", "RoleManagement.Read.Directory", "RoleManagement.Read.All"])
        }
        _ => has_any(&claims, &["Mail.Send"]),
    };
    if !allowed {
        let r = if endpoint == "sendMail" {
            graph_error(
                state,
                req,
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            )
        } else {
            denied(state, req)
        };
        return (name, Outcome::Reply(r));
    }
    if endpoint == "signIns" && !state.tenants[tenant].state().premium {
        return (
            name,
            Outcome::Reply(graph_error(
                state,
                req,
                StatusCode::FORBIDDEN,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            )),
        );
    }
    if is_report {
        if faults.throttle
            && let Err(wait) = state.throttle.admit(
                tenant,
                &claims.appid,
                faults.throttle_requests,
                Duration::from_secs_f64(faults.throttle_window_seconds),
            )
        {
            let mut secs = wait.as_secs_f64();
            secs = if state.dice.chance(faults.fractional_retry_after) {
                (secs * 1000.0).ceil() / 1000.0
            } else {
                secs.ceil().max(1.0)
            };
            let header = if state.dice.chance(faults.omit_retry_after) { None } else { Some(secs) };
            return (name, Outcome::Reply(too_many_requests(state, req, header)));
        }
        if state.dice.chance(faults.random_throttle) {
            state.stats.count_fault("random_throttle");
            let secs = (state.dice.roll() * faults.storm_retry_after_max_seconds * 1000.0).round() / 1000.0;
            let header = if state.dice.chance(faults.omit_retry_after) { None } else { Some(secs.max(0.001)) };
            return (name, Outcome::Reply(too_many_requests(state, req, header)));
        }
    }
    if state.dice.chance(faults.server_errors) {
        state.stats.count_fault("server_error");
        let r = if state.dice.chance(0.5) {
            graph_error(
                state,
                req,
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "Service is unavailable, please try again later.",
            )
            .header(header::RETRY_AFTER, "2")
        } else {
            graph_error(
                state,
                req,
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                "The service did not respond in time.",
            )
        };
        return (name, Outcome::Reply(r));
    }
    let reply = match endpoint {
        "signIns" | "directoryAudits" => list(state, req, tenant, version, endpoint == "signIns"),
        "directoryRoles" => crate::roles::handle(state, req, tenant, &segments[1..]),
        _ => send_mail(state, req, tenant, segments[2]),
    };
    if reply.status.is_success() && reply.body.len() > 1 && state.dice.chance(faults.truncate_body) {
        state.stats.count_fault("truncate_body");
        return (name, Outcome::Truncated(reply));
    }
    (name, Outcome::Reply(reply))
}

fn query_error(state: &SimState, req: &Incoming2, e: QueryError) -> Reply {
    graph_error(state, req, StatusCode::BAD_REQUEST, e.code(), &e.to_string())
        .header(header::HeaderName::from_static("x-graph-sim-detail"), e.detail().replace(['\r', '\n'], " "))
}

/// v1.0 property names, for projecting replayed (beta-shaped) records on v1.0.
const V1_SIGNIN: &[&str] = &[
    "id",
    "appDisplayName",
    "appId",
    "appliedConditionalAccessPolicies",
    "authenticationAppDeviceDetails",
    "clientAppUsed",
    "conditionalAccessStatus",
    "correlationId",
    "createdDateTime",
    "deviceDetail",
    "homeTenantId",
    "ipAddress",
    "isInteractive",
    "location",
    "resourceDisplayName",
    "resourceId",
    "resourceTenantId",
    "riskDetail",
    "riskEventTypes",
    "riskEventTypes_v2",
    "riskLevelAggregated",
    "riskLevelDuringSignIn",
    "riskState",
    "servicePrincipalId",
    "servicePrincipalName",
    "status",
    "userAgent",
    "userDisplayName",
    "userId",
    "userPrincipalName",
];
const V1_AUDIT: &[&str] = &[
    "id",
    "activityDateTime",
    "activityDisplayName",
    "additionalDetails",
    "category",
    "correlationId",
    "initiatedBy",
    "loggedByService",
    "operationType",
    "result",
    "resultReason",
    "targetResources",
];

fn write_json_record(out: &mut Vec<u8>, value: &Value, version: ApiVersion, signins: bool) {
    match (version, value) {
        (ApiVersion::V1, Value::Object(map)) => {
            let names = if signins { V1_SIGNIN } else { V1_AUDIT };
            let projected: serde_json::Map<String, Value> =
                map.iter().filter(|(k, _)| names.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
            let _ = serde_json::to_writer(&mut *out, &projected);
        }
        _ => {
            let _ = serde_json::to_writer(&mut *out, value);
        }
    }
}

fn list(state: &SimState, req: &Incoming2, tenant: usize, version: ApiVersion, signins: bool) -> Reply {
    let mut filter_text = None;
    let mut top_text = None;
    let mut orderby_text = None;
    let mut skiptoken = None;
    for (k, v) in url::form_urlencoded::parse(req.raw_query.as_bytes()) {
        match k.to_ascii_lowercase().as_str() {
            "$filter" => filter_text = Some(v.into_owned()),
            "$top" => top_text = Some(v.into_owned()),
            "$orderby" => orderby_text = Some(v.into_owned()),
            "$skiptoken" => skiptoken = Some(v.into_owned()),
            other if other.starts_with('$') => {
                return query_error(state, req, QueryError::UnknownOption(k.into_owned()));
            }
            _ => {}
        }
    }
    let ctx = FilterContext { signins, beta: version == ApiVersion::Beta, allow_lt_gt: state.allow_lt_gt };
    let filter: Option<Expr> = match filter_text.as_deref().map(|f| parse_filter(f, &ctx)).transpose() {
        Ok(f) => f,
        Err(e) => return query_error(state, req, e),
    };
    let top = match top_text.as_deref().map(parse_top).transpose() {
        Ok(t) => t.unwrap_or(1000),
        Err(e) => return query_error(state, req, e),
    };
    let order = match orderby_text.as_deref().map(|o| parse_orderby(o, signins)).transpose() {
        Ok(o) => o.unwrap_or(Order::NewestFirst),
        Err(e) => return query_error(state, req, e),
    };
    let endpoint_id: u8 = match (version, signins) {
        (ApiVersion::V1, true) => 1,
        (ApiVersion::Beta, true) => 2,
        (ApiVersion::V1, false) => 3,
        (ApiVersion::Beta, false) => 4,
    };
    let query_hash = hash_str(&format!("{filter_text:?}|{top_text:?}|{orderby_text:?}"));
    let faults = state.faults();
    let now = state.clock.now();
    let now_unix = chrono::Utc::now().timestamp();
    let (cursor, as_of) = match &skiptoken {
        None => (None, now),
        Some(text) => match SkipToken::decode(&state.token_key, text) {
            Ok(t) if t.t as usize == tenant && t.e == endpoint_id && t.q == query_hash => {
                let expired = faults.skiptoken_ttl_seconds > 0 && now_unix - t.i > faults.skiptoken_ttl_seconds as i64;
                let stale = faults.stale_skiptokens > 0.0
                    && ((mix64(t.n ^ state.seed) >> 11) as f64 / (1u64 << 53) as f64) < faults.stale_skiptokens;
                if expired || stale {
                    state.stats.count_fault("stale_skiptoken");
                    return graph_error(
                        state,
                        req,
                        StatusCode::BAD_REQUEST,
                        "Directory_ExpiredPageToken",
                        "The specified page token value has expired and can no longer be included in your request.",
                    );
                }
                (t.c, t.a)
            }
            Ok(_) | Err(TokenRefusal::Invalid) | Err(TokenRefusal::Expired) => {
                return graph_error(
                    state,
                    req,
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "The $skiptoken value is not valid for this request. Follow @odata.nextLink exactly as returned.",
                );
            }
        },
    };
    let kinds: Vec<LogKind> = if !signins {
        vec![LogKind::DirectoryAudit]
    } else if version == ApiVersion::V1 {
        vec![LogKind::InteractiveUser]
    } else {
        match filter.as_ref().and_then(Expr::sign_in_kinds) {
            Some(k) => k.into_iter().map(LogKind::from).collect(),
            None => vec![LogKind::InteractiveUser],
        }
    };
    let field = if signins { Field::CreatedDateTime } else { Field::ActivityDateTime };
    let (flo, fhi) = filter.as_ref().map(|f| f.time_bounds(field)).unwrap_or((None, None));
    let lo = flo.unwrap_or(i64::MIN).max(state.retention_start(as_of));
    let hi = fhi.unwrap_or(i64::MAX).min(as_of);
    let store = &state.tenants[tenant];
    let q = PageQuery {
        kinds: &kinds,
        lo,
        hi,
        order,
        cursor,
        as_of,
        now,
        filter: filter.as_ref(),
        top,
        latency: faults.latency,
        late_changes: faults.late_changes,
        scan_limit: state.scan_limit,
    };
    let page = store.page(&q);
    let mut next = page.next;
    if next.is_some() && page.items.len() >= 2 && state.dice.chance(faults.duplicates) {
        // The last record of this page will be on the next page again.
        state.stats.count_fault("duplicate");
        next = Some(page.items[page.items.len() - 2].0.pos());
    }

    let host = req.host.clone().map(|h| format!("https://{h}")).unwrap_or_else(|| state.base_url.clone());
    let resource = if signins { "auditLogs/signIns" } else { "auditLogs/directoryAudits" };
    let mut out: Vec<u8> = Vec::with_capacity(page.items.len() * 2600 + 512);
    out.extend_from_slice(b"{\"@odata.context\":");
    let _ = serde_json::to_writer(&mut out, &format!("{host}/{}/$metadata#{resource}", version.path()));
    if let Some(n) = next {
        let token = SkipToken {
            t: tenant as u32,
            e: endpoint_id,
            q: query_hash,
            c: Some(n),
            a: as_of,
            i: now_unix,
            n: mix64(state.dice.roll().to_bits()),
        };
        let base_query = query_without_skiptoken(&req.raw_query);
        let sep = if base_query.is_empty() { "" } else { "&" };
        let link = format!("{host}{}?{base_query}{sep}$skiptoken={}", req.path, token.encode(&state.token_key));
        out.extend_from_slice(b",\"@odata.nextLink\":");
        let _ = serde_json::to_writer(&mut out, &link);
    }
    out.extend_from_slice(b",\"value\":[");
    for (i, (c, changed)) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match store.view(c, *changed) {
            RecordView::SignIn(d) => {
                let _ = serde_json::to_writer(&mut out, &RenderSignIn(&d, version));
            }
            RecordView::Audit(a) => {
                let _ = serde_json::to_writer(&mut out, &RenderAudit(&a, version));
            }
            RecordView::Borrowed(StoredBody::SignIn(d)) => {
                let _ = serde_json::to_writer(&mut out, &RenderSignIn(d, version));
            }
            RecordView::Borrowed(StoredBody::Audit(a)) => {
                let _ = serde_json::to_writer(&mut out, &RenderAudit(a, version));
            }
            RecordView::Borrowed(StoredBody::Json(v)) => write_json_record(&mut out, v, version, signins),
        }
        state.record_served(tenant, c.key(), c.kind(), *changed);
    }
    out.extend_from_slice(b"]}");
    state.stats.pages_served.fetch_add(1, Ordering::Relaxed);
    let _ = TICKS_PER_SECOND;
    Reply::bytes(
        StatusCode::OK,
        "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        Bytes::from(out),
    )
}

fn send_mail(state: &SimState, req: &Incoming2, tenant: usize, user: &str) -> Reply {
    let outage = *state.sendmail_refusal.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((until, status)) = outage
        && Instant::now() < until
    {
        let remaining = until.saturating_duration_since(Instant::now()).as_secs().max(1);
        return if status == 429 {
            graph_error(
                state,
                req,
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            )
            .header(header::RETRY_AFTER, remaining.to_string())
        } else {
            graph_error(
                state,
                req,
                StatusCode::SERVICE_UNAVAILABLE,
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
            )
            .header(header::RETRY_AFTER, remaining.min(30).to_string())
        };
    }
    let store = &state.tenants[tenant];
    let Some(sender) = store.tenant.find_user(user) else {
        return graph_error(
            state,
            req,
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{user}' is invalid."),
        );
    };
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => {
            return graph_error(
                state,
                req,
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            );
        }
    };
    let Some(message) = body.get("message").filter(|m| m.is_object()) else {
        return graph_error(
            state,
            req,
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "The value of the parameter 'Message' is empty.",
        );
    };
    let mut rcpts = Vec::new();
    for field in ["toRecipients", "ccRecipients", "bccRecipients"] {
        match message.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for r in list {
                    match r.pointer("/emailAddress/address").and_then(Value::as_str) {
                        Some(a) if a.contains('@') && !a.contains(['\r', '\n']) => rcpts.push(a.to_string()),
                        _ => {
                            return graph_error(
                                state,
                                req,
                                StatusCode::BAD_REQUEST,
                                "ErrorInvalidRecipients",
                                "At least one recipient is not valid., A message can't be sent because it contains no recipients.",
                            );
                        }
                    }
                }
            }
            Some(_) => {
                return graph_error(
                    state,
                    req,
                    StatusCode::BAD_REQUEST,
                    "RequestBodyRead",
                    &format!("The property '{field}' must be an array."),
                );
            }
        }
    }
    if rcpts.is_empty() {
        return graph_error(
            state,
            req,
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid., A message can't be sent because it contains no recipients.",
        );
    }
    let subject = message.get("subject").and_then(Value::as_str).map(str::to_string);
    let content_type = message.pointer("/body/contentType").and_then(Value::as_str).unwrap_or("text");
    let content = message.pointer("/body/content").and_then(Value::as_str).map(str::to_string);
    let (text_body, html_body) =
        if content_type.eq_ignore_ascii_case("html") { (None, content) } else { (content, None) };
    state.mail.push(CapturedMail {
        id: 0,
        received_at: chrono::Utc::now().to_rfc3339(),
        transport: MailTransport::Graph,
        tenant_id: Some(store.tenant.id.clone()),
        mail_from: sender.user_principal_name.clone(),
        rcpt_to: rcpts,
        subject,
        authenticated_user: None,
        tls: true,
        text_body,
        html_body,
        raw: String::from_utf8_lossy(&req.body).into_owned(),
    });
    Reply::empty(StatusCode::ACCEPTED)
}
