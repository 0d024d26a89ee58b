//! The settings document: defaults, each validation error, unknown keys.

use m365mon_contracts::settings::Settings;
use m365mon_contracts::{RuleId, Severity};

fn problems(json: &str) -> Vec<String> {
    match Settings::from_json_str(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn an_empty_document_gives_the_design_defaults() {
    let s = Settings::from_json_str("{}").unwrap();
    assert_eq!(s, Settings::default());
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["timezone"], "UTC");
    assert_eq!(json["working_hours"]["start"], "08:00");
    assert_eq!(json["working_hours"]["end"], "18:00");
    assert_eq!(json["working_hours"]["days"], serde_json::json!(["Mon", "Tue", "Wed", "Thu", "Fri"]));
    assert_eq!(json["failed_logins"], serde_json::json!({"threshold": 5, "window_minutes": 10}));
    assert_eq!(json["password_spray"], serde_json::json!({"distinct_users": 10, "window_minutes": 60}));
    assert_eq!(json["mfa_fatigue"], serde_json::json!({"threshold": 5, "window_minutes": 15}));
    assert_eq!(json["high_risk_countries"], serde_json::json!(["CU", "IR", "KP", "SY"]));
    assert_eq!(json["impossible_travel"], serde_json::json!({"max_speed_kmh": 900.0, "min_distance_km": 500.0}));
    assert_eq!(json["new_country"], serde_json::json!({"learning_days": 14, "forget_days": 90}));
    assert_eq!(json["legacy_auth"]["user_agent_markers"], serde_json::json!(["BAV2ROPC", "CBAinPROD", "CBAinTAR"]));
    assert_eq!(json["admin_users"], serde_json::json!([]));
    assert_eq!(json["break_glass_users"], serde_json::json!([]));
    assert_eq!(json["trusted_ips"], serde_json::json!([]));
    for rule in RuleId::ALL {
        assert!(s.rule_enabled(rule));
        assert_eq!(s.severity(rule), rule.default_severity());
    }
}

#[test]
fn the_design_example_document_is_accepted_and_round_trips() {
    let design = r#"{ "timezone": "UTC",
      "working_hours": {"start": "08:00", "end": "18:00", "days": ["Mon","Tue","Wed","Thu","Fri"]},
      "failed_logins": {"threshold": 5, "window_minutes": 10},
      "password_spray": {"distinct_users": 10, "window_minutes": 60},
      "mfa_fatigue": {"threshold": 5, "window_minutes": 15},
      "high_risk_countries": ["CU", "IR", "KP", "SY"],
      "impossible_travel": {"max_speed_kmh": 900, "min_distance_km": 500},
      "new_country": {"learning_days": 14},
      "admin_users": [], "break_glass_users": [], "trusted_ips": [] }"#;
    let s = Settings::from_json_str(design).unwrap();
    assert_eq!(s, Settings::default());
    let again = Settings::from_json_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(again, s);
}

