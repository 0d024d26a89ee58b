//! Writes realistic, deterministic sign-in records as JSON lines, for benchmarks and demos:
//!
//! ```text
//! cargo run --release -p m365mon-cli --example generate_signins -- --records 100000 --users 5000 > signins.jsonl
//! ```

use std::io::{BufWriter, Write};

use clap::Parser;
use m365mon_rules::synth::{Generator, SynthOptions};

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
    /// Average milliseconds between records.
    #[arg(long, default_value_t = 500)]
    step_ms: u64,
    /// Write newest first, as Graph serves them.
    #[arg(long)]
    newest_first: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut generator = Generator::new(SynthOptions {
        seed: args.seed,
        users: args.users,
        step: std::time::Duration::from_millis(args.step_ms),
        ..SynthOptions::default()
    });
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
