//! Table-driven tests of every rule, with the near misses that must stay quiet.

mod common;

use common::*;
use m365mon_contracts::AlertEvent;
use m365mon_model::Record;

const T: &str = "2026-07-01T10:00:00Z"; // a Wednesday

struct Case {
    name: &'static str,
    settings: &'static str,
    records: Vec<Record>,
    /// The final alerts expected: (rule, count), in any order.
    expect: Vec<(&'static str, u64)>,
}

fn check(cases: Vec<Case>) -> Vec<(String, Vec<AlertEvent>)> {
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for case in cases {
        let got = alerts(&settings(case.settings), &case.records);
        let mut got_pairs: Vec<(String, u64)> = got.iter().map(|a| (a.rule.to_string(), a.count)).collect();
        got_pairs.sort();
        let mut want: Vec<(String, u64)> = case.expect.iter().map(|(r, n)| (r.to_string(), *n)).collect();
        want.sort();
        if got_pairs != want {
            failures.push(format!("{}: expected {want:?}, got {got_pairs:?}", case.name));
        }
        results.push((case.name.to_string(), got));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    results
}

/// `n` failures of `user` at `T + start + i * every` minutes.
fn failures(user: &str, n: usize, start: f64, every: f64, code: i64) -> Vec<Record> {
    (0..n)
        .map(|i| signin(&format!("{user}-f{i}"), &at(T, start + i as f64 * every), user).code(code).record())
        .collect()
}

/// Working hours and location rules are switched off where they would add noise to a case.
const QUIET: &str = r#"{"rules": {"after_hours": {"enabled": false}}}"#;

#[test]
fn failed_logins() {
    let mut redelivered = failures("a@x.com", 5, 0.0, 1.0, 50126);
    redelivered.extend(failures("a@x.com", 5, 0.0, 1.0, 50126));
    let mut lockout = failures("a@x.com", 4, 0.0, 1.0, 50126);
    lockout.push(signin("lock", &at(T, 4.5), "a@x.com").code(50053).record());
    let one_attempt: Vec<Record> = (0..5)
        .map(|i| signin(&format!("p{i}"), &at(T, i as f64), "a@x.com").code(50126).correlation("same").record())
        .collect();
    let mut two_days = failures("a@x.com", 5, 0.0, 1.0, 50126);
    two_days.extend(failures("b@x.com", 0, 0.0, 1.0, 50126));
    two_days
        .extend((0..5).map(|i| signin(&format!("d2-{i}"), &at(T, 1440.0 + i as f64), "a@x.com").code(50126).record()));
    let results = check(vec![
        Case {
            name: "five in ten minutes",
            settings: QUIET,
            records: failures("a@x.com", 5, 0.0, 2.0, 50126),
            expect: vec![("failed_logins", 5)],
        },
        Case {
            name: "four is below the threshold",
            settings: QUIET,
            records: failures("a@x.com", 4, 0.0, 1.0, 50126),
            expect: vec![],
        },
        Case {
            name: "five spread over exactly ten minutes",
            settings: QUIET,
            records: failures("a@x.com", 5, 0.0, 2.5, 50126),
            expect: vec![],
        },
        Case {
            name: "interrupts are not failures",
            settings: QUIET,
            records: failures("a@x.com", 8, 0.0, 1.0, 50074),
            expect: vec![],
        },
        Case {
            name: "KMSI interrupts are not failures",
            settings: QUIET,
            records: failures("a@x.com", 8, 0.0, 1.0, 50140),
            expect: vec![],
        },
        Case {
            name: "CA blocks are not credential failures",
            settings: QUIET,
            records: failures("a@x.com", 8, 0.0, 1.0, 53003),
            expect: vec![],
        },
        Case { name: "lockouts count", settings: QUIET, records: lockout, expect: vec![("failed_logins", 5)] },
        Case { name: "one attempt split in five records", settings: QUIET, records: one_attempt, expect: vec![] },
        Case {
            name: "a burst of twenty is one alert",
            settings: QUIET,
            records: failures("a@x.com", 20, 0.0, 0.5, 50126),
            expect: vec![("failed_logins", 20)],
        },
        Case {
            name: "a redelivered burst is not counted twice",
            settings: QUIET,
            records: redelivered,
            expect: vec![("failed_logins", 5)],
        },
        Case {
            name: "bursts on two days are two incidents",
            settings: QUIET,
            records: two_days,
            expect: vec![("failed_logins", 5), ("failed_logins", 5)],
        },
        Case {
            name: "exempt user",
            settings: r#"{"rules": {"after_hours": {"enabled": false}, "failed_logins": {"exempt_users": ["A@X.com"]}}}"#,
            records: failures("a@x.com", 6, 0.0, 1.0, 50126),
            expect: vec![],
        },
        Case {
            name: "switched off",
            settings: r#"{"rules": {"after_hours": {"enabled": false}, "failed_logins": {"enabled": false}}}"#,
            records: failures("a@x.com", 6, 0.0, 1.0, 50126),
            expect: vec![],
        },
        Case {
            name: "threshold and window from the settings",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "failed_logins": {"threshold": 3, "window_minutes": 2}}"#,
            records: failures("a@x.com", 3, 0.0, 0.9, 50126),
            expect: vec![("failed_logins", 3)],
        },
    ]);
    let (_, alerts) = results.iter().find(|(n, _)| n == "lockouts count").unwrap();
    let a = &alerts[0];
    assert_eq!(a.user.as_deref(), Some("a@x.com"));
    assert_eq!(a.details["lockouts"], 1);
    assert_eq!(a.details["failure_reasons"][0]["error_code"], 50126);
    assert_eq!(a.details["failure_reasons"][0]["reason"], "reason 50126");
    assert_eq!(a.severity.as_str(), "medium");
    assert!(a.title.contains("5 failed sign-in attempts for a@x.com"), "{}", a.title);
    assert!(a.summary.contains("lockout"), "{}", a.summary);
}

#[test]
fn password_spray() {
    let spray = |users: usize, every: f64| -> Vec<Record> {
        (0..users)
            .map(|i| {
                signin(&format!("s{i}"), &at(T, i as f64 * every), &format!("u{i}@x.com"))
                    .code(50126)
                    .ip("185.220.101.66")
                    .record()
            })
            .collect()
    };
    let results = check(vec![
        Case {
            name: "ten users in an hour",
            settings: QUIET,
            records: spray(10, 5.0),
            expect: vec![("password_spray", 10)],
        },
        Case { name: "nine users", settings: QUIET, records: spray(9, 5.0), expect: vec![] },
        Case { name: "ten users over more than an hour", settings: QUIET, records: spray(10, 6.7), expect: vec![] },
        Case {
            name: "many failures of one user are not a spray",
            settings: QUIET,
            records: failures("a@x.com", 12, 0.0, 0.5, 50126),
            expect: vec![("failed_logins", 12)],
        },
        Case {
            name: "successes do not count",
            settings: QUIET,
            records: (0..12)
                .map(|i| {
                    signin(&format!("ok{i}"), &at(T, i as f64), &format!("u{i}@x.com")).ip("185.220.101.66").record()
                })
                .collect(),
            expect: vec![],
        },
    ]);
    let a = &results[0].1[0];
    assert_eq!(a.ip.as_deref(), Some("185.220.101.66"));
    assert_eq!(a.user, None);
    assert_eq!(a.details["distinct_users"], 10);
    assert!(a.title.contains("Password spray from 185.220.101.66: 10 users"), "{}", a.title);
}

#[test]
fn mfa_fatigue() {
    let denials = |n: usize, code: i64| -> Vec<Record> {
        (0..n)
            .map(|i| {
                signin(&format!("m{i}"), &at(T, i as f64 * 2.0), "a@x.com")
                    .code(code)
                    .details("MFA denied; user did not respond to mobile app notification")
                    .record()
            })
            .collect()
    };
    let results = check(vec![
        Case { name: "five denials", settings: QUIET, records: denials(5, 500121), expect: vec![("mfa_fatigue", 5)] },
        Case { name: "four denials", settings: QUIET, records: denials(4, 500121), expect: vec![] },
        Case { name: "MFA-required interrupts", settings: QUIET, records: denials(8, 50074), expect: vec![] },
    ]);
    let a = &results[0].1[0];
    assert_eq!(
        a.details["additional_details"][0]["value"],
        "MFA denied; user did not respond to mobile app notification"
    );
}

#[test]
fn high_risk_country() {
    let iran = |id: &str| signin(id, T, "a@x.com").place("Tehran", "IR", 35.69, 51.39).ip("5.160.1.1");
    check(vec![
        Case {
            name: "success from a listed country",
            settings: QUIET,
            records: vec![iran("1").record()],
            expect: vec![("high_risk_country", 1)],
        },
        Case {
            name: "failure from a listed country",
            settings: QUIET,
            records: vec![iran("1").code(50126).record()],
            expect: vec![],
        },
        Case {
            name: "non-interactive success counts (token replay)",
            settings: QUIET,
            records: vec![iran("1").noninteractive().record()],
            expect: vec![("high_risk_country", 1)],
        },
        Case {
            name: "trusted range",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "trusted_ips": ["5.160.0.0/16"]}"#,
            records: vec![iran("1").record()],
            expect: vec![],
        },
        Case { name: "not listed", settings: QUIET, records: vec![signin("1", T, "a@x.com").record()], expect: vec![] },
        Case {
            name: "twice the same day is one alert",
            settings: QUIET,
            records: vec![iran("1").record(), iran("2").record()],
            expect: vec![("high_risk_country", 2)],
        },
    ]);
}

