//! The KV buckets the collector owns, created idempotently.

use std::time::Duration;

use async_nats::jetstream::kv;
use m365mon_bus::topology::BucketOptions;
use m365mon_bus::{Bus, BusError};

/// `<ns>_checkpoints`: one key per tenant and log.
pub async fn checkpoints(bus: &Bus) -> Result<kv::Store, BusError> {
    bus.ensure_bucket(
        &bus.namespace().checkpoints_bucket(),
        BucketOptions::new("m365-monitor collector: poll checkpoint per tenant and log (JSON)").history(5),
    )
    .await
}

/// `<ns>_directory_roles`: one key per tenant.
pub async fn directory_roles(bus: &Bus) -> Result<kv::Store, BusError> {
    bus.ensure_bucket(
        &bus.namespace().directory_roles_bucket(),
        BucketOptions::new("m365-monitor collector: directory-role members per tenant (JSON)"),
    )
    .await
}

/// `<ns>_seen`: content versions of recently published records; entries expire after
/// `max_age`, which follows the settings (it must outlast the overlap and the late sweep).
pub async fn seen(bus: &Bus, max_age: Duration) -> Result<kv::Store, BusError> {
    let bucket = bus.namespace().seen_bucket();
    let store = bus
        .ensure_bucket(
            &bucket,
            BucketOptions::new("m365-monitor collector: content version of each recently published record")
                .max_age(max_age),
        )
        .await?;
    let err = |reason: String| BusError::Kv { bucket: bucket.clone(), reason };
    let mut stream = bus.jetstream().get_stream(format!("KV_{bucket}")).await.map_err(|e| err(e.to_string()))?;
    let config = stream.info().await.map_err(|e| err(e.to_string()))?.config.clone();
    if config.max_age != max_age {
        tracing::info!(bucket, max_age_s = max_age.as_secs(), "adjusting the seen-records horizon");
        bus.jetstream()
            .update_stream(async_nats::jetstream::stream::Config { max_age, ..config })
            .await
            .map_err(|e| err(e.to_string()))?;
    }
    Ok(store)
}
