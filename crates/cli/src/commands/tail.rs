//! `m365mon tail`: alert events as they arrive on the bus (and, with `--since`, the earlier
//! ones), as an aligned line each or as JSON lines.
//!
//! It reads the alert stream through an ordered ephemeral consumer: nothing durable is left
//! behind, nothing is acknowledged, and the detector and notifier never notice. Filters go into
//! the consumer's subject (`<ns>.alerts.<severity>.<rule>.<tenant>`, a `*` for what is not
//! filtered) when each has one value; lists are filtered here. A growing incident is published
//! again with a higher revision, so it shows again, marked as an update.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use m365mon_bus::NatsArgs;
use m365mon_contracts::{AlertEvent, RuleId, Severity};
use owo_colors::OwoColorize;

use super::connection::connect;
use super::text::printable;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only these rules (comma-separated or repeated), e.g. `password_spray,mfa_fatigue`.
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub rule: Vec<RuleId>,
    /// Only these severities (comma-separated or repeated): low, medium, high, critical.
    #[arg(long, value_delimiter = ',', value_name = "SEVERITY")]
    pub severity: Vec<Severity>,
    /// Only these tenant ids (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "TENANT")]
    pub tenant: Vec<String>,
    /// `table`: one aligned line per alert; `jsonl`: one alert event (JSON) per line.
    #[arg(long, value_enum, default_value = "table")]
    pub format: TailFormat,
    /// Show earlier alerts first: a duration back from now (`30m`, `2h`, `7d`), a time
    /// (`2026-11-26T08:00:00Z`), or `all`.
    #[arg(long, value_name = "DURATION|TIME|all", value_parser = parse_since)]
    pub since: Option<Since>,
    /// Exit once the earlier alerts are printed instead of waiting for new ones (needs --since).
    #[arg(long)]
    pub no_follow: bool,
    #[command(flatten)]
    pub nats: NatsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TailFormat {
    Table,
    Jsonl,
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    All,
    Time(DateTime<Utc>),
}

fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("all") {
        return Ok(Since::All);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(Since::Time(time.with_timezone(&Utc)));
    }
    match humantime::parse_duration(text) {
        Ok(duration) => {
            let back = chrono::Duration::from_std(duration).map_err(|_| format!("'{text}' is too long ago"))?;
            Ok(Since::Time(Utc::now() - back))
        }
        Err(_) => Err(format!("'{text}' is neither a duration (30m, 2h, 7d), an RFC 3339 time, nor 'all'")),
    }
}

/// The consumer's filter subject: each single-valued filter in its token, `*` elsewhere.
fn filter_subject(ns: &m365mon_contracts::Namespace, args: &TailArgs) -> anyhow::Result<String> {
    let severity = match args.severity.as_slice() {
        [one] => one.as_str().to_string(),
        _ => "*".to_string(),
    };
    let rule = match args.rule.as_slice() {
        [one] => one.as_str().to_string(),
        _ => "*".to_string(),
    };
    let tenant = match args.tenant.as_slice() {
        [one] => m365mon_contracts::names::token("tenant", one)?.to_string(),
        _ => "*".to_string(),
    };
    Ok(format!("{ns}.alerts.{severity}.{rule}.{tenant}"))
}

fn wanted(alert: &AlertEvent, args: &TailArgs) -> bool {
    (args.rule.is_empty() || args.rule.contains(&alert.rule))
        && (args.severity.is_empty() || args.severity.contains(&alert.severity))
        && (args.tenant.is_empty() || args.tenant.contains(&alert.tenant))
}

pub fn run(args: TailArgs) -> anyhow::Result<Outcome> {
    if args.no_follow && args.since.is_none() {
        bail!("--no-follow prints earlier alerts and exits: give --since (e.g. --since 1h or --since all)");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(tail(args))
}

async fn tail(args: TailArgs) -> anyhow::Result<Outcome> {
    let bus = connect(&args.nats).await?;
    let ns = bus.namespace().clone();
    let Some(mut stream) = alert_stream(&bus, args.no_follow).await? else {
        eprintln!(
            "No alerts: the alert stream {} does not exist yet (no detector has run in namespace {}).",
            ns.alerts_stream(),
            ns.as_str()
        );
        return Ok(Outcome::Complete);
    };
    let filter = filter_subject(&ns, &args)?;
    let deliver_policy = match args.since {
        None => DeliverPolicy::New,
        Some(Since::All) => DeliverPolicy::All,
        Some(Since::Time(time)) => {
            let nanos = time.timestamp_nanos_opt().context("--since is out of range")?;
            DeliverPolicy::ByStartTime {
                start_time: async_nats::datetime::from_nanos(i128::from(nanos))
                    .map_err(|e| anyhow::anyhow!("--since: {e}"))?,
            }
        }
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig { filter_subject: filter.clone(), deliver_policy, ..Default::default() })
        .await
        .with_context(|| format!("cannot read the alert stream {}", ns.alerts_stream()))?;
    // Whether anything at all is waiting (so --no-follow can stop at once when nothing is).
    let mut waiting = {
        let mut consumer = consumer.clone();
        consumer.info().await.map(|i| i.num_pending).unwrap_or(0)
    };
    let total = stream.info().await.map(|i| i.state.messages).unwrap_or(0);
    if !args.no_follow {
        eprintln!("{} {} ({} alerts stored; Ctrl-C to stop)", "Waiting for alerts on".dimmed(), filter, total);
    }
    if args.no_follow && waiting == 0 {
        return Ok(Outcome::Complete);
    }
    let mut messages = consumer.messages().await.context("cannot read the alert stream")?;
    let mut out = anstream::stdout();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = tokio::select! {
            _ = &mut ctrl_c => return Ok(Outcome::Complete),
            next = tokio::time::timeout(Duration::from_secs(5), messages.next()) => next,
        };
        let message = match next {
            Err(_) => continue, // quiet; keep waiting
            Ok(None) => bail!("the alert stream closed"),
            Ok(Some(Err(e))) => {
                eprintln!("{} {e}; resuming", "warning:".yellow().bold());
                continue;
            }
            Ok(Some(Ok(message))) => message,
        };
        if let Ok(info) = message.info() {
            waiting = info.pending;
        }
        match serde_json::from_slice::<AlertEvent>(&message.payload) {
            Ok(alert) if wanted(&alert, &args) => {
                match args.format {
                    TailFormat::Jsonl => {
                        serde_json::to_writer(&mut out, &alert).context("cannot write to standard output")?;
                        writeln!(out).context("cannot write to standard output")?;
                    }
                    TailFormat::Table => {
                        writeln!(out, "{}", line(&alert)).context("cannot write to standard output")?
                    }
                }
                out.flush().context("cannot write to standard output")?;
            }
            Ok(_) => {}
            Err(e) => eprintln!(
                "{} a message on {} is not an alert event: {e}",
                "warning:".yellow().bold(),
                printable(message.subject.as_str(), 200)
            ),
        }
        if args.no_follow && waiting == 0 {
            return Ok(Outcome::Complete);
        }
    }
}

