//! The control and inspection API under `/_sim/` (JSON, no authentication: the simulator listens
//! on loopback for tests and demos). Every function here is also reachable from Rust through
//! [`crate::GraphSim`].
//!
//! | method and path | what |
//! |---|---|
//! | `GET /_sim` | index of these endpoints |
//! | `GET /_sim/tenants` | tenants, apps and credentials, users count, admins |
//! | `PATCH /_sim/tenants/{tenant}` | `{"premium": false}` |
//! | `GET /_sim/tenants/{tenant}/users` | the users (home city, devices, hours, roles) |
//! | `POST /_sim/tenants/{tenant}/apps` | new app `{"display_name", "permissions"}` → credentials |
//! | `PATCH /_sim/tenants/{tenant}/apps/{client_id}` | `{"permissions", "secret_expired", "disabled", "client_secret"}` |
//! | `POST /_sim/tenants/{tenant}/apps/{client_id}/certificate` | create a certificate credential → PEMs |
//! | `GET /_sim/scenarios` | known scenarios and those injected |
//! | `POST /_sim/scenarios` | inject `{"name", "tenant"?, "user"?, "ip"?, "count"?, "at"?}` → record ids |
//! | `GET`/`PUT`/`PATCH /_sim/faults` | fault configuration (`{"profile": "harsh"}` or fields) |
//! | `GET /_sim/stats` | counters (`?visible=false` skips counting visible records) |
//! | `GET`/`DELETE /_sim/ledger` | served records (`?tenant=&kind=`) |
//! | `GET /_sim/records` | ids visible now (`?tenant=&kind=&from=&to=`) |
//! | `GET`/`DELETE /_sim/mail`, `GET /_sim/mail/view` | captured mail (JSON / HTML page) |
//! | `PUT /_sim/smtp` | `{"refuse_for_seconds", "stage": "connect"|"mail"|"data", "code"}` |
//! | `PUT /_sim/sendmail` | `{"refuse_for_seconds", "status": 429|503}` |
//! | `GET`/`POST /_sim/clock` | record clock; `{"advance_seconds": N}` |
//! | `PUT /_sim/token` | `{"lifetime_seconds": N}` and/or `{"revoke": true}` |

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{AppRegistration, PERMISSIONS, generate_certificate};
use crate::faults::{FaultConfig, FaultProfile};
use crate::odata::Order;
use crate::records::LogKind;
use crate::scenarios::{SCENARIOS, ScenarioRequest};
use crate::server::{Incoming2, Reply};
use crate::sim::{SimState, tenant_infos};
use crate::smtp::{Refusal, RefusalStage};
use crate::store::{Candidate, KEY_INJECTED, KEY_REPLAY, PageQuery};
use crate::time::{Ticks, format_graph, parse_odata_datetime};
use crate::traffic::{SLICE_TICKS, generate_slice};

fn ok(value: Value) -> Reply {
    Reply::json(StatusCode::OK, &value)
}

fn bad(message: impl Into<String>) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, &json!({"error": message.into()}))
}

fn not_found(message: impl Into<String>) -> Reply {
    Reply::json(StatusCode::NOT_FOUND, &json!({"error": message.into()}))
}

fn parse_body<T: for<'de> Deserialize<'de>>(req: &Incoming2) -> Result<T, Reply> {
    serde_json::from_slice(if req.body.is_empty() { b"{}" } else { &req.body })
        .map_err(|e| bad(format!("invalid JSON body: {e}")))
}

fn query(req: &Incoming2) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.raw_query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn tenant_of(state: &SimState, name: Option<&str>) -> Result<usize, Reply> {
    match name {
        None => Ok(0),
        Some(n) => match n.parse::<usize>() {
            Ok(i) if i < state.tenants.len() => Ok(i),
            _ => state.tenant_index(n).ok_or_else(|| not_found(format!("no tenant '{n}'"))),
        },
    }
}

