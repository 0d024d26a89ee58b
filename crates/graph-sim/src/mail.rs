//! Captured mail, from the SMTP listener and from Graph `sendMail`, and the page that shows it.
//!
//! Everything in a captured message is attacker-controlled text as far as the page is concerned
//! (alert mails quote user agents, display names and city names), so the page escapes every
//! value and never renders a message's HTML: it shows its source.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// How a message reached the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Smtp,
    Graph,
}

/// One captured message.
#[derive(Debug, Clone, Serialize)]
pub struct CapturedMail {
    pub id: u64,
    /// When the simulator accepted it (RFC 3339, real time).
    pub received_at: String,
    pub transport: MailTransport,
    /// For Graph sendMail: the tenant and the mailbox it was sent as.
    pub tenant_id: Option<String>,
    /// SMTP `MAIL FROM` or the Graph sender mailbox.
    pub mail_from: String,
    /// SMTP `RCPT TO`, or every Graph recipient (to, cc, bcc).
    pub rcpt_to: Vec<String>,
    /// Decoded subject.
    pub subject: Option<String>,
    /// Whom the SMTP session authenticated as.
    pub authenticated_user: Option<String>,
    /// Whether the SMTP session used STARTTLS.
    pub tls: bool,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// The message as received: RFC 5322 text for SMTP (lossy UTF-8), the JSON request for Graph.
    pub raw: String,
}

/// A bounded store of captured mail.
#[derive(Debug)]
pub struct MailStore {
    mails: Mutex<VecDeque<CapturedMail>>,
    next_id: AtomicU64,
    capacity: usize,
}

impl Default for MailStore {
    fn default() -> Self {
        MailStore { mails: Mutex::new(VecDeque::new()), next_id: AtomicU64::new(1), capacity: 10_000 }
    }
}

impl MailStore {
    /// Stores a message (assigning its id) and returns the id.
    pub fn push(&self, mut mail: CapturedMail) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        mail.id = id;
        let mut mails = self.mails.lock().unwrap_or_else(|e| e.into_inner());
        if mails.len() >= self.capacity {
            mails.pop_front();
        }
        mails.push_back(mail);
        id
    }

    pub fn list(&self) -> Vec<CapturedMail> {
        self.mails.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    pub fn clear(&self) -> usize {
        let mut mails = self.mails.lock().unwrap_or_else(|e| e.into_inner());
        let n = mails.len();
        mails.clear();
        n
    }

    pub fn len(&self) -> usize {
        self.mails.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses an RFC 5322 message into subject and bodies.
pub fn parse_message(raw: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(parsed) = mailparse::parse_mail(raw) else {
        return (None, None, None);
    };
    use mailparse::MailHeaderMap;
    let subject = parsed.headers.get_first_value("Subject");
    let mut text = None;
    let mut html = None;
    let mut stack = vec![&parsed];
    while let Some(part) = stack.pop() {
        if part.subparts.is_empty() {
            let mime = part.ctype.mimetype.to_ascii_lowercase();
            if mime == "text/plain" && text.is_none() {
                text = part.get_body().ok();
            } else if mime == "text/html" && html.is_none() {
                html = part.get_body().ok();
            }
        } else {
            stack.extend(part.subparts.iter().rev());
        }
    }
    (subject, text, html)
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The captured-mail page.
pub fn render_page(mails: &[CapturedMail]) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>graph-sim: captured mail</title>\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}\
         td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}\
         pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;max-height:30em;overflow:auto}</style></head><body>",
    );
    let _ = write!(
        html,
        "<h1>Captured mail</h1><p>{} message(s), newest first. JSON: <code>GET /_sim/mail</code>; clear: <code>DELETE /_sim/mail</code>.</p>",
        mails.len()
    );
    html.push_str("<table><tr><th>#</th><th>received</th><th>via</th><th>from</th><th>to</th><th>subject</th></tr>");
    for m in mails.iter().rev() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}<details><summary>message</summary>",
            m.id,
            escape_html(&m.received_at),
            match m.transport {
                MailTransport::Smtp => "SMTP",
                MailTransport::Graph => "Graph sendMail",
            },
            escape_html(&m.mail_from),
            escape_html(&m.rcpt_to.join(", ")),
            escape_html(m.subject.as_deref().unwrap_or("(no subject)")),
        );
        if let Some(t) = &m.text_body {
            let _ = write!(html, "<h4>text</h4><pre>{}</pre>", escape_html(t));
        }
        if let Some(h) = &m.html_body {
            let _ = write!(html, "<h4>HTML (source, not rendered)</h4><pre>{}</pre>", escape_html(h));
        }
        let _ = write!(html, "<h4>raw</h4><pre>{}</pre></details></td></tr>", escape_html(&m.raw));
    }
    html.push_str("</table></body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything() {
        let mail = CapturedMail {
            id: 0,
            received_at: "now".into(),
            transport: MailTransport::Smtp,
            tenant_id: None,
            mail_from: "<script>alert(1)</script>@x".into(),
            rcpt_to: vec!["a\"b@x".into()],
            subject: Some("<img src=x onerror=alert(1)>".into()),
            authenticated_user: None,
            tls: false,
            text_body: Some("Tom & 'Jerry'".into()),
            html_body: Some("<b>bold</b>".into()),
            raw: "Subject: <x>".into(),
        };
        let page = render_page(&[mail]);
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img src=x"));
        assert!(!page.contains("<b>bold"));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("Tom &amp; &#x27;Jerry&#x27;"));
    }

    #[test]
    fn parses_subject_and_parts() {
        let raw = b"From: a@x\r\nTo: b@x\r\nSubject: =?utf-8?b?SGVsbG8g4pyT?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nplain body\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b1--\r\n";
        let (subject, text, html) = parse_message(raw);
        assert_eq!(subject.as_deref(), Some("Hello ✓"));
        assert_eq!(text.as_deref().map(str::trim), Some("plain body"));
        assert_eq!(html.as_deref().map(str::trim), Some("<p>html</p>"));
        let store = MailStore::default();
        assert!(store.is_empty());
    }
}
