//! Throughput of the readers: 100,000 generated sign-ins (about 2.3 KB each, beta-shaped, with
//! Conditional Access policies and authentication details) read through `RecordReader`, as a
//! Graph page, as JSON lines and as an Event Hub body, in full (the iterator) and the lean way
//! (`for_each_view`: borrowed views of what detection reads; Event Hub records are always read
//! in full); and one record through `parse_record` and `SignInView::parse`.
//!
//! Run: `cargo bench -p m365mon-model --bench read`. Criterion reports records/s ("elem/s");
//! MB/s is the printed input size times that rate.

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::ops::ControlFlow;

use m365mon_model::{RecordReader, SignInView, parse_record};

#[path = "support/generate.rs"]
mod generate;
use generate::sign_in;

const RECORDS: usize = 100_000;

fn graph_page(records: &[String]) -> Vec<u8> {
    let mut out =
        br#"{"@odata.context":"https://graph.microsoft.com/beta/$metadata#auditLogs/signIns","value":["#.to_vec();
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(record.as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

fn json_lines(records: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        out.extend_from_slice(record.as_bytes());
        out.push(b'\n');
    }
    out
}

fn event_hub(records: &[String]) -> Vec<u8> {
    let mut out = br#"{"records":["#.to_vec();
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            br#"{"time":"2024-03-01T10:00:00.1234567Z","resourceId":"/tenants/99081087-73c4-48d1-a112-f60ff75114f7/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"SignInLogs","tenantId":"99081087-73c4-48d1-a112-f60ff75114f7","resultType":"0","resultSignature":"None","durationMs":0,"callerIpAddress":"131.107.1.2","correlationId":"5d295068-919b-4017-85d8-44be2f5f5483","identity":"User","Level":4,"location":"US","properties":"#,
        );
        out.extend_from_slice(record.as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

fn count(input: &[u8]) -> usize {
    let mut records = 0;
    for item in RecordReader::new(Cursor::new(input), "bench") {
        black_box(item.expect("generated records are valid"));
        records += 1;
    }
    records
}

fn count_lean(input: &[u8]) -> usize {
    let mut records = 0;
    let flow = RecordReader::new(Cursor::new(input), "bench").for_each_view(|item| {
        black_box(item.expect("generated records are valid"));
        records += 1;
        ControlFlow::Continue(())
    });
    assert!(flow.is_continue());
    records
}

fn bench(c: &mut Criterion) {
    let records: Vec<String> = (0..RECORDS).map(sign_in).collect();
    let inputs = [
        ("graph_page", graph_page(&records)),
        ("json_lines", json_lines(&records)),
        ("event_hub", event_hub(&records)),
    ];
    let mut group = c.benchmark_group("read_100k_sign_ins");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (name, input) in &inputs {
        assert_eq!(count(input), RECORDS);
        eprintln!("{name}: {} bytes, {:.0} bytes per record", input.len(), input.len() as f64 / RECORDS as f64);
        group.bench_function(*name, |b| b.iter(|| count(black_box(input))));
        assert_eq!(count_lean(input), RECORDS);
        group.bench_function(format!("{name}, lean views"), |b| b.iter(|| count_lean(black_box(input))));
    }
    group.finish();

    let one = records[7].as_bytes();
    let mut group = c.benchmark_group("parse_one_sign_in");
    group.throughput(Throughput::Bytes(one.len() as u64));
    group.bench_function("parse_record", |b| b.iter(|| parse_record(black_box(one)).expect("valid")));
    let text = std::str::from_utf8(one).expect("UTF-8");
    group.bench_function("SignInView::parse", |b| b.iter(|| SignInView::parse(black_box(text)).expect("lean")));
    group.bench_function("serde_json_value_baseline", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(one)).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
