//! The Microsoft Graph client of m365-monitor, shared by the collector (sign-in and audit logs,
//! directory roles) and the notifier (`sendMail`).
//!
//! Why our own thin client rather than a generated SDK: the collector needs exactly the behaviour
//! that decides whether records get lost — following `@odata.nextLink` verbatim, resuming from the
//! last good link, restarting a listing whose skip token went stale, honouring `Retry-After` in
//! all its spellings, pacing a tenant below Graph's reporting limit, refreshing a token in the
//! middle of a listing — and it needs records as the raw bytes Graph sent, not re-serialised.
//!
//! ```no_run
//! # async fn example() -> Result<(), m365mon_graph::GraphError> {
//! use m365mon_graph::{ClientCredential, ClientSecret, GraphClient, GraphConfig};
//! let config = GraphConfig::new("tenant-guid", "app-guid", ClientCredential::Secret(ClientSecret::new("…")));
//! let graph = GraphClient::new(config)?;
//! let mut pages = graph.pages("/v1.0/auditLogs/directoryAudits?$top=999");
//! while let Some(page) = pages.next_page().await? {
//!     for record in page.records() {
//!         // `record` is the exact JSON Graph sent for one audit event.
//!         # let _ = record;
//!     }
//! }
//! graph.post_json("/v1.0/users/alerts@contoso.com/sendMail", &serde_json::json!({"message": {}})).await?;
//! # Ok(()) }
//! ```
//!
//! Credentials come from azure_identity: a client secret, or a certificate (see
//! [`certificate`] for why the assertion is signed here). The authority host and Graph base URL
//! are configurable ([`Cloud`] presets for the national clouds, or custom URLs for a simulator),
//! and an extra CA certificate is trusted for both, as users behind TLS-inspecting proxies need.
//!
//! Metrics (via the `metrics` facade; labels are bounded): `m365mon_graph_requests_total{tenant,
//! endpoint,status}`, `m365mon_graph_request_duration_seconds{tenant,endpoint}`,
//! `m365mon_graph_retries_total{tenant,reason}`, `m365mon_graph_throttle_wait_seconds{tenant,
//! cause=pacer|retry_after}`, `m365mon_graph_token_requests_total{tenant,outcome}`,
//! `m365mon_graph_listing_restarts_total{tenant}`.

mod auth;
pub mod certificate;
mod client;
mod config;
mod error;
mod pacer;
mod page;
mod retry;

pub use certificate::CertificateCredential;
pub use client::{GraphClient, Pager, PostResponse};
pub use config::{ClientCredential, ClientSecret, Cloud, CloudEndpoints, GLOBAL_GRAPH_SCOPE, GraphConfig, Timeouts};
pub use error::{ApiError, ErrorClass, GraphError, TokenError, TransportKind};
pub use pacer::{Pacer, Pacing};
pub use page::Page;
pub use retry::{RetryPolicy, parse_retry_after};
