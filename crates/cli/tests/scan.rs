//! `m365mon scan` as a user runs it: the real binary on our own fixture files.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use m365mon_contracts::AlertEvent;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

fn m365mon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_m365mon")).args(args).env_remove("NO_COLOR").output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn jsonl(output: &Output) -> Vec<AlertEvent> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not an alert event: {line}: {e}")))
        .collect()
}

/// Alerts without their processing time, for comparing runs.
fn comparable(alerts: &[AlertEvent]) -> Vec<serde_json::Value> {
    alerts
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap();
            v.as_object_mut().unwrap().remove("created_at");
            v
        })
        .collect()
}

#[test]
fn jsonl_prints_one_alert_event_per_line_and_nothing_else() {
    let out = m365mon(&["scan", "--format", "jsonl", &fixture("signins.jsonl"), &fixture("audits.jsonl")]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let alerts = jsonl(&out);
    let mut rules: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
    rules.sort();
    assert_eq!(
        rules,
        ["after_hours", "failed_logins", "high_risk_country", "legacy_auth", "sensitive_change"],
        "{alerts:#?}"
    );
    let brute = alerts.iter().find(|a| a.rule.as_str() == "failed_logins").unwrap();
    assert_eq!(brute.user.as_deref(), Some("alice@contoso.com"));
    assert_eq!(brute.count, 6);
    assert_eq!(brute.tenant, "11111111-2222-3333-4444-555555555555");
    let change = alerts.iter().find(|a| a.rule.as_str() == "sensitive_change").unwrap();
    assert_eq!(change.tenant, "unknown", "audits in a Graph export name no tenant");
    assert_eq!(change.details["changes"][0]["targets"][0]["modified_properties"][0]["new"], "Global Administrator");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Scanned 10 records from 2 inputs (9 sign-ins, 1 audits)"), "{stderr}");
    assert!(
        stderr.contains(
            "5 alerts: failed_logins 1, high_risk_country 1, after_hours 1, sensitive_change 1, legacy_auth 1."
        ),
        "{stderr}"
    );
}

#[test]
fn the_tenant_option_names_records_without_one() {
    let out = m365mon(&["scan", "--format", "jsonl", "--tenant", "contoso", &fixture("audits.jsonl")]);
    assert_eq!(jsonl(&out)[0].tenant, "contoso");
}

#[test]
fn table_output_is_grouped_and_plain_when_not_on_a_terminal() {
    let out = m365mon(&["scan", &fixture("signins.jsonl"), &fixture("audits.jsonl")]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains('\u{1b}'), "no colour codes in a pipe: {stdout}");
    for heading in [
        "HIGH high_risk_country",
        "HIGH sensitive_change",
        "MEDIUM failed_logins",
        "MEDIUM legacy_auth",
        "LOW after_hours",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
    assert!(stdout.find("HIGH").unwrap() < stdout.find("MEDIUM").unwrap(), "most severe first");
    assert!(stdout.contains("6 failed sign-in attempts for alice@contoso.com"), "{stdout}");
}

#[test]
fn settings_come_from_the_file() {
    let out =
        m365mon(&["scan", "--format", "jsonl", "--settings", &fixture("settings.json"), &fixture("signins.jsonl")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let alerts = jsonl(&out);
    assert!(!alerts.iter().any(|a| a.rule.as_str() == "after_hours"), "switched off in the file");
    let brute = alerts.iter().find(|a| a.rule.as_str() == "failed_logins").unwrap();
    assert_eq!(brute.details["threshold"], 3);
    assert!(brute.summary.contains("CEST"), "times in the configured zone: {}", brute.summary);
}

#[test]
fn a_bad_settings_file_is_a_clear_error() {
    let out = m365mon(&["scan", "--settings", &fixture("bad-settings.json"), &fixture("signins.jsonl")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad-settings.json is not valid"), "{stderr}");
    assert!(stderr.contains("failed_logins.threshold: must be between 2 and 10000 (got 1)"), "{stderr}");
    assert!(stderr.contains("realert_minutes: must be between 1 and 10080 (got 0)"), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = m365mon(&["scan", "--settings", "/nonexistent/settings.json", &fixture("signins.jsonl")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read the settings file"), "{}", text(&out.stderr));
}

#[test]
fn unreadable_records_are_reported_and_skipped_and_the_exit_code_says_so() {
    let out = m365mon(&[
        "scan",
        "--format",
        "jsonl",
        &fixture("broken.jsonl"),
        "/nonexistent/file.json",
        &fixture("signins.jsonl"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("broken.jsonl: record 2"), "file and position: {stderr}");
    assert!(stderr.contains("cannot read /nonexistent/file.json"), "{stderr}");
    assert!(stderr.contains("1 unreadable records and 1 unreadable inputs were skipped"), "{stderr}");
    // The scan went on: the later file's alerts are there.
    assert!(jsonl(&out).iter().any(|a| a.rule.as_str() == "failed_logins"));
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_m365mon"))
        .args(["scan", "--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = std::fs::read(fixture("signins.jsonl")).unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(jsonl(&out).len(), 4);
}

#[test]
fn order_and_spilling_to_disk_do_not_change_the_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let newest_first = std::fs::read_to_string(fixture("signins.jsonl")).unwrap();
    let mut lines: Vec<&str> = newest_first.lines().collect();
    lines.reverse();
    let oldest_first = dir.path().join("oldest-first.jsonl");
    std::fs::write(&oldest_first, lines.join("\n")).unwrap();
    let a = m365mon(&["scan", "--format", "jsonl", &fixture("signins.jsonl"), &fixture("audits.jsonl")]);
    let b = m365mon(&["scan", "--format", "jsonl", &fixture("audits.jsonl"), oldest_first.to_str().unwrap()]);
    let c = m365mon(&[
        "scan",
        "--format",
        "jsonl",
        "--buffer-records",
        "2",
        &fixture("signins.jsonl"),
        &fixture("audits.jsonl"),
    ]);
    assert_eq!(comparable(&jsonl(&a)), comparable(&jsonl(&b)));
    assert_eq!(comparable(&jsonl(&a)), comparable(&jsonl(&c)));
}

#[test]
fn usage_errors_exit_with_two() {
    let out = m365mon(&["scan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("PATH"), "{}", text(&out.stderr));
    let out = m365mon(&["scan", "--format", "xml", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_alerts_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = dir.path().join("quiet.jsonl");
    std::fs::write(&quiet, "").unwrap();
    let out = m365mon(&["scan", quiet.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).trim(), "No alerts.");
    assert!(text(&out.stderr).contains("Scanned 0 records"), "{}", text(&out.stderr));
}

#[test]
fn graph_pages_and_event_hub_exports_are_read_too() {
    let lines = m365mon(&["scan", "--format", "jsonl", &fixture("signins.jsonl")]);
    let page = m365mon(&["scan", "--format", "jsonl", &fixture("signins-graph-page.json")]);
    assert_eq!(page.status.code(), Some(0), "{}", text(&page.stderr));
    assert_eq!(comparable(&jsonl(&lines)), comparable(&jsonl(&page)));
    let hub = m365mon(&["scan", "--format", "jsonl", &fixture("eventhub.json")]);
    assert_eq!(hub.status.code(), Some(0), "{}", text(&hub.stderr));
    let alerts = jsonl(&hub);
    assert!(!alerts.is_empty());
    assert!(
        alerts.iter().all(|a| a.tenant == "22222222-3333-4444-5555-666666666666"),
        "tenant from the envelope: {alerts:#?}"
    );
}

/// The fixture's sign-ins oldest first (the file is newest first).
fn sign_ins_oldest_first() -> Vec<String> {
    let text = std::fs::read_to_string(fixture("signins.jsonl")).unwrap();
    text.lines().rev().map(str::to_owned).collect()
}

fn scan_stdin(input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_m365mon"))
        .args(["scan", "--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn ascending_input_that_turns_out_of_order_late_gives_the_sorted_result_and_warns_once() {
    let dir = tempfile::tempdir().unwrap();
    let audit = std::fs::read_to_string(fixture("audits.jsonl")).unwrap().trim().to_owned();
    let broken = "{\"id\": \"cut\", \"createdDateTime\": \"2026-07-01T09:00:30Z\"";
    let mut ascending = sign_ins_oldest_first();
    // In order: the audit (09:45) between the sign-ins of 09:30 and 10:15.
    ascending.insert(7, audit.clone());
    ascending.insert(2, broken.to_owned());
    let in_order = dir.path().join("in-order.jsonl");
    std::fs::write(&in_order, ascending.join("\n")).unwrap();
    // The same records with the audit last: out of order only at the very end.
    let mut late = sign_ins_oldest_first();
    late.insert(2, broken.to_owned());
    late.push(audit);
    let out_of_order = dir.path().join("out-of-order.jsonl");
    std::fs::write(&out_of_order, late.join("\n")).unwrap();

    let streamed = m365mon(&["scan", "--format", "jsonl", in_order.to_str().unwrap()]);
    let sorted = m365mon(&["scan", "--format", "jsonl", out_of_order.to_str().unwrap()]);
    assert_eq!(streamed.status.code(), Some(3), "{}", text(&streamed.stderr));
    assert_eq!(sorted.status.code(), Some(3), "{}", text(&sorted.stderr));
    let alerts = jsonl(&streamed);
    assert_eq!(alerts.len(), 5, "{alerts:#?}");
    assert_eq!(comparable(&alerts), comparable(&jsonl(&sorted)));
    // Read twice (streaming, then sorting), reported once.
    let stderr = text(&sorted.stderr);
    assert_eq!(stderr.matches("out-of-order.jsonl: record 3").count(), 1, "{stderr}");
    assert!(stderr.contains("Scanned 10 records"), "{stderr}");
    assert!(stderr.contains("1 unreadable records"), "{stderr}");
}

#[test]
fn records_that_name_no_tenant_take_the_first_one_their_file_names_even_later() {
    let dir = tempfile::tempdir().unwrap();
    // An audit (no tenant) before the sign-ins (which name theirs), everything in order.
    let audit = std::fs::read_to_string(fixture("audits.jsonl"))
        .unwrap()
        .trim()
        .replace("2026-07-01T09:45:00Z", "2026-07-01T08:45:00Z");
    let mut lines = vec![audit];
    lines.extend(sign_ins_oldest_first());
    let input = lines.join("\n");
    let path = dir.path().join("audit-first.jsonl");
    std::fs::write(&path, &input).unwrap();
    let streamed = m365mon(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
    assert_eq!(streamed.status.code(), Some(0), "{}", text(&streamed.stderr));
    let alerts = jsonl(&streamed);
    let change = alerts.iter().find(|a| a.rule.as_str() == "sensitive_change").unwrap();
    assert_eq!(change.tenant, "11111111-2222-3333-4444-555555555555");
    // Standard input is always sorted: the same alerts.
    assert_eq!(comparable(&alerts), comparable(&jsonl(&scan_stdin(&input))));
}

/// Attacker-controlled text (here a user name carrying an escape sequence that would set the
/// terminal's title and a bidirectional override) is printed escaped, even with colours forced on.
#[test]
fn terminal_escape_sequences_in_records_are_shown_not_interpreted() {
    let record = serde_json::json!({
        "id": "e5c0e5c0-0000-4000-8000-000000000001",
        "createdDateTime": "2026-07-01T10:15:00Z",
        "userPrincipalName": "evil\u{1b}]0;pwned\u{7}\u{202e}@contoso.com",
        "userId": "id-evil",
        "appDisplayName": "Office 365 Exchange Online",
        "ipAddress": "85.214.10.7",
        "clientAppUsed": "IMAP4",
        "isInteractive": true,
        "resourceTenantId": "11111111-2222-3333-4444-555555555555",
        "status": {"errorCode": 0},
        "location": {"city": "Berlin\u{1b}[2J", "countryOrRegion": "DE"}
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_m365mon"))
        .args(["scan", "-"])
        .env("CLICOLOR_FORCE", "1")
        .env("COLUMNS", "250")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{record}").unwrap();
    }
    let out = child.wait_with_output().expect("finishes");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("legacy_auth"), "{stdout}");
    assert!(stdout.contains("evil\\u{1b}]0;pwned\\u{7}\\u{202e}@contoso.com"), "shown escaped: {stdout}");
    for raw in ["\u{1b}]", "\u{7}", "\u{202e}", "\u{1b}[2J"] {
        assert!(!stdout.contains(raw), "{raw:?} reached the terminal: {stdout:?}");
    }
}
