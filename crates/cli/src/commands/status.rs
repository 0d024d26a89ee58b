//! `m365mon status`: what an operator asks first. Which services run (the NATS service API:
//! every instance answers `$SRV.STATS`, with its status document in the `status` endpoint's
//! data), and per tenant: the records on the bus by kind, the collector's last poll and lag, the
//! detector's backlog, the alerts; then dead letters, and a list of problems that need a human.
//!
//! It only reads: stream and consumer info, and the services' answers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::context::GetStreamErrorKind;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets};
use futures::{StreamExt, TryStreamExt};
use m365mon_bus::{Bus, NatsArgs};
use owo_colors::OwoColorize;
use serde::Serialize;
use serde_json::Value;

use super::connection::connect;
use super::text::printable;
use crate::Outcome;

/// The services an install runs (the api comes later).
const EXPECTED_SERVICES: [&str; 3] = ["collector", "detector", "notifier"];

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub format: StatusFormat,
    /// How long to wait for services to answer.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub wait: Duration,
    #[command(flatten)]
    pub nats: NatsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration such as 1s or 500ms: {e}"))
}

/// Everything `status` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    pub nats_url: String,
    pub server_version: String,
    pub namespace: String,
    pub services: Vec<ServiceInstance>,
    /// Expected services no instance of which answered.
    pub missing_services: Vec<String>,
    pub tenants: Vec<TenantReport>,
    pub records_total: u64,
    pub alerts_total: u64,
    pub dead_letters_total: u64,
    /// Dead letters by subject (`<ns>.deadletter.<service>.<kind>`).
    pub dead_letters: BTreeMap<String, u64>,
    /// What needs a human, in plain words.
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ServiceInstance {
    /// `collector`, `detector` …
    pub service: String,
    pub id: String,
    pub version: String,
    pub started: Option<String>,
    /// The service's own status document.
    pub status: Value,
}

#[derive(Debug, Default, Serialize)]
pub struct TenantReport {
    pub tenant: String,
    /// Records on the events stream by kind (`signin`, `audit`).
    pub records: BTreeMap<String, u64>,
    pub alerts: u64,
    /// The collector's logs for this tenant, as it reports them.
    pub collector: Option<Value>,
    /// Records the tenant's detector consumer has not been given yet.
    pub backlog: Option<u64>,
    /// Records given to the detector but not yet acknowledged.
    pub in_progress: Option<u64>,
    /// The detector's view (state, position, lease holder …).
    pub detector: Option<Value>,
}

pub fn run(args: StatusArgs) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let bus = connect(&args.nats).await?;
        gather(&bus, &args.nats.nats_url, args.wait).await
    })?;
    match args.format {
        StatusFormat::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report).context("cannot write to standard output")?;
            writeln!(out).context("cannot write to standard output")?;
        }
        StatusFormat::Table => print_table(&report)?,
    }
    Ok(Outcome::Complete)
}

/// Sends `subject` and collects every answer that arrives within `wait` (each instance of a
/// service answers `$SRV.*` requests).
async fn scatter(bus: &Bus, subject: &str, wait: Duration) -> anyhow::Result<Vec<async_nats::Message>> {
    let client = bus.client();
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(inbox.clone()).await?;
    client.publish_with_reply(subject.to_string(), inbox, "".into()).await?;
    client.flush().await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, answers.next()).await {
        out.push(message);
    }
    Ok(out)
}

async fn stream_subjects(bus: &Bus, stream: &str, filter: &str) -> anyhow::Result<Option<BTreeMap<String, u64>>> {
    let stream = match bus.jetstream().get_stream(stream).await {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(_)) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("stream {stream}")),
    };
    let mut subjects = stream.info_with_subjects(filter).await?;
    let mut out = BTreeMap::new();
    while let Some((subject, count)) = subjects.try_next().await? {
        out.insert(subject, count as u64);
    }
    Ok(Some(out))
}

