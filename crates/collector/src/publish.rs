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
//! done; the poller advances its checkpoint only after every page of a window is done. A backfill
//! slice is published the same way, but records of several logs at once, sorted by event time,
//! each publish started in that order ([`crate::backfill`]).
//!
//! How consumers tell an update from a new record: header `M365-Change` is `new` or `update`;
//! `M365-Record-Id` is the Graph id (the same for both) and `M365-Content-Version` tells versions
//! apart. Keep the message with the latest `M365-Received-At` per record id, or simply upsert by
//! record id in stream order.

use std::collections::HashSet;
use std::sync::Arc;
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

/// Publishes in flight at once when several logs publish together (a backfill slice).
const MAX_IN_FLIGHT: usize = 1024;

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

/// A readable record of a page, ready to publish (see [`Publisher::plan_page`]).
#[derive(Debug)]
pub(crate) struct Planned {
    pub(crate) id: String,
    raw: Bytes,
    version: Version,
    /// Event time (or, without one, when the page was received), Unix seconds: the seen entry's.
    time: i64,
    /// The same in microseconds: the order of a backfill slice.
    pub(crate) at: i64,
    /// When the page was received (RFC 3339), for the `M365-Received-At` header.
    received_at: Arc<str>,
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
        let (planned, outcome) = self.plan_page(page, persist_from).await?;
        let mut outcomes = [outcome];
        let records = planned.into_iter().map(|p| (0, p)).collect();
        publish_in_order(&mut [self], records, persist_from, &mut outcomes).await?;
        let [outcome] = outcomes;
        Ok(outcome)
    }

    /// Reads a page's records (id, event time, content version) without publishing them.
    /// Unreadable records and records without an id are dead-lettered here. The outcome counts the
    /// page, its records, its dead letters and its newest event time.
    pub(crate) async fn plan_page(
        &mut self,
        page: &Page,
        persist_from: DateTime<Utc>,
    ) -> Result<(Vec<Planned>, PageOutcome), BusError> {
        let received_at: Arc<str> = page.received_at().to_rfc3339_opts(SecondsFormat::Millis, true).into();
        let mut outcome = PageOutcome { pages: 1, fetched: page.len() as u64, ..PageOutcome::default() };
        let mut planned: Vec<Planned> = Vec::with_capacity(page.len());
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
                    let time = time.unwrap_or(page.received_at());
                    planned.push(Planned {
                        id: record.id.to_string(),
                        version: content_version(&raw),
                        raw,
                        time: time.timestamp(),
                        at: time.timestamp_micros(),
                        received_at: received_at.clone(),
                        change: None,
                    });
                }
            }
        }
        Ok((planned, outcome))
    }

    fn publish_one(
        &self,
        planned: &Planned,
        change: Change,
    ) -> impl Future<Output = Result<m365mon_bus::Published, BusError>> + use<> {
        let (subject, message_id, headers) = self.message(planned, change);
        let bus = self.bus.clone();
        let payload = planned.raw.clone();
        async move { bus.publish(subject, &message_id, headers, payload, PUBLISH_DEADLINE).await }
    }

    /// Hands the message of `planned` to the NATS connection (after the messages handed before
    /// it) and returns its acknowledgement. When the send or the acknowledgement fails, the
    /// acknowledgement future publishes again with the bus's retries, under the same message id
    /// (JetStream stores it once).
    async fn send_in_order(
        &self,
        planned: &Planned,
        change: Change,
    ) -> futures::future::BoxFuture<'static, Result<m365mon_bus::Published, BusError>> {
        let (subject, message_id, headers) = self.message(planned, change);
        let payload = planned.raw.clone();
        let mut with_id = headers.clone();
        with_id.insert(headers::MSG_ID, message_id.as_str());
        let sent = self.bus.jetstream().publish_with_headers(subject.clone(), with_id, payload.clone()).await;
        let bus = self.bus.clone();
        Box::pin(async move {
            let failure = match sent {
                Ok(ack) => match ack.await {
                    Ok(ack) => return Ok(m365mon_bus::Published { sequence: ack.sequence, duplicate: ack.duplicate }),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            tracing::debug!(%subject, error = %failure, "publish failed; retrying");
            bus.publish(subject, &message_id, headers, payload, PUBLISH_DEADLINE).await
        })
    }

    /// Subject, message id (one line) and headers of a record's message.
    fn message(&self, planned: &Planned, change: Change) -> (String, String, HeaderMap) {
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
        h.insert(headers::RECEIVED_AT, &*planned.received_at);
        (self.subject.clone(), one_line(&message_id, 512), h)
    }

    /// JetStream already stored a message with this record id. If its content version differs
    /// from this one, the record changed while we were not looking: publish it as an update.
    async fn resolve_duplicate(&self, planned: &Planned, sequence: u64) -> Result<Counted, BusError> {
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
        let again = self.publish_one(planned, Change::Update).await?;
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

/// Publishes records of one or more logs (`records`: the index of the record's publisher and the
/// record) **in the order given**: every publish is started in that order (up to the publishers'
/// concurrency in flight at once), so the stream holds them in that order but for the few that
/// overtake each other while in flight. Each record is decided by its own log's seen cache
/// (new, update, or skip) exactly as a page is; `outcomes[i]` counts publisher `i`'s records.
/// Returns once every publish is acknowledged and every seen entry written.
pub(crate) async fn publish_in_order(
    publishers: &mut [&mut Publisher],
    records: Vec<(usize, Planned)>,
    persist_from: DateTime<Utc>,
    outcomes: &mut [PageOutcome],
) -> Result<(), BusError> {
    // The same record twice (Graph serves the last record of a page again on the next one) is
    // handled in rounds, so the second sees the first's outcome.
    let mut batch = records;
    while !batch.is_empty() {
        let mut ids = HashSet::with_capacity(batch.len());
        let (round, later): (Vec<_>, Vec<_>) = batch.into_iter().partition(|(i, p)| ids.insert((*i, p.id.clone())));
        batch = later;
        publish_round(publishers, round, persist_from, outcomes).await?;
    }
    Ok(())
}

async fn publish_round(
    publishers: &mut [&mut Publisher],
    mut round: Vec<(usize, Planned)>,
    persist_from: DateTime<Utc>,
    outcomes: &mut [PageOutcome],
) -> Result<(), BusError> {
    for (i, planned) in &mut round {
        planned.change = match publishers[*i].cache.get(&planned.id) {
            None => Some(Change::New),
            Some(seen) if seen.version == planned.version => None,
            Some(_) => Some(Change::Update),
        };
        if planned.change.is_none() {
            outcomes[*i].deduplicated += 1;
        }
    }
    let mut kept = Vec::with_capacity(round.len());
    for (i, planned) in round {
        let publisher = &publishers[i];
        if planned.change.is_some() && planned.raw.len() + 4096 > publisher.max_payload {
            let reason = format!(
                "record {} is {} bytes, more than the NATS server's max_payload of {} allows; raise max_payload \
                 (the dead letter holds its start)",
                planned.id,
                planned.raw.len(),
                publisher.max_payload
            );
            let keep = publisher.max_payload / 2;
            publisher.dead_letter(planned.raw.slice(..keep.min(planned.raw.len())), &reason).await?;
            outcomes[i].dead_lettered += 1;
        } else {
            kept.push((i, planned));
        }
    }

    // Publish every new and changed record, in order and concurrently, and wait for every ack.
    // Each message is handed to the connection before the next one is (so the stream stores them
    // in this order); only the acknowledgements are awaited concurrently. Publishes started all
    // at once would not keep their order: tokio's cooperative budget leaves some of them pending
    // while later ones go out, hundreds of places apart.
    let concurrency = publishers.iter().map(|p| p.concurrency).sum::<usize>().clamp(1, MAX_IN_FLIGHT);
    let mut results: Vec<(usize, Result<m365mon_bus::Published, BusError>)> = Vec::with_capacity(kept.len());
    let mut in_flight = futures::stream::FuturesUnordered::new();
    for (k, (i, planned)) in kept.iter().enumerate() {
        let Some(change) = planned.change else { continue };
        while in_flight.len() >= concurrency {
            if let Some(done) = in_flight.next().await {
                results.push(done);
            }
        }
        let acknowledged = publishers[*i].send_in_order(planned, change).await;
        in_flight.push(async move { (k, acknowledged.await) });
    }
    while let Some(done) = in_flight.next().await {
        results.push(done);
    }

    let mut to_persist: Vec<Vec<(String, SeenEntry)>> = publishers.iter().map(|_| Vec::new()).collect();
    for (k, result) in results {
        let published = result?;
        let (i, planned) = &kept[k];
        let publisher = &mut publishers[*i];
        let change = planned.change.expect("only changes are published");
        let counted = if !published.duplicate {
            Counted::Stored(change)
        } else if change == Change::New {
            // JetStream has this id but the cache did not: compare with what is stored.
            publisher.resolve_duplicate(planned, published.sequence).await?
        } else {
            Counted::Duplicate
        };
        let outcome = &mut outcomes[*i];
        match counted {
            Counted::Stored(Change::New) => outcome.published += 1,
            Counted::Stored(Change::Update) => outcome.updated += 1,
            Counted::Duplicate => outcome.deduplicated += 1,
        }
        let entry = SeenEntry { version: planned.version, time: planned.time };
        publisher.cache.insert(&planned.id, entry);
        if planned.time >= persist_from.timestamp() {
            to_persist[*i].push((planned.id.clone(), entry));
        }
    }
    for (publisher, entries) in publishers.iter().zip(&to_persist) {
        if !entries.is_empty() {
            publisher.store.persist(entries, publisher.concurrency).await?;
        }
    }
    Ok(())
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
