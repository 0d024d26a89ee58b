//! Tenant leases: at most one detector process works on a tenant at any time.
//!
//! Partitions are assigned by configuration, and configurations can be wrong (two processes
//! given the same partitions) or in transition (partitions moved during a rolling restart). Two
//! engines reading one tenant's durable consumer would each see part of its records, and both
//! would write its snapshot. So a worker first takes the tenant's lease: a KV entry
//! `lease.<tenant>` in the bucket `<ns>_detector_state`, written with compare-and-set, naming the
//! owning process and an expiry. The owner renews it well before expiry; a graceful shutdown
//! writes the final snapshot and then releases it, so the next owner starts at once. After a
//! crash the lease runs out after its time to live and another process (or the restarted one)
//! takes it. A worker that cannot renew its lease in time stops working on the tenant before the
//! lease can have expired in anyone else's eyes.
//!
//! Expiry compares wall clocks of different processes: keep them synchronised (NTP) to well
//! within the time to live.

use std::time::Duration;

use chrono::{DateTime, Utc};
use m365mon_bus::kv::JsonKv;
use m365mon_bus::topology::BucketOptions;
use m365mon_bus::{Bus, BusError};
use serde::{Deserialize, Serialize};

/// The value of a lease entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// The owning process's instance id.
    pub owner: String,
    /// Where it runs, for people reading `m365mon status`.
    pub host: String,
    pub pid: u32,
    /// The lease is free after this moment (the Unix epoch: released).
    pub expires_at: DateTime<Utc>,
}

/// A lease this process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub revision: u64,
    /// Past this moment (by our clock) the lease may be someone else's: stop work before it.
    pub valid_until: tokio::time::Instant,
}

/// Why a lease could not be taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Busy {
    /// Another process holds it until `expires_at`.
    HeldBy(Lease),
    /// Another process wrote it between our read and our write.
    Raced,
}

/// Leases of this process.
#[derive(Debug, Clone)]
pub struct Leases {
    kv: JsonKv<Lease>,
    instance: String,
    host: String,
    ttl: Duration,
}

impl Leases {
    pub async fn open(bus: &Bus, instance: &str, ttl: Duration) -> Result<Leases, BusError> {
        let bucket = bus.namespace().detector_state_bucket();
        let store = bus
            .ensure_bucket(
                &bucket,
                BucketOptions::new("m365-monitor detector: tenant leases (which process works on which tenant)"),
            )
            .await?;
        Ok(Leases { kv: JsonKv::new(store, bucket), instance: instance.to_string(), host: host_name(), ttl })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn key(tenant: &str) -> String {
        format!("lease.{tenant}")
    }

    fn fresh(&self) -> (Lease, tokio::time::Instant) {
        let started = tokio::time::Instant::now();
        let lease = Lease {
            owner: self.instance.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            expires_at: Utc::now() + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::seconds(30)),
        };
        // Our own view ends a third of the time to live early: renewals that are late by less
        // than that, and clocks that differ by less than that, never let two owners overlap.
        (lease, started + self.ttl.mul_f64(2.0 / 3.0))
    }

    /// Takes the tenant's lease if it is free, expired, or already ours.
    pub async fn acquire(&self, tenant: &str) -> Result<Result<Held, Busy>, BusError> {
        let key = Leases::key(tenant);
        let current = self.kv.get(&key).await?;
        let expected = match &current {
            None => None,
            Some(v) if v.value.owner == self.instance || v.value.expires_at <= Utc::now() => Some(v.revision),
            Some(v) => return Ok(Err(Busy::HeldBy(v.value.clone()))),
        };
        let (lease, valid_until) = self.fresh();
        Ok(match self.kv.compare_and_set(&key, &lease, expected).await? {
            Some(revision) => Ok(Held { revision, valid_until }),
            None => Err(Busy::Raced),
        })
    }

    /// Extends a held lease; `None` when it is no longer ours.
    pub async fn renew(&self, tenant: &str, held: Held) -> Result<Option<Held>, BusError> {
        let (lease, valid_until) = self.fresh();
        Ok(self
            .kv
            .compare_and_set(&Leases::key(tenant), &lease, Some(held.revision))
            .await?
            .map(|revision| Held { revision, valid_until }))
    }

    /// Gives a lease up so the next owner need not wait for it to expire.
    pub async fn release(&self, tenant: &str, held: Held) -> Result<(), BusError> {
        let released = Lease {
            owner: self.instance.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        self.kv.compare_and_set(&Leases::key(tenant), &released, Some(held.revision)).await?;
        Ok(())
    }

    /// Every current lease by tenant (for status).
    pub async fn all(&self) -> Result<Vec<(String, Lease)>, BusError> {
        let mut out = Vec::new();
        for key in self.kv.keys().await? {
            if let Some(tenant) = key.strip_prefix("lease.")
                && let Some(v) = self.kv.get(&key).await?
            {
                out.push((tenant.to_string(), v.value));
            }
        }
        Ok(out)
    }
}

/// The host name, for humans; `unknown` when the system will not say.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
