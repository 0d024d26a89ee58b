//! Mail: a subject, a plain-text part and an HTML part. The notifier hands these to the mail
//! library (lettre) or to Graph `sendMail`, which build the headers; the subject is already one
//! line, so a CR or LF from a record has nowhere to go.

use m365mon_contracts::Severity;

use super::escape::{html, one_line};
use super::{Notification, evidence, rule_title, when_text, where_text};

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#7a0016",
        Severity::High => "#c62828",
        Severity::Medium => "#e65100",
        Severity::Low => "#546e7a",
    }
}

/// Renders a notification as mail.
pub fn mail(n: &Notification<'_>) -> MailContent {
    MailContent { subject: n.subject(), text: text(n), html: html_body(n) }
}

fn text(n: &Notification<'_>) -> String {
    let mut out = String::new();
    out.push_str(&n.subject());
    out.push_str("\n\n");
    out.push_str(&n.reason_text());
    out.push_str("\n\n");
    for (i, line) in n.shown().iter().enumerate() {
        let a = line.alert;
        out.push_str(&format!(
            "{}. [{}] {} – {}\n",
            i + 1,
            line.change.label(),
            a.severity.as_str().to_ascii_uppercase(),
            one_line(&a.title, 300)
        ));
        out.push_str(&format!("   What:  {} ({})\n", one_line(&a.summary, 1000), rule_title(a.rule)));
        if let Some(user) = &a.user {
            out.push_str(&format!("   Who:   {}\n", one_line(user, 200)));
        }
        if let Some(place) = where_text(a) {
            out.push_str(&format!("   Where: {place}\n"));
        }
        out.push_str(&format!("   When:  {}\n", when_text(a, n.timezone)));
        let facts = evidence(&a.details);
        if !facts.is_empty() {
            out.push_str("   Why:\n");
            for (name, value) in facts {
                out.push_str(&format!("     - {name}: {value}\n"));
            }
        }
        if let Some(link) = n.link(a) {
            out.push_str(&format!("   Open:  {link}\n"));
        }
        out.push_str(&format!(
            "   Tenant {} · alert {} · revision {}\n\n",
            one_line(&a.tenant, 80),
            one_line(&a.id, 80),
            a.revision
        ));
    }
    if n.hidden() > 0 {
        out.push_str(&format!("… and {} more alerts in this group", n.hidden()));
        match n.list_link() {
            Some(link) => out.push_str(&format!(": {link}\n\n")),
            None => out.push_str(".\n\n"),
        }
    }
    out.push_str(&format!("-- \nm365-monitor · group {}\n", one_line(&n.group.describe(), 300)));
    out
}

fn html_body(n: &Notification<'_>) -> String {
    let mut out = String::new();
    let colour = severity_colour(n.severity());
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    out.push_str(&html(&n.subject()));
    out.push_str("</title></head>\n<body style=\"font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328;font-size:14px\">\n");
    out.push_str(&format!(
        "<h2 style=\"margin:0 0 8px 0;color:{colour}\">{}</h2>\n<p style=\"margin:0 0 16px 0\">{}</p>\n",
        html(&n.subject()),
        html(&n.reason_text())
    ));
    for line in n.shown() {
        let a = line.alert;
        let colour = severity_colour(a.severity);
        out.push_str(
            "<table role=\"presentation\" cellpadding=\"6\" style=\"border-collapse:collapse;border:1px solid #d0d7de;margin:0 0 16px 0;width:100%;max-width:760px\">\n",
        );
        out.push_str(&format!(
            "<tr><th colspan=\"2\" style=\"text-align:left;background:{colour};color:#ffffff\">[{}] {} – {}</th></tr>\n",
            line.change.label(),
            a.severity.as_str().to_ascii_uppercase(),
            html(&one_line(&a.title, 300))
        ));
        row(
            &mut out,
            "What",
            &format!("{} <span style=\"color:#57606a\">({})</span>", html(&a.summary), rule_title(a.rule)),
        );
        if let Some(user) = &a.user {
            row(&mut out, "Who", &html(&one_line(user, 200)));
        }
        if let Some(place) = where_text(a) {
            row(&mut out, "Where", &html(&place));
        }
        row(&mut out, "When", &html(&when_text(a, n.timezone)));
        let facts = evidence(&a.details);
        if !facts.is_empty() {
            let mut list = String::from("<ul style=\"margin:0;padding-left:18px\">");
            for (name, value) in facts {
                list.push_str(&format!("<li><b>{}</b>: {}</li>", html(&name), html(&value)));
            }
            list.push_str("</ul>");
            row(&mut out, "Why", &list);
        }
        let id = format!(
            "tenant {} · alert <code>{}</code> · revision {}",
            html(&one_line(&a.tenant, 80)),
            html(&one_line(&a.id, 80)),
            a.revision
        );
        match n.link(a) {
            Some(link) => {
                row(&mut out, "Alert", &format!("<a href=\"{}\">Open in m365-monitor</a> · {id}", html(&link)))
            }
            None => row(&mut out, "Alert", &id),
        }
        out.push_str("</table>\n");
    }
    if n.hidden() > 0 {
        let more = format!("… and {} more alerts in this group", n.hidden());
        match n.list_link() {
            Some(link) => out.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", html(&link), html(&more))),
            None => out.push_str(&format!("<p>{}.</p>\n", html(&more))),
        }
    }
    out.push_str(&format!(
        "<p style=\"color:#57606a;font-size:12px\">m365-monitor · group {}</p>\n</body></html>\n",
        html(&one_line(&n.group.describe(), 300))
    ));
    out
}

