//! Streams and buckets, declared in code and ensured idempotently at start-up (design §7).
//!
//! `ensure_*` creates what is missing and brings the mutable limits (age, duplicate window, size)
//! of what exists in line with the configuration. It never deletes a data-bearing stream: a stream
//! whose subjects differ from ours is reported as an error for a human to look at.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use crate::{Bus, BusError};

/// Retention and de-duplication limits of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Messages older than this are removed.
    pub max_age: Duration,
    /// A message whose `Nats-Msg-Id` was seen within this window is not stored again.
    pub duplicate_window: Duration,
    /// Size cap in bytes; `-1` for none.
    pub max_bytes: i64,
}

impl StreamLimits {
    /// `M365_EVENTS`: two weeks of records; a two-hour duplicate window covers the collector's
    /// overlapping re-polls (30 minutes by default) and Graph's late MFA updates.
    pub const EVENTS: StreamLimits = StreamLimits {
        max_age: Duration::from_secs(14 * 86_400),
        duplicate_window: Duration::from_secs(2 * 3_600),
        max_bytes: -1,
    };
    /// `M365_ALERTS`: 90 days; alerts are few, so a day of duplicate window is cheap and covers
    /// any detector replay.
    pub const ALERTS: StreamLimits = StreamLimits {
        max_age: Duration::from_secs(90 * 86_400),
        duplicate_window: Duration::from_secs(86_400),
        max_bytes: -1,
    };
    /// Dead letters: 30 days for a human to look at them.
    pub const DEAD_LETTERS: StreamLimits = StreamLimits {
        max_age: Duration::from_secs(30 * 86_400),
        duplicate_window: Duration::from_secs(3_600),
        max_bytes: -1,
    };
}

/// Options of a KV bucket.
#[derive(Debug, Clone)]
pub struct BucketOptions {
    pub description: String,
    /// Revisions kept per key.
    pub history: i64,
    /// Entries older than this disappear; zero for never.
    pub max_age: Duration,
    /// Largest value in bytes; `-1` for the server's limit.
    pub max_value_size: i32,
}

impl BucketOptions {
    pub fn new(description: impl Into<String>) -> Self {
        BucketOptions { description: description.into(), history: 1, max_age: Duration::ZERO, max_value_size: -1 }
    }

    pub fn history(mut self, history: i64) -> Self {
        self.history = history;
        self
    }

    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
}

const EVENTS_DESCRIPTION: &str = "Microsoft Graph sign-in and directory audit records";

/// What `ensure_stream` does with an existing stream's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limits {
    /// Bring them to the wanted ones (the stream's owner).
    Enforce,
    /// Leave them (a reader must not undo the owner's configuration).
    KeepExisting,
}

impl Bus {
    /// The events stream (`M365_EVENTS`, subjects `<ns>.events.>`): every Graph record. For its
    /// writer, the collector, whose settings decide the limits (the duplicate window must cover
    /// the poll overlap): an existing stream's limits are brought to `limits`.
    pub async fn ensure_events_stream(&self, limits: StreamLimits) -> Result<stream::Stream, BusError> {
        let name = self.ns.events_stream();
        let subject = self.ns.events_filter();
        self.ensure_stream(&name, subject, EVENTS_DESCRIPTION, limits, Limits::Enforce).await
    }

    /// The events stream for a reader (the detector): created with the default limits when
    /// missing, an existing stream left as the collector configured it.
    pub async fn open_events_stream(&self) -> Result<stream::Stream, BusError> {
        let name = self.ns.events_stream();
        let subject = self.ns.events_filter();
        self.ensure_stream(&name, subject, EVENTS_DESCRIPTION, StreamLimits::EVENTS, Limits::KeepExisting).await
    }

    /// The alerts stream (`M365_ALERTS`, subjects `<ns>.alerts.>`).
    pub async fn ensure_alerts_stream(&self, limits: StreamLimits) -> Result<stream::Stream, BusError> {
        let name = self.ns.alerts_stream();
        let subject = self.ns.alerts_filter();
        self.ensure_stream(&name, subject, "m365-monitor alert events", limits, Limits::Enforce).await
    }

    /// The dead-letter stream (`<NS>_DEAD_LETTERS`, subjects `<ns>.deadletter.>`).
    pub async fn ensure_dead_letter_stream(&self) -> Result<stream::Stream, BusError> {
        let name = self.ns.dead_letter_stream();
        let subject = self.ns.dead_letter_filter();
        self.ensure_stream(
            &name,
            subject,
            "messages a service could not process, with the reason",
            StreamLimits::DEAD_LETTERS,
            Limits::Enforce,
        )
        .await
    }

