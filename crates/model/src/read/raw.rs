//! The raw API: one Graph page body or one record at a time.
//!
//! Why: the collector must publish each record exactly as Graph sent it (design: "messages carry
//! the Graph record exactly as Graph returned it"), so it splits a page into the records' own
//! JSON text without re-serialising them, and parses each one only to learn its id, kind and time.
//! graph-sim does the same with stored pages.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Record;
use crate::shape::{ParsedRecord, TopLevel};

/// A Graph collection page (`{"@odata.context", "@odata.nextLink"?, "value": [...]}`), its
/// records kept as the exact JSON text Graph sent. Event Hub `{"records": [...]}` bodies are
/// accepted too.
#[derive(Debug, Clone)]
pub struct GraphPage {
    /// `@odata.context`, if present.
    pub context: Option<String>,
    /// `@odata.nextLink`: the URL of the next page; `None` on the last page.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`, if present.
    pub delta_link: Option<String>,
    /// The records, each exactly as it appears in the body.
    pub records: Vec<Box<RawValue>>,
}

/// A page body that is not a Graph collection page.
#[derive(Debug, thiserror::Error)]
#[error("not a Graph collection page: {reason}")]
pub struct PageError {
    pub reason: String,
    /// 1-based line and column of the problem, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// One record that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct RecordError {
    pub reason: String,
    /// 1-based line and column of the problem within the record text, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl From<serde_json::Error> for RecordError {
    fn from(error: serde_json::Error) -> Self {
        let text = error.to_string();
        if error.line() == 0 {
            return RecordError { reason: text, line: None, column: None };
        }
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let reason = text.strip_suffix(&suffix).map(str::to_owned).unwrap_or(text);
        RecordError { reason, line: Some(error.line()), column: Some(error.column()) }
    }
}

#[derive(Deserialize)]
struct PageBody {
    #[serde(rename = "@odata.context", default)]
    context: Option<String>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
    #[serde(default, alias = "records")]
    value: Option<Vec<Box<RawValue>>>,
}

/// Splits a Graph page body into its records (exact JSON text) and paging links.
///
/// The body must be valid JSON with a `value` (or `records`) array; other properties (such as
/// `@microsoft.graph.tips`) are ignored. The records are not parsed: use [`parse_record`] on each.
pub fn split_page(body: &[u8]) -> Result<GraphPage, PageError> {
    let page: PageBody = serde_json::from_slice(body).map_err(|e| {
        let RecordError { reason, line, column } = RecordError::from(e);
        PageError { reason, line, column }
    })?;
    let records = page.value.ok_or_else(|| PageError {
        reason: "the object has no `value` array".to_owned(),
        line: None,
        column: None,
    })?;
    Ok(GraphPage { context: page.context, next_link: page.next_link, delta_link: page.delta_link, records })
}

/// Parses one record (Graph, Event Hub or Log Analytics JSON object) into the Graph shape.
pub fn parse_record(json: &[u8]) -> Result<Record, RecordError> {
    parse_record_detailed(json).map(|parsed| parsed.record)
}

/// Like [`parse_record`], keeping what the source said around the record (shape, event type,
/// tenant, envelope).
pub fn parse_record_detailed(json: &[u8]) -> Result<ParsedRecord, RecordError> {
    // Validating the UTF-8 once is cheaper than serde_json checking every string.
    match std::str::from_utf8(json) {
        Ok(text) => Ok(serde_json::from_str::<TopLevel<false>>(text)?.0),
        Err(_) => Ok(serde_json::from_slice::<TopLevel<false>>(json)?.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecordKind;

    #[test]
    fn splits_a_page_keeping_the_record_text() {
        let body = br#"{"@odata.context":"ctx","@odata.nextLink":"https://next","@microsoft.graph.tips":"x",
            "value":[{"id":"a","createdDateTime":"2024-01-01T00:00:00Z", "appId" : "x"},{"id":"b","activityDisplayName":"y"}]}"#;
        let page = split_page(body).unwrap();
        assert_eq!(page.context.as_deref(), Some("ctx"));
        assert_eq!(page.next_link.as_deref(), Some("https://next"));
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.records[0].get(), r#"{"id":"a","createdDateTime":"2024-01-01T00:00:00Z", "appId" : "x"}"#);
        let first = parse_record(page.records[0].get().as_bytes()).unwrap();
        assert_eq!((first.id(), first.kind()), ("a", RecordKind::Signin));
        let second = parse_record(page.records[1].get().as_bytes()).unwrap();
        assert_eq!(second.kind(), RecordKind::Audit);
    }

    #[test]
    fn page_errors_are_explained() {
        assert!(split_page(b"{}").unwrap_err().to_string().contains("no `value` array"));
        let error = split_page(b"{\"value\": [").unwrap_err();
        assert!(error.line.is_some(), "{error}");
        let error = parse_record(b"{\"id\": 1,").unwrap_err();
        assert_eq!(error.line, Some(1));
    }
}