#[test]
fn new_country() {
    let day = |d: f64| at(T, d * 1440.0);
    let base = || signin("b0", &day(0.0), "a@x.com").record();
    let paris = |id: &str, d: f64| signin(id, &day(d), "a@x.com").place("Paris", "FR", 48.857, 2.352).ip("82.64.1.1");
    let results = check(vec![
        Case {
            name: "new country after learning",
            settings: QUIET,
            records: vec![base(), paris("p", 15.0).record()],
            expect: vec![("new_country", 1)],
        },
        Case {
            name: "still learning",
            settings: QUIET,
            records: vec![base(), paris("p", 13.0).record()],
            expect: vec![],
        },
        Case {
            name: "seen while learning is known",
            settings: QUIET,
            records: vec![base(), paris("p1", 5.0).record(), paris("p2", 20.0).record()],
            expect: vec![],
        },
        Case {
            name: "a trusted range is no evidence and no baseline",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "trusted_ips": ["82.64.0.0/16"]}"#,
            records: vec![base(), paris("p1", 5.0).record(), paris("p2", 20.0).record()],
            expect: vec![],
        },
        Case {
            name: "no location is no evidence",
            settings: QUIET,
            records: vec![base(), paris("p", 15.0).no_location().record()],
            expect: vec![],
        },
        Case {
            name: "failed sign-ins are not visits",
            settings: QUIET,
            records: vec![base(), paris("p", 15.0).code(50126).record()],
            expect: vec![],
        },
        Case {
            name: "learning period from the settings",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "new_country": {"learning_days": 3}}"#,
            records: vec![base(), paris("p", 4.0).record()],
            expect: vec![("new_country", 1)],
        },
        Case {
            name: "one alert names the first sign-in; later ones are known",
            settings: QUIET,
            records: vec![base(), paris("p2", 15.05).record(), paris("p1", 15.0).record(), paris("p3", 16.0).record()],
            expect: vec![("new_country", 1)],
        },
    ]);
    let a = &results[0].1[0];
    assert_eq!(results[7].1[0].event_ids, vec!["p1".to_string()], "the earliest, though it came later");
    assert_eq!(a.details["country"], "FR");
    assert_eq!(a.details["known_countries"], serde_json::json!(["DE"]));
    assert!(a.title.contains("new country: FR"), "{}", a.title);
}

