//! `/healthz` and `/metrics` on one listener.
//!
//! `/healthz` answers 200 with the service's health document while every check passes and 503
//! otherwise, so an orchestrator restarts a stuck service. `/metrics` renders the process-wide
//! Prometheus recorder that the `metrics` macros write to.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What `/healthz` reports: `(healthy, document)`.
pub type Health = Arc<dyn Fn() -> (bool, serde_json::Value) + Send + Sync>;

/// The running health and metrics listener.
#[derive(Debug)]
pub struct HealthServer {
    pub local_addr: SocketAddr,
}

fn prometheus() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new().install_recorder()?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

impl HealthServer {
    /// Listens on `addr` until `shutdown` is cancelled. Installs the Prometheus recorder (once per
    /// process) so `metrics::counter!` and friends are exported.
    pub async fn start(addr: SocketAddr, health: Health, shutdown: CancellationToken) -> anyhow::Result<HealthServer> {
        let metrics = prometheus()?;
        let listener = TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let local_addr = listener.local_addr()?;
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = shutdown.cancelled() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let health = health.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let response = route(request.uri().path(), &health, &metrics);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(HealthServer { local_addr })
    }
}

fn route(path: &str, health: &Health, metrics: &PrometheusHandle) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/healthz" => {
            let (healthy, document) = health();
            let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            (status, "application/json", serde_json::to_vec(&document).unwrap_or_default())
        }
        "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", metrics.render().into_bytes()),
        _ => (StatusCode::NOT_FOUND, "text/plain", b"not found: try /healthz or /metrics\n".to_vec()),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn health_and_metrics_are_served() -> anyhow::Result<()> {
        crate::install_crypto_provider();
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = healthy.clone();
        let health: Health = Arc::new(move || {
            let ok = flag.load(std::sync::atomic::Ordering::SeqCst);
            (ok, serde_json::json!({"nats": ok}))
        });
        let shutdown = CancellationToken::new();
        let server = HealthServer::start("127.0.0.1:0".parse()?, health, shutdown.clone()).await?;
        metrics::counter!("m365mon_test_things_total").increment(3);
        let base = format!("http://{}", server.local_addr);
        let client = reqwest::Client::new();

        let ok = client.get(format!("{base}/healthz")).send().await?;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.json::<serde_json::Value>().await?["nats"], true);
        healthy.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(client.get(format!("{base}/healthz")).send().await?.status(), 503);

        let text = client.get(format!("{base}/metrics")).send().await?.text().await?;
        assert!(text.contains("m365mon_test_things_total 3"), "{text}");
        assert_eq!(client.get(format!("{base}/nope")).send().await?.status(), 404);
        shutdown.cancel();
        Ok(())
    }
}