/// The endpoint list served at `/` and `/_sim`.
pub fn index(state: &SimState) -> Value {
    json!({
        "service": "m365mon-graph-sim",
        "version": env!("CARGO_PKG_VERSION"),
        "authority_host": state.base_url,
        "token_endpoint": format!("{}/{{tenant}}/oauth2/v2.0/token", state.base_url),
        "graph": [format!("{}/v1.0", state.base_url), format!("{}/beta", state.base_url)],
        "control": [
            "GET /_sim/tenants", "PATCH /_sim/tenants/{tenant}", "GET /_sim/tenants/{tenant}/users",
            "POST /_sim/tenants/{tenant}/apps", "PATCH /_sim/tenants/{tenant}/apps/{client_id}",
            "POST /_sim/tenants/{tenant}/apps/{client_id}/certificate",
            "GET /_sim/scenarios", "POST /_sim/scenarios", "GET|PUT|PATCH /_sim/faults", "GET /_sim/stats",
            "GET|DELETE /_sim/ledger", "GET /_sim/records", "GET|DELETE /_sim/mail", "GET /_sim/mail/view",
            "PUT /_sim/smtp", "PUT /_sim/sendmail", "GET|POST /_sim/clock", "PUT /_sim/token"
        ],
    })
}

/// Routes `/_sim/...`.
pub fn handle(state: &SimState, req: &Incoming2, segments: &[&str]) -> Reply {
    let m = &req.method;
    match segments {
        [] | [""] => ok(index(state)),
        ["tenants"] if m == Method::GET => ok(json!(tenant_infos(state))),
        ["tenants", t] if m == Method::PATCH => patch_tenant(state, req, t),
        ["tenants", t, "users"] if m == Method::GET => match tenant_of(state, Some(t)) {
            Ok(i) => users(state, i),
            Err(r) => r,
        },
        ["tenants", t, "apps"] if m == Method::POST => add_app(state, req, t),
        ["tenants", t, "apps", c] if m == Method::PATCH => patch_app(state, req, t, c),
        ["tenants", t, "apps", c, "certificate"] if m == Method::POST => add_certificate(state, t, c),
        ["scenarios"] if m == Method::GET => ok(json!({
            "available": SCENARIOS.iter().map(|(n, d, r)| json!({"name": n, "description": d, "expected_rules": r})).collect::<Vec<_>>(),
            "injected": *state.scenarios.lock().unwrap_or_else(|e| e.into_inner()),
        })),
        ["scenarios"] if m == Method::POST => match parse_body::<ScenarioRequest>(req) {
            Ok(r) => match crate::scenarios::inject(state, &r) {
                Ok(done) => Reply::json(StatusCode::CREATED, &json!(done)),
                Err(e) => bad(e.to_string()),
            },
            Err(r) => r,
        },
        ["faults"] if m == Method::GET => ok(json!(state.faults())),
        ["faults"] if m == Method::PUT || m == Method::PATCH => set_faults(state, req, m == Method::PATCH),
        ["stats"] if m == Method::GET => ok(stats_json(state, query(req).get("visible").is_none_or(|v| v != "false"))),
        ["ledger"] if m == Method::GET => ledger(state, req),
        ["ledger"] if m == Method::DELETE => {
            for l in &state.ledger {
                l.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
            ok(json!({"cleared": true}))
        }
        ["records"] if m == Method::GET => records(state, req),
        ["mail"] if m == Method::GET => ok(json!(state.mail.list())),
        ["mail"] if m == Method::DELETE => ok(json!({"cleared": state.mail.clear()})),
        ["mail", "view"] if m == Method::GET => Reply::bytes(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from(crate::mail::render_page(&state.mail.list())),
        ),
        ["smtp"] if m == Method::PUT => smtp(state, req),
        ["sendmail"] if m == Method::PUT => sendmail(state, req),
        ["clock"] if m == Method::GET => clock_json(state),
        ["clock"] if m == Method::POST => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Advance {
                advance_seconds: f64,
            }
            match parse_body::<Advance>(req) {
                Ok(a) if a.advance_seconds >= 0.0 && a.advance_seconds <= 366.0 * 86400.0 => {
                    state.clock.advance(a.advance_seconds);
                    clock_json(state)
                }
                Ok(_) => bad("advance_seconds must be between 0 and one year (the clock never goes back)"),
                Err(r) => r,
            }
        }
        ["token"] if m == Method::PUT => token(state, req),
        _ => not_found(format!("no control endpoint {} /_sim/{}; see GET /_sim", req.method, segments.join("/"))),
    }
}

