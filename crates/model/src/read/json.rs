//! JSON sources, streamed: Graph pages, arrays, JSON lines, concatenated values, Event Hub
//! `{"records": [...]}` bodies, and any nesting of these.
//!
//! How: a byte buffer filled in chunks holds at most the record being read (plus one chunk). At
//! each position the reader looks at one byte: `{` starts a record, which serde parses straight
//! from the buffer (one pass, no copy); `[` opens an array whose elements are read one by one;
//! a `{` whose first interesting key is `value` or `records` is a collection, entered rather than
//! parsed, so a 1 GB page costs no more memory than one record. Whatever surrounds the records
//! (`@odata.context`, `@odata.nextLink`, commas, line breaks) is stepped over; the last
//! `@odata.nextLink` seen is kept.
//!
//! A record that cannot be read is reported with its position, and reading resumes after it: at
//! its structural end, or, when the record is broken (cut off, unbalanced), at the next line that
//! starts a record at the same or a lesser indentation (see [`scan::next_record_line`]). When no
//! such place exists the rest of the source is reported as unreadable. Every step consumes input,
//! so reading always ends.

use std::io::Read;
use std::ops::ControlFlow;

use super::scan::{self, Skipper, Step, StringEnd};
use super::{Failure, Parsed};
use crate::shape::{CONTAINER_MARKER, TopLevel};

/// Bytes read from the source per refill.
const CHUNK: usize = 256 * 1024;
/// Nesting of arrays and collections around records that is followed (deeper is refused).
const MAX_FRAMES: usize = 16;

/// The input, buffered as validated UTF-8: `text[start..]` is retained, `pos` is where reading is.
///
/// Why text and not bytes: serde_json checks the UTF-8 of every string it reads from bytes, which
/// costs more than the rest of reading a string; validating each chunk once as it arrives lets
/// records be parsed from `&str` without that. Invalid UTF-8 (never valid JSON) is replaced by
/// U+FFFD in the buffer and its positions remembered, so a record containing it is reported as
/// an error instead of being read with altered text.
pub(super) struct Buffer<R> {
    reader: R,
    text: String,
    /// Bytes read but not yet validated (a character cut by the chunk boundary).
    carry: Vec<u8>,
    /// Read scratch space.
    chunk: Vec<u8>,
    /// Positions in `text` where invalid UTF-8 was replaced.
    bad_utf8: Vec<usize>,
    /// First byte that must be kept (the start of the record being read).
    start: usize,
    /// Current position.
    pos: usize,
    eof: bool,
    io_error: Option<std::io::Error>,
    /// Bytes dropped from the front of `text` so far.
    dropped: u64,
    /// Line counting: `newlines` line breaks precede `text[counted]`.
    counted: usize,
    newlines: u64,
}

impl<R: Read> Buffer<R> {
    /// A buffer over `reader`, whose first bytes (already read) are `head`.
    pub(super) fn new(reader: R, head: Vec<u8>) -> Self {
        let mut buffer = Buffer {
            reader,
            text: String::new(),
            carry: Vec::new(),
            chunk: Vec::new(),
            bad_utf8: Vec::new(),
            start: 0,
            pos: 0,
            eof: false,
            io_error: None,
            dropped: 0,
            counted: 0,
            newlines: 0,
        };
        buffer.append(&head);
        buffer
    }

    /// Ends the input here with `error` (reported after what was read).
    pub(super) fn stop_with(&mut self, error: std::io::Error) {
        self.io_error = Some(error);
        self.eof = true;
    }

