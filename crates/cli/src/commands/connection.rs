//! Connecting the live commands (`tail`, `status`, `settings`) to NATS, failing fast and clearly
//! when the server is not there (a service retries for a minute; a person at a prompt should
//! not wait that long to learn that `NATS_URL` is wrong).

use std::time::Duration;

use anyhow::Context;
use m365mon_bus::{Bus, NatsArgs};

/// How long a command waits for the server before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the server `nats` names, within [`CONNECT_TIMEOUT`].
pub async fn connect(nats: &NatsArgs) -> anyhow::Result<Bus> {
    let url = &nats.nats_url;
    let unreachable = || {
        anyhow::anyhow!(
            "no NATS server answered at {url} within {} s: is it running (scripts/ensure-services), and are \
             --nats-url / NATS_URL right?",
            CONNECT_TIMEOUT.as_secs()
        )
    };
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let bus = match tokio::time::timeout_at(deadline, nats.connect("m365mon-cli")).await {
        Ok(Ok(bus)) => bus,
        Ok(Err(e)) => return Err(e).with_context(|| format!("cannot connect to NATS at {url}")),
        Err(_) => return Err(unreachable()),
    };
    // The client connects in the background (and would retry for ever): wait for it here.
    while bus.client().connection_state() != async_nats::connection::State::Connected {
        if tokio::time::Instant::now() >= deadline {
            return Err(unreachable());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(bus)
}
