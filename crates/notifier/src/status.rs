//! The notifier's status document: what `$SRV.STATS`, `<ns>.status.notifier` and `/healthz`
//! show, so the UI's status page can tell an administrator that mail is failing and why.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Shared;

/// Counters and the latest problems, per channel kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub mail_transport: String,
    pub alerts_received: u64,
    pub channels: BTreeMap<String, ChannelStatus>,
    /// The most recent dead letters (newest last, at most 20).
    pub recent_dead_letters: Vec<DeadLetterNote>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelStatus {
    pub sent: u64,
    pub failed: u64,
    pub deferred: u64,
    pub dead_lettered: u64,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterNote {
    pub at: DateTime<Utc>,
    pub group: String,
    pub channel: String,
    pub alerts: usize,
    pub reason: String,
}

impl Status {
    pub fn channel(&mut self, kind: &str) -> &mut ChannelStatus {
        self.channels.entry(kind.to_string()).or_default()
    }

    pub fn note_dead_letter(&mut self, note: DeadLetterNote) {
        self.recent_dead_letters.push(note);
        if self.recent_dead_letters.len() > 20 {
            self.recent_dead_letters.remove(0);
        }
    }
}

pub(crate) fn document(shared: &Shared) -> serde_json::Value {
    let (groups, alerts, caught_up) = shared.store.with_mirror(|m| (m.groups.len(), m.alert_count(), m.caught_up));
    let status = shared.status().clone();
    let nats_connected = shared.bus.client().connection_state() == async_nats::connection::State::Connected;
    serde_json::json!({
        "service": crate::SERVICE,
        "instance": shared.config.instance,
        "healthy": caught_up && nats_connected,
        "nats_connected": nats_connected,
        "state_loaded": caught_up,
        "groups": groups,
        "pending_alerts": alerts,
        "status": status,
    })
}
