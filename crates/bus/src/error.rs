//! Errors of the bus adapter, classed as retryable or fatal.

/// A failure talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    #[error("JetStream stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    #[error("KV bucket {bucket}: {reason}")]
    Kv { bucket: String, reason: String },
    #[error("publish to {subject} failed: {reason}")]
    Publish { subject: String, reason: String },
    #[error("consumer {consumer}: {reason}")]
    Consumer { consumer: String, reason: String },
    #[error("invalid name: {0}")]
    Name(String),
    #[error("cannot decode {what}: {reason}")]
    Decode { what: String, reason: String },
    #[error("request {subject} failed: {reason}")]
    Request { subject: String, reason: String },
}

impl BusError {
    /// Whether trying again later may succeed (the server was unreachable or slow), as opposed to
    /// a problem that needs a human (bad names, undecodable data, a conflicting stream).
    pub fn is_retryable(&self) -> bool {
        match self {
            BusError::Connect(_) | BusError::Publish { .. } | BusError::Request { .. } => true,
            BusError::Stream { reason, .. } | BusError::Kv { reason, .. } | BusError::Consumer { reason, .. } => {
                let r = reason.to_ascii_lowercase();
                r.contains("timed out") || r.contains("timeout") || r.contains("no responders")
            }
            BusError::Name(_) | BusError::Decode { .. } => false,
        }
    }
}
