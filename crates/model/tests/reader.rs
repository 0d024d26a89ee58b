//! The streaming reader: every input layout, bad input, recovery, and inputs larger than its buffer.

use std::io::{Cursor, Read};

use chrono::{DateTime, Utc};
use m365mon_model::{ReadError, ReadItem, RecordKind, RecordReader, RecordShape, SignInEventType, SourceFormat};
use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn read_all(input: impl Read, name: &str) -> (Vec<ReadItem>, Vec<ReadError>) {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for result in RecordReader::new(input, name) {
        match result {
            Ok(item) => items.push(item),
            Err(error) => errors.push(error),
        }
    }
    (items, errors)
}

fn ids(items: &[ReadItem]) -> Vec<String> {
    items.iter().map(|i| i.record.id().to_owned()).collect()
}

fn sign_in_json(n: usize) -> String {
    json!({
        "id": format!("id-{n}"),
        "createdDateTime": "2024-05-01T00:00:00Z",
        "userPrincipalName": format!("user{n}@fixture.example"),
        "appId": "a",
        "status": {"errorCode": 0, "failureReason": null},
        "location": {"city": "Oslo", "countryOrRegion": "NO"},
        "userAgent": "x".repeat(n % 700),
    })
    .to_string()
}

#[test]
fn graph_page_fixture() {
    let mut reader = RecordReader::new(Cursor::new(fixture("graph_v1_signins_page.json")), "page.json");
    let items: Vec<ReadItem> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(reader.format(), Some(SourceFormat::Json));
    assert_eq!(
        reader.next_link(),
        Some("https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=2&$skiptoken=fixture-token-2")
    );
    assert_eq!(ids(&items), ["00000000-aaaa-4000-8000-000000000001", "00000000-aaaa-4000-8000-000000000002"]);
    assert_eq!(items[1].record_number, 2);
    let failed = items[1].record.as_sign_in().unwrap();
    assert_eq!(failed.error_code(), Some(50126));
    assert_eq!(failed.country(), Some("NG"));
    assert_eq!(items[0].record.event_time(), Some(utc("2024-05-02T08:15:30.1234567Z")));
    assert!(items.iter().all(|i| i.shape == RecordShape::Graph && i.envelope.is_none()));
}

#[test]
fn event_hub_fixture() {
    let (items, errors) = read_all(Cursor::new(fixture("event_hub_records.json")), "eh.json");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(items.len(), 3);
    let sp = items[0].record.as_sign_in().unwrap();
    assert_eq!(items[0].event_type, Some(SignInEventType::ServicePrincipal));
    assert_eq!(items[0].tenant_id.as_deref(), Some("33333333-dddd-4000-8000-000000000001"));
    assert_eq!(sp.created_date_time, Some(utc("2024-05-05T07:00:01.1Z")));
    assert_eq!(sp.error_code(), Some(7000215));
    let consent = items[1].record.as_audit().unwrap();
    assert_eq!(consent.activity_display_name.as_deref(), Some("Consent to application"));
    assert_eq!(consent.initiator_upn(), Some("pat@fixture.example"));
    assert_eq!(items[1].envelope_value("callerIpAddress"), Some(&json!("198.51.100.200")));
    assert_eq!(items[1].tenant_id.as_deref(), Some("33333333-dddd-4000-8000-000000000001"));
    let refresh = items[2].record.as_sign_in().unwrap();
    assert_eq!(refresh.error_code(), Some(0));
    assert_eq!(refresh.ip_address.as_deref(), Some("192.0.2.10"));
    assert_eq!(refresh.created_date_time, Some(utc("2024-05-05T07:02:00Z")));
    assert_eq!(refresh.sign_in_event_types.as_deref(), Some(&["nonInteractiveUser".to_owned()][..]));
}