/// Collects the report.
pub async fn gather(bus: &Bus, url: &str, wait: Duration) -> anyhow::Result<Report> {
    let ns = bus.namespace().clone();
    let prefix = format!("{}-", ns.as_str());
    let mut problems = Vec::new();

    // ----- services -----
    let mut services = Vec::new();
    for message in scatter(bus, "$SRV.STATS", wait).await? {
        let Ok(stats) = serde_json::from_slice::<Value>(&message.payload) else { continue };
        let name = stats["name"].as_str().unwrap_or_default();
        let Some(service) = name.strip_prefix(&prefix) else { continue };
        let status = stats["endpoints"]
            .as_array()
            .and_then(|endpoints| endpoints.iter().find(|e| e["name"] == "status"))
            .map(|e| e["data"].clone())
            .unwrap_or(Value::Null);
        services.push(ServiceInstance {
            service: service.to_string(),
            id: stats["id"].as_str().unwrap_or_default().to_string(),
            version: stats["version"].as_str().unwrap_or_default().to_string(),
            started: stats["started"].as_str().map(str::to_string),
            status,
        });
    }
    services.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
    let running: BTreeSet<&str> = services.iter().map(|s| s.service.as_str()).collect();
    let missing_services: Vec<String> =
        EXPECTED_SERVICES.iter().filter(|s| !running.contains(**s)).map(|s| s.to_string()).collect();

    // ----- the bus -----
    let mut tenants: BTreeMap<String, TenantReport> = BTreeMap::new();
    let events = stream_subjects(bus, &ns.events_stream(), &format!("{ns}.events.*.*")).await?;
    let mut records_total = 0;
    match &events {
        None => problems.push(format!(
            "the events stream {} does not exist yet: no collector has run in namespace '{ns}'",
            ns.events_stream()
        )),
        Some(subjects) => {
            for (subject, count) in subjects {
                let mut tokens = subject.rsplit('.');
                let (Some(tenant), Some(kind)) = (tokens.next(), tokens.next()) else { continue };
                let entry = tenants
                    .entry(tenant.to_string())
                    .or_insert_with(|| TenantReport { tenant: tenant.to_string(), ..TenantReport::default() });
                *entry.records.entry(kind.to_string()).or_default() += count;
                records_total += count;
            }
        }
    }
    let mut alerts_total = 0;
    if let Some(subjects) = stream_subjects(bus, &ns.alerts_stream(), &ns.alerts_filter()).await? {
        for (subject, count) in subjects {
            alerts_total += count;
            if let Some(tenant) = subject.rsplit('.').next() {
                tenants
                    .entry(tenant.to_string())
                    .or_insert_with(|| TenantReport { tenant: tenant.to_string(), ..TenantReport::default() })
                    .alerts += count;
            }
        }
    }
    let dead_letters =
        stream_subjects(bus, &ns.dead_letter_stream(), &ns.dead_letter_filter()).await?.unwrap_or_default();
    let dead_letters_total: u64 = dead_letters.values().sum();
    if dead_letters_total > 0 {
        problems.push(format!(
            "{dead_letters_total} dead letters in {}: records a service could not process (see the reason header)",
            ns.dead_letter_stream()
        ));
    }

    // ----- per tenant: consumers, collector and detector views -----
    if events.is_some() {
        let stream = bus.jetstream().get_stream(ns.events_stream()).await?;
        for report in tenants.values_mut() {
            let Ok(name) = ns.detector_consumer(&report.tenant) else { continue };
            if let Ok(info) = stream.consumer_info(&name).await {
                report.backlog = Some(info.num_pending);
                report.in_progress = Some(info.num_ack_pending as u64);
            }
        }
    }
    for instance in &services {
        let Some(list) = instance.status["tenants"].as_array() else { continue };
        for entry in list {
            let Some(tenant) = entry["tenant"].as_str() else { continue };
            let report = tenants
                .entry(tenant.to_string())
                .or_insert_with(|| TenantReport { tenant: tenant.to_string(), ..TenantReport::default() });
            match instance.service.as_str() {
                "collector" => report.collector = Some(entry.clone()),
                // A tenant waiting for a lease shows on two detectors; the one working on it wins.
                "detector" => {
                    let working = entry["state"] == "running";
                    if report.detector.is_none() || working {
                        let mut view = entry.clone();
                        view["instance"] = Value::String(instance.id.clone());
                        report.detector = Some(view);
                    }
                }
                _ => {}
            }
        }
    }

    // ----- problems -----
    for service in &missing_services {
        let consequence = match service.as_str() {
            "collector" => "no records are fetched from Microsoft Graph",
            "detector" => "records are not evaluated and no alerts are raised",
            _ => "alerts are not delivered by mail or webhook",
        };
        problems.push(format!("no {service} is running in namespace '{ns}': {consequence}"));
    }
    let detectors: Vec<&ServiceInstance> = services.iter().filter(|s| s.service == "detector").collect();
    if !detectors.is_empty() {
        let count = detectors.iter().filter_map(|d| d.status["partition_count"].as_u64()).max().unwrap_or(0);
        let owned: BTreeSet<u64> = detectors
            .iter()
            .flat_map(|d| d.status["owned_partitions"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p.as_u64())
            .collect();
        let missing: Vec<String> = (0..count).filter(|p| !owned.contains(p)).map(|p| p.to_string()).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "partitions {} of {count} are not owned by any running detector: their tenants are not evaluated",
                missing.join(",")
            ));
        }
        let counts: BTreeSet<u64> = detectors.iter().filter_map(|d| d.status["partition_count"].as_u64()).collect();
        if counts.len() > 1 {
            problems.push(format!("detectors disagree on the partition count ({counts:?}): give them all the same"));
        }
    }
    for report in tenants.values() {
        if let Some(collector) = &report.collector
            && let Some(logs) = collector["logs"].as_object()
        {
            for (log, state) in logs {
                if let Some(message) = state["last_error"]["message"].as_str() {
                    problems.push(format!("tenant {} {log}: {}", report.tenant, printable(message, 300)));
                }
            }
        }
        if let Some(detector) = &report.detector
            && detector["state"] == "failed"
        {
            problems.push(format!(
                "tenant {}: detector failed: {}",
                report.tenant,
                printable(detector["detail"].as_str().unwrap_or("unknown error"), 300)
            ));
        }
        if !report.records.is_empty() && report.backlog.is_none() && !detectors.is_empty() {
            problems.push(format!("tenant {} has records but no detector consumer yet", report.tenant));
        }
    }

    let server = bus.client().server_info();
    Ok(Report {
        nats_url: url.to_string(),
        server_version: server.version,
        namespace: ns.to_string(),
        services,
        missing_services,
        tenants: tenants.into_values().collect(),
        records_total,
        alerts_total,
        dead_letters_total,
        dead_letters,
        problems,
    })
}

