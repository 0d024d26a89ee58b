//! The detector's configuration (the binary fills it from flags and the environment).

use std::time::Duration;

use crate::partition::PartitionSet;

/// How a detector process works. [`DetectorConfig::new`] gives the production defaults.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// The partitions (and so the tenants) this process works on.
    pub partitions: PartitionSet,
    /// Identifies this process in leases, snapshots and status (a fresh UUID per start).
    pub instance: String,
    /// How often the events stream is asked which tenants it holds.
    pub discovery_interval: Duration,
    /// A tenant's state is snapshotted this often while records change it (and at shutdown).
    pub snapshot_interval: Duration,
    /// A tenant with no records for this long (and none waiting) has its event time moved on by
    /// the wall-clock time that passed, so grown incidents are published and finished ones
    /// closed; repeated at this interval while it stays idle with open incidents.
    pub idle_advance_after: Duration,
    /// Time to live of a tenant lease; a crashed process's tenants are taken over after it.
    pub lease_ttl: Duration,
    /// Records pulled per request.
    pub batch: usize,
    /// Deliveries of one record before JetStream gives up on it (it is then dead-lettered).
    pub max_deliver: i64,
    /// How long JetStream waits for an acknowledgement before delivering a record again.
    pub ack_wait: Duration,
    /// How long an alert publication is retried before the worker starts over from its snapshot.
    pub publish_deadline: Duration,
    /// How long a graceful shutdown may take before the remaining work is abandoned (it is
    /// redone from the snapshots at the next start).
    pub shutdown_grace: Duration,
}

impl DetectorConfig {
    /// Production defaults working on `partitions`.
    pub fn new(partitions: PartitionSet) -> DetectorConfig {
        DetectorConfig {
            partitions,
            instance: uuid::Uuid::new_v4().to_string(),
            discovery_interval: Duration::from_secs(2),
            snapshot_interval: Duration::from_secs(30),
            idle_advance_after: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(20),
            batch: 500,
            max_deliver: 10,
            ack_wait: Duration::from_secs(60),
            publish_deadline: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
