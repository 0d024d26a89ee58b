//! One tenant: its Graph client (token and pacer shared by all its logs) and its tasks.

use chrono::TimeDelta;
use m365mon_bus::Bus;
use m365mon_graph::{GraphClient, GraphConfig};

use crate::status::StatusBoard;

/// A tenant to collect from.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    /// The directory (tenant) id; it names the subjects and keys, so it must be a single subject
    /// token (a GUID; not a domain name, whose dots would split the subject).
    pub tenant_id: String,
    /// A display name for status pages and logs.
    pub name: Option<String>,
    /// How to reach Graph for this tenant.
    pub graph: GraphConfig,
}

/// Collector-wide knobs that are not in the settings document (they are about this deployment,
/// not about what is detected).
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Backfill and catch-up read bounded slices, checkpointing after each; this is the first
    /// slice's length, later ones adapt (5 minutes to 24 hours) to hold about ten pages.
    pub backfill_slice: TimeDelta,
    /// Publishes in flight per log.
    pub publish_concurrency: usize,
    /// `$top` of the listings (Graph's maximum, 1000, unless a proxy needs smaller answers).
    pub page_size: u32,
    /// Retention and duplicate window of the events stream.
    pub events_limits: m365mon_bus::StreamLimits,
    /// Stop once every log has caught up (or failed for good) instead of polling for ever: a
    /// one-off import, or a measured backfill.
    pub exit_when_caught_up: bool,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            backfill_slice: TimeDelta::minutes(60),
            publish_concurrency: 256,
            page_size: 1000,
            events_limits: m365mon_bus::StreamLimits::EVENTS,
            exit_when_caught_up: false,
        }
    }
}

/// What every task of a tenant shares.
#[derive(Debug)]
pub struct TenantContext {
    pub tenant: String,
    pub name: String,
    pub graph: GraphClient,
    pub bus: Bus,
    pub status: StatusBoard,
    pub options: CollectorOptions,
}

/// Checks that a tenant id can name subjects and KV keys.
pub fn check_tenant_id(tenant: &str) -> Result<(), String> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 128
        && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tenant id '{}' cannot name bus subjects and keys: use the directory (tenant) ID, a GUID such as \
             72f988bf-86f1-41af-91ab-2d7cd011db47 (Entra admin center → Overview), not a domain name",
            tenant.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_must_be_single_tokens() {
        assert!(check_tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        let err = check_tenant_id("contoso.onmicrosoft.com").unwrap_err();
        assert!(err.contains("not a domain name"), "{err}");
        assert!(check_tenant_id("").is_err());
        assert!(check_tenant_id("a b").is_err());
    }
}
