//! Prints what a group's mail looks like (subject, plain text, and the HTML to a file), for
//! reviewing wording and layout: `cargo run -p m365mon-notify-policy --example render [OUT.html]`.

use chrono::{TimeZone, Utc};
use m365mon_contracts::alert::alert_id;
use m365mon_contracts::{AlertEvent, RuleId, Settings, Severity};
use m365mon_notify_policy::render::{Notification, mail};
use m365mon_notify_policy::{GroupKey, NotifyReason, PendingAlert};

fn main() -> std::io::Result<()> {
    let mut settings = Settings { timezone: chrono_tz::Europe::Berlin, ..Settings::default() };
    settings.notifications.ui_base_url = Some("https://monitor.contoso.com".into());
    let first = Utc.with_ymd_and_hms(2026, 3, 2, 8, 55, 0).unwrap();
    let travel = AlertEvent {
        id: alert_id(RuleId::ImpossibleTravel, "contoso", "adele@contoso.com", first),
        rule: RuleId::ImpossibleTravel,
        severity: Severity::High,
        tenant: "contoso".into(),
        title: "Impossible travel for adele@contoso.com: Berlin to Sydney in 40 minutes".into(),
        summary: "Two successful sign-ins 16,100 km apart within 40 minutes (24,150 km/h).".into(),
        user: Some("adele@contoso.com".into()),
        ip: Some("198.51.100.23".into()),
        first_seen: first,
        last_seen: first + chrono::Duration::minutes(40),
        event_ids: vec!["a1".into(), "a2".into()],
        count: 2,
        revision: 0,
        details: serde_json::json!({
            "from": {"city": "Berlin", "countryOrRegion": "DE", "ip": "203.0.113.5", "app": "Office 365 Exchange Online"},
            "to": {"city": "Sydney", "countryOrRegion": "AU", "ip": "198.51.100.23", "app": "Azure PowerShell",
                   "user_agent": "python-requests/2.32.3"},
            "distance_km": 16100, "speed_kmh": 24150
        }),
        created_at: first + chrono::Duration::minutes(41),
    };
    let mut spray = travel.clone();
    spray.id = alert_id(RuleId::ImpossibleTravel, "contoso", "megan@contoso.com", first);
    spray.title = "Impossible travel for megan@contoso.com: Paris to Lagos in 12 minutes".into();
    spray.user = Some("megan@contoso.com".into());
    spray.severity = Severity::Medium;
    let group = GroupKey {
        receiver: "secops".into(),
        labels: vec![("tenant".into(), "contoso".into()), ("rule".into(), "impossible_travel".into())],
    };
    let alerts = [
        PendingAlert { seq: 1, alert: &travel, received_at: first },
        PendingAlert { seq: 2, alert: &spray, received_at: first },
    ];
    let rendered = mail(&Notification::new(&group, NotifyReason::FirstNotification, &alerts, 0, None, &settings));
    println!("Subject: {}\n\n{}", rendered.subject, rendered.text);
    let out = std::env::args().nth(1).unwrap_or_else(|| "notification.html".into());
    std::fs::write(&out, rendered.html)?;
    eprintln!("HTML written to {out}");
    Ok(())
}
