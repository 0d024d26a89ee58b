//! Typed JSON values in a KV bucket, with compare-and-set for values that more than one process
//! may write (checkpoints).

use std::marker::PhantomData;

use async_nats::jetstream::kv::{self, Operation};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::BusError;

/// A KV bucket whose values are JSON documents of type `T`.
#[derive(Debug, Clone)]
pub struct JsonKv<T> {
    store: kv::Store,
    bucket: String,
    _value: PhantomData<fn() -> T>,
}

/// A value and the revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub revision: u64,
}

impl<T: Serialize + DeserializeOwned> JsonKv<T> {
    pub fn new(store: kv::Store, bucket: impl Into<String>) -> Self {
        JsonKv { store, bucket: bucket.into(), _value: PhantomData }
    }

    pub fn store(&self) -> &kv::Store {
        &self.store
    }

    fn err(&self, reason: impl ToString) -> BusError {
        BusError::Kv { bucket: self.bucket.clone(), reason: reason.to_string() }
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<T, BusError> {
        serde_json::from_slice(bytes)
            .map_err(|e| BusError::Decode { what: format!("{}/{key}", self.bucket), reason: e.to_string() })
    }

    /// The current value, or `None` when the key is absent or deleted.
    pub async fn get(&self, key: &str) -> Result<Option<Versioned<T>>, BusError> {
        match self.store.entry(key).await.map_err(|e| self.err(e))? {
            Some(entry) if entry.operation == Operation::Put => {
                Ok(Some(Versioned { value: self.decode(key, &entry.value)?, revision: entry.revision }))
            }
            _ => Ok(None),
        }
    }

    /// Writes unconditionally; returns the new revision.
    pub async fn put(&self, key: &str, value: &T) -> Result<u64, BusError> {
        let bytes = serde_json::to_vec(value).map_err(|e| self.err(e))?;
        self.store.put(key, Bytes::from(bytes)).await.map_err(|e| self.err(e))
    }

    /// Writes only if the key is still at `revision` (`None`: only if absent). Returns the new
    /// revision, or `Ok(None)` when someone else wrote first.
    pub async fn compare_and_set(&self, key: &str, value: &T, revision: Option<u64>) -> Result<Option<u64>, BusError> {
        let bytes = Bytes::from(serde_json::to_vec(value).map_err(|e| self.err(e))?);
        let result = match revision {
            Some(revision) => self.store.update(key, bytes, revision).await.map_err(|e| e.to_string()),
            None => self.store.create(key, bytes).await.map_err(|e| e.to_string()),
        };
        match result {
            Ok(revision) => Ok(Some(revision)),
            Err(text) if text.contains("wrong last sequence") || text.contains("key already exists") => Ok(None),
            Err(text) => Err(self.err(text)),
        }
    }

    /// Removes a key.
    pub async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.store.delete(key).await.map_err(|e| self.err(e))
    }

    /// All current keys.
    pub async fn keys(&self) -> Result<Vec<String>, BusError> {
        use futures::TryStreamExt;
        let keys = self.store.keys().await.map_err(|e| self.err(e))?;
        keys.try_collect().await.map_err(|e| self.err(e))
    }
}
