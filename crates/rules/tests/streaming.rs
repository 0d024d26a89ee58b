//! Arrival order, redelivery, lateness, re-alerting and snapshot/restore.

mod common;

use common::*;
use m365mon_model::Record;
use m365mon_rules::Engine;

const T: &str = "2026-07-01T07:00:00Z"; // Wednesday, before working hours (UTC)

const SETTINGS: &str = r#"{
    "new_country": {"learning_days": 0},
    "admin_users": ["root@x.com"],
    "break_glass_users": ["bg@x.com"],
    "trusted_ips": ["10.0.0.0/8"]
}"#;

/// Every rule has something to find in these 95 minutes, among ordinary traffic.
fn mixed_records() -> Vec<Record> {
    let mut r = Vec::new();
    // ordinary traffic: 40 users, 5 sign-ins each, some failures
    for u in 0..40 {
        for i in 0..5 {
            let m = (u * 7 + i * 19) % 95;
            let mut s = signin(&format!("n{u}-{i}"), &at(T, m as f64), &format!("user{u}@x.com"));
            if (u + i) % 11 == 0 {
                s = s.code(50126);
            }
            if (u + i) % 13 == 0 {
                s = s.code(50140);
            }
            r.push(s.record());
        }
    }
    // brute force: 8 failures in 6 minutes, one a lockout; and a near miss of 4
    for i in 0..8 {
        let code = if i == 7 { 50053 } else { 50126 };
        r.push(
            signin(&format!("bf{i}"), &at(T, 20.0 + i as f64 * 0.75), "victim@x.com")
                .code(code)
                .ip("203.0.113.9")
                .record(),
        );
    }
    for i in 0..4 {
        r.push(signin(&format!("nm{i}"), &at(T, 30.0 + i as f64), "typo@x.com").code(50126).record());
    }
    // spray: 14 users from one address over 40 minutes
    for i in 0..14 {
        r.push(
            signin(&format!("sp{i}"), &at(T, 40.0 + i as f64 * 3.0), &format!("user{i}@x.com"))
                .code(if i % 5 == 0 { 50053 } else { 50126 })
                .ip("185.220.101.66")
                .record(),
        );
    }
    // MFA fatigue: 7 denials
    for i in 0..7 {
        r.push(
            signin(&format!("mf{i}"), &at(T, 50.0 + i as f64), "tired@x.com")
                .code(500121)
                .details("MFA denied; user declined the authentication")
                .record(),
        );
    }
    // locations
    r.push(signin("ir1", &at(T, 12.0), "trip@x.com").place("Tehran", "IR", 35.69, 51.39).ip("5.160.1.1").record());
    r.push(signin("nc0", &at(T, 1.0), "newc@x.com").record());
    // Prague is under the travel rule's minimum distance from Berlin: a new country, not a trip.
    r.push(signin("nc1", &at(T, 31.0), "newc@x.com").place("Prague", "CZ", 50.08, 14.44).ip("89.24.1.1").record());
    r.push(signin("nc2", &at(T, 33.0), "newc@x.com").place("Prague", "CZ", 50.08, 14.44).ip("89.24.1.1").record());
    r.push(signin("tr0", &at(T, 60.0), "fly@x.com").record());
    r.push(signin("tr1", &at(T, 75.0), "fly@x.com").place("Sydney", "AU", -33.87, 151.21).ip("1.144.2.3").record());
    r.push(signin("tr2", &at(T, 80.0), "fly@x.com").place("New York", "US", 40.71, -74.0).ip("24.44.1.1").record());
    r.push(signin("vpn", &at(T, 62.0), "fly@x.com").place("Tokyo", "JP", 35.69, 139.69).ip("10.1.2.3").record());
    // per-record rules
    r.push(signin("ad1", &at(T, 5.0), "root@x.com").record());
    r.push(signin("ad2", &at(T, 70.0), "root@x.com").record());
    r.push(signin("lg1", &at(T, 15.0), "printer@x.com").client_app("Authenticated SMTP").record());
    r.push(signin("da1", &at(T, 25.0), "gone@x.com").code(50057).record());
    r.push(signin("da2", &at(T, 26.0), "gone@x.com").code(50057).record());
    r.push(signin("rk1", &at(T, 35.0), "risky@x.com").risk("high", "high", "atRisk").record());
    r.push(signin("rk2", &at(T, 36.0), "risky@x.com").risk("high", "high", "remediated").record());
    r.push(signin("bg1", &at(T, 44.0), "bg@x.com").code(50126).record());
    r.push(
        audit("au1", &at(T, 45.0), "Add member to role", "eve@x.com")
            .target("mallory@x.com", Some(("Role.DisplayName", "", "\"Global Administrator\"")))
            .record(),
    );
    r.push(audit("au2", &at(T, 46.0), "Add member to role", "eve@x.com").target("trent@x.com", None).record());
    r.push(audit("au3", &at(T, 47.0), "Reset password (by admin)", "eve@x.com").target("bg@x.com", None).record());
    r.push(audit("au4", &at(T, 48.0), "Update user", "eve@x.com").target("bob@x.com", None).record());
    // redeliveries of some records
    let again: Vec<Record> = r.iter().step_by(17).cloned().collect();
    r.extend(again);
    r.sort_by_key(|x| x.event_time());
    r
}

