//! Publishing a page of records exactly once.
//!
//! For each record of a page (the exact bytes Graph sent):
//!
//! 1. only its id and event time are read (serde skips the rest without building it, which
//!    still checks the whole record is well-formed JSON; timestamps are read with the model's
//!    tolerant parser). The model's full typed parse costs about a third of the collector's CPU
//!    and its consumers do it anyway. A record that cannot be read, or has no id, goes to the
//!    dead-letter subject with the reason (worded by the model's reader);
//! 2. its content version is computed ([`crate::seen::content_version`]);
//! 3. the seen cache decides: unknown → **new**, known with the same version → **skip**
//!    (counted as deduplicated), known with another version → **update**;
//! 4. new records are published with `Nats-Msg-Id` = the record id, updates with
//!    `Nats-Msg-Id` = `<record id>:<content version>`, so JetStream's duplicate window also
//!    swallows a repeat of either after a crash;
//! 5. when JetStream answers "duplicate" for a record the cache did not know (a restart lost the
//!    cache, or the same id came from another log), the stored message's `M365-Content-Version`
//!    header is read back: same version → a duplicate, another version → published as an update.
//!
//! Publishes run concurrently and every acknowledgement is awaited before the page counts as
//! done; the poller advances its checkpoint only after every page of a window is done.
//!
//! How consumers tell an update from a new record: header `M365-Change` is `new` or `update`;
//! `M365-Record-Id` is the Graph id (the same for both) and `M365-Content-Version` tells versions
//! apart. Keep the message with the latest `M365-Received-At` per record id, or simply upsert by
//! record id in stream order.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::stream::Stream;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use m365mon_bus::{Bus, BusError, DeadLetterOrigin, one_line};
use m365mon_contracts::names::headers;
use m365mon_graph::Page;

use crate::LogKind;
use crate::seen::{SeenCache, SeenEntry, SeenStore, Version, content_version, version_text};

/// The service name on dead letters.
pub const SERVICE: &str = "collector";

/// How long one publish may keep retrying (NATS restarting) before the window fails.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(60);

/// What happened to a page's records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageOutcome {
    /// Pages read (1 for a page; summed over a window).
    pub pages: u64,
    pub fetched: u64,
    pub published: u64,
    pub updated: u64,
    pub deduplicated: u64,
    pub dead_lettered: u64,
    /// Newest event time among the page's readable records.
    pub newest: Option<DateTime<Utc>>,
}

impl PageOutcome {
    pub fn add(&mut self, other: &PageOutcome) {
        self.pages += other.pages;
        self.fetched += other.fetched;
        self.published += other.published;
        self.updated += other.updated;
        self.deduplicated += other.deduplicated;
        self.dead_lettered += other.dead_lettered;
        self.newest = self.newest.max(other.newest);
    }
}

/// Publishes one log's records.
#[derive(Debug)]
pub struct Publisher {
    bus: Bus,
    stream: Stream,
    tenant: String,
    log: LogKind,
    subject: String,
    dead_letter_subject_origin: String,
    pub(crate) cache: SeenCache,
    store: SeenStore,
    concurrency: usize,
    max_payload: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    New,
    Update,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Update => "update",
        }
    }
}

/// A readable record of the page.
struct Planned {
    id: String,
    raw: Bytes,
    version: Version,
    time: i64,
    change: Option<Change>,
}

impl Publisher {
    pub fn new(
        bus: Bus,
        stream: Stream,
        tenant: &str,
        log: LogKind,
        store: SeenStore,
        concurrency: usize,
    ) -> Result<Publisher, BusError> {
        let subject = bus
            .namespace()
            .event_subject(log.record_kind().as_str(), tenant)
            .map_err(|e| BusError::Name(e.to_string()))?;
        let max_payload = bus.client().server_info().max_payload;
        Ok(Publisher {
            dead_letter_subject_origin: subject.clone(),
            bus,
            stream,
            tenant: tenant.to_string(),
            log,
            subject,
            cache: SeenCache::default(),
            store,
            concurrency: concurrency.max(1),
            max_payload: if max_payload == 0 { 1024 * 1024 } else { max_payload },
        })
    }

