//! Poll checkpoints, one per tenant and log, in the KV bucket `<ns>_checkpoints` under the key
//! `<tenant>.<log>`, written with compare-and-set.
//!
//! Value (JSON, `"version": 1`):
//!
//! ```json
//! { "version": 1, "tenant": "72f988bf-…", "log": "interactive",
//!   "checkpoint": "2026-11-26T09:40:55.1234567Z", "settled": false,
//!   "newest_record": "2026-11-26T09:40:55.1234567Z",
//!   "backfill_from": "2026-11-19T09:00:00Z", "last_sweep_at": "2026-11-26T09:00:03Z",
//!   "records_published": 182734, "updated_at": "2026-11-26T09:41:02Z" }
//! ```
//!
//! Meaning of `checkpoint` (c): every record with event time before c that Graph showed at the
//! time it was read has been published to JetStream and acknowledged. The next window starts at
//! c − overlap (`settled: false`: c is the newest record seen, and records just before it may still
//! become visible), or at c itself (`settled: true`: c ends a backfill slice that was read long
//! after it happened, so nothing below it is still on its way beyond what the late sweep catches).
//! c is a time taken from Graph's own records, never from the local clock, so clock skew cannot
//! open a gap. `newest_record` gives the lag; `backfill_from` is where the first start began.
//!
//! Compare-and-set means a second collector polling the same tenant (a misconfiguration) cannot
//! move a checkpoint behind the first one's back: it is told, logs it, and re-reads.

use chrono::{DateTime, Utc};
use m365mon_bus::{Bus, BusError, JsonKv};
use serde::{Deserialize, Serialize};

use crate::LogKind;

/// The stored checkpoint of one log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub tenant: String,
    pub log: String,
    pub checkpoint: DateTime<Utc>,
    /// `true` when `checkpoint` ends a backfill slice: the next window starts exactly there.
    pub settled: bool,
    #[serde(default)]
    pub newest_record: Option<DateTime<Utc>>,
    #[serde(default)]
    pub backfill_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_sweep_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub records_published: u64,
    pub updated_at: DateTime<Utc>,
}

/// The checkpoints of one log, with the revision last read or written.
#[derive(Debug)]
pub struct CheckpointStore {
    kv: JsonKv<Checkpoint>,
    key: String,
    revision: Option<u64>,
}

/// The store refused a write because someone else wrote first.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "the checkpoint {key} was changed by someone else (another collector polling the same tenant?); \
         run one collector per tenant. Re-reading it."
    )]
    Conflict { key: String },
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl CheckpointStore {
    pub async fn open(bus: &Bus, tenant: &str, log: LogKind) -> Result<CheckpointStore, BusError> {
        let store = crate::buckets::checkpoints(bus).await?;
        Ok(CheckpointStore {
            kv: JsonKv::new(store, bus.namespace().checkpoints_bucket()),
            key: key(tenant, log),
            revision: None,
        })
    }

    /// The stored checkpoint, if any (and remembers its revision for the next write).
    pub async fn load(&mut self) -> Result<Option<Checkpoint>, BusError> {
        let loaded = self.kv.get(&self.key).await?;
        self.revision = loaded.as_ref().map(|v| v.revision);
        Ok(loaded.map(|v| v.value))
    }

    /// Writes if nobody else wrote since our last read or write.
    pub async fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        match self.kv.compare_and_set(&self.key, checkpoint, self.revision).await? {
            Some(revision) => {
                self.revision = Some(revision);
                Ok(())
            }
            None => Err(CheckpointError::Conflict { key: self.key.clone() }),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// `<tenant>.<log>`.
pub fn key(tenant: &str, log: LogKind) -> String {
    format!("{tenant}.{}", log.as_str())
}