fn severity_label(severity: Severity) -> String {
    let text = format!("{:<8}", severity.as_str().to_uppercase());
    match severity {
        Severity::Critical => text.on_red().white().bold().to_string(),
        Severity::High => text.red().bold().to_string(),
        Severity::Medium => text.yellow().bold().to_string(),
        Severity::Low => text.cyan().to_string(),
    }
}

/// The alert stream. The detector creates it (and owns its limits); before it has run there is
/// none: `None` with `no_follow`, else wait for it, saying so once.
async fn alert_stream(
    bus: &m365mon_bus::Bus,
    no_follow: bool,
) -> anyhow::Result<Option<async_nats::jetstream::stream::Stream>> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    let name = bus.namespace().alerts_stream();
    let mut said = false;
    loop {
        match bus.jetstream().get_stream(&name).await {
            Ok(stream) => return Ok(Some(stream)),
            Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(_)) => {
                if no_follow {
                    return Ok(None);
                }
                if !said {
                    eprintln!(
                        "{} {name} does not exist yet: waiting for the detector to create it (Ctrl-C to stop)",
                        "The alert stream".dimmed()
                    );
                    said = true;
                }
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(None),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            Err(e) => return Err(anyhow::anyhow!("cannot open the alert stream {name}: {e}")),
        }
    }
}

/// `2026-11-26 09:41Z  HIGH      password_spray      72f988bf  Password spray … (update 2, 31 records)`
fn line(alert: &AlertEvent) -> String {
    let tenant: String = alert.tenant.chars().take(8).collect();
    let update = if alert.revision > 0 {
        format!(" (update {}, {} records)", alert.revision, alert.count).dimmed().to_string()
    } else if alert.count > 1 {
        format!(" ({} records)", alert.count).dimmed().to_string()
    } else {
        String::new()
    };
    format!(
        "{}  {} {:<18}  {:<8}  {}{}",
        alert.last_seen.format("%Y-%m-%d %H:%M:%SZ"),
        severity_label(alert.severity),
        alert.rule.as_str(),
        printable(&tenant, 8),
        printable(&alert.title, 200),
        update
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: TailArgs,
    }

    fn args(line: &[&str]) -> TailArgs {
        Cli::try_parse_from(std::iter::once("tail").chain(line.iter().copied())).unwrap().args
    }

    #[test]
    fn single_filters_go_into_the_subject_and_lists_are_filtered_here() {
        let ns = m365mon_contracts::Namespace::default();
        assert_eq!(filter_subject(&ns, &args(&[])).unwrap(), "m365.alerts.*.*.*");
        assert_eq!(
            filter_subject(&ns, &args(&["--rule", "password_spray", "--severity", "high", "--tenant", "t1"])).unwrap(),
            "m365.alerts.high.password_spray.t1"
        );
        let a = args(&["--rule", "password_spray,mfa_fatigue"]);
        assert_eq!(filter_subject(&ns, &a).unwrap(), "m365.alerts.*.*.*");
        assert!(filter_subject(&ns, &args(&["--tenant", "a.b"])).is_err());
        let err = Cli::try_parse_from(["tail", "--rule", "nope"]).unwrap_err().to_string();
        assert!(err.contains("failed_logins"), "{err}");
    }

    #[test]
    fn since_takes_durations_times_and_all() {
        assert_eq!(parse_since("all").unwrap(), Since::All);
        let Since::Time(t) = parse_since("2h").unwrap() else { panic!() };
        assert!((Utc::now() - t - chrono::Duration::hours(2)).num_seconds().abs() < 5);
        assert_eq!(parse_since("2026-11-26T08:00:00Z").unwrap(), Since::Time("2026-11-26T08:00:00Z".parse().unwrap()));
        assert!(parse_since("yesterday").is_err());
    }
}
