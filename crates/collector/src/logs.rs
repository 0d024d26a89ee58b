//! The logs the collector reads, and how each is queried.
//!
//! Graph v1.0 `auditLogs/signIns` returns only interactive sign-ins; the other three kinds come from
//! beta with a `signInEventTypes/any(…)` filter. Directory audits are v1.0. Each log has its own
//! checkpoint, but all of a tenant's logs share its request pacer.

use std::fmt;

use chrono::{DateTime, Utc};
use m365mon_contracts::settings::CollectorSettings;
use m365mon_model::RecordKind;

/// One log of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    /// v1.0 sign-ins: interactive user sign-ins.
    Interactive,
    /// beta sign-ins, `nonInteractiveUser`.
    NonInteractive,
    /// beta sign-ins, `servicePrincipal`.
    ServicePrincipal,
    /// beta sign-ins, `managedIdentity`.
    ManagedIdentity,
    /// v1.0 directory audits.
    Audit,
}

impl LogKind {
    pub const ALL: [LogKind; 5] = [
        LogKind::Interactive,
        LogKind::NonInteractive,
        LogKind::ServicePrincipal,
        LogKind::ManagedIdentity,
        LogKind::Audit,
    ];

    /// The name used in checkpoint keys, metrics and status: `interactive`, `non_interactive`,
    /// `service_principal`, `managed_identity`, `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Interactive => "interactive",
            LogKind::NonInteractive => "non_interactive",
            LogKind::ServicePrincipal => "service_principal",
            LogKind::ManagedIdentity => "managed_identity",
            LogKind::Audit => "audit",
        }
    }

    /// The record kind: the `<kind>` token of the subject.
    pub fn record_kind(self) -> RecordKind {
        match self {
            LogKind::Audit => RecordKind::Audit,
            _ => RecordKind::Signin,
        }
    }

    /// Graph's `signInEventTypes` value, for the `M365-Signin-Event-Type` header.
    pub fn sign_in_event_type(self) -> Option<&'static str> {
        match self {
            LogKind::Interactive => Some("interactiveUser"),
            LogKind::NonInteractive => Some("nonInteractiveUser"),
            LogKind::ServicePrincipal => Some("servicePrincipal"),
            LogKind::ManagedIdentity => Some("managedIdentity"),
            LogKind::Audit => None,
        }
    }

    /// Whether the settings ask for this log.
    pub fn enabled(self, settings: &CollectorSettings) -> bool {
        match self {
            LogKind::Interactive | LogKind::Audit => true,
            LogKind::NonInteractive => settings.non_interactive_sign_ins,
            LogKind::ServicePrincipal => settings.service_principal_sign_ins,
            LogKind::ManagedIdentity => settings.managed_identity_sign_ins,
        }
    }

    /// The first URL of a listing of records with event time in `[from, until]` (`until`
    /// `None`: up to whatever Graph has). Only `ge` and `le` are used: Graph documents those for
    /// `createdDateTime`, not `lt`/`gt`.
    ///
    /// `page_size` is `$top`: Graph's maximum is 1000 for sign-ins; directory audits are asked for
    /// at most 999 (the largest page the Entra PowerShell module requests).
    pub fn query(self, from: DateTime<Utc>, until: Option<DateTime<Utc>>, page_size: u32) -> String {
        let page_size = page_size.clamp(1, 1000);
        let (path, time_property, top, event_type) = match self {
            LogKind::Interactive => ("/v1.0/auditLogs/signIns", "createdDateTime", page_size, None),
            LogKind::Audit => ("/v1.0/auditLogs/directoryAudits", "activityDateTime", page_size.min(999), None),
            other => ("/beta/auditLogs/signIns", "createdDateTime", page_size, other.sign_in_event_type()),
        };
        let mut filter = String::new();
        if let Some(event_type) = event_type {
            filter.push_str(&format!("signInEventTypes/any(t: t eq '{event_type}') and "));
        }
        filter.push_str(&format!("{time_property} ge {}", odata_time(from)));
        if let Some(until) = until {
            filter.push_str(&format!(" and {time_property} le {}", odata_time(until)));
        }
        format!("{path}?$filter={filter}&$top={top}")
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OData `DateTimeOffset` literal with Graph's seven fractional digits, truncated (never
/// rounded up, so `ge` never skips a record).
pub fn odata_time(t: DateTime<Utc>) -> String {
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn queries_use_documented_operators_and_event_type_filters() {
        let from = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::nanoseconds(123_456_789);
        let until = Utc.with_ymd_and_hms(2026, 1, 2, 4, 0, 0).unwrap();
        assert_eq!(
            LogKind::Interactive.query(from, None, 1000),
            "/v1.0/auditLogs/signIns?$filter=createdDateTime ge 2026-01-02T03:04:05.1234567Z&$top=1000"
        );
        assert_eq!(
            LogKind::NonInteractive.query(from, Some(until), 5000),
            "/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'nonInteractiveUser') and createdDateTime ge \
             2026-01-02T03:04:05.1234567Z and createdDateTime le 2026-01-02T04:00:00.0000000Z&$top=1000"
        );
        assert!(
            LogKind::Audit
                .query(from, None, 1000)
                .starts_with("/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge")
        );
        assert!(LogKind::Audit.query(from, None, 1000).ends_with("&$top=999"));
        assert!(LogKind::Audit.query(from, None, 50).ends_with("&$top=50"));
        assert_eq!(LogKind::ManagedIdentity.record_kind().as_str(), "signin");
        assert_eq!(LogKind::Audit.sign_in_event_type(), None);
    }

    #[test]
    fn beta_logs_follow_the_settings() {
        let mut settings = CollectorSettings::default();
        assert!(LogKind::ALL.iter().all(|l| l.enabled(&settings)));
        settings.non_interactive_sign_ins = false;
        assert!(!LogKind::NonInteractive.enabled(&settings));
        assert!(LogKind::Interactive.enabled(&settings) && LogKind::Audit.enabled(&settings));
    }
}
