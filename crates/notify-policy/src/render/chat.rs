//! Chat payloads: a Microsoft Teams Workflows message with an Adaptive Card, and a Slack
//! incoming-webhook message with blocks. Log text is escaped for each (Teams renders Markdown in
//! card text, Slack renders `mrkdwn` and `<…>` links and mentions).

use serde_json::{Value, json};

use super::escape::{markdown, one_line, slack as slack_text};
use super::{Notification, evidence, rule_title, when_text, where_text};

/// At most this many alerts in a chat message (cards and blocks have size limits; the rest is
/// counted with a link to the UI).
const MAX_CHAT_ALERTS: usize = 10;

/// A Teams Workflows ("When a Teams webhook request is received") message with one Adaptive Card.
pub fn teams(n: &Notification<'_>) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": markdown(&n.subject()), "weight": "Bolder", "size": "Medium", "wrap": true}),
        json!({"type": "TextBlock", "text": markdown(&n.reason_text()), "wrap": true, "isSubtle": true}),
    ];
    let shown = &n.shown()[..n.shown().len().min(MAX_CHAT_ALERTS)];
    for line in shown {
        let a = line.alert;
        body.push(json!({
            "type": "TextBlock",
            "text": format!("\\[{}\\] {} – {}", line.change.label(), a.severity.as_str().to_ascii_uppercase(), markdown(&one_line(&a.title, 300))),
            "weight": "Bolder", "wrap": true, "separator": true
        }));
        let mut facts = vec![
            json!({"title": "What", "value": markdown(&format!("{} ({})", one_line(&a.summary, 600), rule_title(a.rule)))}),
        ];
        if let Some(user) = &a.user {
            facts.push(json!({"title": "Who", "value": markdown(&one_line(user, 200))}));
        }
        if let Some(place) = where_text(a) {
            facts.push(json!({"title": "Where", "value": markdown(&place)}));
        }
        facts.push(json!({"title": "When", "value": markdown(&when_text(a, n.timezone))}));
        for (name, value) in evidence(&a.details).into_iter().take(8) {
            facts.push(json!({"title": markdown(&name), "value": markdown(&value)}));
        }
        body.push(json!({"type": "FactSet", "facts": facts}));
        if let Some(link) = n.link(a) {
            body.push(json!({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": "Open alert", "url": link}]}));
        }
    }
    let hidden = n.alerts.len() - shown.len();
    if hidden > 0 {
        body.push(
            json!({"type": "TextBlock", "text": format!("… and {hidden} more alerts in this group"), "wrap": true}),
        );
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if let Some(link) = n.list_link() {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "All alerts", "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}]
    })
}

/// A Slack incoming-webhook message with blocks; `text` is the notification fallback.
pub fn slack(n: &Notification<'_>) -> Value {
    let subject = n.subject();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": one_line(&subject, 150), "emoji": false}}),
        json!({"type": "context", "elements": [{"type": "plain_text", "text": one_line(&n.reason_text(), 300), "emoji": false}]}),
    ];
    let shown = &n.shown()[..n.shown().len().min(MAX_CHAT_ALERTS)];
    for line in shown {
        let a = line.alert;
        blocks.push(json!({"type": "divider"}));
        let mut text = format!(
            "*[{}] {}* – {}\n{} ({})",
            line.change.label(),
            a.severity.as_str().to_ascii_uppercase(),
            slack_text(&one_line(&a.title, 300)),
            slack_text(&one_line(&a.summary, 800)),
            rule_title(a.rule)
        );
        if let Some(link) = n.link(a) {
            text.push_str(&format!("\n<{}|Open alert>", link.replace('|', "%7C").replace('>', "%3E")));
        }
        let mut fields = Vec::new();
        if let Some(user) = &a.user {
            fields.push(json!({"type": "plain_text", "text": format!("Who: {}", one_line(user, 200)), "emoji": false}));
        }
        if let Some(place) = where_text(a) {
            fields.push(json!({"type": "plain_text", "text": format!("Where: {place}"), "emoji": false}));
        }
        fields
            .push(json!({"type": "plain_text", "text": format!("When: {}", when_text(a, n.timezone)), "emoji": false}));
        for (name, value) in evidence(&a.details).into_iter().take(7) {
            fields.push(
                json!({"type": "plain_text", "text": one_line(&format!("{name}: {value}"), 1900), "emoji": false}),
            );
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}, "fields": fields}));
    }
    let hidden = n.alerts.len() - shown.len();
    if hidden > 0 {
        let more = match n.list_link() {
            Some(link) => format!("… and {hidden} more alerts in this group: <{link}|all alerts>"),
            None => format!("… and {hidden} more alerts in this group"),
        };
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": more}}));
    }
    json!({"text": slack_text(&subject), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::NotifyReason;
    use crate::group::PendingAlert;
    use crate::render::tests::hostile_alert;
    use crate::route::GroupKey;
    use chrono::TimeZone;
    use m365mon_contracts::Settings;

    #[test]
    fn chat_payloads_carry_no_live_markup_from_records() {
        let mut s = Settings::default();
        s.notifications.ui_base_url = Some("https://monitor.contoso.com".into());
        let k = GroupKey { receiver: "soc".into(), labels: vec![] };
        let a = hostile_alert();
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let alerts = [PendingAlert { seq: 1, alert: &a, received_at: t }];
        let n = Notification::new(&k, NotifyReason::FirstNotification, &alerts, 0, None, &s);

        let card = teams(&n);
        let text = card.to_string();
        assert_eq!(card["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(text.contains(r"\\[Click me\\]\\(https://evil\\.test\\)"), "{text}");
        assert!(!text.contains("[Click me](https"), "a live Markdown link from a record");
        assert!(!text.contains("<script>"));
        assert!(text.contains("https://monitor.contoso.com/alerts/0123456789abcdef0123456789abcdef"));

        let sl = slack(&n);
        let text = sl.to_string();
        assert!(sl["blocks"].as_array().unwrap().len() >= 3);
        assert!(text.contains("&lt;b&gt;eve&lt;/b&gt;"), "mrkdwn text is escaped: {text}");
        assert!(text.contains("<https://monitor.contoso.com/alerts/0123456789abcdef0123456789abcdef|Open alert>"));
        assert!(!text.contains("\\r") && !text.contains("\\n\\r"));
    }
}
