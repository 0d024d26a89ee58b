//! Which records were published, and in which content version.
//!
//! Every poll re-reads the overlap and every late sweep re-reads hours, so most records arrive
//! many times; a record is published again only when its content changed (Graph fills in MFA
//! details up to two hours later). The collector keeps, per log, the content version of each
//! record it may still meet again:
//!
//! - in memory ([`SeenCache`]), pruned by event time once no window can reach a record any more;
//! - in the KV bucket `<ns>_seen` ([`SeenStore`]), key `<tenant>.<log>.<record id>` (ids with
//!   characters KV keys do not allow are written `=` + hex), value
//!   `{"v": "<content version>", "t": <event time, Unix seconds>}`, so that a restarted collector
//!   knows them too. Entries expire after the horizon (bucket `max_age`).
//!
//! Only records recent enough to be re-read are written to KV; an old record of a backfill slice
//! that is re-read after a crash is recognised by JetStream's duplicate window instead (see
//! [`crate::publish`]).
//!
//! The content version is the first 16 hex digits of the SHA-256 of the record's JSON exactly as
//! Graph sent it.

use std::collections::HashMap;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use m365mon_bus::{Bus, BusError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::LogKind;

/// A content version: 64 bits of SHA-256.
pub type Version = u64;

/// The content version of a record's raw JSON.
pub fn content_version(raw: &[u8]) -> Version {
    let digest = Sha256::digest(raw);
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// `Version` as the 16 hex digits used in headers and KV.
pub fn version_text(version: Version) -> String {
    format!("{version:016x}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenEntry {
    pub version: Version,
    /// Event time (Unix seconds), or the time it was published when the record has none.
    pub time: i64,
}

/// The in-memory part.
#[derive(Debug, Default)]
pub struct SeenCache {
    entries: HashMap<Box<str>, SeenEntry>,
}

impl SeenCache {
    pub fn get(&self, id: &str) -> Option<SeenEntry> {
        self.entries.get(id).copied()
    }

    pub fn insert(&mut self, id: &str, entry: SeenEntry) {
        match self.entries.get_mut(id) {
            Some(existing) => *existing = entry,
            None => {
                self.entries.insert(id.into(), entry);
            }
        }
    }

    /// Forgets records with a time before `before` (Unix seconds).
    pub fn prune(&mut self, before: i64) {
        self.entries.retain(|_, e| e.time >= before);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    v: String,
    t: i64,
}

/// The KV part, for one tenant and log.
#[derive(Debug, Clone)]
pub struct SeenStore {
    store: kv::Store,
    bucket: String,
    prefix: String,
}

impl SeenStore {
    pub fn new(bus: &Bus, store: kv::Store, tenant: &str, log: LogKind) -> SeenStore {
        SeenStore { store, bucket: bus.namespace().seen_bucket(), prefix: format!("{tenant}.{}.", log.as_str()) }
    }

    fn err(&self, reason: impl ToString) -> BusError {
        BusError::Kv { bucket: self.bucket.clone(), reason: reason.to_string() }
    }

    /// The KV key of a record id.
    pub fn key(&self, id: &str) -> String {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            format!("{}{id}", self.prefix)
        } else {
            format!("{}={}", self.prefix, hex::encode(id.as_bytes()))
        }
    }

    fn id_of(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix(&self.prefix)?;
        match rest.strip_prefix('=') {
            Some(encoded) => String::from_utf8(hex::decode(encoded).ok()?).ok(),
            None => Some(rest.to_string()),
        }
    }

    /// Writes entries (concurrently; all must be acknowledged).
    pub async fn persist(&self, entries: &[(String, SeenEntry)], concurrency: usize) -> Result<(), BusError> {
        let mut pending = Vec::with_capacity(entries.len());
        for (id, entry) in entries {
            let key = self.key(id);
            let value = serde_json::to_vec(&StoredEntry { v: version_text(entry.version), t: entry.time })
                .expect("plain struct serialises");
            let store = self.store.clone();
            let bucket = self.bucket.clone();
            pending.push(async move {
                store.put(key, Bytes::from(value)).await.map_err(|e| BusError::Kv { bucket, reason: e.to_string() })
            });
        }
        futures::stream::iter(pending).buffer_unordered(concurrency.max(1)).try_collect::<Vec<_>>().await.map(|_| ())
    }

    /// Loads this log's entries with a time at or after `from` into `cache`; returns how many.
    pub async fn load(&self, cache: &mut SeenCache, from: i64) -> Result<usize, BusError> {
        let stream = self.store.stream.clone();
        let filter = format!("$KV.{}.{}>", self.bucket, self.prefix);
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter.clone(),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| self.err(e))?;
        let mut consumer = consumer;
        let pending = consumer.info().await.map_err(|e| self.err(e))?.num_pending;
        if pending == 0 {
            return Ok(0);
        }
        let subject_prefix = format!("$KV.{}.", self.bucket);
        let mut messages = consumer.messages().await.map_err(|e| self.err(e))?;
        let mut loaded = 0;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| self.err(e))?;
            let left = message.info().map(|i| i.pending).unwrap_or(0);
            let deleted = message
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_some_and(|op| op.as_str() == "DEL" || op.as_str() == "PURGE");
            if !deleted
                && let Some(key) = message.subject.as_str().strip_prefix(&subject_prefix)
                && let Some(id) = self.id_of(key)
                && let Ok(stored) = serde_json::from_slice::<StoredEntry>(&message.payload)
                && let Ok(version) = u64::from_str_radix(&stored.v, 16)
                && stored.t >= from
            {
                cache.insert(&id, SeenEntry { version, time: stored.t });
                loaded += 1;
            }
            if left == 0 {
                break;
            }
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_stable_and_content_sensitive() {
        let a = content_version(br#"{"id":"1","x":1}"#);
        assert_eq!(a, content_version(br#"{"id":"1","x":1}"#));
        assert_ne!(a, content_version(br#"{"id":"1","x":2}"#));
        assert_eq!(version_text(0xab), "00000000000000ab");
    }

    #[test]
    fn the_cache_prunes_by_time() {
        let mut cache = SeenCache::default();
        cache.insert("old", SeenEntry { version: 1, time: 100 });
        cache.insert("new", SeenEntry { version: 2, time: 200 });
        cache.insert("new", SeenEntry { version: 3, time: 200 });
        cache.prune(150);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("new").map(|e| e.version), Some(3));
    }
}
