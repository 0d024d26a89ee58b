//! CSV exports of Log Analytics tables (`SigninLogs`, `AuditLogs`, ...), row by row.
//!
//! Why special handling: exports from the Azure portal render `dynamic` columns as JSON text
//! (sometimes pretty-printed over several lines inside one quoted cell), sometimes split a column
//! into `X_dynamic` and `X_string`, name datetime columns `CreatedDateTime [UTC]`, write booleans
//! as `TRUE`/`FALSE` and dates in the exporter's locale (`4/28/2021, 2:08:45.221 PM`). Each row
//! becomes a column → text map (empty cells are absent: CSV cannot tell empty from missing),
//! which the Log Analytics mapping then lifts to Graph. The `csv` crate streams rows, so memory
//! stays at one row.

use std::io::{Chain, Cursor, Read};

use serde_json::{Map, Value};

use super::{Failure, Parsed};

/// A header, cleaned.
enum Column {
    Plain(String),
    /// `X_dynamic`: the JSON form of column `X`.
    Dynamic(String),
    /// `X_string`: the text form of column `X`, used when `X_dynamic` is empty.
    Text(String),
}

impl Column {
    fn name(&self) -> &str {
        match self {
            Column::Plain(name) | Column::Dynamic(name) | Column::Text(name) => name,
        }
    }
}

fn clean_header(header: &str) -> Column {
    let mut name = header.trim().trim_start_matches('\u{feff}');
    // `CreatedDateTime [UTC]`: the zone goes; naive times are read as UTC anyway.
    if name.ends_with(']')
        && let Some(bracket) = name.rfind(" [")
    {
        name = name[..bracket].trim_end();
    }
    if let Some(base) = name.strip_suffix("_dynamic") {
        Column::Dynamic(base.to_owned())
    } else if let Some(base) = name.strip_suffix("_string") {
        Column::Text(base.to_owned())
    } else {
        Column::Plain(name.to_owned())
    }
}

/// Fewer known columns than this, and a CSV file is not taken for a Log Analytics export.
const MIN_KNOWN_COLUMNS: usize = 3;

/// Rows of a CSV source.
pub(super) struct CsvRecords<R> {
    reader: ::csv::Reader<Chain<Cursor<Vec<u8>>, R>>,
    columns: Option<Vec<Column>>,
    row: ::csv::StringRecord,
    finished: bool,
    /// The csv crate counts a `\r\n` line end only when it reads the `\n`, which is after it has
    /// noted where the next row starts: rows of CRLF files are one line later than it says.
    line_correction: u64,
}

impl<R: Read> CsvRecords<R> {
    pub(super) fn new(buffered: Vec<u8>, rest: R) -> Self {
        let first_line_end = buffered.iter().position(|&b| b == b'\n');
        let crlf = first_line_end.is_some_and(|i| i > 0 && buffered[i - 1] == b'\r');
        let reader = ::csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(Cursor::new(buffered).chain(rest));
        CsvRecords {
            reader,
            columns: None,
            row: ::csv::StringRecord::new(),
            finished: false,
            line_correction: u64::from(crlf),
        }
    }

    fn failure(&self, error: &::csv::Error, counts_as_record: bool) -> Failure {
        let position = error.position();
        Failure {
            reason: format!("unreadable CSV: {}", error.kind_message()),
            line: position.map(|p| p.line() + self.line_correction),
            byte_offset: position.map(|p| p.byte()),
            counts_as_record,
        }
    }

    pub(super) fn next(&mut self) -> Option<Result<Parsed, Failure>> {
        loop {
            if self.finished {
                return None;
            }
            match self.reader.read_record(&mut self.row) {
                Ok(false) => {
                    self.finished = true;
                    return None;
                }
                Ok(true) => {}
                Err(error) => {
                    let io = matches!(error.kind(), ::csv::ErrorKind::Io(_));
                    if io || self.columns.is_none() {
                        self.finished = true;
                    }
                    return Some(Err(self.failure(&error, !io && self.columns.is_some())));
                }
            }
            let position = self.row.position().cloned();
            let Some(columns) = &self.columns else {
                let columns: Vec<Column> = self.row.iter().map(clean_header).collect();
                let known = columns.iter().filter(|c| crate::shape::log_analytics::is_known_column(c.name())).count();
                if known < MIN_KNOWN_COLUMNS {
                    self.finished = true;
                    let mut names: Vec<&str> = self.row.iter().take(8).collect();
                    if self.row.len() > names.len() {
                        names.push("...");
                    }
                    return Some(Err(Failure {
                        reason: format!(
                            "a CSV file that is not a Log Analytics export of sign-ins or audits (columns: {})",
                            names.join(", ")
                        ),
                        line: Some(1),
                        byte_offset: Some(0),
                        counts_as_record: false,
                    }));
                }
                self.columns = Some(columns);
                continue;
            };
            if self.row.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            let mut map = Map::new();
            for (column, cell) in columns.iter().zip(self.row.iter()) {
                if cell.is_empty() {
                    continue;
                }
                let value = Value::String(cell.to_owned());
                match column {
                    Column::Plain(name) | Column::Dynamic(name) => {
                        map.insert(name.clone(), value);
                    }
                    Column::Text(name) => {
                        map.entry(name.clone()).or_insert(value);
                    }
                }
            }
            let line = position.as_ref().map(|p| p.line() + self.line_correction);
            let byte_offset = position.as_ref().map(|p| p.byte());
            return Some(match crate::shape::log_analytics::convert(map) {
                Ok(record) => Ok(Parsed { record, byte_offset, line }),
                Err(reason) => Err(Failure { reason, line, byte_offset, counts_as_record: true }),
            });
        }
    }
}

trait KindMessage {
    fn kind_message(&self) -> String;
}

impl KindMessage for ::csv::Error {
    /// The error without the position the csv crate appends (ours is reported separately).
    fn kind_message(&self) -> String {
        match self.kind() {
            ::csv::ErrorKind::Utf8 { err, .. } => format!("the row is not valid UTF-8 ({err})"),
            ::csv::ErrorKind::Io(err) => format!("reading failed: {err}"),
            _ => self.to_string(),
        }
    }
}
