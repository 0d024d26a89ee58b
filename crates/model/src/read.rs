//! Streaming readers for exported logs.
//!
//! SKELETON API (stable): `RecordReader::new(reader, source_name)` is an iterator of
//! `Result<ReadItem, ReadError>`. A bad record yields an `Err` naming the source, the record number
//! and the reason, and iteration goes on with the next record. The model work (issue 2) implements
//! the formats: Graph pages, JSON arrays, JSON lines, Event Hub `{"records": [...]}` and Log
//! Analytics rows, streaming so that memory does not grow with the input.

use std::io::{BufRead, BufReader, Read};

use crate::Record;

/// A record read from a source, with its 1-based position in that source.
#[derive(Debug, Clone)]
pub struct ReadItem {
    pub record: Record,
    pub record_number: u64,
}

/// A record that could not be read. Reading continues after it where the input allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}: record {record_number}: {reason}")]
pub struct ReadError {
    /// The file name (or `-` for stdin) the caller gave.
    pub source_name: String,
    /// 1-based record number within the source.
    pub record_number: u64,
    pub reason: String,
}

/// Iterator over the records of one source.
#[derive(Debug)]
pub struct RecordReader<R: Read> {
    lines: std::io::Lines<BufReader<R>>,
    source_name: String,
    record_number: u64,
}

impl<R: Read> RecordReader<R> {
    pub fn new(reader: R, source_name: impl Into<String>) -> Self {
        RecordReader { lines: BufReader::new(reader).lines(), source_name: source_name.into(), record_number: 0 }
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<ReadItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => {
                    self.record_number += 1;
                    return Some(Err(ReadError {
                        source_name: self.source_name.clone(),
                        record_number: self.record_number,
                        reason: e.to_string(),
                    }));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            self.record_number += 1;
            return Some(
                serde_json::from_str::<Record>(&line)
                    .map(|record| ReadItem { record, record_number: self.record_number })
                    .map_err(|e| ReadError {
                        source_name: self.source_name.clone(),
                        record_number: self.record_number,
                        reason: e.to_string(),
                    }),
            );
        }
    }
}