    async fn ensure_stream(
        &self,
        name: &str,
        subject: String,
        description: &str,
        limits: StreamLimits,
        policy: Limits,
    ) -> Result<stream::Stream, BusError> {
        let err = |reason: String| BusError::Stream { stream: name.to_string(), reason };
        // JetStream refuses a duplicate window longer than the retention.
        let duplicate_window = if limits.max_age.is_zero() {
            limits.duplicate_window
        } else {
            limits.duplicate_window.min(limits.max_age)
        };
        let wanted = stream::Config {
            name: name.to_string(),
            description: Some(description.to_string()),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            max_age: limits.max_age,
            duplicate_window,
            max_bytes: limits.max_bytes,
            ..Default::default()
        };
        match self.js.get_stream(name).await {
            Ok(mut existing) => {
                let info = existing.info().await.map_err(|e| err(e.to_string()))?.clone();
                let config = info.config;
                if config.subjects != wanted.subjects {
                    return Err(err(format!(
                        "exists with subjects {:?}, expected [{subject}]; not changing a stream that holds data — \
                         fix or remove it by hand",
                        config.subjects
                    )));
                }
                if policy == Limits::Enforce
                    && (config.max_age != wanted.max_age
                        || config.duplicate_window != wanted.duplicate_window
                        || config.max_bytes != wanted.max_bytes)
                {
                    tracing::info!(stream = name, "updating stream limits");
                    let updated = stream::Config {
                        max_age: wanted.max_age,
                        duplicate_window: wanted.duplicate_window,
                        max_bytes: wanted.max_bytes,
                        ..config
                    };
                    self.js.update_stream(updated).await.map_err(|e| err(e.to_string()))?;
                }
                Ok(existing)
            }
            Err(e) if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(_)) => {
                // Not found (or another JetStream-level answer): try to create it; a concurrent
                // creator makes this fail harmlessly, so look it up once more.
                match self.js.create_stream(wanted).await {
                    Ok(stream) => Ok(stream),
                    Err(create_err) => self.js.get_stream(name).await.map_err(|_| err(create_err.to_string())),
                }
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// A KV bucket of this namespace, created when missing.
    ///
    /// The bucket's stream is created here with the KV conventions (stream `KV_<bucket>` on
    /// `$KV.<bucket>.>`, per-key history, roll-ups, direct get) rather than through the client's
    /// `create_key_value`, whose account-info query does not parse the replies of NATS 2.9.
    pub async fn ensure_bucket(&self, bucket: &str, options: BucketOptions) -> Result<kv::Store, BusError> {
        let err = |reason: String| BusError::Kv { bucket: bucket.to_string(), reason };
        if let Ok(store) = self.js.get_key_value(bucket).await {
            return Ok(store);
        }
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            description: Some(options.description),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: options.history.clamp(1, 64),
            max_age: options.max_age,
            max_message_size: options.max_value_size,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            deny_purge: false,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        };
        if let Err(create_err) = self.js.create_stream(config).await {
            // A concurrent creator wins harmlessly; anything else is reported.
            return self.js.get_key_value(bucket).await.map_err(|_| err(create_err.to_string()));
        }
        self.js.get_key_value(bucket).await.map_err(|e| err(e.to_string()))
    }

    /// Removes every stream (and so every KV bucket and consumer) of this namespace. For tests and
    /// `uninstall`; refuses the default namespace so production data cannot go this way.
    pub async fn delete_namespace(&self) -> Result<usize, BusError> {
        use futures::TryStreamExt;
        if self.ns.as_str() == m365mon_contracts::Namespace::DEFAULT {
            return Err(BusError::Name("refusing to delete the default namespace".into()));
        }
        let upper = format!("{}_", self.ns.as_str().to_ascii_uppercase().replace('-', "_"));
        let kv_prefix = format!("KV_{}_", self.ns.as_str().replace('-', "_"));
        let obj_prefix = format!("OBJ_{}_", self.ns.as_str().replace('-', "_"));
        let names: Vec<String> = self
            .js
            .stream_names()
            .try_collect()
            .await
            .map_err(|e| BusError::Stream { stream: "*".into(), reason: e.to_string() })?;
        let mut deleted = 0;
        for name in names {
            if name.starts_with(&upper) || name.starts_with(&kv_prefix) || name.starts_with(&obj_prefix) {
                self.js
                    .delete_stream(&name)
                    .await
                    .map_err(|e| BusError::Stream { stream: name.clone(), reason: e.to_string() })?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