    /// Loads the persisted seen entries with a time at or after `from`.
    pub async fn load_seen(&mut self, from: DateTime<Utc>) -> Result<usize, BusError> {
        self.store.load(&mut self.cache, from.timestamp()).await
    }

    /// Forgets records no window will reach again.
    pub fn prune_seen(&mut self, before: DateTime<Utc>) {
        self.cache.prune(before.timestamp());
    }

    pub fn seen_len(&self) -> usize {
        self.cache.len()
    }

    /// Publishes a page; records with a time at or after `persist_from` are also remembered in KV.
    pub async fn publish_page(&mut self, page: &Page, persist_from: DateTime<Utc>) -> Result<PageOutcome, BusError> {
        let received_at = page.received_at().to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut outcome = PageOutcome { pages: 1, fetched: page.len() as u64, ..PageOutcome::default() };
        let mut batch: Vec<Planned> = Vec::with_capacity(page.len());
        for raw in page.records() {
            match RecordKey::read(&raw) {
                Err(e) => {
                    // The model's reader explains best what is wrong with a record.
                    let why = m365mon_model::parse_record(&raw).err().map_or_else(|| e.to_string(), |m| m.to_string());
                    let reason = format!("unreadable {} record: {why}", self.log.record_kind().as_str());
                    if self.dead_letter_once(raw, &reason, page.received_at(), persist_from).await? {
                        outcome.dead_lettered += 1;
                    }
                }
                Ok(record) if record.id.trim().is_empty() => {
                    if self.dead_letter_once(raw, "record has no id", page.received_at(), persist_from).await? {
                        outcome.dead_lettered += 1;
                    }
                }
                Ok(record) => {
                    let time = record.event_time();
                    outcome.newest = outcome.newest.max(time);
                    let time = time.unwrap_or(page.received_at()).timestamp();
                    batch.push(Planned {
                        id: record.id.to_string(),
                        version: content_version(&raw),
                        raw,
                        time,
                        change: None,
                    });
                }
            }
        }

        // The same id twice on one page is handled in rounds, so the second sees the first's
        // outcome (Graph serves the last record of a page again on the next one, too).
        while !batch.is_empty() {
            let mut ids = HashSet::with_capacity(batch.len());
            let (round, later): (Vec<Planned>, Vec<Planned>) =
                batch.into_iter().partition(|p| ids.insert(p.id.clone()));
            batch = later;
            self.publish_round(round, &received_at, persist_from, &mut outcome).await?;
        }
        Ok(outcome)
    }

