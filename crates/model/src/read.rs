//! Streaming readers for exported logs, and the raw API the collector and graph-sim use.
//!
//! Why streaming and why forgiving: administrators hand `m365mon scan` whatever they exported —
//! a saved Graph page, a JSON array from PowerShell, JSON lines, an Event Hub capture, a Log
//! Analytics CSV — sometimes gigabytes, sometimes damaged. [`RecordReader`] detects the format from
//! the content (never the file name), keeps at most one record (plus a read chunk) in memory,
//! reports a bad record with the file, the record number, the line and byte offset and the
//! reason, and goes on with the next one. No input makes it panic or loop forever.
//!
//! Formats (see the crate docs for the details and normalisations):
//! - JSON ([`json`]): Graph pages `{"@odata.context", "@odata.nextLink"?, "value": [...]}` (one,
//!   several concatenated, or one per line), Event Hub `{"records": [...]}`, JSON arrays, JSON
//!   lines, single objects, and nestings of these. Records inside may be Graph objects, Event Hub
//!   records or Log Analytics rows, mixed.
//! - CSV ([`csv`]): Log Analytics exports (`SigninLogs`, `AuditLogs`, ...).
//!
//! The raw API ([`split_page`], [`parse_record`], [`parse_record_detailed`]) works on one HTTP
//! body or one record at a time, for code that must forward records exactly as Microsoft sent them.

use std::io::Read;
use std::ops::ControlFlow;

use serde_json::{Map, Value};

use crate::Record;
use crate::record::SignInEventType;
use crate::shape::{ParsedRecord, RecordShape};

mod csv;
mod json;
mod raw;
mod scan;

pub use raw::{GraphPage, PageError, RecordError, parse_record, parse_record_detailed, split_page};

/// The default limit on the size of one record (64 MiB): a bigger "record" is not a sign-in.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// How much of the input format detection looks at.
const SNIFF_BYTES: usize = 64 * 1024;

/// A record read from a source, with its position in that source.
#[derive(Debug, Clone)]
pub struct ReadItem {
    /// The record, in the Graph shape.
    pub record: Record,
    /// 1-based number of the record within the source (bad records are counted too).
    pub record_number: u64,
    /// The shape the record had in the source.
    pub shape: RecordShape,
    /// For sign-ins: which kind (from the Event Hub category or Log Analytics table, else from
    /// the record). `None` for audits.
    pub event_type: Option<SignInEventType>,
    /// The Entra tenant the source names (Event Hub `tenantId`, Log Analytics `AADTenantId`).
    pub tenant_id: Option<String>,
    /// Event Hub and Log Analytics: the source's fields around the Graph record, verbatim.
    pub envelope: Option<Box<Map<String, Value>>>,
    /// Byte offset of the record in the source (JSON) or of its row (CSV).
    pub byte_offset: Option<u64>,
    /// 1-based line of the record's row (CSV only; JSON records do not count lines).
    pub line: Option<u64>,
}

impl ReadItem {
    /// An envelope field, looked up ignoring ASCII case (`callerIpAddress`, `TimeGenerated`, ...).
    pub fn envelope_value(&self, key: &str) -> Option<&Value> {
        let envelope = self.envelope.as_deref()?;
        envelope.get(key).or_else(|| envelope.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
    }
}

/// A record handed over by [`RecordReader::for_each_view`].
// The view lives on the stack for one call; boxing it would cost an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ViewItem<'a> {
    /// A plain Graph sign-in, read the lean way ([`crate::view`]): borrowed from the reader's
    /// buffer, so it lives only for the call.
    SignIn {
        view: crate::SignInView<'a>,
        /// 1-based number of the record within the source (bad records are counted too).
        record_number: u64,
        /// Byte offset of the record in the source.
        byte_offset: u64,
    },
    /// Any other record (an audit, an Event Hub or Log Analytics record, a sign-in with odd
    /// values, every CSV row), read in full.
    Full(ReadItem),
}

impl ViewItem<'_> {
    /// 1-based number of the record within the source.
    pub fn record_number(&self) -> u64 {
        match self {
            ViewItem::SignIn { record_number, .. } => *record_number,
            ViewItem::Full(item) => item.record_number,
        }
    }
}

