//! Reading the inputs and putting their records in event-time order with bounded memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use m365mon_contracts::AlertEvent;
use m365mon_model::{ReadItem, Record, RecordReader};
use m365mon_rules::{Engine, Event};
use serde::{Deserialize, Serialize};

/// Unreadable records reported per file before the rest are only counted.
const REPORTED_PER_FILE: u64 = 20;
/// Inputs at least this large get a progress bar (on a terminal).
const PROGRESS_BYTES: u64 = 8 * 1024 * 1024;

/// One record waiting for its turn.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    time: i64,
    seq: u64,
    /// Tenant named by the record, if any.
    tenant: Option<String>,
    /// Index of the input file, for its tenant when the record names none.
    file: u32,
    event: Event<'static>,
}

/// The records of all inputs, ready to be replayed in order.
pub(crate) struct Sorted {
    pub records: SortedRecords,
    pub total: u64,
    pub unreadable_files: u64,
    pub unreadable_records: u64,
}

pub(crate) struct SortedRecords {
    memory: std::vec::IntoIter<Pending>,
    runs: Vec<std::io::Lines<BufReader<File>>>,
    heap: BinaryHeap<Reverse<(i64, u64, usize)>>,
    heads: Vec<Option<Pending>>,
    file_tenants: Vec<Option<String>>,
    default_tenant: String,
    /// Keeps the spill files alive until the merge is done.
    _spill: Vec<tempfile::NamedTempFile>,
}

fn progress_bar(total_bytes: Option<u64>) -> ProgressBar {
    let big = total_bytes.is_none_or(|b| b >= PROGRESS_BYTES);
    if !std::io::stderr().is_terminal() || !big {
        return ProgressBar::hidden();
    }
    match total_bytes {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{spinner} reading {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} reading {bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}

/// The tenant a record names: the export's (Event Hub `tenantId`, Log Analytics
/// `AADTenantId`), else the sign-in's resource tenant, else its home tenant.
fn tenant_of(item: &ReadItem) -> Option<String> {
    let (resource, home) = match &item.record {
        Record::SignIn(s) => (s.resource_tenant_id.as_deref(), s.home_tenant_id.as_deref()),
        Record::Audit(_) => (None, None),
    };
    item.tenant_id.as_deref().or(resource).or(home).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
}

/// Reads every input, reporting unreadable records on stderr, and sorts the records.
pub(crate) fn read_sorted(
    paths: &[PathBuf],
    buffer_records: usize,
    default_tenant: Option<&str>,
) -> anyhow::Result<Sorted> {
    let sizes: Option<u64> = paths
        .iter()
        .map(|p| if p.as_os_str() == "-" { None } else { std::fs::metadata(p).ok().map(|m| m.len()) })
        .sum();
    let bar = progress_bar(sizes);
    let buffer_records = buffer_records.max(1);
    let mut buffer: Vec<Pending> = Vec::with_capacity(buffer_records.min(1 << 20));
    let mut spill: Vec<tempfile::NamedTempFile> = Vec::new();
    let mut file_tenants = Vec::new();
    let (mut seq, mut unreadable_files, mut unreadable_records) = (0u64, 0u64, 0u64);
    let mut stderr = anstream::stderr();
    for (index, path) in paths.iter().enumerate() {
        let name = path.display().to_string();
        let reader: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            match File::open(path) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    bar.suspend(|| warn(&mut stderr, &format!("cannot read {name}: {e}; skipping it")));
                    unreadable_files += 1;
                    file_tenants.push(None);
                    continue;
                }
            }
        };
        let mut file_tenant = None;
        let mut bad_here = 0u64;
        for item in RecordReader::new(bar.wrap_read(reader), name.clone()) {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    bad_here += 1;
                    if bad_here <= REPORTED_PER_FILE {
                        bar.suspend(|| warn(&mut stderr, &format!("skipped {e}")));
                    }
                    continue;
                }
            };
            let tenant = tenant_of(&item);
            if file_tenant.is_none() {
                file_tenant.clone_from(&tenant);
            }
            match Event::from_record(&item.record) {
                Ok(event) => {
                    seq += 1;
                    buffer.push(Pending {
                        time: event.time(),
                        seq,
                        tenant,
                        file: index as u32,
                        event: event.into_owned(),
                    });
                    if buffer.len() >= buffer_records {
                        spill.push(spill_run(&mut buffer)?);
                    }
                }
                Err(e) => {
                    bad_here += 1;
                    if bad_here <= REPORTED_PER_FILE {
                        bar.suspend(|| {
                            warn(&mut stderr, &format!("skipped {name}: record {}: {e}", item.record_number))
                        });
                    }
                }
            }
        }
        if bad_here > REPORTED_PER_FILE {
            bar.suspend(|| {
                warn(
                    &mut stderr,
                    &format!("{name}: {} more unreadable records not shown", bad_here - REPORTED_PER_FILE),
                )
            });
        }
        unreadable_records += bad_here;
        file_tenants.push(file_tenant);
    }
    bar.finish_and_clear();
    buffer.sort_by_key(|p| (p.time, p.seq));
    let mut records = SortedRecords {
        memory: buffer.into_iter(),
        runs: Vec::new(),
        heap: BinaryHeap::new(),
        heads: Vec::new(),
        file_tenants,
        default_tenant: default_tenant.unwrap_or("unknown").to_string(),
        _spill: Vec::new(),
    };
    for file in &spill {
        let reopened = file.reopen().context("cannot reopen a temporary sort file")?;
        records.runs.push(BufReader::new(reopened).lines());
        records.heads.push(None);
        let run = records.runs.len() - 1;
        records.advance_run(run)?;
    }
    records._spill = spill;
    records.heads.push(None); // the in-memory run
    let memory_run = records.heads.len() - 1;
    records.advance_memory(memory_run);
    Ok(Sorted { records, total: seq, unreadable_files, unreadable_records })
}

