//! Writes deterministic sign-in records as JSON lines, for benchmarks and demos:
//!
//! ```text
//! cargo run --release -p m365mon-cli --example generate_signins -- --records 100000 --users 5000 > signins.jsonl
//! ```
//!
//! `--workload realistic` (the default) is a tenant's ordinary traffic, paced at about 100
//! sign-ins per user per day; `--workload alert-heavy` is the stress test that raises an alert
//! event for about one record in twenty (see `m365mon_rules::synth`).

use std::io::{BufWriter, Write};

use clap::{Parser, ValueEnum};
use m365mon_rules::synth::{Generator, SynthOptions, Workload, realistic_step};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// A tenant's ordinary traffic: few alerts.
    Realistic,
    /// Interactive sign-ins round the clock and one-record trips: an alert event per twenty records.
    AlertHeavy,
}

#[derive(Debug, Parser)]
struct Args {
    /// How many records.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// How many users.
    #[arg(long, default_value_t = 5_000)]
    users: u32,
    /// Same seed, same records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Which traffic.
    #[arg(long, value_enum, default_value_t = Kind::Realistic)]
    workload: Kind,
    /// Average milliseconds between records in working hours (default: 500 for alert-heavy;
    /// for realistic, the step at which every user signs in about 100 times a day).
    #[arg(long)]
    step_ms: Option<f64>,
    /// Write newest first, as Graph serves them.
    #[arg(long)]
    newest_first: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (workload, default_step) = match args.workload {
        Kind::Realistic => (Workload::Realistic, realistic_step(args.users)),
        Kind::AlertHeavy => (Workload::AlertHeavy, std::time::Duration::from_millis(500)),
    };
    let step = args.step_ms.map_or(default_step, |ms| std::time::Duration::from_secs_f64(ms.max(0.001) / 1000.0));
    let mut generator = Generator::with_workload(
        SynthOptions { seed: args.seed, users: args.users, step, ..SynthOptions::default() },
        workload,
    );
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.newest_first {
        let lines: Vec<String> = (0..args.records).map(|_| generator.next_json().to_string()).collect();
        for line in lines.iter().rev() {
            writeln!(out, "{line}")?;
        }
    } else {
        for _ in 0..args.records {
            writeln!(out, "{}", generator.next_json())?;
        }
    }
    out.flush()?;
    Ok(())
}
