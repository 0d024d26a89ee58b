//! The generic webhook: the group's alert events as JSON, signed with HMAC-SHA256 over the exact
//! body bytes, so a receiver can check the sender and the integrity before parsing.
//!
//! Verify: `hex(HMAC_SHA256(secret, body)) == header value without the "sha256=" prefix`,
//! compared in constant time. `delivery_id` is the same for a re-sent message (after a crash),
//! so a receiver can de-duplicate on it.

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Notification;

/// The signature header: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-M365Mon-Signature";

/// The payload of a generic webhook.
pub fn generic(n: &Notification<'_>, delivery_id: &str, now: DateTime<Utc>) -> Value {
    let group: serde_json::Map<String, Value> =
        n.group.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let alerts: Vec<Value> = n
        .shown()
        .iter()
        .map(|line| {
            let mut value = serde_json::to_value(line.alert).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("change".into(), Value::String(line.change.label().to_ascii_lowercase()));
                if let Some(link) = n.link(line.alert) {
                    map.insert("url".into(), Value::String(link));
                }
            }
            value
        })
        .collect();
    json!({
        "schema": "m365-monitor.notification.v1",
        "delivery_id": delivery_id,
        "sent_at": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "receiver": n.group.receiver,
        "group": group,
        "reason": n.reason,
        "subject": n.subject(),
        "severity": n.severity(),
        "alerts_total": n.alerts.len(),
        "alerts_new_or_updated": n.changed(),
        "alerts_omitted": n.hidden(),
        "alerts": alerts,
    })
}

/// The signature header value for `body`: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::NotifyReason;
    use crate::group::PendingAlert;
    use crate::render::tests::hostile_alert;
    use crate::route::GroupKey;
    use chrono::TimeZone;
    use m365mon_contracts::{AlertEvent, Settings};

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_payload_carries_the_alert_events_unchanged() {
        let s = Settings::default();
        let k = GroupKey { receiver: "hooks".into(), labels: vec![("tenant".into(), "contoso".into())] };
        let a = hostile_alert();
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let alerts = [PendingAlert { seq: 1, alert: &a, received_at: t }];
        let n = Notification::new(&k, NotifyReason::FirstNotification, &alerts, 0, None, &s);
        let payload = generic(&n, "d-1", t);
        assert_eq!(payload["group"]["tenant"], "contoso");
        assert_eq!(payload["reason"], "first_notification");
        assert_eq!(payload["alerts"][0]["change"], "new");
        let back: AlertEvent = serde_json::from_value(payload["alerts"][0].clone()).unwrap();
        assert_eq!(back, a, "integrators get the alert event as published");
    }
}
