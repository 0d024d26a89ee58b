//! Reading the inputs and feeding their records to the engine in event-time order, with memory
//! that does not grow with the input.
//!
//! Two ways, with the same result:
//!
//! - **Streaming** (tried first): records go to the engine as they are read, when the input is
//!   already in ascending event time (ties allowed) — what the collector's archive, an export
//!   sorted oldest first, or a generated benchmark file is. Plain Graph sign-ins are read the
//!   model's lean way (a borrowed view of what the rules read, no copy). In ascending input,
//!   reading order *is* the sorted order, so the engine sees exactly what sorting would give it.
//! - **Sorting**: at the first record older than the one before (a newest-first Graph export,
//!   several files out of order, standard input, which cannot be read twice), the scan starts
//!   again with a fresh engine: records are sorted by event time in memory up to
//!   `--buffer-records`, beyond that in sorted runs spilled to temporary files (a compact binary
//!   encoding) and merged. A newest-first export is noticed at its second record, so the
//!   restart costs next to nothing; an ascending file that turns out of order late costs a second
//!   reading. Warnings about unreadable records are printed once, not again on the second reading.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use m365mon_contracts::AlertEvent;
use m365mon_contracts::settings::Settings;
use m365mon_model::{ReadItem, Record, RecordReader, ViewItem};
use m365mon_rules::event::{AuditEvent, SignInEvent};
use m365mon_rules::{Engine, Event};
use serde::{Deserialize, Serialize};

/// Unreadable records reported per file before the rest are only counted.
const REPORTED_PER_FILE: u64 = 20;
/// Inputs at least this large get a progress bar (on a terminal).
const PROGRESS_BYTES: u64 = 8 * 1024 * 1024;

/// What a scan produced.
pub(crate) struct Scanned {
    pub engine: Engine,
    /// Each incident's final state, ordered by first event time, rule and id.
    pub alerts: Vec<AlertEvent>,
    pub unreadable_files: u64,
    pub unreadable_records: u64,
}

/// Reads every input, reporting unreadable records on stderr, and evaluates every record.
pub(crate) fn scan(
    paths: &[PathBuf],
    buffer_records: usize,
    default_tenant: Option<&str>,
    settings: &Settings,
) -> anyhow::Result<Scanned> {
    let default_tenant = default_tenant.unwrap_or("unknown");
    let buffer_records = buffer_records.max(1);
    let mut shown = vec![Shown::default(); paths.len()];
    // Standard input cannot be read a second time: sort it from the start.
    if !paths.iter().any(|p| p.as_os_str() == "-")
        && let Some(scanned) = stream(paths, buffer_records, default_tenant, settings, &mut shown)?
    {
        return Ok(scanned);
    }
    let sorted = read_sorted(paths, buffer_records, default_tenant, &mut shown)?;
    let mut engine = Engine::new(settings.clone());
    let mut finals = HashMap::new();
    evaluate(&mut engine, sorted.records, sorted.total, &mut finals)?;
    Ok(Scanned {
        alerts: final_alerts(&mut engine, finals),
        engine,
        unreadable_files: sorted.unreadable_files,
        unreadable_records: sorted.unreadable_records,
    })
}