fn clock_json(state: &SimState) -> Reply {
    ok(json!({"now": format_graph(state.clock.now()), "offset_seconds": state.clock.offset_seconds()}))
}

fn patch_tenant(state: &SimState, req: &Incoming2, t: &str) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        premium: Option<bool>,
    }
    let i = match tenant_of(state, Some(t)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match parse_body::<Patch>(req) {
        Ok(p) => {
            if let Some(premium) = p.premium {
                state.tenants[i].state_mut().premium = premium;
            }
            ok(json!(tenant_infos(state)[i]))
        }
        Err(r) => r,
    }
}

fn users(state: &SimState, i: usize) -> Reply {
    let store = &state.tenants[i];
    let members = store.state().role_members.clone();
    let list: Vec<Value> = store
        .tenant
        .users
        .iter()
        .map(|u| {
            let roles: Vec<&str> = members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.contains(&u.index))
                .map(|(r, _)| store.tenant.roles[r].display_name)
                .collect();
            let mut v = json!(u);
            v["roles"] = json!(roles);
            v
        })
        .collect();
    ok(json!({"tenant_id": store.tenant.id, "office_ip": store.tenant.office_ip, "users": list}))
}

fn check_permissions(list: &[String]) -> Result<(), Reply> {
    for p in list {
        if !PERMISSIONS.iter().any(|k| k.eq_ignore_ascii_case(p)) {
            return Err(bad(format!("unknown permission '{p}'; known: {}", PERMISSIONS.join(", "))));
        }
    }
    Ok(())
}