fn ago(time: Option<&str>) -> String {
    let Some(time) = time.and_then(|t| t.parse::<DateTime<Utc>>().ok()) else { return "-".into() };
    let seconds = (Utc::now() - time).num_seconds().max(0) as u64;
    format!("{} ago", human(seconds))
}

fn human(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h {}m", s / 3_600, (s % 3_600) / 60),
        s => format!("{}d", s / 86_400),
    }
}

fn table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_HORIZONTAL_ONLY);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table
}

fn print_table(report: &Report) -> anyhow::Result<()> {
    let mut out = anstream::stdout();
    writeln!(
        out,
        "{} {} (server {}), namespace {}",
        "NATS".bold(),
        printable(&report.nats_url, 200),
        printable(&report.server_version, 40),
        report.namespace.bold()
    )?;

    writeln!(out, "\n{}", "Services".bold())?;
    let mut services = table();
    services.set_header(vec!["Service", "Instance", "Version", "Where", "Summary"]);
    for s in &report.services {
        let status = &s.status;
        let place = match (status["host"].as_str(), status["pid"].as_u64()) {
            (Some(host), Some(pid)) => format!("{} pid {pid}", printable(host, 40)),
            _ => "-".to_string(),
        };
        let summary = match s.service.as_str() {
            "detector" => format!(
                "partitions {}, {} tenants",
                status["partitions"].as_str().unwrap_or("?"),
                status["tenants"].as_array().map_or(0, |t| t.len())
            ),
            "collector" => format!("{} tenants", status["tenants"].as_array().map_or(0, |t| t.len())),
            _ => String::new(),
        };
        let id: String = s.id.chars().take(12).collect();
        services.add_row(vec![s.service.clone(), id, printable(&s.version, 20), place, summary]);
    }
    for missing in &report.missing_services {
        services.add_row(vec![missing.clone(), "-".into(), "-".into(), "-".into(), "NOT RUNNING".into()]);
    }
    writeln!(out, "{services}")?;

    writeln!(
        out,
        "\n{} ({} records, {} alerts on the bus)",
        "Tenants".bold(),
        report.records_total,
        report.alerts_total
    )?;
    if report.tenants.is_empty() {
        writeln!(out, "  none yet")?;
    } else {
        let mut tenants = table();
        tenants.set_header(vec!["Tenant", "Sign-ins", "Audits", "Last poll", "Lag", "Detector", "Backlog", "Alerts"]);
        for t in &report.tenants {
            let logs = t.collector.as_ref().and_then(|c| c["logs"].as_object().cloned()).unwrap_or_default();
            // The most recent successful poll over the tenant's logs, and the worst lag.
            let last_poll = logs.values().filter_map(|l| l["last_success"].as_str()).max();
            let lag = logs.values().filter_map(|l| l["lag_seconds"].as_u64()).max();
            // Plain text in cells: the table measures widths before colours would be stripped.
            let detector = match &t.detector {
                Some(d) => d["state"].as_str().unwrap_or("?").replace('_', " "),
                None => "-".into(),
            };
            let backlog = match (t.backlog, t.in_progress) {
                (Some(b), Some(p)) if p > 0 => format!("{b} (+{p} in progress)"),
                (Some(b), _) => b.to_string(),
                _ => "-".into(),
            };
            tenants.add_row(vec![
                printable(&t.tenant, 40),
                t.records.get("signin").copied().unwrap_or(0).to_string(),
                t.records.get("audit").copied().unwrap_or(0).to_string(),
                ago(last_poll),
                lag.map_or("-".into(), human),
                detector,
                backlog,
                t.alerts.to_string(),
            ]);
        }
        writeln!(out, "{tenants}")?;
    }

    writeln!(out, "\n{} {}", "Dead letters".bold(), report.dead_letters_total)?;
    for (subject, count) in &report.dead_letters {
        writeln!(out, "  {count:>8}  {}", printable(subject, 200))?;
    }

    if report.problems.is_empty() {
        writeln!(out, "\n{}", "No problems found.".green())?;
    } else {
        writeln!(out, "\n{}", "Problems".red().bold())?;
        for problem in &report.problems {
            writeln!(out, "  - {problem}")?;
        }
    }
    out.flush()?;
    Ok(())
}
