//! `--replay FILE...`: serve recorded records instead of synthetic traffic.
//!
//! Files are read with the record model's reader (Graph pages, JSON arrays, JSON lines, Event Hub
//! exports ...); every record goes to the first tenant. With `--shift-to-now` every timestamp
//! (`createdDateTime`/`activityDateTime` and the authentication step times) moves by the same
//! amount so the newest record is now, keeping the gaps between records.
//!
//! Which endpoint serves a recorded sign-in: v1.0 and unfiltered beta serve interactive user
//! sign-ins only; the other kinds need beta's `signInEventTypes/any(...)` filter. Many exports do
//! not carry `signInEventTypes` (it is beta-only: v1.0 pages, PowerShell `Get-MgAuditLogSignIn`,
//! some diagnostic exports), so a record is routed by its own `signInEventTypes` when it has a
//! value Graph knows, otherwise by the event type the reader found (the Event Hub category or Log
//! Analytics table, else `isInteractive` and the identities involved), and it is served with that
//! value in `signInEventTypes`, as real beta always sends it. Without this a non-interactive
//! sign-in without the property would be stored as non-interactive but never match the filter
//! that asks for it, or be stored as interactive: either way the collector would never see it as
//! what it is.

use std::fs::File;
use std::path::PathBuf;

use m365mon_model::{Record, SignInEventType};
use serde_json::Value;

use crate::records::{LogKind, SignInKind};
use crate::rng::mix64;
use crate::sim::SimState;
use crate::store::{StoredBody, StoredRecord};
use crate::time::{Ticks, format_graph, parse_odata_datetime};

/// The kind a sign-in's own `signInEventTypes` names, if it names one Graph knows.
fn recorded_kind(v: &Value) -> Option<SignInKind> {
    v.get("signInEventTypes")?.as_array()?.iter().filter_map(Value::as_str).find_map(SignInKind::parse)
}

/// What the identities in the JSON say when neither the record nor its source named the kind.
fn inferred_kind(v: &Value) -> SignInKind {
    let msi = v.pointer("/managedServiceIdentity/msiType").and_then(Value::as_str).is_some_and(|t| t != "none");
    if msi {
        return SignInKind::ManagedIdentity;
    }
    let user_less = v.get("userId").is_none_or(|u| u.is_null() || u.as_str() == Some(""));
    if user_less && v.get("servicePrincipalId").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
        return SignInKind::ServicePrincipal;
    }
    if v.get("isInteractive").and_then(Value::as_bool) == Some(false) {
        return SignInKind::NonInteractiveUser;
    }
    SignInKind::InteractiveUser
}

fn from_event_type(t: SignInEventType) -> SignInKind {
    match t {
        SignInEventType::InteractiveUser => SignInKind::InteractiveUser,
        SignInEventType::NonInteractiveUser => SignInKind::NonInteractiveUser,
        SignInEventType::ServicePrincipal => SignInKind::ServicePrincipal,
        SignInEventType::ManagedIdentity => SignInKind::ManagedIdentity,
    }
}

/// Decides which log a read record belongs to; for a sign-in whose JSON does not name a kind
/// Graph knows, writes the decided kind into `signInEventTypes` so beta's filter and the reader
/// of the served record see it.
fn classify(v: &mut Value, is_signin: bool, event_type: Option<SignInEventType>) -> LogKind {
    if !is_signin {
        return LogKind::DirectoryAudit;
    }
    if let Some(k) = recorded_kind(v) {
        return k.into();
    }
    let kind = event_type.map(from_event_type).unwrap_or_else(|| inferred_kind(v));
    let value = Value::String(kind.as_str().to_string());
    match v.get_mut("signInEventTypes") {
        // Values this version does not know (or an empty list) are kept; the kind joins them.
        Some(Value::Array(values)) => values.push(value),
        _ => {
            if let Value::Object(map) = v {
                map.insert("signInEventTypes".to_string(), Value::Array(vec![value]));
            }
        }
    }
    kind.into()
}

fn time_of(v: &Value, kind: LogKind) -> Option<Ticks> {
    let field = if kind == LogKind::DirectoryAudit { "activityDateTime" } else { "createdDateTime" };
    parse_odata_datetime(v.get(field)?.as_str()?)
}

fn shift(v: &mut Value, kind: LogKind, by: Ticks) {
    let field = if kind == LogKind::DirectoryAudit { "activityDateTime" } else { "createdDateTime" };
    if let Some(t) = v.get(field).and_then(Value::as_str).and_then(parse_odata_datetime) {
        v[field] = Value::String(format_graph(t + by));
    }
    if let Some(steps) = v.get_mut("authenticationDetails").and_then(Value::as_array_mut) {
        for s in steps {
            if let Some(t) = s.get("authenticationStepDateTime").and_then(Value::as_str).and_then(parse_odata_datetime)
            {
                s["authenticationStepDateTime"] = Value::String(format_graph(t + by));
            }
        }
    }
}

/// Loads the files into the first tenant. Unreadable records are reported and skipped.
pub fn load(state: &SimState, files: &[PathBuf], shift_to_now: bool) -> Result<usize, String> {
    let store = &state.tenants[0];
    let mut loaded: Vec<(Value, LogKind, Ticks)> = Vec::new();
    for path in files {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        for item in m365mon_model::RecordReader::new(file, path.display().to_string()) {
            match item {
                Ok(item) => {
                    let mut v = match serde_json::to_value(&item.record) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::warn!(file = %path.display(), record = item.record_number, error = %e, "skipping record");
                            continue;
                        }
                    };
                    let is_signin = matches!(item.record, Record::SignIn(_));
                    let kind = classify(&mut v, is_signin, item.event_type);
                    match time_of(&v, kind) {
                        Some(t) => loaded.push((v, kind, t)),
                        None => {
                            tracing::warn!(file = %path.display(), record = item.record_number, "skipping a record without a usable time")
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "skipping unreadable record"),
            }
        }
    }
    let by =
        if shift_to_now { loaded.iter().map(|x| x.2).max().map_or(0, |newest| state.clock.now() - newest) } else { 0 };
    let mut records = Vec::with_capacity(loaded.len());
    for (mut v, kind, t) in loaded {
        if by != 0 {
            shift(&mut v, kind, by);
        }
        let key = store.next_key(true);
        let id = v.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        records.push(StoredRecord {
            ticks: t + by,
            key,
            kind,
            id,
            body: StoredBody::Json(v),
            early: None,
            roll: mix64(key),
        });
    }
    let n = records.len();
    store.insert(records);
    tracing::info!(records = n, files = files.len(), "replay loaded");
    Ok(n)
}