fn add_app(state: &SimState, req: &Incoming2, t: &str) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewApp {
        display_name: String,
        permissions: Option<Vec<String>>,
    }
    let i = match tenant_of(state, Some(t)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = match parse_body::<NewApp>(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let permissions =
        body.permissions.unwrap_or_else(|| crate::auth::DEFAULT_PERMISSIONS.iter().map(|s| s.to_string()).collect());
    if let Err(r) = check_permissions(&permissions) {
        return r;
    }
    let store = &state.tenants[i];
    let mut s = store.state_mut();
    let n = s.apps.len() as u64;
    let mut app = AppRegistration::generate(store.tenant.seed, n, &body.display_name, &[]);
    app.permissions = permissions;
    s.apps.push(app.clone());
    Reply::json(StatusCode::CREATED, &json!(app))
}

/// Sets an app's permissions; false when there is no such app.
pub fn set_permissions(state: &SimState, tenant: usize, client_id: &str, permissions: Vec<String>) -> bool {
    let Some(store) = state.tenants.get(tenant) else { return false };
    let mut s = store.state_mut();
    match s.apps.iter_mut().find(|a| a.client_id.eq_ignore_ascii_case(client_id)) {
        Some(a) => {
            a.permissions = permissions;
            true
        }
        None => false,
    }
}

fn patch_app(state: &SimState, req: &Incoming2, t: &str, client: &str) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        permissions: Option<Vec<String>>,
        secret_expired: Option<bool>,
        disabled: Option<bool>,
        client_secret: Option<String>,
    }
    let i = match tenant_of(state, Some(t)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let p = match parse_body::<Patch>(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(list) = &p.permissions
        && let Err(r) = check_permissions(list)
    {
        return r;
    }
    let store = &state.tenants[i];
    let mut s = store.state_mut();
    let Some(app) = s.apps.iter_mut().find(|a| a.client_id.eq_ignore_ascii_case(client)) else {
        return not_found(format!("no app '{client}' in tenant {t}"));
    };
    if let Some(v) = p.permissions {
        app.permissions = v;
    }
    if let Some(v) = p.secret_expired {
        app.secret_expired = v;
    }
    if let Some(v) = p.disabled {
        app.disabled = v;
    }
    if let Some(v) = p.client_secret {
        app.client_secret = v;
    }
    ok(json!(app))
}

fn add_certificate(state: &SimState, t: &str, client: &str) -> Reply {
    let i = match tenant_of(state, Some(t)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let store = &state.tenants[i];
    let name = match store.state().apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client)) {
        Some(a) => a.display_name.clone(),
        None => return not_found(format!("no app '{client}' in tenant {t}")),
    };
    let cert = match generate_certificate(&name) {
        Ok(c) => c,
        Err(e) => return Reply::json(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": e})),
    };
    let mut s = store.state_mut();
    if let Some(app) = s.apps.iter_mut().find(|a| a.client_id.eq_ignore_ascii_case(client)) {
        app.certificate = Some(cert.clone());
    }
    Reply::json(StatusCode::CREATED, &json!(cert))
}

fn set_faults(state: &SimState, req: &Incoming2, patch: bool) -> Reply {
    let mut body: Value = match parse_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let base = match body.as_object_mut().and_then(|o| o.remove("profile")) {
        Some(p) => match serde_json::from_value::<FaultProfile>(p.clone()) {
            Ok(p) => FaultConfig::profile(p),
            Err(_) => return bad(format!("profile must be none, realistic or harsh, not {p}")),
        },
        None if patch => state.faults(),
        None => FaultConfig::default(),
    };
    let mut merged = match serde_json::to_value(&base) {
        Ok(v) => v,
        Err(e) => return bad(e.to_string()),
    };
    if let (Some(m), Some(b)) = (merged.as_object_mut(), body.as_object()) {
        for (k, v) in b {
            m.insert(k.clone(), v.clone());
        }
    }
    let config: FaultConfig = match serde_json::from_value(merged) {
        Ok(c) => c,
        Err(e) => return bad(format!("invalid fault configuration: {e}")),
    };
    if let Err(e) = config.validate() {
        return bad(e);
    }
    *state.faults.write().unwrap_or_else(|e| e.into_inner()) = config.clone();
    tracing::info!(?config, "fault configuration changed");
    ok(json!(config))
}

/// Counters, and (when `visible`) how many records of each kind are visible now per tenant.
pub fn stats_json(state: &SimState, visible: bool) -> Value {
    let s = &state.stats;
    let served: serde_json::Map<String, Value> = LogKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), json!(s.records_served[k.index()].load(Ordering::Relaxed))))
        .collect();
    let mut v = json!({
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "requests_by_status": *s.requests_by_status.lock().unwrap_or_else(|e| e.into_inner()),
        "requests_by_endpoint": *s.requests_by_endpoint.lock().unwrap_or_else(|e| e.into_inner()),
        "throttled": s.throttled.load(Ordering::Relaxed),
        "tokens_issued": s.tokens_issued.load(Ordering::Relaxed),
        "token_errors": s.token_errors.load(Ordering::Relaxed),
        "pages_served": s.pages_served.load(Ordering::Relaxed),
        "records_served": served,
        "faults_injected": *s.faults_injected.lock().unwrap_or_else(|e| e.into_inner()),
        "mail_captured": state.mail.len(),
        "scenarios_injected": state.scenarios.lock().unwrap_or_else(|e| e.into_inner()).len(),
    });
    if visible {
        let per_tenant: Vec<Value> = (0..state.tenants.len())
            .map(|t| {
                let counts: serde_json::Map<String, Value> =
                    LogKind::ALL.iter().map(|k| (k.as_str().to_string(), json!(count_visible(state, t, *k)))).collect();
                json!({"tenant_id": state.tenants[t].tenant.id, "visible": counts})
            })
            .collect();
        v["tenants"] = json!(per_tenant);
    }
    v
}