/// Warnings already printed for one input (by an earlier reading of it).
#[derive(Debug, Clone, Copy, Default)]
struct Shown {
    cannot_read: bool,
    records: u64,
    more: bool,
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

fn input_sizes(paths: &[PathBuf]) -> Option<u64> {
    paths.iter().map(|p| if p.as_os_str() == "-" { None } else { std::fs::metadata(p).ok().map(|m| m.len()) }).sum()
}

/// The tenant a record names: the export's (Event Hub `tenantId`, Log Analytics
/// `AADTenantId`), else the sign-in's resource tenant, else its home tenant.
fn tenant_of(item: &ReadItem) -> Option<&str> {
    let (resource, home) = match &item.record {
        Record::SignIn(s) => (s.resource_tenant_id.as_deref(), s.home_tenant_id.as_deref()),
        Record::Audit(_) => (None, None),
    };
    named(item.tenant_id.as_deref().or(resource).or(home))
}

fn named(tenant: Option<&str>) -> Option<&str> {
    tenant.map(str::trim).filter(|t| !t.is_empty())
}

/// A warning on stderr. File names and reasons quote the input: printed escaped.
fn warn(stderr: &mut impl Write, text: &str) {
    use owo_colors::OwoColorize;
    let _ = writeln!(stderr, "{} {}", "warning:".yellow().bold(), crate::commands::text::printable(text, 1_000));
}

/// How reading one input went.
#[derive(Debug, Default)]
struct InputRead {
    unreadable_file: bool,
    unreadable_records: u64,
    /// `f` stopped the reading.
    stopped: bool,
}

/// Reads one input, handing each usable record's event (with the tenant the record names) to
/// `f`, and reporting unreadable records on stderr (the first 20, then a count; none that
/// `shown` says were printed already).
fn read_input(
    path: &PathBuf,
    bar: &ProgressBar,
    shown: &mut Shown,
    f: &mut dyn FnMut(Event<'_>, Option<&str>) -> ControlFlow<()>,
) -> InputRead {
    let mut stderr = anstream::stderr();
    let name = path.display().to_string();
    let mut read = InputRead::default();
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match File::open(path) {
            Ok(file) => Box::new(file),
            Err(e) => {
                if !shown.cannot_read {
                    bar.suspend(|| warn(&mut stderr, &format!("cannot read {name}: {e}; skipping it")));
                    shown.cannot_read = true;
                }
                read.unreadable_file = true;
                return read;
            }
        }
    };
    let mut bad = 0u64;
    let mut report = |text: &dyn Fn() -> String| {
        bad += 1;
        if bad <= REPORTED_PER_FILE && bad > shown.records {
            bar.suspend(|| warn(&mut stderr, &text()));
            shown.records = bad;
        }
    };
    let flow = RecordReader::new(bar.wrap_read(reader), name.clone()).for_each_view(|item| match item {
        Ok(ViewItem::SignIn { view, record_number, .. }) => {
            let tenant = view.resource_tenant_id.clone().or_else(|| view.home_tenant_id.clone());
            match SignInEvent::from_view(view) {
                Ok(event) => f(Event::Signin(event), named(tenant.as_deref())),
                Err(e) => {
                    report(&|| format!("skipped {name}: record {record_number}: {e}"));
                    ControlFlow::Continue(())
                }
            }
        }
        Ok(ViewItem::Full(item)) => match Event::from_record(&item.record) {
            Ok(event) => f(event, tenant_of(&item)),
            Err(e) => {
                report(&|| format!("skipped {name}: record {}: {e}", item.record_number));
                ControlFlow::Continue(())
            }
        },
        Err(e) => {
            report(&|| format!("skipped {e}"));
            ControlFlow::Continue(())
        }
    });
    read.stopped = flow.is_break();
    read.unreadable_records = bad;
    if !read.stopped && bad > REPORTED_PER_FILE && !shown.more {
        bar.suspend(|| {
            warn(&mut stderr, &format!("{name}: {} more unreadable records not shown", bad - REPORTED_PER_FILE))
        });
        shown.more = true;
    }
    read
}

/// Feeds the engine while the input is in ascending event time; `None` when a record came out
/// of order (or too many records waited for their file to name a tenant): then nothing of this
/// reading counts.
fn stream(
    paths: &[PathBuf],
    buffer_records: usize,
    default_tenant: &str,
    settings: &Settings,
    shown: &mut [Shown],
) -> anyhow::Result<Option<Scanned>> {
    let bar = progress_bar(input_sizes(paths));
    let mut engine = Engine::new(settings.clone());
    let mut finals = HashMap::new();
    let (mut unreadable_files, mut unreadable_records) = (0u64, 0u64);
    let mut last_time = i64::MIN;
    for (path, shown) in paths.iter().zip(shown.iter_mut()) {
        // Records that name no tenant take the first one their file names: they wait (in order,
        // with everything after them) until the file names one or ends.
        let mut file_tenant: Option<String> = None;
        let mut waiting: Vec<(Event<'static>, Option<String>)> = Vec::new();
        let read = read_input(path, &bar, shown, &mut |event, tenant| {
            let time = event.time();
            if time < last_time {
                return ControlFlow::Break(());
            }
            last_time = time;
            if file_tenant.is_none()
                && let Some(tenant) = tenant
            {
                file_tenant = Some(tenant.to_owned());
                for (event, own) in waiting.drain(..) {
                    let tenant = own.as_deref().or(file_tenant.as_deref()).unwrap_or(default_tenant);
                    observe(&mut engine, &mut finals, tenant, &event);
                }
            }
            match tenant.or(file_tenant.as_deref()) {
                Some(tenant) if waiting.is_empty() => observe(&mut engine, &mut finals, tenant, &event),
                _ => {
                    if waiting.len() >= buffer_records {
                        return ControlFlow::Break(());
                    }
                    waiting.push((event.into_owned(), tenant.map(str::to_owned)));
                }
            }
            ControlFlow::Continue(())
        });
        if read.stopped {
            bar.finish_and_clear();
            return Ok(None);
        }
        for (event, own) in waiting {
            let tenant = own.as_deref().or(file_tenant.as_deref()).unwrap_or(default_tenant);
            observe(&mut engine, &mut finals, tenant, &event);
        }
        unreadable_files += u64::from(read.unreadable_file);
        unreadable_records += read.unreadable_records;
    }
    bar.finish_and_clear();
    Ok(Some(Scanned { alerts: final_alerts(&mut engine, finals), engine, unreadable_files, unreadable_records }))
}

fn observe(engine: &mut Engine, finals: &mut HashMap<String, AlertEvent>, tenant: &str, event: &Event<'_>) {
    for alert in engine.observe_event(tenant, event) {
        finals.insert(alert.id.clone(), alert);
    }
}

/// Ends the input, and returns each incident's final state, ordered by first event time, rule
/// and id.
fn final_alerts(engine: &mut Engine, mut finals: HashMap<String, AlertEvent>) -> Vec<AlertEvent> {
    for alert in engine.finish() {
        finals.insert(alert.id.clone(), alert);
    }
    let now = chrono::Utc::now();
    let mut alerts: Vec<AlertEvent> = finals.into_values().collect();
    for alert in &mut alerts {
        // The engine stamps event time; an alert is produced now.
        alert.created_at = now;
    }
    alerts.sort_by(|a, b| (a.first_seen, a.rule, &a.id).cmp(&(b.first_seen, b.rule, &b.id)));
    alerts
}

/// An event as it is sorted and spilled: externally tagged, so it fits a compact binary
/// encoding (the public [`Event`] is tagged by a field, for JSON). [`Encoded`] writes the same
/// encoding from a borrowed event.
#[derive(Debug, Deserialize)]
enum Owned {
    Signin(SignInEvent<'static>),
    Audit(AuditEvent<'static>),
}

#[derive(Serialize)]
enum Encoded<'e, 'a> {
    Signin(&'e SignInEvent<'a>),
    Audit(&'e AuditEvent<'a>),
}

impl Owned {
    fn into_event(self) -> Event<'static> {
        match self {
            Owned::Signin(s) => Event::Signin(s),
            Owned::Audit(a) => Event::Audit(a),
        }
    }
}

/// One record waiting for its turn: its place in the order, and the record itself (the tenant
/// it names and its event) as postcard bytes. Small to move while sorting, and a third of the
/// memory of the decoded event.
#[derive(Debug)]
struct Pending {
    time: i64,
    seq: u64,
    /// Index of the input file, for its tenant when the record names none.
    file: u32,
    bytes: Box<[u8]>,
}

impl Pending {
    fn new(time: i64, seq: u64, file: u32, tenant: Option<&str>, event: &Event<'_>) -> anyhow::Result<Pending> {
        let encoded = match event {
            Event::Signin(s) => Encoded::Signin(s),
            Event::Audit(a) => Encoded::Audit(a),
        };
        let bytes = postcard::to_stdvec(&(tenant, encoded)).context("cannot encode a record for sorting")?;
        Ok(Pending { time, seq, file, bytes: bytes.into_boxed_slice() })
    }

    fn decode(&self) -> anyhow::Result<(Option<String>, Event<'static>)> {
        let (tenant, event): (Option<String>, Owned) =
            postcard::from_bytes(&self.bytes).context("a record waiting for its turn is damaged")?;
        Ok((tenant, event.into_event()))
    }
}

/// The records of all inputs, ready to be replayed in order.
struct Sorted {
    records: SortedRecords,
    total: u64,
    unreadable_files: u64,
    unreadable_records: u64,
}

struct SortedRecords {
    memory: std::vec::IntoIter<Pending>,
    runs: Vec<SpillReader>,
    heap: BinaryHeap<Reverse<(i64, u64, usize)>>,
    heads: Vec<Option<Pending>>,
    file_tenants: Vec<Option<String>>,
    default_tenant: String,
    /// Keeps the spill files alive until the merge is done.
    _spill: Vec<tempfile::NamedTempFile>,
}

/// Reads every input and sorts the records.
fn read_sorted(
    paths: &[PathBuf],
    buffer_records: usize,
    default_tenant: &str,
    shown: &mut [Shown],
) -> anyhow::Result<Sorted> {
    let bar = progress_bar(input_sizes(paths));
    let mut buffer: Vec<Pending> = Vec::with_capacity(buffer_records.min(1 << 20));
    let mut spill: Vec<tempfile::NamedTempFile> = Vec::new();
    let mut file_tenants = Vec::new();
    let (mut seq, mut unreadable_files, mut unreadable_records) = (0u64, 0u64, 0u64);
    let mut spill_error = None;
    for (index, (path, shown)) in paths.iter().zip(shown.iter_mut()).enumerate() {
        let mut file_tenant: Option<String> = None;
        let read = read_input(path, &bar, shown, &mut |event, tenant| {
            if file_tenant.is_none() {
                file_tenant = tenant.map(str::to_owned);
            }
            seq += 1;
            let pending = Pending::new(event.time(), seq, index as u32, tenant, &event);
            let spilled = pending.and_then(|pending| {
                buffer.push(pending);
                if buffer.len() >= buffer_records {
                    spill_run(&mut buffer).map(|file| spill.push(file))
                } else {
                    Ok(())
                }
            });
            if let Err(e) = spilled {
                spill_error = Some(e);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if let Some(error) = spill_error.take() {
            return Err(error);
        }
        unreadable_files += u64::from(read.unreadable_file);
        unreadable_records += read.unreadable_records;
        file_tenants.push(file_tenant);
    }
    bar.finish_and_clear();
    buffer.sort_unstable_by_key(|p| (p.time, p.seq));
    let mut records = SortedRecords {
        memory: buffer.into_iter(),
        runs: Vec::new(),
        heap: BinaryHeap::new(),
        heads: Vec::new(),
        file_tenants,
        default_tenant: default_tenant.to_string(),
        _spill: Vec::new(),
    };
    for file in &spill {
        let reopened = file.reopen().context("cannot reopen a temporary sort file")?;
        records.runs.push(SpillReader { input: BufReader::with_capacity(256 * 1024, reopened) });
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

/// Sorts the buffer and writes it to a temporary file: each record as its time, sequence
/// number, file index and length (little-endian) and its bytes.
fn spill_run(buffer: &mut Vec<Pending>) -> anyhow::Result<tempfile::NamedTempFile> {
    buffer.sort_unstable_by_key(|p| (p.time, p.seq));
    let file = tempfile::NamedTempFile::new().context("cannot create a temporary sort file")?;
    let mut out = BufWriter::with_capacity(1 << 20, file.reopen().context("cannot open a temporary sort file")?);
    for pending in buffer.drain(..) {
        let length = u32::try_from(pending.bytes.len()).context("a record too large for a temporary sort file")?;
        let mut head = [0u8; 24];
        head[..8].copy_from_slice(&pending.time.to_le_bytes());
        head[8..16].copy_from_slice(&pending.seq.to_le_bytes());
        head[16..20].copy_from_slice(&pending.file.to_le_bytes());
        head[20..].copy_from_slice(&length.to_le_bytes());
        out.write_all(&head).context("cannot write a temporary sort file")?;
        out.write_all(&pending.bytes).context("cannot write a temporary sort file")?;
    }
    out.flush().context("cannot write a temporary sort file")?;
    Ok(file)
}

/// Reads back a run written by [`spill_run`].
struct SpillReader {
    input: BufReader<File>,
}

impl SpillReader {
    fn next(&mut self) -> anyhow::Result<Option<Pending>> {
        let mut head = [0u8; 24];
        match self.input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e).context("cannot read a temporary sort file"),
        }
        let field = |range: std::ops::Range<usize>| -> [u8; 8] {
            let mut bytes = [0u8; 8];
            bytes[..range.len()].copy_from_slice(&head[range]);
            bytes
        };
        let time = i64::from_le_bytes(field(0..8));
        let seq = u64::from_le_bytes(field(8..16));
        let file = u64::from_le_bytes(field(16..20)) as u32;
        let length = u64::from_le_bytes(field(20..24)) as usize;
        let mut bytes = vec![0u8; length].into_boxed_slice();
        self.input.read_exact(&mut bytes).context("cannot read a temporary sort file")?;
        Ok(Some(Pending { time, seq, file, bytes }))
    }
}

impl SortedRecords {
    fn advance_run(&mut self, run: usize) -> anyhow::Result<()> {
        match self.runs[run].next()? {
            Some(pending) => {
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
        let (tenant, event) = pending.decode()?;
        let tenant = tenant
            .or_else(|| self.file_tenants.get(pending.file as usize).cloned().flatten())
            .unwrap_or_else(|| self.default_tenant.clone());
        Ok(Some((tenant, event)))
    }
}

/// Feeds the sorted records to the engine.
fn evaluate(
    engine: &mut Engine,
    mut records: SortedRecords,
    total: u64,
    finals: &mut HashMap<String, AlertEvent>,
) -> anyhow::Result<()> {
    let bar = if std::io::stderr().is_terminal() && total >= 100_000 {
        ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{spinner} evaluating {human_pos}/{human_len} records {wide_bar} {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut n = 0u64;
    while let Some((tenant, event)) = records.next_record()? {
        observe(engine, finals, &tenant, &event);
        n += 1;
        if n.is_multiple_of(4096) {
            bar.set_position(n);
        }
    }
    bar.finish_and_clear();
    Ok(())
}
