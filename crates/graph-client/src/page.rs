//! One page of a Graph collection, with each record kept as the exact bytes Graph sent.
//!
//! The bus carries records "exactly as Graph returned them", so a page is not deserialised into
//! types here: the envelope is read with `serde_json`'s `RawValue`, which records where each
//! element of `value` starts and ends, and each record is handed out as a zero-copy slice of the
//! response body. Unknown `@odata` annotations and properties are ignored.

use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::GraphError;

/// A page of `{"value": [...], "@odata.nextLink": "..."}`.
#[derive(Debug, Clone)]
pub struct Page {
    url: String,
    body: Bytes,
    records: Vec<Range<usize>>,
    next_link: Option<String>,
    received_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

impl Page {
    /// Splits a response body. `url` is what was requested (for messages).
    pub fn parse(url: &str, body: Bytes, received_at: DateTime<Utc>) -> Result<Page, GraphError> {
        let path = url_path(url);
        let envelope: Envelope<'_> = serde_json::from_slice(&body).map_err(|e| GraphError::Decode {
            path: path.clone(),
            message: e.to_string(),
            truncated: e.is_eof(),
        })?;
        let Some(values) = envelope.value else {
            return Err(GraphError::Decode {
                path,
                message: "the answer has no \"value\" array; it is not a collection page".into(),
                truncated: false,
            });
        };
        let base = body.as_ptr() as usize;
        let records = values
            .iter()
            .map(|raw| {
                let text = raw.get();
                let start = text.as_ptr() as usize - base;
                start..start + text.len()
            })
            .collect();
        let next_link = envelope.next_link.filter(|link| !link.is_empty());
        Ok(Page { url: url.to_string(), body, records, next_link, received_at })
    }

    /// The URL this page was read from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `@odata.nextLink`, to be followed exactly as given; `None` on the last page.
    pub fn next_link(&self) -> Option<&str> {
        self.next_link.as_deref()
    }

    /// When the answer arrived.
    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }

    /// Number of records on the page (may be zero even when a next link follows).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, each the exact JSON text Graph sent, sharing the page's buffer.
    pub fn records(&self) -> impl ExactSizeIterator<Item = Bytes> + '_ {
        self.records.iter().map(|range| self.body.slice(range.clone()))
    }

    /// The whole response body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// The path of a URL without its query (which may hold a long skip token), for messages.
pub(crate) fn url_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => parsed.path().to_string(),
        Err(_) => url.split('?').next().unwrap_or(url).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_the_exact_bytes_graph_sent() {
        let body = Bytes::from_static(
            br#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns","@microsoft.graph.tips":"x","value":[{"id":"a","n":1.50, "s":"\u00e9"} , {"id":"b","nested":{"v":[1,2]}}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=2&$skiptoken=abc"}"#,
        );
        let page = Page::parse("https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=2", body, Utc::now()).unwrap();
        let records: Vec<Bytes> = page.records().collect();
        assert_eq!(records.len(), 2);
        // Number spelling and escapes are preserved, not re-serialised.
        assert_eq!(&records[0][..], br#"{"id":"a","n":1.50, "s":"\u00e9"}"#);
        assert_eq!(&records[1][..], br#"{"id":"b","nested":{"v":[1,2]}}"#);
        assert_eq!(page.next_link(), Some("https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=2&$skiptoken=abc"));
    }

    #[test]
    fn empty_pages_and_last_pages() {
        let page = Page::parse("u", Bytes::from_static(br#"{"value":[],"@odata.nextLink":"n"}"#), Utc::now()).unwrap();
        assert!(page.is_empty());
        assert_eq!(page.next_link(), Some("n"));
        let last = Page::parse("u", Bytes::from_static(br#"{"value":[{"id":"x"}]}"#), Utc::now()).unwrap();
        assert_eq!(last.next_link(), None);
    }

    #[test]
    fn truncated_and_malformed_bodies_are_told_apart() {
        let cut = Page::parse("https://g/v1.0/x?a=b", Bytes::from_static(br#"{"value":[{"id":"a"},{"id"#), Utc::now());
        match cut {
            Err(GraphError::Decode { truncated: true, path, .. }) => assert_eq!(path, "/v1.0/x"),
            other => panic!("expected a truncated body, got {other:?}"),
        }
        let html = Page::parse("u", Bytes::from_static(b"<html>proxy error</html>"), Utc::now());
        assert!(matches!(html, Err(GraphError::Decode { truncated: false, .. })));
        let not_a_page = Page::parse("u", Bytes::from_static(br#"{"id":"single"}"#), Utc::now());
        assert!(matches!(not_a_page, Err(GraphError::Decode { truncated: false, .. })));
    }
}