    async fn publish_round(
        &mut self,
        mut round: Vec<Planned>,
        received_at: &str,
        persist_from: DateTime<Utc>,
        outcome: &mut PageOutcome,
    ) -> Result<(), BusError> {
        for planned in &mut round {
            planned.change = match self.cache.get(&planned.id) {
                None => Some(Change::New),
                Some(seen) if seen.version == planned.version => None,
                Some(_) => Some(Change::Update),
            };
            if planned.change.is_none() {
                outcome.deduplicated += 1;
            }
        }
        let oversized: Vec<usize> = round
            .iter()
            .enumerate()
            .filter(|(_, p)| p.change.is_some() && p.raw.len() + 4096 > self.max_payload)
            .map(|(i, _)| i)
            .collect();
        for &i in oversized.iter().rev() {
            let planned = round.remove(i);
            let reason = format!(
                "record {} is {} bytes, more than the NATS server's max_payload of {} allows; raise max_payload \
                 (the dead letter holds its start)",
                planned.id,
                planned.raw.len(),
                self.max_payload
            );
            let keep = self.max_payload / 2;
            self.dead_letter(planned.raw.slice(..keep.min(planned.raw.len())), &reason).await?;
            outcome.dead_lettered += 1;
        }

        // Publish every new and changed record, concurrently, and wait for every ack.
        let mut pending = Vec::with_capacity(round.len());
        for (i, planned) in round.iter().enumerate() {
            if let Some(change) = planned.change {
                let publish = self.publish_one(planned, change, received_at);
                pending.push(async move { (i, publish.await) });
            }
        }
        let results: Vec<(usize, Result<m365mon_bus::Published, BusError>)> =
            futures::stream::iter(pending).buffer_unordered(self.concurrency).collect().await;

        let mut to_persist = Vec::new();
        for (i, result) in results {
            let published = result?;
            let planned = &round[i];
            let change = planned.change.expect("only changes are published");
            let counted = if !published.duplicate {
                Counted::Stored(change)
            } else if change == Change::New {
                // JetStream has this id but the cache did not: compare with what is stored.
                self.resolve_duplicate(planned, published.sequence, received_at).await?
            } else {
                Counted::Duplicate
            };
            match counted {
                Counted::Stored(Change::New) => outcome.published += 1,
                Counted::Stored(Change::Update) => outcome.updated += 1,
                Counted::Duplicate => outcome.deduplicated += 1,
            }
            let entry = SeenEntry { version: planned.version, time: planned.time };
            self.cache.insert(&planned.id, entry);
            if planned.time >= persist_from.timestamp() {
                to_persist.push((planned.id.clone(), entry));
            }
        }
        self.store.persist(&to_persist, self.concurrency).await?;
        Ok(())
    }

    fn publish_one(
        &self,
        planned: &Planned,
        change: Change,
        received_at: &str,
    ) -> impl Future<Output = Result<m365mon_bus::Published, BusError>> + use<> {
        let version = version_text(planned.version);
        let message_id = match change {
            Change::New => planned.id.clone(),
            Change::Update => format!("{}:{version}", planned.id),
        };
        let mut h = HeaderMap::new();
        h.insert(headers::RECORD_ID, one_line(&planned.id, 512).as_str());
        h.insert(headers::CONTENT_VERSION, version.as_str());
        h.insert(headers::CHANGE, change.as_str());
        h.insert(headers::KIND, self.log.record_kind().as_str());
        h.insert(headers::TENANT, self.tenant.as_str());
        if let Some(event_type) = self.log.sign_in_event_type() {
            h.insert(headers::SIGNIN_EVENT_TYPE, event_type);
        }
        h.insert(headers::RECEIVED_AT, received_at);
        let bus = self.bus.clone();
        let subject = self.subject.clone();
        let payload = planned.raw.clone();
        async move { bus.publish(subject, &one_line(&message_id, 512), h, payload, PUBLISH_DEADLINE).await }
    }

    /// JetStream already stored a message with this record id. If its content version differs
    /// from this one, the record changed while we were not looking: publish it as an update.
    async fn resolve_duplicate(
        &self,
        planned: &Planned,
        sequence: u64,
        received_at: &str,
    ) -> Result<Counted, BusError> {
        let stored_version = match self.stream.get_raw_message(sequence).await {
            Ok(message) => message.headers.get(headers::CONTENT_VERSION).map(|v| v.as_str().to_string()),
            Err(e) => {
                // Aged out of the stream between the publish and now, or unreadable: an update is
                // the safe answer (consumers upsert), a silent drop is not.
                tracing::debug!(id = %planned.id, sequence, error = %e, "stored duplicate not readable");
                None
            }
        };
        if stored_version.as_deref() == Some(version_text(planned.version).as_str()) {
            return Ok(Counted::Duplicate);
        }
        let again = self.publish_one(planned, Change::Update, received_at).await?;
        Ok(if again.duplicate { Counted::Duplicate } else { Counted::Stored(Change::Update) })
    }