/// A record that could not be read. Reading continues after it where the input allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}: record {record_number}{}: {reason}", position(*.line, *.byte_offset))]
pub struct ReadError {
    /// The file name (or `-` for stdin) the caller gave.
    pub source_name: String,
    /// 1-based record number within the source.
    pub record_number: u64,
    pub reason: String,
    /// 1-based line where the problem is, when known.
    pub line: Option<u64>,
    /// Byte offset in the source of the record (or of the problem), when known.
    pub byte_offset: Option<u64>,
}

fn position(line: Option<u64>, byte_offset: Option<u64>) -> String {
    match (line, byte_offset) {
        (Some(line), Some(offset)) => format!(" (line {line}, byte {offset})"),
        (Some(line), None) => format!(" (line {line})"),
        (None, Some(offset)) => format!(" (byte {offset})"),
        (None, None) => String::new(),
    }
}

/// The format [`RecordReader`] detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// Any JSON layout (pages, arrays, lines, Event Hub bodies).
    Json,
    /// A CSV export (Log Analytics).
    Csv,
}

/// A record from a format reader, before numbering.
pub(crate) struct Parsed {
    pub(crate) record: ParsedRecord,
    pub(crate) byte_offset: Option<u64>,
    pub(crate) line: Option<u64>,
}

/// A failure from a format reader, before numbering.
pub(crate) struct Failure {
    pub(crate) reason: String,
    pub(crate) line: Option<u64>,
    pub(crate) byte_offset: Option<u64>,
    /// False for problems that are not a record (a truncated array, an I/O error).
    pub(crate) counts_as_record: bool,
}

enum State<R> {
    Start(Option<R>),
    Json(Box<json::JsonRecords<R>>),
    Csv(Box<csv::CsvRecords<R>>),
    Done,
}

/// Iterator over the records of one source, in order: `Ok` for each record read, `Err` for each
/// record (or stretch of input) that could not be read.
pub struct RecordReader<R: Read> {
    state: State<R>,
    source_name: String,
    record_number: u64,
    max_record_bytes: usize,
    format: Option<SourceFormat>,
    /// The last `@odata.nextLink`, kept when the source is done.
    next_link: Option<String>,
}