#[test]
fn a_full_custom_document_is_read() {
    let s = Settings::from_json_str(
        r#"{"timezone": "Europe/Berlin",
            "working_hours": {"start": "07:30", "end": "24:00", "days": ["Mon", "sat"]},
            "trusted_ips": ["10.0.0.0/8", "2001:db8::/32"],
            "rules": {"after_hours": {"enabled": false}, "legacy_auth": {"severity": "critical", "exempt_users": ["Printer@Contoso.com"]}},
            "notifications": {"receivers": [{"name": "secops", "email": ["soc@contoso.com"], "min_severity": "high"}]}}"#,
    )
    .unwrap();
    assert_eq!(s.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(s.trusted_ips.len(), 2);
    assert!(!s.rule_enabled(RuleId::AfterHours));
    assert_eq!(s.severity(RuleId::LegacyAuth), Severity::Critical);
    assert!(s.is_exempt(RuleId::LegacyAuth, "printer@contoso.com"));
    assert!(!s.is_exempt(RuleId::FailedLogins, "printer@contoso.com"));
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let p = problems(r#"{"failed_logins": {"treshold": 3}}"#);
    assert!(p[0].starts_with("failed_logins"), "{p:?}");
    assert!(p[0].contains("unknown field `treshold`"), "{p:?}");
    let p = problems(r#"{"colour": "blue"}"#);
    assert!(p[0].contains("unknown field `colour`"), "{p:?}");
    let p = problems(r#"{"rules": {"no_such_rule": {}}}"#);
    assert!(p[0].starts_with("rules"), "{p:?}");
}

#[test]
fn type_errors_name_the_field() {
    for (json, field) in [
        (r#"{"timezone": "Mars/Olympus"}"#, "timezone"),
        (r#"{"working_hours": {"start": "8am"}}"#, "working_hours.start"),
        (r#"{"working_hours": {"days": ["Funday"]}}"#, "working_hours.days"),
        (r#"{"trusted_ips": ["10.0.0.0/8", "not-a-cidr"]}"#, "trusted_ips"),
        (r#"{"failed_logins": {"threshold": -1}}"#, "failed_logins.threshold"),
        (r#"{"rules": {"failed_logins": {"severity": "urgent"}}}"#, "rules.failed_logins.severity"),
    ] {
        let p = problems(json);
        assert!(p[0].starts_with(field), "{json}: {p:?}");
    }
}

#[test]
fn each_range_is_checked_with_the_allowed_range_in_the_message() {
    for (json, field, range) in [
        (r#"{"failed_logins": {"threshold": 1}}"#, "failed_logins.threshold", "between 2 and 10000"),
        (r#"{"failed_logins": {"window_minutes": 0}}"#, "failed_logins.window_minutes", "between 1 and 1440"),
        (r#"{"password_spray": {"distinct_users": 1}}"#, "password_spray.distinct_users", "between 2 and 10000"),
        (r#"{"password_spray": {"window_minutes": 2000}}"#, "password_spray.window_minutes", "between 1 and 1440"),
        (r#"{"mfa_fatigue": {"threshold": 0}}"#, "mfa_fatigue.threshold", "between 1 and 1000"),
        (r#"{"mfa_fatigue": {"window_minutes": 0}}"#, "mfa_fatigue.window_minutes", "between 1 and 1440"),
        (r#"{"impossible_travel": {"max_speed_kmh": 5}}"#, "impossible_travel.max_speed_kmh", "between 100 and 20000"),
        (
            r#"{"impossible_travel": {"min_distance_km": -1}}"#,
            "impossible_travel.min_distance_km",
            "between 0 and 20000",
        ),
        (r#"{"new_country": {"learning_days": 400}}"#, "new_country.learning_days", "between 0 and 365"),
        (r#"{"new_country": {"forget_days": 0}}"#, "new_country.forget_days", "between 1 and 3650"),
        (r#"{"realert_minutes": 0}"#, "realert_minutes", "between 1 and 10080"),
        (r#"{"allowed_lateness_minutes": 5000}"#, "allowed_lateness_minutes", "between 0 and 1440"),
        (r#"{"collector": {"poll_interval_seconds": 1}}"#, "collector.poll_interval_seconds", "between 10 and 3600"),
        (r#"{"collector": {"backfill_days": 31}}"#, "collector.backfill_days", "between 0 and 30"),
        (
            r#"{"collector": {"late_sweep_interval_minutes": 2000}}"#,
            "collector.late_sweep_interval_minutes",
            "between 0 and 1440",
        ),
        (r#"{"collector": {"late_sweep_hours": 0}}"#, "collector.late_sweep_hours", "between 1 and 168"),
        (
            r#"{"collector": {"late_sweep_hours": 1, "overlap_minutes": 90}}"#,
            "collector.late_sweep_hours",
            "further back than collector.overlap_minutes (90 minutes)",
        ),
        (r#"{"notifications": {"repeat_interval_seconds": 1}}"#, "notifications.repeat_interval_seconds", "between 60"),
        (
            r#"{"notifications": {"mail_rate_per_minute": 0}}"#,
            "notifications.mail_rate_per_minute",
            "between 1 and 1000",
        ),
    ] {
        let p = problems(json);
        assert_eq!(p.len(), 1, "{json}: {p:?}");
        assert!(p[0].starts_with(field) && p[0].contains(range), "{json}: {p:?}");
    }
}

#[test]
fn list_entries_are_checked_and_all_problems_reported_at_once() {
    let p = problems(
        r#"{"high_risk_countries": ["KP", "Iran", "ir"],
            "admin_users": [" "],
            "legacy_auth": {"user_agent_markers": [""]},
            "working_hours": {"start": "09:00", "end": "09:00", "days": []},
            "notifications": {"group_by": ["colour"], "ui_base_url": "ftp://x",
              "receivers": [{"name": "a", "email": ["bad\r\nBcc: evil@x.com"]}, {"name": "a", "webhooks": [{"kind": "slack", "url": "nope"}]}]}}"#,
    );
    let expect = [
        "high_risk_countries[1]",
        "high_risk_countries[2]",
        "admin_users[0]",
        "legacy_auth.user_agent_markers[0]",
        "working_hours:",
        "working_hours.days",
        "notifications.group_by[0]",
        "notifications.ui_base_url",
        "notifications.receivers[0].email[0]",
        "notifications.receivers[1].name",
        "notifications.receivers[1].webhooks[0].url",
    ];
    for field in expect {
        assert!(p.iter().any(|x| x.starts_with(field)), "{field} missing from {p:?}");
    }
    assert_eq!(p.len(), expect.len(), "{p:?}");
}

#[test]
fn notification_delivery_settings_have_defaults_and_ranges() {
    let n = Settings::from_json_str("{}").unwrap().notifications;
    assert_eq!(n.group_by, ["tenant", "rule"]);
    assert_eq!((n.group_wait_seconds, n.group_interval_seconds, n.repeat_interval_seconds), (30, 300, 14_400));
    assert_eq!((n.mail_rate_per_minute, n.webhook_rate_per_minute), (30, 60));
    assert_eq!((n.retry_initial_seconds, n.retry_max_seconds, n.max_attempts), (30, 900, 8));
    assert_eq!((n.resolve_timeout_seconds, n.max_alerts_per_message), (21_600, 50));
    assert_eq!(n.subject_prefix, "[m365-monitor]");

    for (json, field, range) in [
        (
            r#"{"notifications": {"webhook_rate_per_minute": 0}}"#,
            "notifications.webhook_rate_per_minute",
            "between 1 and 1000",
        ),
        (
            r#"{"notifications": {"retry_initial_seconds": 0}}"#,
            "notifications.retry_initial_seconds",
            "between 1 and 3600",
        ),
        (
            r#"{"notifications": {"retry_max_seconds": 90000}}"#,
            "notifications.retry_max_seconds",
            "between 1 and 86400",
        ),
        (
            r#"{"notifications": {"retry_initial_seconds": 60, "retry_max_seconds": 10}}"#,
            "notifications.retry_max_seconds",
            "at least notifications.retry_initial_seconds (60)",
        ),
        (
            r#"{"notifications": {"resolve_timeout_seconds": 5}}"#,
            "notifications.resolve_timeout_seconds",
            "between 60 and 2592000",
        ),
        (
            r#"{"notifications": {"max_alerts_per_message": 0}}"#,
            "notifications.max_alerts_per_message",
            "between 1 and 1000",
        ),
        (
            r#"{"notifications": {"subject_prefix": "[x]\r\nBcc: a@b.c"}}"#,
            "notifications.subject_prefix",
            "control characters",
        ),
        (
            r#"{"notifications": {"receivers": [{"name": "a", "webhooks": [{"kind": "generic", "url": "https://h.test/x", "secret_env": "1BAD-NAME"}]}]}}"#,
            "notifications.receivers[0].webhooks[0].secret_env",
            "not an environment variable name",
        ),
        (
            r#"{"notifications": {"receivers": [{"name": "a", "webhooks": [{"kind": "slack", "url": "https://h.test/x", "secret_env": "HOOK_SECRET"}]}]}}"#,
            "notifications.receivers[0].webhooks[0].secret_env",
            "only generic webhooks are signed",
        ),
    ] {
        let p = problems(json);
        assert_eq!(p.len(), 1, "{json}: {p:?}");
        assert!(p[0].starts_with(field) && p[0].contains(range), "{json}: {p:?}");
    }

    let custom = Settings::from_json_str(
        r#"{"notifications": {"retry_initial_seconds": 1, "retry_max_seconds": 4, "max_alerts_per_message": 5,
            "receivers": [{"name": "hooks", "webhooks": [{"kind": "generic", "url": "https://h.test/x", "secret_env": "HOOK_SECRET"}]}]}}"#,
    )
    .unwrap();
    assert_eq!(custom.notifications.retry_max_seconds, 4);
    assert_eq!(custom.notifications.receivers[0].webhooks[0].secret_env.as_deref(), Some("HOOK_SECRET"));
}

#[test]
fn malformed_json_is_a_clear_error() {
    let err = Settings::from_json_str("{\"timezone\": ").unwrap_err();
    assert!(err.to_string().contains("EOF"), "{err}");
    let err = Settings::from_json_slice(&[0xff, 0xfe]).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn the_late_sweep_can_be_switched_off_whatever_its_horizon() {
    let settings = Settings::from_json_str(
        r#"{"collector": {"late_sweep_interval_minutes": 0, "late_sweep_hours": 1, "overlap_minutes": 90}}"#,
    )
    .expect("a switched-off sweep is not checked against the overlap");
    assert_eq!(settings.collector.late_sweep_interval_minutes, 0);
    let defaults = Settings::default().collector;
    assert_eq!((defaults.late_sweep_interval_minutes, defaults.late_sweep_hours), (60, 6));
}