fn warn(stderr: &mut impl Write, text: &str) {
    use owo_colors::OwoColorize;
    let _ = writeln!(stderr, "{} {text}", "warning:".yellow().bold());
}

/// Sorts the buffer and writes it to a temporary file as JSON lines.
fn spill_run(buffer: &mut Vec<Pending>) -> anyhow::Result<tempfile::NamedTempFile> {
    buffer.sort_by_key(|p| (p.time, p.seq));
    let file = tempfile::NamedTempFile::new().context("cannot create a temporary sort file")?;
    let mut out = BufWriter::new(file.reopen().context("cannot open a temporary sort file")?);
    for pending in buffer.drain(..) {
        serde_json::to_writer(&mut out, &pending).context("cannot write a temporary sort file")?;
        out.write_all(b"\n").context("cannot write a temporary sort file")?;
    }
    out.flush().context("cannot write a temporary sort file")?;
    Ok(file)
}

impl SortedRecords {
    fn advance_run(&mut self, run: usize) -> anyhow::Result<()> {
        match self.runs[run].next() {
            Some(line) => {
                let line = line.context("cannot read a temporary sort file")?;
                let pending: Pending = serde_json::from_str(&line).context("a temporary sort file is damaged")?;
                self.heap.push(Reverse((pending.time, pending.seq, run)));
                self.heads[run] = Some(pending);
            }
            None => self.heads[run] = None,
        }
        Ok(())
    }

    fn advance_memory(&mut self, run: usize) {
        if let Some(pending) = self.memory.next() {
            self.heap.push(Reverse((pending.time, pending.seq, run)));
            self.heads[run] = Some(pending);
        }
    }

    /// The next record in event-time order, with its tenant.
    fn next_record(&mut self) -> anyhow::Result<Option<(String, Event<'static>)>> {
        let Some(Reverse((_, _, run))) = self.heap.pop() else { return Ok(None) };
        let pending = self.heads[run].take().context("sort merge lost a record")?;
        if run == self.heads.len() - 1 {
            self.advance_memory(run);
        } else {
            self.advance_run(run)?;
        }
        let tenant = pending
            .tenant
            .or_else(|| self.file_tenants.get(pending.file as usize).cloned().flatten())
            .unwrap_or_else(|| self.default_tenant.clone());
        Ok(Some((tenant, pending.event)))
    }
}

/// Feeds the records to the engine in order and returns each incident's final state, ordered
/// by first event time, rule and id.
pub(crate) fn evaluate(engine: &mut Engine, mut records: SortedRecords, total: u64) -> anyhow::Result<Vec<AlertEvent>> {
    let bar = if std::io::stderr().is_terminal() && total >= 100_000 {
        ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{spinner} evaluating {human_pos}/{human_len} records {wide_bar} {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut finals: std::collections::HashMap<String, AlertEvent> = std::collections::HashMap::new();
    let mut n = 0u64;
    while let Some((tenant, event)) = records.next_record()? {
        for alert in engine.observe_event(&tenant, &event) {
            finals.insert(alert.id.clone(), alert);
        }
        n += 1;
        if n.is_multiple_of(4096) {
            bar.set_position(n);
        }
    }
    for alert in engine.finish() {
        finals.insert(alert.id.clone(), alert);
    }
    bar.finish_and_clear();
    let now = chrono::Utc::now();
    let mut alerts: Vec<AlertEvent> = finals.into_values().collect();
    for alert in &mut alerts {
        // The engine stamps event time; an alert is produced now.
        alert.created_at = now;
    }
    alerts.sort_by(|a, b| (a.first_seen, a.rule, &a.id).cmp(&(b.first_seen, b.rule, &b.id)));
    Ok(alerts)
}