fn visible_candidates(
    state: &SimState,
    tenant: usize,
    kind: LogKind,
    from: Ticks,
    to: Ticks,
    mut f: impl FnMut(&Candidate),
) {
    let faults = state.faults();
    let now = state.clock.now();
    let store = &state.tenants[tenant];
    let kinds = [kind];
    let lo = from.max(state.retention_start(now));
    let mut cursor = None;
    loop {
        let q = PageQuery {
            kinds: &kinds,
            lo,
            hi: to.min(now),
            order: Order::NewestFirst,
            cursor,
            as_of: now,
            now,
            filter: None,
            top: 100_000,
            latency: faults.latency,
            late_changes: faults.late_changes,
            scan_limit: usize::MAX,
        };
        let page = store.page(&q);
        for (c, _) in &page.items {
            f(c);
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
}

fn count_visible(state: &SimState, tenant: usize, kind: LogKind) -> u64 {
    let mut n = 0;
    visible_candidates(state, tenant, kind, i64::MIN, i64::MAX, |_| n += 1);
    n
}

/// Ids of the records of `kind` visible now with event time in `[from, to]`.
pub fn visible_ids(state: &SimState, tenant: usize, kind: LogKind, from: Ticks, to: Ticks) -> Vec<String> {
    let store = &state.tenants[tenant];
    let mut ids = Vec::new();
    visible_candidates(state, tenant, kind, from, to, |c| ids.push(store.id_of(c)));
    ids
}

/// One served record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LedgerRecord {
    pub id: String,
    pub kind: LogKind,
    /// How many times it was served.
    pub served: u32,
    /// Versions served: `early` (before Graph filled in late details), `final`.
    pub versions: Vec<String>,
}

/// The ledger of a tenant, ids regenerated from keys.
pub fn ledger_records(state: &SimState, tenant: usize, kind: Option<LogKind>) -> Vec<LedgerRecord> {
    let Some(ledger) = state.ledger.get(tenant) else { return Vec::new() };
    let entries: Vec<(u64, crate::sim::LedgerEntry)> =
        ledger.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (*k, *v)).collect();
    let store = &state.tenants[tenant];
    let mut by_slice: HashMap<i64, Vec<(u64, crate::sim::LedgerEntry)>> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    let make = |id: String, e: &crate::sim::LedgerEntry| {
        let kind = LogKind::ALL[e.kind_index as usize];
        let mut versions = Vec::new();
        if e.versions & 1 != 0 {
            versions.push("early".to_string());
        }
        if e.versions & 2 != 0 {
            versions.push("final".to_string());
        }
        LedgerRecord { id, kind, served: e.served, versions }
    };
    for (key, e) in entries {
        if kind.is_some_and(|k| k.index() != e.kind_index as usize) {
            continue;
        }
        if key & (KEY_INJECTED | KEY_REPLAY) != 0 {
            if let Some(r) = store.stored_by_key(key) {
                out.push(make(r.id.clone(), &e));
            }
        } else {
            by_slice.entry((key >> 24) as i64).or_default().push((key, e));
        }
    }
    for (slice, keys) in by_slice {
        let events = generate_slice(&store.tenant, slice, store.volume);
        let index: HashMap<u64, &crate::traffic::Event> = events.iter().map(|e| (e.key, e)).collect();
        for (key, e) in keys {
            if let Some(ev) = index.get(&key) {
                out.push(make(crate::traffic::record_id(&store.tenant, ev), &e));
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    let _ = SLICE_TICKS;
    out
}

fn ledger(state: &SimState, req: &Incoming2) -> Reply {
    let q = query(req);
    let tenant = match tenant_of(state, q.get("tenant").map(String::as_str)) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let kind = match q.get("kind") {
        None => None,
        Some(k) => match LogKind::parse(k) {
            Some(k) => Some(k),
            None => return bad(format!("kind must be one of {:?}", LogKind::ALL.map(LogKind::as_str))),
        },
    };
    let records = ledger_records(state, tenant, kind);
    let served: u64 = records.iter().map(|r| u64::from(r.served)).sum();
    let duplicates = records.iter().filter(|r| r.served > 1).count();
    ok(json!({
        "tenant_id": state.tenants[tenant].tenant.id,
        "distinct": records.len(),
        "served_total": served,
        "served_more_than_once": duplicates,
        "records": records,
    }))
}

fn records(state: &SimState, req: &Incoming2) -> Reply {
    let q = query(req);
    let tenant = match tenant_of(state, q.get("tenant").map(String::as_str)) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(kind) = q.get("kind").and_then(|k| LogKind::parse(k)) else {
        return bad(format!("kind is required: one of {:?}", LogKind::ALL.map(LogKind::as_str)));
    };
    let time = |name: &str| -> Result<Option<Ticks>, Reply> {
        match q.get(name) {
            None => Ok(None),
            Some(t) => parse_odata_datetime(t).map(Some).ok_or_else(|| bad(format!("{name} must be RFC 3339"))),
        }
    };
    let (from, to) = match (time("from"), time("to")) {
        (Ok(f), Ok(t)) => (f.unwrap_or(i64::MIN), t.unwrap_or(i64::MAX)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let ids = visible_ids(state, tenant, kind, from, to);
    ok(json!({"tenant_id": state.tenants[tenant].tenant.id, "kind": kind, "count": ids.len(), "ids": ids}))
}

fn smtp(state: &SimState, req: &Incoming2) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        refuse_for_seconds: f64,
        stage: Option<RefusalStage>,
        code: Option<u16>,
    }
    match parse_body::<Body>(req) {
        Ok(b) => {
            let code = b.code.unwrap_or(421);
            if !(400..500).contains(&code) {
                return bad("code must be a 4xx reply code");
            }
            if !(0.0..=86400.0).contains(&b.refuse_for_seconds) {
                return bad("refuse_for_seconds must be between 0 and 86400");
            }
            *state.smtp_refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(Refusal {
                until: Instant::now() + Duration::from_secs_f64(b.refuse_for_seconds),
                stage: b.stage.unwrap_or(RefusalStage::Connect),
                code,
            });
            ok(json!({"refusing_for_seconds": b.refuse_for_seconds, "code": code}))
        }
        Err(r) => r,
    }
}

fn sendmail(state: &SimState, req: &Incoming2) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        refuse_for_seconds: f64,
        status: Option<u16>,
    }
    match parse_body::<Body>(req) {
        Ok(b) => {
            let status = b.status.unwrap_or(503);
            if status != 429 && status != 503 {
                return bad("status must be 429 or 503");
            }
            if !(0.0..=86400.0).contains(&b.refuse_for_seconds) {
                return bad("refuse_for_seconds must be between 0 and 86400");
            }
            *state.sendmail_refusal.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((Instant::now() + Duration::from_secs_f64(b.refuse_for_seconds), status));
            ok(json!({"refusing_for_seconds": b.refuse_for_seconds, "status": status}))
        }
        Err(r) => r,
    }
}

/// Makes every token issued so far invalid.
pub fn revoke_tokens(state: &SimState) {
    // Tokens carry whole seconds; revoke everything issued up to and including this second.
    state.tokens_valid_after.store(chrono::Utc::now().timestamp() + 1, Ordering::Relaxed);
}

fn token(state: &SimState, req: &Incoming2) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        lifetime_seconds: Option<u64>,
        revoke: Option<bool>,
    }
    match parse_body::<Body>(req) {
        Ok(b) => {
            if let Some(l) = b.lifetime_seconds {
                if l == 0 || l > 86400 {
                    return bad("lifetime_seconds must be between 1 and 86400");
                }
                state.token_lifetime_seconds.store(l, Ordering::Relaxed);
            }
            if b.revoke == Some(true) {
                revoke_tokens(state);
            }
            ok(json!({"lifetime_seconds": state.token_lifetime_seconds.load(Ordering::Relaxed)}))
        }
        Err(r) => r,
    }
}
