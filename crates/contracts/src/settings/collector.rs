//! `collector`: how Graph is polled. Applied live by the collector.

use serde::{Deserialize, Serialize};

/// Polling of Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorSettings {
    /// Seconds between polls of each log.
    pub poll_interval_seconds: u32,
    /// Each poll re-reads this many minutes before the checkpoint, for records Graph makes visible
    /// late.
    pub overlap_minutes: u32,
    /// How many days a first start reads back (Graph keeps 30 at most, 7 on free tenants).
    pub backfill_days: u32,
    /// Collect the beta non-interactive user sign-ins.
    pub non_interactive_sign_ins: bool,
    /// Collect the beta service-principal sign-ins.
    pub service_principal_sign_ins: bool,
    /// Collect the beta managed-identity sign-ins.
    pub managed_identity_sign_ins: bool,
    /// Minutes between syncs of directory-role members (for `admin_sign_in`).
    pub directory_roles_sync_minutes: u32,
    /// Minutes between late sweeps: a re-read of the last `late_sweep_hours` (below the regular
    /// overlap) that catches records Graph makes visible, or changes, hours after they happened
    /// (MFA details arrive up to 2 hours late). 0 switches the sweep off.
    pub late_sweep_interval_minutes: u32,
    /// How far back a late sweep reads, in hours.
    pub late_sweep_hours: u32,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorSettings {
            poll_interval_seconds: 120,
            overlap_minutes: 30,
            backfill_days: 7,
            non_interactive_sign_ins: true,
            service_principal_sign_ins: true,
            managed_identity_sign_ins: true,
            directory_roles_sync_minutes: 5,
            late_sweep_interval_minutes: 60,
            late_sweep_hours: 6,
        }
    }
}