impl<R: Read> std::fmt::Debug for RecordReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("source_name", &self.source_name)
            .field("record_number", &self.record_number)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl<R: Read> RecordReader<R> {
    /// Reads records from `reader`; `source_name` (a file name, `-` for stdin) names it in errors.
    /// Pass a plain reader: the reader buffers itself.
    pub fn new(reader: R, source_name: impl Into<String>) -> Self {
        RecordReader {
            state: State::Start(Some(reader)),
            source_name: source_name.into(),
            record_number: 0,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            format: None,
            next_link: None,
        }
    }

    /// Sets the largest record accepted (default [`DEFAULT_MAX_RECORD_BYTES`]); bigger ones are
    /// reported and skipped without being held in memory.
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes.max(1024);
        self
    }

    /// The name given at construction.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The detected format, once the first item has been asked for.
    pub fn format(&self) -> Option<SourceFormat> {
        self.format
    }

    /// How many records (read or not) have been seen so far.
    pub fn records_seen(&self) -> u64 {
        self.record_number
    }

    /// The last `@odata.nextLink` met in a Graph page so far (JSON sources).
    pub fn next_link(&self) -> Option<&str> {
        match &self.state {
            State::Json(records) => records.next_link(),
            _ => self.next_link.as_deref(),
        }
    }

    /// Detects the format from the first bytes.
    fn start(&mut self, mut reader: R) -> Option<Result<ReadItem, ReadError>> {
        // Enough to see the first line of a CSV header.
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let mut read_error = None;
        while head.len() < SNIFF_BYTES {
            let mut chunk = [0u8; 8192];
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        if let Some(error) = read_error.take_if(|_| head.is_empty()) {
            self.state = State::Done;
            let failure = Failure {
                reason: format!("reading failed: {error}"),
                line: None,
                byte_offset: None,
                counts_as_record: false,
            };
            return Some(Err(self.error(failure)));
        }
        let without_bom = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
        if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
            self.state = State::Done;
            let failure = Failure {
                reason: "the input is UTF-16 encoded; convert it to UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)".to_owned(),
                line: Some(1),
                byte_offset: Some(0),
                counts_as_record: false,
            };
            return Some(Err(self.error(failure)));
        }
        let first = without_bom.iter().copied().find(|b| !b.is_ascii_whitespace());
        let first_line = without_bom.split(|&b| b == b'\n').next().unwrap_or_default();
        let looks_like_csv =
            !matches!(first, Some(b'{' | b'[') | None) && first_line.contains(&b',') && !first_line.contains(&0);
        if looks_like_csv {
            self.format = Some(SourceFormat::Csv);
            let buffered = without_bom.to_vec();
            self.state = State::Csv(Box::new(csv::CsvRecords::new(buffered, reader)));
        } else {
            self.format = Some(SourceFormat::Json);
            let mut buffer = json::Buffer::new(reader, head);
            if let Some(error) = read_error {
                // Read what arrived before the failure, then report it.
                buffer.stop_with(error);
            }
            self.state = State::Json(Box::new(json::JsonRecords::new(buffer, self.max_record_bytes)));
        }
        None
    }

    fn error(&mut self, failure: Failure) -> ReadError {
        numbered_error(&mut self.record_number, &self.source_name, failure)
    }

    fn item(&mut self, parsed: Parsed) -> ReadItem {
        numbered_item(&mut self.record_number, parsed)
    }

    /// Reads every record (or what is left of the source), handing each to `f` in order, and
    /// stops early when `f` breaks. Plain Graph sign-ins come as lean borrowed views
    /// ([`ViewItem::SignIn`], see [`crate::view`]: several times cheaper than the full model),
    /// everything else as [`ReadItem`]s; errors and numbering as with the iterator.
    ///
    /// For code that needs only what detection reads (`m365mon scan`); code that keeps or
    /// forwards records uses the iterator.
    pub fn for_each_view(
        &mut self,
        mut f: impl FnMut(Result<ViewItem<'_>, ReadError>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        loop {
            match &mut self.state {
                State::Start(reader) => {
                    let Some(reader) = reader.take() else {
                        self.state = State::Done;
                        return ControlFlow::Continue(());
                    };
                    if let Some(early) = self.start(reader) {
                        f(early.map(ViewItem::Full))?;
                    }
                }
                State::Json(records) => {
                    let (number, name) = (&mut self.record_number, self.source_name.as_str());
                    let flow = records.for_each(&mut |next| match next {
                        Ok(json::Next::View(view, offset)) => {
                            *number += 1;
                            f(Ok(ViewItem::SignIn { view, record_number: *number, byte_offset: offset }))
                        }
                        Ok(json::Next::Full(parsed)) => f(Ok(ViewItem::Full(numbered_item(number, parsed)))),
                        Err(failure) => f(Err(numbered_error(number, name, failure))),
                    });
                    flow?;
                    self.next_link = records.next_link().map(str::to_owned);
                    self.state = State::Done;
                }
                State::Csv(_) => match self.next() {
                    Some(item) => f(item.map(ViewItem::Full))?,
                    None => return ControlFlow::Continue(()),
                },
                State::Done => return ControlFlow::Continue(()),
            }
        }
    }
}

fn numbered_error(record_number: &mut u64, source_name: &str, failure: Failure) -> ReadError {
    let number = if failure.counts_as_record {
        *record_number += 1;
        *record_number
    } else {
        *record_number + 1
    };
    ReadError {
        source_name: source_name.to_owned(),
        record_number: number,
        reason: failure.reason,
        line: failure.line,
        byte_offset: failure.byte_offset,
    }
}

fn numbered_item(record_number: &mut u64, parsed: Parsed) -> ReadItem {
    *record_number += 1;
    let Parsed { record, byte_offset, line } = parsed;
    ReadItem {
        record: record.record,
        record_number: *record_number,
        shape: record.shape,
        event_type: record.event_type,
        tenant_id: record.tenant_id,
        envelope: record.envelope,
        byte_offset,
        line,
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<ReadItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let outcome = match &mut self.state {
                State::Start(reader) => {
                    let Some(reader) = reader.take() else {
                        self.state = State::Done;
                        return None;
                    };
                    if let Some(early) = self.start(reader) {
                        return Some(early);
                    }
                    continue;
                }
                State::Json(records) => records.next(),
                State::Csv(records) => records.next(),
                State::Done => return None,
            };
            return match outcome {
                Some(Ok(parsed)) => Some(Ok(self.item(parsed))),
                Some(Err(failure)) => Some(Err(self.error(failure))),
                None => {
                    if let State::Json(records) = &self.state {
                        self.next_link = records.next_link().map(str::to_owned);
                    }
                    self.state = State::Done;
                    None
                }
            };
        }
    }
}