#[test]
fn after_hours_in_a_zone_with_daylight_saving() {
    let berlin = r#"{"timezone": "Europe/Berlin"}"#;
    // 2026-07-01 is a Wednesday in summer (UTC+2); 2026-01-07 a Wednesday in winter (UTC+1).
    check(vec![
        Case {
            name: "07:59 local in summer",
            settings: berlin,
            records: vec![signin("1", "2026-07-01T05:59:00Z", "a@x.com").record()],
            expect: vec![("after_hours", 1)],
        },
        Case {
            name: "08:00 local in summer",
            settings: berlin,
            records: vec![signin("1", "2026-07-01T06:00:00Z", "a@x.com").record()],
            expect: vec![],
        },
        Case {
            name: "17:59 local in summer",
            settings: berlin,
            records: vec![signin("1", "2026-07-01T15:59:00Z", "a@x.com").record()],
            expect: vec![],
        },
        Case {
            name: "18:00 local in summer",
            settings: berlin,
            records: vec![signin("1", "2026-07-01T16:00:00Z", "a@x.com").record()],
            expect: vec![("after_hours", 1)],
        },
        Case {
            name: "07:30 local in winter (06:30 UTC)",
            settings: berlin,
            records: vec![signin("1", "2026-01-07T06:30:00Z", "a@x.com").record()],
            expect: vec![("after_hours", 1)],
        },
        Case {
            name: "08:00 local in winter (07:00 UTC)",
            settings: berlin,
            records: vec![signin("1", "2026-01-07T07:00:00Z", "a@x.com").record()],
            expect: vec![],
        },
        Case {
            name: "Saturday",
            settings: berlin,
            records: vec![signin("1", "2026-07-04T10:00:00Z", "a@x.com").record()],
            expect: vec![("after_hours", 1)],
        },
        Case {
            name: "a whole weekend is one incident",
            settings: berlin,
            records: vec![
                signin("1", "2026-07-04T10:00:00Z", "a@x.com").record(),
                signin("2", "2026-07-05T22:00:00Z", "a@x.com").record(),
            ],
            expect: vec![("after_hours", 2)],
        },
        Case {
            name: "failed sign-in at night",
            settings: berlin,
            records: vec![signin("1", "2026-07-01T01:00:00Z", "a@x.com").code(50126).record()],
            expect: vec![],
        },
        Case {
            name: "non-interactive at night",
            settings: berlin,
            records: vec![signin("1", "2026-07-01T01:00:00Z", "a@x.com").noninteractive().record()],
            expect: vec![],
        },
        Case {
            name: "working days from the settings",
            settings: r#"{"timezone": "Europe/Berlin", "working_hours": {"start": "08:00", "end": "18:00", "days": ["Sat"]}}"#,
            records: vec![signin("1", "2026-07-04T10:00:00Z", "a@x.com").record()],
            expect: vec![],
        },
    ]);
}

