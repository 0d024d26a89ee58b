//! Tenant snapshots: the rules engine's state of one tenant, with the stream position it matches.
//!
//! # Format
//! One object per tenant, named by the tenant id, in the JetStream object store
//! `<ns>_detector_state` (stream `OBJ_<ns>_detector_state`). An object store rather than a KV
//! value because a large tenant's state is several megabytes and a NATS message is limited to
//! 1 MB: the object store splits it into 128 KB chunks and publishes the object's metadata last,
//! so a snapshot write interrupted half-way leaves the previous snapshot in force. The object is a
//! JSON document ([`TenantSnapshot`]):
//!
//! ```json
//! { "format": 1, "tenant": "…", "position": 4711, "stream_created": "2026-…Z",
//!   "event_time": "2026-…Z", "taken_at": "2026-…Z", "instance": "…",
//!   "outbox": [ alert events … ], "engine": { the rules engine's snapshot } }
//! ```
//!
//! `position` is the stream sequence of the last record of this tenant the engine has seen
//! (0: none yet). `outbox` holds alert events the engine produced without a record (an idle
//! tick) that may not have reached the alert stream when the snapshot was written: a restore
//! publishes them again, and JetStream's duplicate window drops those that did.
//!
//! # Why this makes a restart exact
//! The engine is deterministic: the state at position P plus the same records in the same
//! order gives the same alerts, revisions included. Everything that changes the state without a
//! record (a settings change, new privileged accounts, an idle tick moving event time) is
//! followed at once by a snapshot, so between two snapshots only records change the state. After
//! a crash the detector restores the last snapshot, repositions the tenant's consumer to P + 1,
//! and sees the same records in the same order again: it re-derives the same alert events with
//! the same message ids, which the alert stream's duplicate window (a day) absorbs.

use std::time::Duration;

use async_nats::jetstream::{self, object_store};
use chrono::{DateTime, Utc};
use m365mon_bus::Bus;
use m365mon_contracts::AlertEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::AsyncReadExt;

/// Version of [`TenantSnapshot`]'s layout.
pub const FORMAT: u32 = 1;

/// One tenant's durable detector state.
#[derive(Debug, Serialize, Deserialize)]
pub struct TenantSnapshot {
    pub format: u32,
    pub tenant: String,
    /// Stream sequence of the last record of this tenant reflected in `engine`.
    pub position: u64,
    /// When the events stream was created: sequences of a stream deleted and created again
    /// start afresh, and a position in the old one means nothing in the new one.
    pub stream_created: DateTime<Utc>,
    /// The newest event time the engine has seen or been moved to (`None`: no record yet).
    pub event_time: Option<DateTime<Utc>>,
    pub taken_at: DateTime<Utc>,
    /// The detector process that wrote it.
    pub instance: String,
    /// Alert events produced without a record, perhaps not yet on the alert stream.
    #[serde(default)]
    pub outbox: Vec<AlertEvent>,
    /// The rules engine's own snapshot (`m365mon_rules::Engine::snapshot`).
    pub engine: Box<RawValue>,
}

/// A snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotStoreError {
    #[error("object store {bucket}: {reason}")]
    Store { bucket: String, reason: String },
    #[error("snapshot of tenant {tenant} is unreadable: {reason}")]
    Corrupt { tenant: String, reason: String },
}

/// The object store holding every tenant's snapshot.
#[derive(Clone)]
pub struct SnapshotStore {
    store: object_store::ObjectStore,
    bucket: String,
}

impl std::fmt::Debug for SnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotStore").field("bucket", &self.bucket).finish()
    }
}

impl SnapshotStore {
    /// Opens the namespace's snapshot store, creating it when missing.
    pub async fn open(bus: &Bus) -> Result<SnapshotStore, SnapshotStoreError> {
        let bucket = bus.namespace().detector_state_bucket();
        let err = |reason: String| SnapshotStoreError::Store { bucket: bucket.clone(), reason };
        let js = bus.jetstream();
        let store = match js.get_object_store(&bucket).await {
            Ok(store) => store,
            Err(_) => {
                let config = object_store::Config {
                    bucket: bucket.clone(),
                    description: Some("m365-monitor detector: rules engine state per tenant".into()),
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: 1,
                    ..Default::default()
                };
                match js.create_object_store(config).await {
                    Ok(store) => store,
                    // A concurrent creator wins harmlessly.
                    Err(create_err) => js.get_object_store(&bucket).await.map_err(|_| err(create_err.to_string()))?,
                }
            }
        };
        Ok(SnapshotStore { store, bucket })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The tenant's snapshot, or `None` when there is none.
    pub async fn load(&self, tenant: &str) -> Result<Option<TenantSnapshot>, SnapshotStoreError> {
        let mut object = match self.store.get(tenant).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err(e.to_string())),
        };
        let mut bytes = Vec::with_capacity(object.info().size);
        tokio::time::timeout(Duration::from_secs(120), object.read_to_end(&mut bytes))
            .await
            .map_err(|_| self.err(format!("reading the snapshot of {tenant} took over 120 s")))?
            .map_err(|e| self.err(format!("reading the snapshot of {tenant}: {e}")))?;
        let snapshot: TenantSnapshot = serde_json::from_slice(&bytes)
            .map_err(|e| SnapshotStoreError::Corrupt { tenant: tenant.to_string(), reason: e.to_string() })?;
        if snapshot.format != FORMAT {
            return Err(SnapshotStoreError::Corrupt {
                tenant: tenant.to_string(),
                reason: format!("format {} is not supported (this detector reads format {FORMAT})", snapshot.format),
            });
        }
        if snapshot.tenant != tenant {
            return Err(SnapshotStoreError::Corrupt {
                tenant: tenant.to_string(),
                reason: format!("it belongs to tenant {}", snapshot.tenant),
            });
        }
        Ok(Some(snapshot))
    }

    /// Writes the tenant's snapshot; returns its size in bytes. The previous snapshot stays in
    /// force until the new one is complete.
    pub async fn save(&self, snapshot: &TenantSnapshot) -> Result<usize, SnapshotStoreError> {
        let bytes = serde_json::to_vec(snapshot).map_err(|e| self.err(e.to_string()))?;
        let size = bytes.len();
        let meta = object_store::ObjectMetadata {
            name: snapshot.tenant.clone(),
            description: Some(format!("detector state at stream sequence {}", snapshot.position)),
            ..Default::default()
        };
        let mut reader = bytes.as_slice();
        self.store.put(meta, &mut reader).await.map_err(|e| self.err(e.to_string()))?;
        Ok(size)
    }

    /// Removes a tenant's snapshot (an operator's reset).
    pub async fn delete(&self, tenant: &str) -> Result<(), SnapshotStoreError> {
        self.store.delete(tenant).await.map_err(|e| self.err(e.to_string()))
    }

    fn err(&self, reason: String) -> SnapshotStoreError {
        SnapshotStoreError::Store { bucket: self.bucket.clone(), reason }
    }
}
