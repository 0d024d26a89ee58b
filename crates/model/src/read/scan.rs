//! A structural JSON scanner: where does a value end, without parsing it.
//!
//! Why: the streaming reader must step over things it does not parse (a collection's metadata,
//! a record too large to buffer) and, after a malformed record, find where the next one starts.
//! serde_json cannot tell where a broken value ends. This scanner only tracks strings, escapes and
//! bracket nesting, is resumable across buffer refills (so it needs no memory for what it has
//! passed) and uses `memchr` to jump through strings.

use memchr::memchr3;

/// Deeper nesting than this is refused (serde_json itself stops at 128).
pub(crate) const MAX_DEPTH: usize = 256;

/// The outcome of feeding bytes to a [`Skipper`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The value ended; this many bytes of the last chunk belong to it.
    Done(usize),
    /// The value goes on in the next chunk.
    More,
    /// Not well-formed at this index of the last chunk.
    Malformed(usize, &'static str),
}

/// Finds the end of an object or array, chunk by chunk.
#[derive(Debug, Default)]
pub(crate) struct Skipper {
    stack: Vec<u8>,
    in_string: bool,
    escaped: bool,
}

impl Skipper {
    /// Feeds the next chunk of a value that starts with `{` or `[` (the first chunk starts there).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Step {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr3(b'"', b'\\', b'\n', &bytes[i..]) {
                    None => return Step::More,
                    Some(k) => {
                        i += k;
                        match bytes[i] {
                            b'\\' => self.escaped = true,
                            b'"' => self.in_string = false,
                            // A raw line break cannot be inside a JSON string: the string was cut.
                            _ => return Step::Malformed(i, "a line break inside a string"),
                        }
                        i += 1;
                        continue;
                    }
                }
            }
            let byte = bytes[i];
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    if self.stack.len() >= MAX_DEPTH {
                        return Step::Malformed(i, "nested too deeply");
                    }
                    self.stack.push(byte);
                }
                b'}' | b']' => {
                    let open = if byte == b'}' { b'{' } else { b'[' };
                    match self.stack.pop() {
                        Some(top) if top == open => {
                            if self.stack.is_empty() {
                                return Step::Done(i + 1);
                            }
                        }
                        _ => return Step::Malformed(i, "a closing bracket that does not match"),
                    }
                }
                _ if self.stack.is_empty() => return Step::Malformed(i, "not an object or array"),
                _ => {}
            }
            i += 1;
        }
        Step::More
    }
}

/// Where a JSON string ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StringEnd {
    /// The index just past the closing quote.
    At(usize),
    /// Not within these bytes.
    More,
    /// Cut by a line break: not a complete string.
    Broken,
}

/// The end of the JSON string starting at `bytes[0]` (a `"`).
pub(crate) fn string_end(bytes: &[u8]) -> StringEnd {
    let mut i = 1;
    while i < bytes.len() {
        let Some(k) = memchr3(b'"', b'\\', b'\n', &bytes[i..]) else { return StringEnd::More };
        i += k;
        match bytes[i] {
            b'"' => return StringEnd::At(i + 1),
            b'\\' => i += 2,
            _ => return StringEnd::Broken,
        }
    }
    StringEnd::More
}

/// The end of a bare token (number, `true`, junk): the first separator, whitespace or quote.
pub(crate) fn token_end(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|b| matches!(b, b',' | b']' | b'}' | b'[' | b'{' | b'"' | b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(bytes.len())
        .max(1)
}

/// Where a record that could not be read probably ends, by layout: the first later line whose
/// first non-blank byte opens an object (or, at the top level, an array) no deeper indented than
/// the broken record. Pretty-printed arrays and JSON lines put every record on such a line;
/// nested objects are indented deeper. Returns the index of that byte within `bytes`.
pub(crate) fn next_record_line(bytes: &[u8], max_indent: usize, top_level: bool) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = memchr::memchr(b'\n', &bytes[from..]) {
        let line_start = from + k + 1;
        let mut j = line_start;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\r') {
            j += 1;
        }
        if j < bytes.len() && j - line_start <= max_indent && (bytes[j] == b'{' || (top_level && bytes[j] == b'[')) {
            return Some(j);
        }
        from = line_start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_nested_values() {
        let text = br#"{"a":[1,{"b":"x}]\"y"}],"c":{}} trailing"#;
        let end = text.iter().position(|&b| b == b' ').unwrap();
        assert_eq!(Skipper::default().feed(text), Step::Done(end));
    }

    #[test]
    fn resumes_across_chunks_even_inside_escapes() {
        let text = br#"{"a":"\"}\\","b":[{}]}"#;
        for split in 0..text.len() {
            let mut skipper = Skipper::default();
            let first = skipper.feed(&text[..split]);
            let step = if let Step::Done(n) = first { Step::Done(n) } else { skipper.feed(&text[split..]) };
            let total = match (first, step) {
                (Step::Done(n), _) => n,
                (_, Step::Done(n)) => split + n,
                other => panic!("split {split}: {other:?}"),
            };
            assert_eq!(total, text.len(), "split {split}");
        }
    }

    #[test]
    fn reports_malformed_input() {
        assert!(matches!(Skipper::default().feed(b"{]"), Step::Malformed(1, _)));
        assert!(matches!(Skipper::default().feed(b"{\"a\n"), Step::Malformed(3, _)));
        assert!(matches!(Skipper::default().feed(b"x"), Step::Malformed(0, _)));
        let deep = vec![b'['; MAX_DEPTH + 1];
        assert!(matches!(Skipper::default().feed(&deep), Step::Malformed(_, "nested too deeply")));
        assert_eq!(Skipper::default().feed(b"{\"a\":"), Step::More);
    }

    #[test]
    fn strings_and_tokens() {
        assert_eq!(string_end(br#""ab\"c" rest"#), StringEnd::At(7));
        assert_eq!(string_end(br#""abc"#), StringEnd::More);
        assert_eq!(string_end(br#""ab\"#), StringEnd::More);
        assert_eq!(string_end(b"\"a\nb\""), StringEnd::Broken);
        assert_eq!(token_end(b"123, 4"), 3);
        assert_eq!(token_end(b",x"), 1);
    }

    #[test]
    fn record_lines() {
        let text = b"  {\"a\": {\n      \"b\": 1\n    {\n  {\"c\": 2}";
        assert_eq!(next_record_line(text, 2, false), Some(text.len() - 8));
        assert_eq!(next_record_line(b"x\n[1]", 0, true), Some(2));
        assert_eq!(next_record_line(b"x\n[1]", 0, false), None);
    }
}