#[test]
fn log_analytics_csv_fixture() {
    let mut reader = RecordReader::new(Cursor::new(fixture("la_signinlogs.csv")), "la.csv");
    let items: Vec<ReadItem> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(reader.format(), Some(SourceFormat::Csv));
    assert_eq!(items.len(), 2);
    let imap = items[0].record.as_sign_in().unwrap();
    assert_eq!(items[0].line, Some(2));
    assert_eq!(imap.client_app_used.as_deref(), Some("IMAP4"));
    assert_eq!(imap.is_interactive, Some(false));
    assert_eq!(imap.created_date_time, Some(utc("2024-05-06T09:09:59.5Z")));
    assert_eq!(imap.coordinates(), Some((52.52, 13.4)));
    assert_eq!(items[0].tenant_id.as_deref(), Some("33333333-eeee-4000-8000-000000000001"));
    let failed = items[1].record.as_sign_in().unwrap();
    assert_eq!(items[1].line, Some(3));
    assert_eq!(failed.error_code(), Some(50126));
    assert_eq!(failed.status.as_ref().unwrap().failure_reason.as_deref(), Some("Invalid username or password."));
    assert_eq!(failed.created_date_time, Some(utc("2024-05-06T21:11:58Z")));
    assert_eq!(failed.country(), Some("DE"));
    assert_eq!(failed.device_detail.as_ref().unwrap().browser.as_deref(), Some("Chrome 124"));
    let policies = failed.applied_conditional_access_policies.as_ref().unwrap();
    assert_eq!(policies[0].display_name.as_deref(), Some("Require MFA"));
    assert_eq!(items[1].envelope_value("TimeGenerated"), Some(&json!("5/6/2024, 9:12:00.000 PM")));
}

#[test]
fn a_broken_record_in_the_middle_is_reported_and_the_next_one_read() {
    let (items, errors) = read_all(Cursor::new(fixture("broken_middle.jsonl")), "broken_middle.jsonl");
    assert_eq!(ids(&items), ["ffff0001-0000-4000-8000-000000000001", "ffff0001-0000-4000-8000-000000000003"]);
    assert_eq!(items[1].record_number, 3);
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    assert_eq!(error.source_name, "broken_middle.jsonl");
    assert_eq!(error.record_number, 2);
    assert_eq!(error.line, Some(2));
    assert_eq!(error.reason, "key must be a string");
    let message = error.to_string();
    assert!(message.starts_with("broken_middle.jsonl: record 2 (line 2, byte "), "{message}");
}