#[test]
fn admin_sign_in() {
    let mut engine = m365mon_rules::Engine::new(settings(QUIET));
    engine.set_privileged_users(TENANT, ["Boss@X.com"]);
    let events = run_all(&mut engine, &[signin("1", T, "boss@x.com").record(), signin("2", T, "staff@x.com").record()]);
    let finals = final_alerts(events);
    assert_eq!(finals.len(), 1);
    let a = finals.values().next().unwrap();
    assert_eq!((a.rule.as_str(), a.user.as_deref()), ("admin_sign_in", Some("boss@x.com")));
    assert_eq!(a.details["privilege"], "directory role");

    check(vec![
        Case {
            name: "listed in admin_users",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "admin_users": ["root@x.com"]}"#,
            records: vec![
                signin("1", T, "root@x.com")
                    .set("authenticationRequirement", "singleFactorAuthentication".into())
                    .record(),
            ],
            expect: vec![("admin_sign_in", 1)],
        },
        Case {
            name: "failed admin sign-in",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "admin_users": ["root@x.com"]}"#,
            records: vec![signin("1", T, "root@x.com").code(50126).record()],
            expect: vec![],
        },
        Case {
            name: "not privileged",
            settings: QUIET,
            records: vec![signin("1", T, "root@x.com").record()],
            expect: vec![],
        },
    ]);
}

