//! "Send a test notification": the request and reply on `<ns>.notify.test` (NATS request/reply),
//! used by `m365mon notify test` and the web UI. JSON both ways.

use serde::{Deserialize, Serialize};

/// What to send. Without `to`, the test goes to every address of every receiver in the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestRequest {
    pub to: Vec<String>,
}

/// The outcome, with the mail server's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReply {
    /// Whether the server accepted the message.
    pub ok: bool,
    /// `smtp`, `graph`, or `none` when no mail transport is configured.
    pub transport: String,
    /// The recipients tried.
    pub to: Vec<String>,
    /// The server's reply (`250 2.0.0 OK …`, `HTTP 202 Accepted`) or the exact error.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        assert_eq!(serde_json::from_str::<TestRequest>("{}").unwrap(), TestRequest::default());
        let request: TestRequest = serde_json::from_str(r#"{"to": ["a@contoso.com"]}"#).unwrap();
        assert_eq!(request.to, ["a@contoso.com"]);
        assert!(serde_json::from_str::<TestRequest>(r#"{"too": []}"#).is_err());
        let reply = TestReply { ok: true, transport: "smtp".into(), to: request.to, detail: "250 OK".into() };
        let json = serde_json::to_value(&reply).unwrap();
        assert_eq!(json["detail"], "250 OK");
    }
}
