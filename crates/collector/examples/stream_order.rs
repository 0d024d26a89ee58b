//! Reads a namespace's events stream in stream order and reports, per tenant, how many records
//! the detection engine would take as late: with its watermark (the newest event time seen so far
//! for the tenant) and allowed lateness (`detection.allowed_lateness_minutes`, 120 by default), a
//! record older than watermark − lateness is skipped by the windowed and learning rules.
//!
//! ```sh
//! cargo run --release -p m365mon-collector --example stream_order -- --namespace bench --delete
//! ```
//!
//! Used after `bench/backfill.sh` to measure how much of a first backfill would reach the engine
//! late.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use futures::StreamExt;
use m365mon_contracts::Namespace;
use m365mon_contracts::names::headers;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[arg(long, env = "M365MON_NAMESPACE", default_value = "m365")]
    namespace: String,
    /// The engine's allowed lateness.
    #[arg(long, default_value_t = 120)]
    lateness_minutes: i64,
    /// Delete the namespace (its streams and buckets) afterwards.
    #[arg(long)]
    delete: bool,
}

#[derive(serde::Deserialize)]
struct Times<'a> {
    #[serde(rename = "createdDateTime", default, borrow)]
    created: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "activityDateTime", default, borrow)]
    activity: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Default)]
struct Tally {
    records: u64,
    late: u64,
    /// Records older than the newest seen so far (out of order at all).
    behind: u64,
    max_behind: TimeDelta,
    watermark: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let namespace = Namespace::new(args.namespace.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let lateness = TimeDelta::minutes(args.lateness_minutes);
    let client = async_nats::connect(&args.nats_url).await.context("connecting to NATS")?;
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(namespace.events_stream()).await.context("the events stream")?;
    let total = stream.info().await?.state.messages;
    let consumer = stream
        .create_consumer(pull::OrderedConfig { deliver_policy: DeliverPolicy::All, ..Default::default() })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut read = 0u64;
    let mut untimed = 0u64;
    while read < total {
        let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .context("the stream stopped delivering")?
            .context("the stream ended")??;
        read += 1;
        let tenant = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::TENANT))
            .map_or_else(String::new, |v| v.as_str().to_string());
        let times: Times<'_> = serde_json::from_slice(&message.payload)?;
        let Some(time) =
            times.created.as_deref().or(times.activity.as_deref()).and_then(m365mon_model::time::parse_timestamp)
        else {
            untimed += 1;
            continue;
        };
        let tally = tallies.entry(tenant).or_default();
        tally.records += 1;
        let watermark = tally.watermark.map_or(time, |w| w.max(time));
        tally.watermark = Some(watermark);
        if time < watermark - lateness {
            tally.late += 1;
        }
        if time < watermark {
            tally.behind += 1;
            tally.max_behind = tally.max_behind.max(watermark - time);
        }
    }
    for (tenant, t) in &tallies {
        println!(
            "tenant {tenant}: {} records, {} late ({:.1} %) at {} min allowed lateness; {} behind the newest \
             before them, at most {} min",
            t.records,
            t.late,
            100.0 * t.late as f64 / t.records.max(1) as f64,
            args.lateness_minutes,
            t.behind,
            t.max_behind.num_minutes()
        );
    }
    if untimed > 0 {
        println!("{untimed} records without an event time");
    }
    if args.delete {
        let config = m365mon_bus::BusConfig::new(args.nats_url.clone(), "stream-order");
        let bus = m365mon_bus::Bus::connect(&config, namespace).await?;
        let deleted = bus.delete_namespace().await?;
        println!("namespace {} deleted ({deleted} streams and buckets)", args.namespace);
    }
    Ok(())
}
