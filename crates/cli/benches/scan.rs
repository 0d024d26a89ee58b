//! `m365mon scan` end to end (process start, reading, parsing, sorting, all rules, output) over
//! a generated file of 100,000 sign-ins (design §6 target: at least 150,000 records/s on one
//! core). Peak memory is measured outside criterion, with `/usr/bin/time -v` (see docs/rules.md).
//!
//! `cargo bench -p m365mon-cli --bench scan`

use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use m365mon_rules::synth::{Generator, SynthOptions};

const RECORDS: u64 = 100_000;

fn scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("signins.jsonl");
    {
        let mut out = BufWriter::new(std::fs::File::create(&path).expect("create"));
        let mut generator = Generator::new(SynthOptions { users: 5_000, ..SynthOptions::default() });
        for _ in 0..RECORDS {
            writeln!(out, "{}", generator.next_json()).expect("write");
        }
        out.flush().expect("flush");
    }
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    for (name, format) in [("100k sign-ins, jsonl", "jsonl"), ("100k sign-ins, table", "table")] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let status = Command::new(env!("CARGO_BIN_EXE_m365mon"))
                    .args(["scan", "--format", format])
                    .arg(&path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("runs");
                assert!(status.success());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