    fn data(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Validates and appends raw bytes (plus what was carried over).
    fn append(&mut self, bytes: &[u8]) {
        let mut raw = std::mem::take(&mut self.carry);
        raw.extend_from_slice(bytes);
        let mut rest = &raw[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    self.text.push_str(valid);
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    self.text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match error.error_len() {
                        None if !self.eof => {
                            // A character cut by the end of the chunk: complete it next time.
                            self.carry = after.to_vec();
                            break;
                        }
                        invalid => {
                            self.bad_utf8.push(self.text.len());
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[invalid.unwrap_or(after.len())..];
                        }
                    }
                }
            }
        }
    }

    /// Reads another chunk; false when the source has no more.
    pub(super) fn fill(&mut self) -> bool {
        loop {
            if self.eof {
                return false;
            }
            if self.start > 0 && (self.start >= self.text.len() / 2 || self.text.len() + CHUNK > self.text.capacity()) {
                self.drop_front();
            }
            let before = self.text.len();
            self.chunk.resize(CHUNK, 0);
            let read = loop {
                match self.reader.read(&mut self.chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            match read {
                Ok(0) => {
                    self.eof = true;
                    if !self.carry.is_empty() {
                        // The input ends inside a character.
                        self.append(&[]);
                    }
                    return self.text.len() > before;
                }
                Ok(n) => {
                    let chunk = std::mem::take(&mut self.chunk);
                    self.append(&chunk[..n]);
                    self.chunk = chunk;
                    if self.text.len() > before {
                        return true;
                    }
                }
                Err(e) => {
                    self.io_error = Some(e);
                    self.eof = true;
                    return false;
                }
            }
        }
    }

    fn drop_front(&mut self) {
        let mut shift = self.start;
        while !self.text.is_char_boundary(shift) {
            shift -= 1;
        }
        self.count_lines_to(shift);
        self.text.drain(..shift);
        self.dropped += shift as u64;
        self.start -= shift;
        self.pos -= shift;
        self.counted -= shift;
        self.bad_utf8.retain_mut(|position| match position.checked_sub(shift) {
            Some(moved) => {
                *position = moved;
                true
            }
            None => false,
        });
    }

    /// The first position of replaced invalid UTF-8 within `text[from..to]`.
    fn bad_utf8_within(&self, from: usize, to: usize) -> Option<usize> {
        self.bad_utf8.iter().copied().find(|p| (from..to).contains(p))
    }

    fn count_lines_to(&mut self, index: usize) {
        if index >= self.counted {
            self.newlines += memchr::memchr_iter(b'\n', &self.text.as_bytes()[self.counted..index]).count() as u64;
        } else {
            self.newlines -= memchr::memchr_iter(b'\n', &self.text.as_bytes()[index..self.counted]).count() as u64;
        }
        self.counted = index;
    }

    /// The 1-based line of `text[index]`.
    fn line_of(&mut self, index: usize) -> u64 {
        self.count_lines_to(index.min(self.text.len()));
        self.newlines + 1
    }

    /// The byte offset in the source of `text[index]` (approximate after replaced invalid UTF-8).
    fn offset_of(&self, index: usize) -> u64 {
        self.dropped + index as u64
    }

    /// The byte at `pos`, reading more as needed; `None` at the end.
    fn peek(&mut self) -> Option<u8> {
        while self.pos >= self.text.len() {
            if !self.fill() {
                return None;
            }
        }
        Some(self.data()[self.pos])
    }

    /// Skips whitespace (and a UTF-8 byte-order mark) and returns the next byte.
    fn skip_blank(&mut self) -> Option<u8> {
        loop {
            let byte = self.peek()?;
            match byte {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                0xEF if self.data().get(self.pos + 1..self.pos + 3) == Some(&[0xBB, 0xBF][..]) => self.pos += 3,
                _ => return Some(byte),
            }
        }
    }

    /// Makes sure `text[pos..pos + n]` is loaded, as far as the source allows.
    fn want(&mut self, n: usize) {
        while self.text.len() < self.pos + n && self.fill() {}
    }

    /// Whether only blanks precede `text[index]` on its line, and its column (0-based).
    fn indentation(&self, index: usize) -> Option<usize> {
        let line_start = match memchr::memrchr(b'\n', &self.data()[..index]) {
            Some(newline) => newline + 1,
            None if self.dropped == 0 => 0,
            None => return None,
        };
        self.data()[line_start..index].iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')).then_some(index - line_start)
    }

    pub(super) fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io_error.take()
    }

    fn pos_bytes(&mut self, n: usize) -> &[u8] {
        self.want(n);
        let end = (self.pos + n).min(self.text.len());
        &self.data()[self.pos..end]
    }
}