#[test]
fn every_layout_is_recognised_from_the_content() {
    let a = sign_in_json(1);
    let b = sign_in_json(2);
    let audit = r#"{"id":"au","activityDateTime":"2024-05-01T00:00:00Z","activityDisplayName":"Add user"}"#;
    let page = |records: &str| format!(r#"{{"@odata.context":"ctx","value":[{records}],"@odata.nextLink":"next"}}"#);
    let layouts = [
        ("single object", a.clone()),
        ("json lines", format!("{a}\n{b}\n{audit}\n")),
        ("json lines with blank lines and CRLF", format!("\r\n{a}\r\n\r\n{b}\r\n")),
        ("concatenated without separators", format!("{a}{b}")),
        ("array", format!("[{a},{b},{audit}]")),
        (
            "pretty array",
            serde_json::to_string_pretty(&json!([serde_json::from_str::<serde_json::Value>(&a).unwrap()])).unwrap(),
        ),
        ("page", page(&format!("{a},{b}"))),
        ("pages concatenated", format!("{}{}", page(&a), page(&b))),
        ("pages one per line", format!("{}\n{}\n", page(&a), page(audit))),
        ("array of pages", format!("[{}, {}]", page(&a), page(&b))),
        (
            "event hub body",
            format!(r#"{{"records":[{{"category":"SignInLogs","time":"2024-05-01T00:00:00Z","properties":{a}}}]}}"#),
        ),
        ("byte order mark", format!("\u{feff}{a}")),
        ("empty page", page("")),
    ];
    let expected_counts = [1, 3, 2, 2, 3, 1, 2, 2, 2, 2, 1, 1, 0];
    for ((name, text), expected) in layouts.iter().zip(expected_counts) {
        let (items, errors) = read_all(Cursor::new(text.clone().into_bytes()), name);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(items.len(), expected, "{name}");
        for (number, item) in items.iter().enumerate() {
            assert_eq!(item.record_number, number as u64 + 1, "{name}");
        }
    }
    let (items, _) = read_all(Cursor::new(format!("{a}\n{audit}\n").into_bytes()), "mixed");
    assert_eq!(items.iter().map(|i| i.record.kind()).collect::<Vec<_>>(), [RecordKind::Signin, RecordKind::Audit]);
}

#[test]
fn empty_and_blank_inputs_have_no_records() {
    for input in ["", "   \n\t\r\n", "[]", "[ ]\n[]"] {
        let (items, errors) = read_all(Cursor::new(input.as_bytes().to_vec()), "empty");
        assert!(items.is_empty() && errors.is_empty(), "{input:?}: {errors:?}");
    }
}

#[test]
fn truncated_input_reports_and_keeps_what_came_before() {
    let a = sign_in_json(1);
    let b = sign_in_json(2);
    let full = format!(r#"{{"value":[{a},{b}]}}"#);
    for cut in [full.len() - 1, full.len() - 2, full.len() - a.len() / 2, 12, 5] {
        let (items, errors) = read_all(Cursor::new(full.as_bytes()[..cut].to_vec()), "cut.json");
        assert!(!errors.is_empty(), "cut at {cut}");
        assert!(items.len() <= 2);
        assert!(errors.iter().any(|e| e.reason.contains("truncated")), "cut at {cut}: {errors:?}");
    }
    let (items, errors) = read_all(Cursor::new(format!("{a}\n{}", &b[..b.len() / 2]).into_bytes()), "cut.jsonl");
    assert_eq!(ids(&items), ["id-1"]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].record_number, 2);
}

#[test]
fn a_cut_line_in_json_lines_does_not_swallow_the_next_lines() {
    let lines = [sign_in_json(1), sign_in_json(2), sign_in_json(3), sign_in_json(4)];
    // Line 2 is cut inside a string, line 3 is cut between properties.
    let text = format!("{}\n{}\n{}\n{}\n", lines[0], &lines[1][..40], &lines[2][..lines[2].len() - 30], lines[3]);
    let (items, errors) = read_all(Cursor::new(text.into_bytes()), "cut-lines.jsonl");
    assert_eq!(ids(&items), ["id-1", "id-4"]);
    assert_eq!(items[1].record_number, 4);
    assert_eq!(errors.iter().map(|e| (e.record_number, e.line)).collect::<Vec<_>>(), [(2, Some(2)), (3, Some(3))]);
}

#[test]
fn a_broken_element_of_a_pretty_printed_array_is_skipped_by_layout() {
    let records: Vec<serde_json::Value> = (1..=3).map(|n| serde_json::from_str(&sign_in_json(n)).unwrap()).collect();
    let pretty = serde_json::to_string_pretty(&json!({"value": records})).unwrap();
    // Remove the closing brace of the second record's `location` object: unbalanced.
    let second = pretty.find("id-2").unwrap();
    let location_end = second + pretty[second..].find("\"NO\"\n").unwrap() + "\"NO\"\n".len();
    let closing = location_end + pretty[location_end..].find('}').unwrap();
    let broken = format!("{}{}", &pretty[..closing], &pretty[closing + 1..]);
    let (items, errors) = read_all(Cursor::new(broken.into_bytes()), "pretty.json");
    assert_eq!(ids(&items), ["id-1", "id-3"]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].record_number, 2);
}

#[test]
fn things_that_are_not_records_are_reported_one_by_one() {
    let a = sign_in_json(1);
    let (items, errors) =
        read_all(Cursor::new(format!(r#"[1, "two", true, null, {a}, [{a}]]"#).into_bytes()), "mixed.json");
    assert_eq!(items.len(), 2);
    assert_eq!(errors.len(), 4);
    assert!(errors[0].reason.contains("found a number"), "{}", errors[0]);
    assert!(errors[1].reason.contains("found a string"), "{}", errors[1]);
    assert!(errors[2].reason.contains("found a boolean"), "{}", errors[2]);
    assert!(errors[3].reason.contains("found null"), "{}", errors[3]);
    assert_eq!(items[0].record_number, 5);

    let (items, errors) =
        read_all(Cursor::new(format!("hello world\n{a}\nmore junk }}\n{a}").into_bytes()), "junk.txt");
    assert_eq!(items.len(), 2);
    assert_eq!(errors.len(), 2);
    assert!(errors[0].reason.contains("not JSON"), "{}", errors[0]);

    let (items, errors) = read_all(Cursor::new(br#"{"value": "not an array"}"#.to_vec()), "odd.json");
    assert!(items.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn binary_garbage_and_utf16_give_errors_not_panics() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let (items, errors) = read_all(Cursor::new(garbage), "garbage.bin");
    assert!(items.is_empty());
    assert!(!errors.is_empty());

    let utf16: Vec<u8> =
        [0xFF, 0xFE].into_iter().chain("{\"id\":1}".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let (items, errors) = read_all(Cursor::new(utf16), "utf16.json");
    assert!(items.is_empty());
    assert!(errors[0].reason.contains("UTF-16"), "{errors:?}");
}

#[test]
fn invalid_utf8_fails_only_its_record() {
    let mut input = sign_in_json(1).into_bytes();
    input.push(b'\n');
    let mut bad = sign_in_json(2).into_bytes();
    let at = bad.len() - 5;
    bad[at] = 0xFF;
    input.extend_from_slice(&bad);
    input.push(b'\n');
    input.extend_from_slice(sign_in_json(3).as_bytes());
    let (items, errors) = read_all(Cursor::new(input), "utf8.jsonl");
    assert_eq!(ids(&items), ["id-1", "id-3"]);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].reason.contains("UTF-8"), "{}", errors[0]);
}

#[test]
fn oversized_records_are_skipped_without_buffering_them() {
    let small = sign_in_json(1);
    let huge = format!(r#"{{"id":"huge","appId":"a","userAgent":"{}"}}"#, "x".repeat(3 * 1024 * 1024));
    let text = format!("[{small},{huge},{small}]");
    let reader = RecordReader::new(Cursor::new(text.into_bytes()), "huge.json").with_max_record_bytes(1024 * 1024);
    let results: Vec<_> = reader.collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    let error = results[1].as_ref().unwrap_err();
    assert!(error.reason.contains("larger than the limit"), "{error}");
}

/// A reader that hands out the input in small, uneven pieces, to put record boundaries
/// everywhere relative to the reader's chunks.
struct Dribble {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = (self.step * 7 + 3) % 9001 + 1;
        let n = self.step.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn records_across_many_buffer_refills() {
    let count = 3_000;
    let records: Vec<String> = (0..count).map(sign_in_json).collect();
    // About 2 MB: several of the reader's chunks, read in uneven pieces.
    let page = format!(r#"{{"@odata.context":"c","value":[{}],"@odata.nextLink":"https://next"}}"#, records.join(","));
    let mut reader = RecordReader::new(Dribble { data: page.into_bytes(), at: 0, step: 1 }, "big.json");
    let mut seen = 0;
    for (n, item) in reader.by_ref().enumerate() {
        let item = item.unwrap();
        assert_eq!(item.record.id(), format!("id-{n}"));
        seen += 1;
    }
    assert_eq!(seen, count);
    assert_eq!(reader.next_link(), Some("https://next"));
}

#[test]
fn read_errors_of_the_source_are_reported() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let text = br#"[{"id":"a","appId":"x"},"#;
            self.0 -= 1;
            let n = text.len().min(buf.len());
            buf[..n].copy_from_slice(&text[..n]);
            Ok(n)
        }
    }
    let (items, errors) = read_all(Failing(1), "failing");
    assert_eq!(ids(&items), ["a"]);
    assert!(errors.iter().any(|e| e.reason.contains("disk on fire")), "{errors:?}");
}
