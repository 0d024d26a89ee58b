//! Streams a generated Graph page of N sign-ins (never held in memory: generated as it is read)
//! through `RecordReader` and prints the record count, the input size, the time and the peak
//! memory of the process, to show that memory does not grow with the input.
//!
//! Run: `cargo run --release -p m365mon-model --example stream_memory -- 400000` (about 1 GB).

use std::io::Read;
use std::time::Instant;

#[path = "../benches/support/generate.rs"]
mod generate;

/// `{"@odata.context": ..., "value": [record, record, ...]}`, produced on demand.
struct GeneratedPage {
    records: usize,
    next: usize,
    pending: Vec<u8>,
    at: usize,
    closed: bool,
    produced: u64,
}

impl Read for GeneratedPage {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            self.pending.clear();
            self.at = 0;
            if self.next == 0 && self.produced == 0 {
                self.pending.extend_from_slice(
                    br#"{"@odata.context":"https://graph.microsoft.com/beta/$metadata#auditLogs/signIns","value":["#,
                );
            }
            if self.next < self.records {
                if self.next > 0 {
                    self.pending.push(b',');
                }
                self.pending.extend_from_slice(generate::sign_in(self.next).as_bytes());
                self.next += 1;
            } else if !self.closed {
                self.pending.extend_from_slice(b"]}");
                self.closed = true;
            } else {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        self.produced += n as u64;
        Ok(n)
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), if known.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let records: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(400_000);
    let page = GeneratedPage { records, next: 0, pending: Vec::new(), at: 0, closed: false, produced: 0 };
    let started = Instant::now();
    let mut reader = m365mon_model::RecordReader::new(page, "generated");
    let (mut read, mut failed) = (0u64, 0u64);
    for item in reader.by_ref() {
        match item {
            Ok(_) => read += 1,
            Err(_) => failed += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_memory_kib().map_or_else(|| "unknown".to_owned(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0));
    println!(
        "{read} records read, {failed} failed, in {elapsed:.1} s (generation included): {:.0} records/s; peak memory {peak}",
        read as f64 / elapsed
    );
}
