//! `m365mon scan [--settings FILE] [--format jsonl|table] PATH...` (design §4).
//!
//! Reads exported logs (Graph pages, JSON arrays, JSON lines, Event Hub / diagnostic-settings
//! exports; sign-ins and audits mixed, any order; `-` for standard input), runs every rule, and
//! prints each incident once, in its final state: `jsonl` (one alert event per line and nothing
//! else on stdout) for machines, `table` for people. Progress (on a terminal) and the summary
//! go to stderr.
//!
//! Exports come newest first (Graph, the portal) or in any order, and a scan may cover weeks
//! where the engine allows two hours of lateness. So the engine is fed in event-time order:
//! straight from the input when it is already ascending, otherwise after sorting (in memory up
//! to `--buffer-records`, beyond that in sorted runs spilled to temporary files and merged), so
//! memory stays flat however large the input (see [`input`]). Then the input is ended, which
//! publishes every incident's final state.

mod input;
mod output;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use m365mon_contracts::settings::Settings;

use crate::Outcome;

/// Options of `m365mon scan`.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Settings document (JSON, as the web UI edits it); defaults when absent.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// `table` for people, `jsonl` (one alert event per line) for machines.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Tenant id for records that do not name one (Graph exports of audits, for example).
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// Records sorted in memory before sorted runs go to temporary files.
    #[arg(long, value_name = "N", default_value_t = 100_000, hide = true)]
    pub buffer_records: usize,
    /// Exported log files; `-` reads standard input.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Jsonl,
}

/// Runs the scan.
pub fn run(args: ScanArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let settings = load_settings(args.settings.as_deref())?;
    let timezone = settings.timezone;
    let scanned = input::scan(&args.paths, args.buffer_records, args.tenant.as_deref(), &settings)?;
    let (engine, alerts) = (&scanned.engine, &scanned.alerts);
    let stats = engine.stats().clone();
    let learning = engine.state_size().learning_users;
    let learning_days = engine.settings().new_country.learning_days;
    match args.format {
        Format::Jsonl => output::jsonl(alerts)?,
        Format::Table => output::table(alerts, timezone)?,
    }
    output::summary(&output::Summary {
        files: args.paths.len(),
        unreadable_files: scanned.unreadable_files,
        unreadable_records: scanned.unreadable_records,
        stats: &stats,
        alerts,
        learning_users: learning,
        learning_days,
        elapsed: started.elapsed(),
    })?;
    let incomplete = scanned.unreadable_files > 0 || scanned.unreadable_records > 0 || stats.unusable > 0;
    Ok(if incomplete { Outcome::Incomplete } else { Outcome::Complete })
}

fn load_settings(path: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let Some(path) = path else { return Ok(Settings::default()) };
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the settings file {}", path.display()))?;
    Settings::from_json_slice(&bytes).map_err(|e| {
        let problems: Vec<String> = e.problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::anyhow!("the settings file {} is not valid:\n{}", path.display(), problems.join("\n"))
    })
}
