//! The rules engine alone: records per second through `Engine::observe` (design §6 target:
//! at least 1,000,000 records/s). Records come from the deterministic generator, parsed into the
//! model beforehand, so only the engine is measured.
//!
//! `cargo bench -p m365mon-rules --bench engine`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use m365mon_contracts::settings::Settings;
use m365mon_model::Record;
use m365mon_rules::Engine;
use m365mon_rules::synth::{Generator, SynthOptions};

const TENANT: &str = "5f3c0d2e-8a1b-4c6d-9e7f-0a1b2c3d4e5f";

fn records(n: usize, users: u32) -> Vec<Record> {
    let mut generator = Generator::new(SynthOptions { users, seed: 7, ..SynthOptions::default() });
    (0..n).map(|_| generator.next_record()).collect()
}

fn engine(c: &mut Criterion) {
    let n = 100_000;
    let input = records(n, 10_000);
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20);
    // A fresh engine per run: the cost includes building the state for 10,000 users.
    group.bench_function("observe 100k sign-ins, 10k users, from empty", |b| {
        b.iter_batched(
            || Engine::new(Settings::default()),
            |mut engine| {
                let mut alerts = 0usize;
                for record in &input {
                    alerts += engine.observe(TENANT, record).len();
                }
                (engine, alerts)
            },
            BatchSize::LargeInput,
        )
    });
    // Steady state: the same users keep signing in.
    let warm_input = records(2 * n, 10_000);
    let (warm, measured) = warm_input.split_at(n);
    let mut engine = Engine::new(Settings::default());
    for record in warm {
        engine.observe(TENANT, record);
    }
    group.bench_function("observe 100k sign-ins, 10k users, warm", |b| {
        b.iter_batched(
            || engine.clone(),
            |mut engine| {
                let mut alerts = 0usize;
                for record in measured {
                    alerts += engine.observe(TENANT, record).len();
                }
                (engine, alerts)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