    /// Dead-letters a record unless this exact record was dead-lettered before (windows re-read
    /// it many times); remembered like a published record. Returns whether it was sent now.
    async fn dead_letter_once(
        &mut self,
        raw: Bytes,
        reason: &str,
        received_at: DateTime<Utc>,
        persist_from: DateTime<Utc>,
    ) -> Result<bool, BusError> {
        let version = content_version(&raw);
        // Not a possible Graph id (the '!' makes the KV key hex-encoded).
        let pseudo_id = format!("!dead-letter:{}", version_text(version));
        if self.cache.get(&pseudo_id).is_some() {
            return Ok(false);
        }
        self.dead_letter(raw, reason).await?;
        let entry = SeenEntry { version, time: received_at.timestamp() };
        self.cache.insert(&pseudo_id, entry);
        if entry.time >= persist_from.timestamp() {
            self.store.persist(&[(pseudo_id, entry)], 1).await?;
        }
        Ok(true)
    }

    async fn dead_letter(&self, raw: Bytes, reason: &str) -> Result<(), BusError> {
        let identity = format!("{}:{}:{}", self.tenant, self.log.as_str(), version_text(content_version(&raw)));
        tracing::warn!(tenant = %self.tenant, log = %self.log, %reason, "record sent to the dead-letter subject");
        self.bus
            .dead_letter(
                SERVICE,
                self.log.record_kind().as_str(),
                DeadLetterOrigin { subject: &self.dead_letter_subject_origin, identity: &identity },
                reason,
                raw,
            )
            .await
            .map(|_| ())
    }
}

/// What the collector needs of a record: its id and event time. Reading only these (serde skips
/// the rest without building it) still checks that the record is well-formed JSON.
#[derive(serde::Deserialize)]
struct RecordKey<'a> {
    #[serde(default, borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(rename = "createdDateTime", default, borrow)]
    created: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "activityDateTime", default, borrow)]
    activity: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> RecordKey<'a> {
    fn read(raw: &'a [u8]) -> Result<RecordKey<'a>, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    fn event_time(&self) -> Option<DateTime<Utc>> {
        self.created.as_deref().or(self.activity.as_deref()).and_then(m365mon_model::time::parse_timestamp)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Stored(Change),
    Duplicate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_id_and_time_are_read_and_bad_records_are_refused() {
        let sign_in = br#"{"id":"a","createdDateTime":"2026-01-02T03:04:05.1234567Z","status":{"errorCode":0},"x":[1,{"y":"\u00e9"}]}"#;
        let key = RecordKey::read(sign_in).unwrap();
        assert_eq!(key.id, "a");
        assert_eq!(key.event_time().unwrap().to_rfc3339(), "2026-01-02T03:04:05.123456700+00:00");
        let audit = br#"{"activityDateTime":"2026-01-02T03:04:05Z","id":"Directory_1"}"#;
        assert!(RecordKey::read(audit).unwrap().event_time().is_some());
        // Escaped ids are unescaped; a record without an id reads with an empty one.
        assert_eq!(RecordKey::read(br#"{"id":"a\"b"}"#).unwrap().id, "a\"b");
        assert_eq!(RecordKey::read(br#"{"userPrincipalName":"x"}"#).unwrap().id, "");
        // Not a record: refused (and dead-lettered by the caller).
        for bad in [&b"[1,2]"[..], b"\"text\"", b"{\"id\":\"a\",", b"{\"id\": 5}", b"nul"] {
            assert!(RecordKey::read(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // A time in an unusual spelling is still read; a hopeless one gives none.
        assert!(
            RecordKey::read(br#"{"id":"a","createdDateTime":"2026-01-02 03:04:05"}"#).unwrap().event_time().is_some()
        );
        assert!(RecordKey::read(br#"{"id":"a","createdDateTime":"soon"}"#).unwrap().event_time().is_none());
    }
}
