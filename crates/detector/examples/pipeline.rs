//! Measures the detector on the real NATS server: records per second from the events stream
//! through the rules engine to the alert stream, and the latency from a record's publication to
//! its alert on the bus.
//!
//! ```sh
//! cargo run --release -p m365mon-detector --example pipeline -- --records 200000 --tenants 4
//! ```
//!
//! Phase 1 (backlog): publishes `--records` synthetic sign-ins (pipelined, as a collector does
//! during a backfill), then starts a detector in this process and times how long it takes to
//! process them all. Phase 2 (live): with the detector caught up, publishes records at
//! `--rate` per second for `--seconds`, with a probe every 20 ms (a sign-in from a high-risk
//! country by a new user, which alerts at once); a subscriber on the alert subjects timestamps
//! each probe's alert. Runs in a namespace of its own and deletes it afterwards.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::HeaderMap;
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use m365mon_bus::{Bus, StreamLimits};
use m365mon_contracts::names::headers;
use m365mon_contracts::{AlertEvent, Namespace};
use m365mon_detector::{Detector, DetectorConfig, PartitionSet};
use m365mon_rules::synth::{Generator, SynthOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Records published before the detector starts.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Tenants the records are spread over.
    #[arg(long, default_value_t = 4)]
    tenants: usize,
    /// Records per second in the live phase.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Length of the live phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Users per tenant.
    #[arg(long, default_value_t = 5_000)]
    users: u32,
    /// `alert-heavy` (the generator's stress workload, about one alert event per six records
    /// here) or `realistic` (what a tenant's log looks like; few alerts).
    #[arg(long, default_value = "alert-heavy")]
    workload: String,
}

struct Feed {
    tenants: Vec<String>,
    generators: Vec<Generator>,
    next: usize,
}

impl Feed {
    fn new(args: &Args, start: chrono::DateTime<chrono::Utc>, step: Duration) -> anyhow::Result<Feed> {
        let realistic = match args.workload.as_str() {
            "realistic" => true,
            "alert-heavy" => false,
            other => anyhow::bail!("--workload {other}: use alert-heavy or realistic"),
        };
        let tenants: Vec<String> = (0..args.tenants).map(|i| format!("bench-tenant-{i}")).collect();
        let generators = tenants
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let options = SynthOptions { seed: 100 + i as u64, users: args.users, start, step, tenant: t.clone() };
                if realistic { Generator::realistic(options) } else { Generator::new(options) }
            })
            .collect();
        Ok(Feed { tenants, generators, next: 0 })
    }

    /// The next (tenant, record, event time).
    fn next(&mut self, serial: u64) -> (String, Value) {
        let i = self.next % self.tenants.len();
        self.next += 1;
        let mut record = self.generators[i].next_json();
        record["id"] = json!(format!("r{serial}"));
        (self.tenants[i].clone(), record)
    }
}

type Pending = FuturesUnordered<
    futures::future::BoxFuture<
        'static,
        Result<async_nats::jetstream::publish::PublishAck, async_nats::jetstream::context::PublishError>,
    >,
>;