/// What surrounds the current position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Inside `[ ... ]`: elements are records (or nested arrays and collections).
    Array,
    /// Inside a collection object `{"@odata.context": ..., "value": [ ... ], ...}`, between keys.
    Collection { saw_records: bool },
}

/// Records of a JSON source.
pub(super) struct JsonRecords<R> {
    buf: Buffer<R>,
    frames: Vec<Frame>,
    max_record_bytes: usize,
    /// Set once the rest of the input cannot be read.
    finished: bool,
    next_link: Option<String>,
}

/// Where [`JsonRecords::navigate`] stopped.
enum Navigated {
    Item(Result<Parsed, Failure>),
    End,
    AtRecord,
}

/// A record handed over by [`JsonRecords::for_each`].
// The view lives on the stack for one call; boxing it would cost an allocation per record.
#[allow(clippy::large_enum_variant)]
pub(super) enum Next<'a> {
    /// A plain Graph sign-in, lean, with its byte offset.
    View(crate::view::SignInView<'a>, u64),
    /// Any other record, read in full.
    Full(Parsed),
}

/// How reading one record at `buf.start` went.
enum Attempt {
    Record(crate::shape::ParsedRecord, usize),
    Collection,
    Failed(serde_json::Error),
    TooLarge,
}

impl<R: Read> JsonRecords<R> {
    pub(super) fn new(buf: Buffer<R>, max_record_bytes: usize) -> Self {
        JsonRecords { buf, frames: Vec::new(), max_record_bytes, finished: false, next_link: None }
    }

    pub(super) fn next_link(&self) -> Option<&str> {
        self.next_link.as_deref()
    }

    fn failure(&mut self, index: usize, reason: String, counts_as_record: bool) -> Failure {
        Failure {
            reason,
            line: Some(self.buf.line_of(index)),
            byte_offset: Some(self.buf.offset_of(index)),
            counts_as_record,
        }
    }

    pub(super) fn next(&mut self) -> Option<Result<Parsed, Failure>> {
        loop {
            match self.navigate() {
                Navigated::Item(item) => return Some(item),
                Navigated::End => return None,
                Navigated::AtRecord => {
                    if let Some(result) = self.record() {
                        return Some(result);
                    }
                }
            }
        }
    }

    /// Like [`JsonRecords::next`] for every record, handing each to `f`, plain Graph sign-ins
    /// as lean views ([`crate::view`]) and everything else read in full; stops when `f` breaks.
    pub(super) fn for_each(
        &mut self,
        f: &mut dyn FnMut(Result<Next<'_>, Failure>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        loop {
            match self.navigate() {
                Navigated::Item(item) => f(item.map(Next::Full))?,
                Navigated::End => return ControlFlow::Continue(()),
                Navigated::AtRecord => {
                    if let Some(flow) = self.lean_record(f) {
                        flow?;
                    } else if let Some(result) = self.record() {
                        f(result.map(Next::Full))?;
                    }
                }
            }
        }
    }