/// A deterministic shuffle (Fisher–Yates with a small LCG).
fn shuffled(records: &[Record], seed: u64) -> Vec<Record> {
    let mut v = records.to_vec();
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for i in (1..v.len()).rev() {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let j = (state >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
    v
}

/// Compares two runs' alerts and names the first difference, field by field.
fn same(got: &[serde_json::Value], want: &[serde_json::Value], what: &str) {
    let ids = |v: &[serde_json::Value]| {
        v.iter().map(|a| format!("{} {} {}", a["rule"], a["user"], a["ip"])).collect::<Vec<_>>()
    };
    assert_eq!(ids(got), ids(want), "{what}: different incidents");
    for (g, w) in got.iter().zip(want) {
        for (key, value) in w.as_object().unwrap() {
            if key == "details" {
                for (dk, dv) in value.as_object().unwrap() {
                    assert_eq!(&g["details"][dk], dv, "{what}: {} {} details.{dk}", w["rule"], w["user"]);
                }
            }
            assert_eq!(&g[key], value, "{what}: {} {} {key}", w["rule"], w["user"]);
        }
    }
}

fn run(records: &[Record]) -> Vec<serde_json::Value> {
    let mut engine = Engine::new(settings(SETTINGS));
    comparable(&final_alerts(run_all(&mut engine, records)))
}

#[test]
fn every_rule_fires_on_the_mixed_stream() {
    let mut engine = Engine::new(settings(SETTINGS));
    let finals = final_alerts(run_all(&mut engine, &mixed_records()));
    let rules: std::collections::BTreeSet<&str> = finals.values().map(|a| a.rule.as_str()).collect();
    for rule in m365mon_contracts::RuleId::ALL {
        assert!(rules.contains(rule.as_str()), "{rule} did not fire: {rules:?}");
    }
    // The near miss, the remediated risk and the trusted VPN stay quiet.
    assert!(!finals.values().any(|a| a.user.as_deref() == Some("typo@x.com") && a.rule.as_str() == "failed_logins"));
    let risky: Vec<_> = finals.values().filter(|a| a.rule.as_str() == "risky_sign_in").collect();
    assert_eq!(
        risky.len(),
        1,
        "{:#?}",
        risky.iter().map(|a| (&a.user, &a.event_ids, &a.first_seen)).collect::<Vec<_>>()
    );
    assert_eq!(risky[0].count, 1);
    let travel: Vec<_> = finals.values().filter(|a| a.rule.as_str() == "impossible_travel").collect();
    assert_eq!(travel.len(), 1);
    assert!(!travel[0].event_ids.contains(&"vpn".to_string()));
    let brute = finals
        .values()
        .find(|a| a.user.as_deref() == Some("victim@x.com") && a.rule.as_str() == "failed_logins")
        .unwrap();
    assert_eq!(brute.count, 8);
}

#[test]
fn alerts_do_not_depend_on_arrival_order() {
    let records = mixed_records();
    let ascending = run(&records);
    assert!(ascending.len() >= 13, "{}", ascending.len());
    let mut newest_first = records.clone();
    newest_first.reverse();
    same(&run(&newest_first), &ascending, "newest first");
    // Graph pages: newest first within a page, pages walked from newest to oldest, with the
    // 30-minute overlap re-reading earlier pages' records.
    let mut pages = Vec::new();
    for chunk in newest_first.chunks(25) {
        pages.extend_from_slice(chunk);
        pages.extend(chunk.iter().take(5).cloned());
    }
    same(&run(&pages), &ascending, "pages with overlap");
    for seed in 1..=6 {
        same(&run(&shuffled(&records, seed)), &ascending, &format!("shuffle {seed}"));
    }
}

#[test]
fn snapshot_and_restore_mid_stream_resume_exactly() {
    let records = shuffled(&mixed_records(), 42);
    let mut whole = Engine::new(settings(SETTINGS));
    let uninterrupted = run_all(&mut whole, &records);
    for split in [1, records.len() / 3, records.len() / 2, records.len() - 1] {
        let mut first = Engine::new(settings(SETTINGS));
        let mut events = Vec::new();
        for r in &records[..split] {
            events.extend(first.observe(TENANT, r));
        }
        let snapshot = first.snapshot();
        drop(first);
        let mut second = Engine::restore(settings(SETTINGS), &snapshot).expect("restores");
        for r in &records[split..] {
            events.extend(second.observe(TENANT, r));
        }
        events.extend(second.finish());
        assert_eq!(events, uninterrupted, "split at {split}");
        assert_eq!(second.stats(), whole.stats());
    }
}

#[test]
fn bad_snapshots_are_refused_with_a_reason() {
    let err = Engine::restore(settings("{}"), b"{\"format\": 99}").unwrap_err();
    assert!(err.to_string().contains("format 99"), "{err}");
    let err = Engine::restore(settings("{}"), b"not json").unwrap_err();
    assert!(err.to_string().contains("not valid"), "{err}");
}

#[test]
fn a_long_burst_is_one_incident_republished_at_most_once_per_realert_interval() {
    // 60 failures, one every 1.5 minutes for 90 minutes; re-alert every 30 minutes.
    let records: Vec<Record> =
        (0..60).map(|i| signin(&format!("f{i}"), &at(T, i as f64 * 1.5), "a@x.com").code(50126).record()).collect();
    let mut engine = Engine::new(settings(r#"{"realert_minutes": 30, "rules": {"after_hours": {"enabled": false}}}"#));
    let events = run_all(&mut engine, &records);
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "one incident");
    let revisions: Vec<u32> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (0..revisions.len() as u32).collect::<Vec<_>>());
    // first publication, then at most one per 30 minutes of event time, plus the final flush
    assert!(events.len() <= 1 + 3 + 1, "{} publications", events.len());
    let last = events.last().unwrap();
    assert_eq!(last.count, 60);
    assert_eq!(last.event_ids.len(), 60);
    for pair in events.windows(2) {
        assert!(pair[1].count > pair[0].count, "each revision grew");
    }
}

#[test]
fn settings_apply_live_without_losing_state() {
    let mut engine = Engine::new(settings(r#"{"rules": {"after_hours": {"enabled": false}}}"#));
    let mut events = Vec::new();
    for i in 0..3 {
        events.extend(
            engine.observe(TENANT, &signin(&format!("f{i}"), &at(T, i as f64), "a@x.com").code(50126).record()),
        );
    }
    assert!(events.is_empty());
    engine
        .set_settings(settings(r#"{"rules": {"after_hours": {"enabled": false}}, "failed_logins": {"threshold": 4}}"#));
    events.extend(engine.observe(TENANT, &signin("f3", &at(T, 3.0), "a@x.com").code(50126).record()));
    assert_eq!(events.len(), 1, "the three earlier failures were kept");
    assert_eq!(events[0].count, 4);
}

#[test]
fn records_later_than_the_allowed_lateness() {
    let mut engine =
        Engine::new(settings(r#"{"rules": {"after_hours": {"enabled": false}}, "allowed_lateness_minutes": 30}"#));
    let mut events = Vec::new();
    // An ordinary sign-in at +10 h moves the tenant's event time on.
    events.extend(engine.observe(TENANT, &signin("now", &at(T, 600.0), "x@x.com").record()));
    // Five failures from ten hours earlier are late: windowed rules skip them …
    for i in 0..5 {
        events.extend(
            engine.observe(TENANT, &signin(&format!("old{i}"), &at(T, i as f64), "a@x.com").code(50126).record()),
        );
    }
    // … per-record rules still alert.
    events.extend(engine.observe(TENANT, &signin("oldimap", &at(T, 1.0), "a@x.com").client_app("IMAP4").record()));
    events.extend(engine.finish());
    assert_eq!(engine.stats().late, 6);
    let rules: Vec<&str> = events.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(rules, vec!["legacy_auth"]);
}

#[test]
fn privileged_accounts_are_per_tenant_and_replaceable() {
    let mut engine = Engine::new(settings(r#"{"rules": {"after_hours": {"enabled": false}}}"#));
    engine.set_privileged_users(TENANT, ["a@x.com"]);
    engine.set_privileged_users("other-tenant", ["b@x.com"]);
    assert_eq!(engine.observe(TENANT, &signin("1", T, "a@x.com").record()).len(), 1);
    assert_eq!(engine.observe(TENANT, &signin("2", T, "b@x.com").record()).len(), 0);
    engine.set_privileged_users(TENANT, Vec::<String>::new());
    assert_eq!(engine.observe(TENANT, &signin("3", &at(T, 1500.0), "a@x.com").record()).len(), 0);
}