async fn publish_pipelined(bus: &Bus, pending: &mut Pending, tenant: &str, record: &Value) -> anyhow::Result<()> {
    let id = record["id"].as_str().unwrap_or_default().to_string();
    let subject = bus.namespace().event_subject("signin", tenant)?;
    let mut h = HeaderMap::new();
    h.insert(headers::MSG_ID, id.as_str());
    h.insert(headers::RECORD_ID, id.as_str());
    h.insert(headers::TENANT, tenant);
    h.insert(headers::KIND, "signin");
    h.insert(headers::CHANGE, "new");
    let ack = bus.jetstream().publish_with_headers(subject, h, Bytes::from(serde_json::to_vec(record)?)).await?;
    pending.push(Box::pin(ack.into_future()));
    while pending.len() >= 2_000 {
        pending.next().await.transpose()?;
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    m365mon_runtime::install_crypto_provider();
    let args = Args::parse();
    let n: u64 = rand::random();
    let ns = Namespace::new(format!("bench{:08x}", n as u32))?;
    let client =
        async_nats::connect(&args.nats_url).await.with_context(|| format!("connecting to {}", args.nats_url))?;
    let bus = Bus::from_client(client, ns.clone());
    let result = run(&bus, &args).await;
    bus.delete_namespace().await?;
    result
}

async fn run(bus: &Bus, args: &Args) -> anyhow::Result<()> {
    bus.ensure_events_stream(StreamLimits::EVENTS).await?;
    bus.ensure_alerts_stream(StreamLimits::ALERTS).await?;
    println!(
        "namespace {} on {}; {} tenants, {} users each, {} workload",
        bus.namespace(),
        args.nats_url,
        args.tenants,
        args.users,
        args.workload
    );

    // ---- phase 1: a backlog ----
    // A fixed start (a Monday, midnight UTC) so every run is the same alert-heavy workload: the
    // generator's users sign in night and day, about one alert event per twenty records.
    let start: chrono::DateTime<chrono::Utc> = "2026-03-02T00:00:00Z".parse()?;
    let mut feed = Feed::new(args, start, Duration::from_millis(200))?;
    let mut pending: Pending = FuturesUnordered::new();
    let mut bytes = 0usize;
    let t0 = Instant::now();
    for serial in 0..args.records as u64 {
        let (tenant, record) = feed.next(serial);
        bytes += serde_json::to_vec(&record)?.len();
        publish_pipelined(bus, &mut pending, &tenant, &record).await?;
    }
    while let Some(ack) = pending.next().await {
        ack?;
    }
    let publish_secs = t0.elapsed().as_secs_f64();
    println!(
        "published {} records ({:.0} bytes average) in {:.2} s: {:.0} records/s",
        args.records,
        bytes as f64 / args.records as f64,
        publish_secs,
        args.records as f64 / publish_secs
    );

    let mut config = DetectorConfig::new(PartitionSet::all(16)?);
    config.discovery_interval = Duration::from_millis(100);
    config.idle_advance_after = Duration::from_secs(3600);
    let detector = Detector::start(bus.clone(), config).await?;
    let board = detector.board();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(detector.run_until_stopped(stop.clone()));
    let t1 = Instant::now();
    let total = args.records as u64;
    loop {
        let status = board.snapshot();
        let done: u64 = status.tenants.iter().map(|t| t.records).sum();
        if done >= total {
            let alerts: u64 = status.tenants.iter().map(|t| t.alerts).sum();
            let secs = t1.elapsed().as_secs_f64();
            println!(
                "backlog: detector processed {} records in {:.2} s: {:.0} records/s ({} alerts published)",
                done,
                secs,
                done as f64 / secs,
                alerts
            );
            break;
        }
        if t1.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("backlog not processed within 10 minutes ({done} of {total})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // ---- phase 2: live traffic with probes ----
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut alerts = bus.client().subscribe(format!("{}.alerts.*.high_risk_country.>", bus.namespace())).await?;
    let collector = {
        let sent = sent.clone();
        let latencies = latencies.clone();
        tokio::spawn(async move {
            while let Some(message) = alerts.next().await {
                let now = Instant::now();
                let Ok(alert) = serde_json::from_slice::<AlertEvent>(&message.payload) else { continue };
                for id in &alert.event_ids {
                    if let Some(at) = sent.lock().unwrap().remove(id) {
                        latencies.lock().unwrap().push(now.duration_since(at).as_secs_f64() * 1000.0);
                    }
                }
            }
        })
    };
    let live_records = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let t2 = Instant::now();
    let mut probes = 0u64;
    let mut last_probe = Instant::now();
    for i in 0..live_records {
        let (tenant, record) = feed.next(total + i);
        publish_pipelined(bus, &mut pending, &tenant, &record).await?;
        if last_probe.elapsed() >= Duration::from_millis(20) {
            last_probe = Instant::now();
            let id = format!("probe-{probes}");
            let mut probe = record.clone();
            probe["id"] = json!(id);
            probe["userPrincipalName"] = json!(format!("traveller{probes}@contoso.com"));
            probe["userId"] = json!(format!("traveller-{probes}"));
            probe["status"] = json!({"errorCode": 0});
            probe["location"] = json!({"city": "Pyongyang", "countryOrRegion": "KP",
                "geoCoordinates": {"latitude": 39.03, "longitude": 125.75}});
            probe["ipAddress"] = json!("175.45.176.1");
            sent.lock().unwrap().insert(id, Instant::now());
            publish_pipelined(bus, &mut pending, &tenant, &probe).await?;
            probes += 1;
        }
        // Keep to the rate.
        let due = t2 + interval.mul_f64(i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
    while let Some(ack) = pending.next().await {
        ack?;
    }
    let publish_secs = t2.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    collector.abort();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "live: {} records + {} probes in {:.1} s ({:.0} records/s offered); probe alerts received: {}",
        live_records,
        probes,
        publish_secs,
        (live_records + probes) as f64 / publish_secs,
        lat.len()
    );
    println!(
        "latency publication -> alert on the bus: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    stop.cancel();
    handle.await??;
    Ok(())
}
