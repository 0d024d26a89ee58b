//! `--replay FILE...`: serve recorded records instead of synthetic traffic.
//!
//! Files are read with the record model's reader (Graph pages, JSON arrays, JSON lines, Event Hub
//! exports ...); every record goes to the first tenant. With `--shift-to-now` every timestamp
//! (`createdDateTime`/`activityDateTime` and the authentication step times) moves by the same
//! amount so the newest record is now, keeping the gaps between records.

use std::fs::File;
use std::path::PathBuf;

use serde_json::Value;

use crate::records::LogKind;
use crate::rng::mix64;
use crate::sim::SimState;
use crate::store::{StoredBody, StoredRecord};
use crate::time::{Ticks, format_graph, parse_odata_datetime};

fn kind_of(v: &Value) -> Option<LogKind> {
    if v.get("activityDateTime").is_some() || v.get("activityDisplayName").is_some() {
        return Some(LogKind::DirectoryAudit);
    }
    v.get("createdDateTime")?;
    if let Some(types) = v.get("signInEventTypes").and_then(Value::as_array)
        && let Some(first) = types.iter().filter_map(Value::as_str).next()
        && let Some(k) = crate::records::SignInKind::parse(first)
    {
        return Some(k.into());
    }
    let msi = v.pointer("/managedServiceIdentity/msiType").and_then(Value::as_str).is_some_and(|t| t != "none");
    if msi {
        return Some(LogKind::ManagedIdentity);
    }
    let user_less = v.get("userId").is_none_or(|u| u.is_null() || u.as_str() == Some(""));
    if user_less && v.get("servicePrincipalId").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
        return Some(LogKind::ServicePrincipal);
    }
    if v.get("isInteractive").and_then(Value::as_bool) == Some(false) {
        return Some(LogKind::NonInteractiveUser);
    }
    Some(LogKind::InteractiveUser)
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
                    let v = match serde_json::to_value(&item.record) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::warn!(file = %path.display(), record = item.record_number, error = %e, "skipping record");
                            continue;
                        }
                    };
                    match kind_of(&v).and_then(|k| time_of(&v, k).map(|t| (k, t))) {
                        Some((k, t)) => loaded.push((v, k, t)),
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
