//! The rules engine alone: records per second through the engine (design §6 target: at least
//! 1,000,000 records/s). Records come from the deterministic generator, parsed into the model
//! beforehand, so only the engine is measured; two workloads (see `m365mon_rules::synth`):
//!
//! - `realistic`: a tenant's ordinary traffic (about one alert event per 200–250 records here,
//!   mostly people signing in after hours);
//! - `alert-heavy`: the stress test, an alert event for about one record in twenty.
//!
//! Each from an empty engine (the cost includes building the state for 10,000 users) and warm
//! (the same users keep signing in); `observe` takes a `Record` (the record view is built per
//! record, as the detector does), `observe_event` an [`Event`] built beforehand (as the scan's
//! lean reader hands it over).
//!
//! `cargo bench -p m365mon-rules --bench engine`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use m365mon_contracts::settings::Settings;
use m365mon_model::Record;
use m365mon_rules::synth::{Generator, SynthOptions, Workload, realistic_step};
use m365mon_rules::{Engine, Event};

const TENANT: &str = "5f3c0d2e-8a1b-4c6d-9e7f-0a1b2c3d4e5f";
const RECORDS: usize = 100_000;
const USERS: u32 = 10_000;

fn records(n: usize, workload: Workload) -> Vec<Record> {
    let step = match workload {
        Workload::Realistic => realistic_step(USERS),
        Workload::AlertHeavy => SynthOptions::default().step,
    };
    let mut generator =
        Generator::with_workload(SynthOptions { users: USERS, seed: 7, step, ..SynthOptions::default() }, workload);
    (0..n).map(|_| generator.next_record()).collect()
}

fn run(engine: &mut Engine, input: &[Record]) -> usize {
    input.iter().map(|record| engine.observe(TENANT, record).len()).sum()
}

fn run_events(engine: &mut Engine, input: &[Event<'_>]) -> usize {
    input.iter().map(|event| engine.observe_event(TENANT, event).len()).sum()
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(20);
    for (name, workload) in [("realistic", Workload::Realistic), ("alert-heavy", Workload::AlertHeavy)] {
        // Twice the records: the first half warms the engine for the "warm" runs.
        let all = records(2 * RECORDS, workload);
        let (warm, measured) = all.split_at(RECORDS);
        let events: Vec<Event<'_>> = warm.iter().filter_map(|r| Event::from_record(r).ok()).collect();
        group.bench_function(format!("{name}: observe 100k sign-ins, 10k users, from empty"), |b| {
            b.iter_batched(
                || Engine::new(Settings::default()),
                |mut engine| {
                    let alerts = run(&mut engine, warm);
                    (engine, alerts)
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("{name}: observe_event 100k prebuilt events, 10k users, from empty"), |b| {
            b.iter_batched(
                || Engine::new(Settings::default()),
                |mut engine| {
                    let alerts = run_events(&mut engine, &events);
                    (engine, alerts)
                },
                BatchSize::LargeInput,
            )
        });
        let mut warmed = Engine::new(Settings::default());
        run(&mut warmed, warm);
        group.bench_function(format!("{name}: observe 100k sign-ins, 10k users, warm"), |b| {
            b.iter_batched(
                || warmed.clone(),
                |mut engine| {
                    let alerts = run(&mut engine, measured);
                    (engine, alerts)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