    /// Reads the record at `buf.start` the lean way and hands it to `f`; `None` when it must be
    /// read in full (nothing consumed then).
    fn lean_record(
        &mut self,
        f: &mut dyn FnMut(Result<Next<'_>, Failure>) -> ControlFlow<()>,
    ) -> Option<ControlFlow<()>> {
        loop {
            let start = self.buf.start;
            match crate::view::read_lean(&self.buf.text[start..]) {
                crate::view::LeanRead::Read(view, length) => {
                    if self.buf.bad_utf8_within(start, start + length).is_some() {
                        return None;
                    }
                    let offset = self.buf.offset_of(start);
                    let flow = f(Ok(Next::View(view, offset)));
                    self.buf.pos = start + length;
                    return Some(flow);
                }
                crate::view::LeanRead::Incomplete
                    if !self.buf.eof && self.buf.text.len() - start < self.max_record_bytes =>
                {
                    self.buf.fill();
                }
                _ => return None,
            }
        }
    }

    /// Steps to the next record: returns an item that is not a record (a failure), the end,
    /// or stops at a `{` where a record (or collection) starts, at `buf.start`.
    fn navigate(&mut self) -> Navigated {
        loop {
            if self.finished {
                return Navigated::End;
            }
            self.buf.start = self.buf.pos;
            let Some(byte) = self.buf.skip_blank() else {
                return match self.at_end() {
                    Some(item) => Navigated::Item(item),
                    None => Navigated::End,
                };
            };
            self.buf.start = self.buf.pos;
            match (self.frames.last().copied(), byte) {
                (Some(Frame::Collection { .. }), _) => {
                    if let Some(failure) = self.collection_step(byte) {
                        return Navigated::Item(Err(failure));
                    }
                }
                (_, b',') => self.buf.pos += 1,
                (Some(Frame::Array), b']') => {
                    self.frames.pop();
                    self.buf.pos += 1;
                }
                (_, b'{') => return Navigated::AtRecord,
                (_, b'[') if self.frames.len() < MAX_FRAMES => {
                    self.frames.push(Frame::Array);
                    self.buf.pos += 1;
                }
                _ => return Navigated::Item(Err(self.not_a_record())),
            }
        }
    }

    /// End of input: report an I/O error or an unclosed array once.
    fn at_end(&mut self) -> Option<Result<Parsed, Failure>> {
        self.finished = true;
        let end = self.buf.text.len();
        if let Some(error) = self.buf.take_io_error() {
            return Some(Err(self.failure(end, format!("reading failed: {error}"), false)));
        }
        if let Some(frame) = self.frames.last() {
            let what = match frame {
                Frame::Array => "an array (`[`)",
                Frame::Collection { .. } => "a collection object (`{`)",
            };
            return Some(Err(self.failure(end, format!("the input ends inside {what}: it is truncated"), false)));
        }
        None
    }

    /// Reads the record (or enters the collection) at `buf.start`.
    fn record(&mut self) -> Option<Result<Parsed, Failure>> {
        let attempt = self.attempt();
        // `attempt` may have loaded more input, which can move the buffered bytes.
        let start = self.buf.start;
        match attempt {
            Attempt::Record(parsed, length) => {
                self.buf.pos = start + length;
                if let Some(bad) = self.buf.bad_utf8_within(start, start + length) {
                    let mut failure =
                        self.failure(start, "the record contains bytes that are not UTF-8".to_owned(), true);
                    failure.line = Some(self.buf.line_of(bad));
                    return Some(Err(failure));
                }
                Some(Ok(Parsed { record: parsed, byte_offset: Some(self.buf.offset_of(start)), line: None }))
            }
            Attempt::Collection => {
                if self.frames.len() >= MAX_FRAMES {
                    let failure = self.failure(start, "collections nested too deeply".to_owned(), true);
                    self.skip_value_streaming();
                    return Some(Err(failure));
                }
                self.buf.pos = start + 1;
                self.frames.push(Frame::Collection { saw_records: false });
                None
            }
            Attempt::TooLarge => {
                let limit = self.max_record_bytes;
                let failure = self.failure(
                    start,
                    format!("the record is larger than the limit of {} MiB; skipped", limit / (1024 * 1024)),
                    true,
                );
                self.skip_value_streaming();
                Some(Err(failure))
            }
            Attempt::Failed(error) => {
                let (reason, line) = split_serde_error(&error);
                let mut failure = self.failure(start, reason, true);
                if error.is_eof() {
                    failure.reason = "the input ends inside this record: it is truncated".to_owned();
                } else if let (Some(first_line), Some(line)) = (failure.line, line)
                    && line > 1
                {
                    // `line` is where the record starts; say where the problem was found.
                    failure.reason = format!("{} (found at line {})", failure.reason, first_line + line - 1);
                }
                if !self.resync_after_bad_record() {
                    failure.reason.push_str("; no later record could be found in the rest of the input");
                }
                Some(Err(failure))
            }
        }
    }

    /// Parses the value at `buf.start` with serde, loading more input while it is incomplete.
    fn attempt(&mut self) -> Attempt {
        loop {
            let available = self.buf.text.len() - self.buf.start;
            let (outcome, length) = {
                let text = &self.buf.text[self.buf.start..];
                let mut stream = serde_json::Deserializer::from_str(text).into_iter::<TopLevel<true>>();
                let outcome = stream.next();
                (outcome, stream.byte_offset())
            };
            match outcome {
                Some(Ok(top)) => return Attempt::Record(top.0, length),
                Some(Err(error)) if error.is_eof() && !self.buf.eof => {
                    if available >= self.max_record_bytes {
                        return Attempt::TooLarge;
                    }
                    self.buf.fill();
                }
                Some(Err(error)) if error.to_string().starts_with(CONTAINER_MARKER) => return Attempt::Collection,
                Some(Err(error)) => return Attempt::Failed(error),
                None => {
                    // Only whitespace: cannot happen at a `{`, but never loop on it.
                    return Attempt::Failed(serde::de::Error::custom("no value"));
                }
            }
        }
    }

    /// After a record that could not be read: continue at its structural end, or at the next line
    /// that starts a record, or give up on the rest of the input (returns false then).
    fn resync_after_bad_record(&mut self) -> bool {
        let top_level = self.frames.is_empty();
        let indent = self.buf.indentation(self.buf.start);
        let mut skipper = Skipper::default();
        // Scanned bytes, counted from `buf.start` (which `fill` may move).
        let mut scanned = 0;
        let end = loop {
            let from = self.buf.start + scanned;
            match skipper.feed(&self.buf.data()[from..]) {
                Step::Done(n) => break Some(scanned + n),
                Step::Malformed(..) => break None,
                Step::More => {
                    scanned = self.buf.text.len() - self.buf.start;
                    if scanned >= self.max_record_bytes || !self.buf.fill() {
                        break None;
                    }
                }
            }
        };
        let start = self.buf.start;
        let end = end.map(|n| start + n);
        // A structural end that is not followed by a separator was not the record's end (a brace
        // inside it was damaged): then prefer the layout.
        let end_is_clean = end.is_some_and(|end| {
            let follower = self.buf.data()[end..].iter().copied().find(|b| !b.is_ascii_whitespace());
            match follower {
                None | Some(b',') => true,
                Some(b']') => !top_level,
                Some(b'{' | b'[') => top_level,
                Some(_) => false,
            }
        });
        let search_end = end.filter(|_| end_is_clean).unwrap_or(self.buf.text.len());
        let by_layout = indent.and_then(|indent| {
            scan::next_record_line(&self.buf.data()[start + 1..search_end], indent, top_level).map(|i| start + 1 + i)
        });
        match (end, by_layout) {
            (Some(end), Some(line)) if end_is_clean => self.buf.pos = end.min(line),
            (_, Some(line)) => self.buf.pos = line,
            (Some(end), None) => self.buf.pos = end,
            (None, None) => {
                // Nothing tells where the next record starts: the rest cannot be read.
                self.buf.pos = self.buf.text.len();
                self.finished = true;
                return false;
            }
        }
        true
    }

    /// Something other than a record where a record should be.
    fn not_a_record(&mut self) -> Failure {
        let sample = self.buf.pos_bytes(24).to_vec();
        let start = self.buf.start;
        let found = describe_token(&sample);
        let failure = self.failure(start, format!("expected a JSON object (a record), found {found}"), true);
        let is_json_value = matches!(sample.first(), Some(b'"' | b'-' | b'0'..=b'9' | b'[' | b']' | b'}'))
            || sample.starts_with(b"true")
            || sample.starts_with(b"false")
            || sample.starts_with(b"null");
        if self.frames.is_empty() {
            // Top level: continue at the next line that starts an object or array.
            self.buf.pos += 1;
            self.skip_to_record_line();
        } else if is_json_value {
            self.skip_value_streaming();
        } else {
            self.skip_junk_in_array();
        }
        failure
    }

    /// Inside an array, after bytes that are no JSON value (typically a record whose opening
    /// brace was damaged): skip to the next element, i.e. to a `,` or `]` at this nesting level,
    /// past a stray `}` that closes the damaged record, or to the next line that starts a record,
    /// whichever comes first.
    fn skip_junk_in_array(&mut self) {
        let indent = self.buf.indentation(self.buf.start);
        let mut depth = 0usize;
        let mut scanned = 0;
        let stop = 'scan: loop {
            let data = &self.buf.data()[self.buf.start..];
            while scanned < data.len() {
                match data[scanned] {
                    b'"' => match scan::string_end(&data[scanned..]) {
                        StringEnd::At(n) => {
                            scanned += n;
                            continue;
                        }
                        StringEnd::Broken => {}
                        StringEnd::More => break,
                    },
                    b'{' | b'[' => depth += 1,
                    b'}' if depth == 0 => break 'scan Some(scanned + 1),
                    b']' if depth == 0 => break 'scan Some(scanned),
                    // A comma ends the damaged element only if an element follows; inside the
                    // damaged record, commas separate its properties.
                    b',' if depth == 0
                        && matches!(
                            data[scanned + 1..].iter().find(|b| !b.is_ascii_whitespace()),
                            None | Some(b'{' | b'[' | b']')
                        ) =>
                    {
                        break 'scan Some(scanned);
                    }
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
                scanned += 1;
            }
            if scanned >= self.max_record_bytes || !self.buf.fill() {
                break None;
            }
        };
        let start = self.buf.start;
        let end = stop.map_or(self.buf.text.len(), |n| start + n).max(start + 1);
        let by_layout = indent.and_then(|indent| {
            scan::next_record_line(&self.buf.data()[start + 1..end], indent, false).map(|i| start + 1 + i)
        });
        self.buf.pos = by_layout.unwrap_or(end).min(self.buf.text.len());
    }

    /// Moves to the next line that starts with `{` or `[` in column 0 (or to the end).
    fn skip_to_record_line(&mut self) {
        loop {
            let from = self.buf.pos;
            if let Some(i) = scan::next_record_line(&self.buf.data()[from..], 0, true) {
                self.buf.pos = from + i;
                return;
            }
            // Keep the last partial line: it may continue in the next chunk.
            let keep = memchr::memrchr(b'\n', &self.buf.data()[from..]).map_or(from, |i| from + i);
            self.buf.pos = keep;
            self.buf.start = keep;
            if !self.buf.fill() {
                self.buf.pos = self.buf.text.len();
                return;
            }
        }
    }

    /// Steps over one value of any kind without keeping it in memory.
    fn skip_value_streaming(&mut self) {
        self.buf.start = self.buf.pos;
        let Some(byte) = self.buf.peek() else { return };
        self.buf.start = self.buf.pos;
        match byte {
            b'{' | b'[' => {
                let mut skipper = Skipper::default();
                loop {
                    self.buf.start = self.buf.pos;
                    match skipper.feed(&self.buf.data()[self.buf.pos..]) {
                        Step::Done(n) => {
                            self.buf.pos += n;
                            return;
                        }
                        Step::Malformed(i, _) => {
                            // Not a value after all: step past the offending byte.
                            self.buf.pos += i + 1;
                            return;
                        }
                        Step::More => {
                            self.buf.pos = self.buf.text.len();
                            self.buf.start = self.buf.pos;
                            if !self.buf.fill() {
                                return;
                            }
                        }
                    }
                }
            }
            b'"' => {
                self.buf.want(4096);
                loop {
                    match scan::string_end(&self.buf.data()[self.buf.pos..]) {
                        StringEnd::At(n) => {
                            self.buf.pos += n;
                            return;
                        }
                        StringEnd::More
                            if self.buf.text.len() - self.buf.pos < self.max_record_bytes && self.buf.fill() => {}
                        StringEnd::More | StringEnd::Broken => {
                            // Cut off or unterminated: skip the opening quote only.
                            self.buf.pos += 1;
                            return;
                        }
                    }
                }
            }
            _ => {
                self.buf.want(256);
                let n = scan::token_end(&self.buf.data()[self.buf.pos..]);
                self.buf.pos += n;
            }
        }
    }

    /// One step inside a collection object: a separator, the closing brace, or a `"key": value`.
    fn collection_step(&mut self, byte: u8) -> Option<Failure> {
        match byte {
            b',' => {
                self.buf.pos += 1;
                None
            }
            b'}' => {
                let frame = self.frames.pop();
                self.buf.pos += 1;
                match frame {
                    Some(Frame::Collection { saw_records: false }) => Some(self.failure(
                        self.buf.start,
                        "an object with a `value`/`records` key that is not an array: not a record".to_owned(),
                        true,
                    )),
                    _ => None,
                }
            }
            b'"' => self.collection_entry(),
            _ => {
                let failure = self.failure(self.buf.start, "malformed collection object".to_owned(), false);
                self.frames.clear();
                self.skip_to_record_line();
                Some(failure)
            }
        }
    }

    fn collection_entry(&mut self) -> Option<Failure> {
        self.buf.want(4096);
        let key_start = self.buf.pos;
        let StringEnd::At(key_length) = scan::string_end(&self.buf.data()[key_start..]) else {
            let failure = self.failure(key_start, "malformed collection object: a key is cut off".to_owned(), false);
            self.frames.clear();
            self.skip_to_record_line();
            return Some(failure);
        };
        let key: String =
            serde_json::from_slice(&self.buf.data()[key_start..key_start + key_length]).unwrap_or_default();
        self.buf.pos = key_start + key_length;
        if self.buf.skip_blank() != Some(b':') {
            let failure =
                self.failure(self.buf.pos, "malformed collection object: expected `:` after a key".to_owned(), false);
            self.frames.clear();
            self.skip_to_record_line();
            return Some(failure);
        }
        self.buf.pos += 1;
        let value = self.buf.skip_blank();
        self.buf.start = self.buf.pos;
        let is_records_key = key.eq_ignore_ascii_case("value") || key.eq_ignore_ascii_case("records");
        if is_records_key && value == Some(b'[') {
            if let Some(Frame::Collection { saw_records }) = self.frames.last_mut() {
                *saw_records = true;
            }
            self.frames.push(Frame::Array);
            self.buf.pos += 1;
            return None;
        }
        if key == "@odata.nextLink" && value == Some(b'"') {
            self.buf.want(64 * 1024);
            if let StringEnd::At(n) = scan::string_end(&self.buf.data()[self.buf.pos..]) {
                self.next_link = serde_json::from_slice(&self.buf.data()[self.buf.pos..self.buf.pos + n]).ok();
            }
        }
        self.skip_value_streaming();
        None
    }
}

/// serde_json's message without its " at line L column C" suffix, and the line (1-based,
/// relative to the parsed slice).
fn split_serde_error(error: &serde_json::Error) -> (String, Option<u64>) {
    let text = error.to_string();
    if error.line() == 0 {
        return (text, None);
    }
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let reason = text.strip_suffix(&suffix).map(str::to_owned).unwrap_or(text);
    (reason, Some(error.line() as u64))
}

/// A short description of what starts at `bytes`, for error messages.
fn describe_token(bytes: &[u8]) -> String {
    match bytes.first() {
        None => "the end of the input".to_owned(),
        Some(b'"') => "a string".to_owned(),
        Some(b'-' | b'0'..=b'9') => "a number".to_owned(),
        Some(b'[') => "an array nested too deeply".to_owned(),
        Some(b']' | b'}') => format!("a stray `{}`", bytes[0] as char),
        Some(_) if bytes.starts_with(b"true") || bytes.starts_with(b"false") => "a boolean".to_owned(),
        Some(_) if bytes.starts_with(b"null") => "null".to_owned(),
        Some(_) => {
            let text = String::from_utf8_lossy(bytes);
            let shown: String = text.chars().take(16).map(|c| if c.is_control() { '.' } else { c }).collect();
            format!("text that is not JSON ({shown:?}...)")
        }
    }
}
