//! `m365mon scan` end to end (process start, reading, parsing, ordering, all rules, output) over
//! generated files of 100,000 sign-ins (design §6 target: at least 150,000 records/s on one
//! core): the realistic workload oldest first (streamed) and newest first (sorted, as Graph
//! exports come), and the alert-heavy workload (see `m365mon_rules::synth`). Peak memory is
//! measured outside criterion, with `/usr/bin/time -v` (see docs/rules.md).
//!
//! `cargo bench -p m365mon-cli --bench scan`

use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use m365mon_rules::synth::{Generator, SynthOptions, Workload, realistic_step};

const RECORDS: u64 = 100_000;

fn write(path: &std::path::Path, workload: Workload, newest_first: bool) {
    let users = 5_000;
    let step = match workload {
        Workload::Realistic => realistic_step(users),
        Workload::AlertHeavy => SynthOptions::default().step,
    };
    let mut generator = Generator::with_workload(SynthOptions { users, step, ..SynthOptions::default() }, workload);
    let mut lines: Vec<String> = (0..RECORDS).map(|_| generator.next_json().to_string()).collect();
    if newest_first {
        lines.reverse();
    }
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create"));
    for line in lines {
        writeln!(out, "{line}").expect("write");
    }
    out.flush().expect("flush");
}

fn scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let inputs = [
        ("realistic, oldest first, jsonl", "realistic.jsonl", Workload::Realistic, false, "jsonl"),
        ("realistic, oldest first, table", "realistic.jsonl", Workload::Realistic, false, "table"),
        ("realistic, newest first, jsonl", "newest-first.jsonl", Workload::Realistic, true, "jsonl"),
        ("alert-heavy, oldest first, jsonl", "alert-heavy.jsonl", Workload::AlertHeavy, false, "jsonl"),
    ];
    for (_, file, workload, newest_first, _) in inputs {
        let path = dir.path().join(file);
        if !path.exists() {
            write(&path, workload, newest_first);
        }
    }
    let mut group = c.benchmark_group("scan 100k sign-ins");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    for (name, file, _, _, format) in inputs {
        let path = dir.path().join(file);
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