fn row(out: &mut String, name: &str, value_html: &str) {
    out.push_str(&format!(
        "<tr><td style=\"vertical-align:top;font-weight:600;border-top:1px solid #d0d7de;width:70px\">{name}</td><td style=\"border-top:1px solid #d0d7de\">{value_html}</td></tr>\n"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::alert;
    use crate::dedup::NotifyReason;
    use crate::group::PendingAlert;
    use crate::render::tests::hostile_alert;
    use crate::route::GroupKey;
    use chrono::TimeZone;
    use m365mon_contracts::{RuleId, Settings};

    fn settings() -> Settings {
        let mut s = Settings { timezone: chrono_tz::Europe::Berlin, ..Settings::default() };
        s.notifications.ui_base_url = Some("https://monitor.contoso.com/".into());
        s
    }

    fn key() -> GroupKey {
        GroupKey {
            receiver: "soc".into(),
            labels: vec![("tenant".into(), "contoso".into()), ("rule".into(), "impossible_travel".into())],
        }
    }

    #[test]
    fn hostile_text_is_escaped_and_never_breaks_a_line_of_the_subject() {
        let s = settings();
        let k = key();
        let a = hostile_alert();
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let alerts = [PendingAlert { seq: 1, alert: &a, received_at: t }];
        let m = mail(&Notification::new(&k, NotifyReason::FirstNotification, &alerts, 0, None, &s));

        assert!(!m.subject.contains(['\r', '\n']), "{:?}", m.subject);
        assert!(
            m.subject.starts_with("[m365-monitor] HIGH Impossible travel: Impossible travel for <b>eve</b> Bcc:"),
            "{}",
            m.subject
        );
        for raw in ["<script>", "<img", "<iframe", "<b>Berlin", "</td><td>", "\"><iframe"] {
            assert!(!m.html.contains(raw), "raw {raw:?} in HTML");
        }
        assert!(m.html.contains("Eve &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Reply-To: attacker@evil.test"));
        assert!(m.html.contains("Paris&lt;/td&gt;&lt;td&gt; X-City: 1, FR"));
        assert!(m.html.contains("<a href=\"https://monitor.contoso.com/alerts/0123456789abcdef0123456789abcdef\">"));
        // In the plain text part no hostile value starts a line of its own.
        for line in m.text.lines() {
            assert!(!line.starts_with("Bcc:") && !line.starts_with("Reply-To:") && !line.starts_with("X-"), "{line:?}");
        }
        assert!(m.text.contains("Who:   eve@contoso.com X-Injected: 1"));
        assert!(
            m.text.contains("- user_agent: Mozilla/5.0 \"><iframe src=//evil.test>"),
            "plain text keeps the literal text"
        );
    }

    #[test]
    fn a_group_message_lists_who_what_where_when_why_and_link() {
        let s = settings();
        let k = key();
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let a = alert("aaaa", RuleId::FailedLogins, Severity::Medium, "contoso", 0);
        let b = alert("bbbb", RuleId::FailedLogins, Severity::High, "contoso", 2);
        let alerts =
            [PendingAlert { seq: 4, alert: &a, received_at: t }, PendingAlert { seq: 9, alert: &b, received_at: t }];
        let n = Notification::new(&k, NotifyReason::NewOrUpdatedAlerts, &alerts, 5, Some(t), &s);
        let m = mail(&n);
        assert_eq!(m.subject, "[m365-monitor] HIGH Failed sign-ins: 2 alerts (1 new or updated) – tenant contoso");
        assert!(m.text.starts_with(&m.subject));
        let first = m.text.find("[UPDATED] HIGH").unwrap();
        let second = m.text.find("[OPEN] MEDIUM").unwrap();
        assert!(first < second, "changed alerts first:\n{}", m.text);
        for part in [
            "Who:   alice@contoso.com",
            "Where: 203.0.113.7",
            "When:  2026-03-02 10:15:00 CET to 2026-03-02 10:17:00 CET (7 records)",
            "- failure_reasons: 50126: Invalid username or password",
            "Open:  https://monitor.contoso.com/alerts/bbbb",
            "1 new or updated since the message of 2026-03-02 10:00:00 CET.",
        ] {
            assert!(m.text.contains(part), "{part:?} missing from\n{}", m.text);
        }
    }

    #[test]
    fn a_storm_is_one_short_message() {
        let mut s = settings();
        s.notifications.max_alerts_per_message = 10;
        let k = key();
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let storm: Vec<_> = (0..5000)
            .map(|i| alert(&format!("{i:032x}"), RuleId::FailedLogins, Severity::Medium, "contoso", 0))
            .collect();
        let pending: Vec<_> = storm
            .iter()
            .enumerate()
            .map(|(i, a)| PendingAlert { seq: i as u64 + 1, alert: a, received_at: t })
            .collect();
        let m = mail(&Notification::new(&k, NotifyReason::FirstNotification, &pending, 0, None, &s));
        assert_eq!(m.subject, "[m365-monitor] MEDIUM Failed sign-ins: 5000 alerts – tenant contoso");
        assert_eq!(m.text.matches("[NEW] MEDIUM").count(), 10);
        assert!(m.text.contains("… and 4990 more alerts in this group: https://monitor.contoso.com/alerts"));
        assert!(m.html.len() < 64 * 1024, "{} bytes", m.html.len());
    }
}