#[test]
fn impossible_travel() {
    let berlin = |id: &str, m: f64| signin(id, &at(T, m), "a@x.com");
    let results = check(vec![
        Case {
            name: "Berlin then Sydney an hour later",
            settings: QUIET,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("s", 60.0).place("Sydney", "AU", -33.87, 151.21).ip("1.144.2.3").record(),
            ],
            expect: vec![("impossible_travel", 2)],
        },
        Case {
            name: "Berlin then Paris two hours later is feasible",
            settings: QUIET,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("p", 120.0).place("Paris", "FR", 48.857, 2.352).ip("82.64.1.1").record(),
            ],
            expect: vec![],
        },
        Case {
            name: "geolocation noise under the minimum distance",
            settings: QUIET,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("p", 1.0).place("Potsdam", "DE", 52.39, 13.06).ip("91.61.1.1").record(),
            ],
            expect: vec![],
        },
        Case {
            name: "the same network placed far apart is GeoIP, not travel",
            settings: QUIET,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("n", 10.0).place("New York", "US", 40.71, -74.0).ip("85.214.10.99").record(),
            ],
            expect: vec![],
        },
        Case {
            name: "a trusted VPN egress",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "trusted_ips": ["24.44.0.0/16"]}"#,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("n", 10.0).place("New York", "US", 40.71, -74.0).ip("24.44.1.1").record(),
            ],
            expect: vec![],
        },
        Case {
            name: "no coordinates",
            settings: QUIET,
            records: vec![berlin("b", 0.0).record(), berlin("n", 10.0).no_location().ip("24.44.1.1").record()],
            expect: vec![],
        },
        Case {
            name: "null island",
            settings: QUIET,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("n", 10.0).place("", "", 0.0, 0.0).ip("24.44.1.1").record(),
            ],
            expect: vec![],
        },
        Case {
            name: "a failed sign-in far away",
            settings: QUIET,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("n", 10.0).place("New York", "US", 40.71, -74.0).ip("24.44.1.1").code(50126).record(),
            ],
            expect: vec![],
        },
        Case {
            name: "speed and distance from the settings",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "impossible_travel": {"max_speed_kmh": 300, "min_distance_km": 100}}"#,
            records: vec![
                berlin("b", 0.0).record(),
                berlin("p", 120.0).place("Paris", "FR", 48.857, 2.352).ip("82.64.1.1").record(),
            ],
            expect: vec![("impossible_travel", 2)],
        },
    ]);
    let a = &results[0].1[0];
    let fastest = &a.details["fastest"];
    assert_eq!(fastest["from"]["city"], "Berlin");
    assert_eq!(fastest["to"]["city"], "Sydney");
    assert!(fastest["distance_km"].as_f64().unwrap() > 16_000.0);
    assert!(fastest["speed_kmh"].as_f64().unwrap() > 16_000.0);
    assert!(a.title.contains("Berlin, DE → Sydney, AU"), "{}", a.title);
    assert_eq!(a.event_ids.len(), 2);
}

#[test]
fn sensitive_change() {
    let role = |id: &str, activity: &str| {
        audit(id, T, activity, "bob@x.com")
            .target("carol@x.com", Some(("Role.DisplayName", "", "\"Global Administrator\"")))
    };
    let results = check(vec![
        Case {
            name: "role assignment",
            settings: QUIET,
            records: vec![role("1", "Add member to role").record()],
            expect: vec![("sensitive_change", 1)],
        },
        Case {
            name: "case does not matter",
            settings: QUIET,
            records: vec![role("1", "add MEMBER to ROLE").record()],
            expect: vec![("sensitive_change", 1)],
        },
        Case {
            name: "not on the list",
            settings: QUIET,
            records: vec![role("1", "Update user").record()],
            expect: vec![],
        },
        Case {
            name: "a failed change",
            settings: QUIET,
            records: vec![role("1", "Add member to role").result("failure").record()],
            expect: vec![],
        },
        Case {
            name: "PIM's mirror of an activation",
            settings: QUIET,
            records: vec![role("1", "Add member to role").by_app("MS-PIM").record()],
            expect: vec![],
        },
        Case {
            name: "a bulk change by one admin is one alert",
            settings: QUIET,
            records: vec![
                role("1", "Add member to role").record(),
                audit("2", T, "Add member to role", "bob@x.com").target("dave@x.com", None).record(),
            ],
            expect: vec![("sensitive_change", 2)],
        },
        Case {
            name: "the list comes from the settings",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "sensitive_activities": ["Update user"]}"#,
            records: vec![role("1", "Update user").record(), role("2", "Add member to role").record()],
            expect: vec![("sensitive_change", 1)],
        },
    ]);
    let a = &results[0].1[0];
    let change = &a.details["changes"][0];
    assert_eq!(change["initiator"]["user"], "bob@x.com");
    assert_eq!(change["targets"][0]["user_principal_name"], "carol@x.com");
    assert_eq!(change["targets"][0]["modified_properties"][0]["new"], "Global Administrator");
    assert!(a.summary.contains("Role.DisplayName → Global Administrator"), "{}", a.summary);
    assert_eq!(a.title, "bob@x.com: Add member to role (carol@x.com)");
}

