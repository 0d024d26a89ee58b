//! The settings document in KV: read it, watch it, write it.
//!
//! Services apply settings live (design §2). A document that does not validate is refused: the
//! writer gets the problems, and a watcher that somehow meets one (written by hand with another
//! tool) keeps the last good settings and logs why, so a typo never switches detection off.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use bytes::Bytes;
use futures::StreamExt;
use m365mon_contracts::Settings;
use m365mon_contracts::names::SETTINGS_KEY;
use m365mon_contracts::settings::SettingsError;
use tokio::sync::watch;

use crate::topology::BucketOptions;
use crate::{Bus, BusError};

/// A failure storing settings.
#[derive(Debug, thiserror::Error)]
pub enum PutSettingsError {
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl Bus {
    async fn settings_store(&self) -> Result<async_nats::jetstream::kv::Store, BusError> {
        self.ensure_bucket(
            &self.namespace().settings_bucket(),
            BucketOptions::new("m365-monitor settings document (validated JSON)").history(20),
        )
        .await
    }

    /// The stored settings with their revision; defaults (revision 0) when none were stored.
    pub async fn load_settings(&self) -> Result<(Settings, u64), BusError> {
        let store = self.settings_store().await?;
        let bucket = self.namespace().settings_bucket();
        match store
            .entry(SETTINGS_KEY)
            .await
            .map_err(|e| BusError::Kv { bucket: bucket.clone(), reason: e.to_string() })?
        {
            Some(entry) if entry.operation == Operation::Put => {
                let settings = Settings::from_json_slice(&entry.value).map_err(|e| BusError::Decode {
                    what: format!("{bucket}/{SETTINGS_KEY}"),
                    reason: e.to_string(),
                })?;
                Ok((settings, entry.revision))
            }
            _ => Ok((Settings::default(), 0)),
        }
    }

    /// Validates and stores a settings document; returns the new revision.
    pub async fn put_settings(&self, settings: &Settings) -> Result<u64, PutSettingsError> {
        settings.validate()?;
        let store = self.settings_store().await?;
        let bytes = serde_json::to_vec_pretty(settings).expect("settings always serialise");
        let revision = store
            .put(SETTINGS_KEY, Bytes::from(bytes))
            .await
            .map_err(|e| BusError::Kv { bucket: self.namespace().settings_bucket(), reason: e.to_string() })?;
        Ok(revision)
    }

    /// Current settings and a receiver that sees every later valid change. The watch runs until
    /// the returned receiver and all its clones are dropped; it re-subscribes after NATS outages.
    pub async fn watch_settings(&self) -> Result<watch::Receiver<Arc<Settings>>, BusError> {
        let (initial, _) = match self.load_settings().await {
            Ok(loaded) => loaded,
            Err(BusError::Decode { what, reason }) => {
                tracing::error!(%what, %reason, "stored settings are invalid; using defaults until they are fixed");
                (Settings::default(), 0)
            }
            Err(e) => return Err(e),
        };
        let (sender, receiver) = watch::channel(Arc::new(initial));
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                if sender.is_closed() {
                    return;
                }
                if let Err(e) = bus.follow_settings(&sender).await {
                    tracing::warn!(error = %e, "settings watch interrupted; resuming");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(receiver)
    }

    async fn follow_settings(&self, sender: &watch::Sender<Arc<Settings>>) -> Result<(), BusError> {
        let bucket = self.namespace().settings_bucket();
        let store = self.settings_store().await?;
        let mut updates = store
            .watch_with_history(SETTINGS_KEY)
            .await
            .map_err(|e| BusError::Kv { bucket: bucket.clone(), reason: e.to_string() })?;
        loop {
            let next = tokio::select! {
                next = updates.next() => next,
                _ = sender.closed() => return Ok(()),
            };
            let Some(entry) = next else { return Ok(()) };
            let entry = entry.map_err(|e| BusError::Kv { bucket: bucket.clone(), reason: e.to_string() })?;
            if entry.operation != Operation::Put {
                tracing::warn!("settings were deleted from KV; keeping the last good settings");
                continue;
            }
            match Settings::from_json_slice(&entry.value) {
                Ok(settings) => {
                    if **sender.borrow() != settings {
                        tracing::info!(revision = entry.revision, "settings changed");
                        sender.send_replace(Arc::new(settings));
                    }
                }
                Err(e) => tracing::error!(revision = entry.revision, error = %e, "ignoring invalid settings in KV"),
            }
        }
    }
}
