//! The NATS service protocol (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`) plus a `status` endpoint,
//! so `m365mon status` and the UI learn what runs and how it is doing without scraping HTTP.

use std::sync::Arc;

use async_nats::service::ServiceExt;
use futures::StreamExt;

use crate::{Bus, BusError};

/// Produces a service's current status document.
pub type StatusFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// A registered service; stops answering when dropped or on [`ServiceHandle::stop`].
#[derive(Debug)]
pub struct ServiceHandle {
    task: tokio::task::JoinHandle<()>,
}

impl ServiceHandle {
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The request subject of a service's status endpoint: `<ns>.status.<service>`.
pub fn status_subject(bus: &Bus, service: &str) -> String {
    format!("{}.status.{service}", bus.namespace())
}

impl Bus {
    /// Registers `service` (e.g. `collector`) as `<ns>-<service>` with the NATS service API and a
    /// `status` endpoint answering with `status()`. The same document is the endpoint's STATS data.
    pub async fn register_service(
        &self,
        service: &str,
        version: &str,
        description: &str,
        status: StatusFn,
    ) -> Result<ServiceHandle, BusError> {
        let name = self.namespace().service_name(service);
        let err = |reason: String| BusError::Request { subject: format!("$SRV.*.{name}"), reason };
        let stats_status = status.clone();
        let srv = self
            .client()
            .service_builder()
            .description(description)
            .stats_handler(move |_endpoint, _stats| stats_status())
            .start(&name, version)
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut endpoint = srv
            .endpoint_builder()
            .name("status")
            .add(status_subject(self, service))
            .await
            .map_err(|e| err(e.to_string()))?;
        let task = tokio::spawn(async move {
            let _keep = srv;
            while let Some(request) = endpoint.next().await {
                let body = serde_json::to_vec(&status()).unwrap_or_default();
                if let Err(e) = request.respond(Ok(body.into())).await {
                    tracing::debug!(error = %e, "status reply failed");
                }
            }
        });
        Ok(ServiceHandle { task })
    }
}