#[test]
fn legacy_auth() {
    check(vec![
        Case {
            name: "IMAP4",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").client_app("IMAP4").record()],
            expect: vec![("legacy_auth", 1)],
        },
        Case {
            name: "failed IMAP4",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").client_app("IMAP4").code(50126).record()],
            expect: vec![],
        },
        Case {
            name: "ROPC user agent",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").user_agent("BAV2ROPC").record()],
            expect: vec![("legacy_auth", 1)],
        },
        Case { name: "a browser", settings: QUIET, records: vec![signin("1", T, "a@x.com").record()], expect: vec![] },
        Case {
            name: "an exempt printer",
            settings: r#"{"rules": {"after_hours": {"enabled": false}, "legacy_auth": {"exempt_users": ["a@x.com"]}}}"#,
            records: vec![signin("1", T, "a@x.com").client_app("Authenticated SMTP").record()],
            expect: vec![],
        },
    ]);
}

#[test]
fn disabled_account() {
    let results = check(vec![
        Case {
            name: "50057",
            settings: QUIET,
            records: vec![signin("1", T, "gone@x.com").code(50057).record()],
            expect: vec![("disabled_account", 1)],
        },
        Case {
            name: "other errors",
            settings: QUIET,
            records: vec![signin("1", T, "gone@x.com").code(50126).record()],
            expect: vec![],
        },
    ]);
    assert_eq!(results[0].1[0].severity.as_str(), "low");
}

#[test]
fn risky_sign_in() {
    check(vec![
        Case {
            name: "high during sign-in",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").risk("high", "none", "atRisk").record()],
            expect: vec![("risky_sign_in", 1)],
        },
        Case {
            name: "high aggregated",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").risk("none", "high", "atRisk").record()],
            expect: vec![("risky_sign_in", 1)],
        },
        Case {
            name: "remediated",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").risk("high", "high", "remediated").record()],
            expect: vec![],
        },
        Case {
            name: "dismissed",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").risk("high", "high", "dismissed").record()],
            expect: vec![],
        },
        Case {
            name: "medium below the level",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").risk("medium", "none", "atRisk").record()],
            expect: vec![],
        },
        Case {
            name: "hidden (no P2 licence)",
            settings: QUIET,
            records: vec![signin("1", T, "a@x.com").risk("hidden", "hidden", "none").record()],
            expect: vec![],
        },
        Case {
            name: "level from the settings",
            settings: r#"{"rules": {"after_hours": {"enabled": false}}, "risky_sign_in": {"min_level": "medium"}}"#,
            records: vec![signin("1", T, "a@x.com").risk("medium", "none", "atRisk").record()],
            expect: vec![("risky_sign_in", 1)],
        },
    ]);
}

#[test]
fn break_glass() {
    let listed = r#"{"rules": {"after_hours": {"enabled": false}}, "break_glass_users": ["BG@x.com"]}"#;
    let results = check(vec![
        Case {
            name: "a successful sign-in",
            settings: listed,
            records: vec![signin("1", T, "bg@x.com").record()],
            expect: vec![("break_glass", 1)],
        },
        Case {
            name: "a failed sign-in",
            settings: listed,
            records: vec![signin("1", T, "bg@x.com").code(50126).record()],
            expect: vec![("break_glass", 1)],
        },
        Case {
            name: "a change to the account",
            settings: listed,
            records: vec![audit("1", T, "Reset password (by admin)", "eve@x.com").target("bg@x.com", None).record()],
            expect: vec![("break_glass", 1), ("sensitive_change", 1)],
        },
        Case {
            name: "another account",
            settings: listed,
            records: vec![signin("1", T, "a@x.com").record()],
            expect: vec![],
        },
    ]);
    assert_eq!(results[0].1[0].severity.as_str(), "critical");
}

#[test]
fn severities_come_from_the_settings() {
    let got = alerts(
        &settings(r#"{"rules": {"after_hours": {"enabled": false}, "legacy_auth": {"severity": "critical"}}}"#),
        &[signin("1", T, "a@x.com").client_app("POP3").record()],
    );
    assert_eq!(got[0].severity.as_str(), "critical");
}
