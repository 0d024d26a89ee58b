//! What a [`crate::GraphClient`] needs: the tenant and app, a credential, the cloud's endpoints,
//! optionally an extra trusted CA, and the pacing and retry behaviour.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::certificate::CertificateCredential;
use crate::{GraphError, Pacing, RetryPolicy};

/// The identity platform and Graph endpoints of one cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEndpoints {
    /// e.g. `https://login.microsoftonline.com` (must be https: the identity library refuses
    /// anything else).
    pub authority_host: Url,
    /// e.g. `https://graph.microsoft.com`; request paths such as `/v1.0/auditLogs/signIns` are
    /// resolved against it.
    pub graph_base: Url,
    /// The token scope, e.g. `https://graph.microsoft.com/.default`.
    pub scope: String,
}

/// The national clouds Microsoft runs, with their documented endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Microsoft's global service.
    Public,
    /// US Government L4 (GCC High).
    UsGovernment,
    /// US Government L5 (DoD).
    UsGovernmentDod,
    /// Microsoft Azure operated by 21Vianet (China).
    China,
}

impl Cloud {
    pub fn endpoints(self) -> CloudEndpoints {
        let (authority, graph) = match self {
            Cloud::Public => ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
            Cloud::UsGovernment => ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
            Cloud::UsGovernmentDod => ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
            Cloud::China => ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
        };
        CloudEndpoints {
            authority_host: Url::parse(authority).expect("static URL"),
            graph_base: Url::parse(graph).expect("static URL"),
            scope: format!("{graph}/.default"),
        }
    }
}

impl FromStr for Cloud {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "public" | "global" | "azurepublic" => Ok(Cloud::Public),
            "usgov" | "us-government" | "gcchigh" | "gcc-high" => Ok(Cloud::UsGovernment),
            "usgov-dod" | "dod" => Ok(Cloud::UsGovernmentDod),
            "china" => Ok(Cloud::China),
            other => Err(format!("unknown cloud '{other}': use public, usgov, usgov-dod or china")),
        }
    }
}

impl Default for CloudEndpoints {
    fn default() -> Self {
        Cloud::Public.endpoints()
    }
}

impl CloudEndpoints {
    /// Custom endpoints (a simulator, a proxy). The authority host must be https. The token is
    /// requested for the global Graph (`https://graph.microsoft.com/.default`), which such a
    /// stand-in serves; set [`CloudEndpoints::scope`] for another audience.
    pub fn custom(authority_host: &str, graph_base: &str) -> Result<CloudEndpoints, GraphError> {
        let authority_host = Url::parse(authority_host)
            .map_err(|e| GraphError::Config(format!("authority host '{authority_host}' is not a URL: {e}")))?;
        if authority_host.scheme() != "https" {
            return Err(GraphError::Config(format!(
                "authority host '{authority_host}' must use https (the identity platform is only spoken over TLS)"
            )));
        }
        let graph_base = Url::parse(graph_base)
            .map_err(|e| GraphError::Config(format!("Graph base URL '{graph_base}' is not a URL: {e}")))?;
        if !matches!(graph_base.scheme(), "https" | "http") || graph_base.host_str().is_none() {
            return Err(GraphError::Config(format!("Graph base URL '{graph_base}' must be an https:// URL")));
        }
        Ok(CloudEndpoints { authority_host, graph_base, scope: GLOBAL_GRAPH_SCOPE.to_string() })
    }

    /// The same endpoints with another token scope.
    pub fn with_scope(mut self, scope: impl Into<String>) -> CloudEndpoints {
        self.scope = scope.into();
        self
    }
}

/// The token scope of the global Graph service.
pub const GLOBAL_GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

impl CloudEndpoints {
    /// The token scope for Graph.
    pub fn default_scope(&self) -> String {
        self.scope.clone()
    }
}

/// An application secret. Never printed.
#[derive(Clone)]
pub struct ClientSecret(Arc<str>);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> ClientSecret {
        ClientSecret(Arc::from(secret.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// How the app proves who it is.
#[derive(Debug, Clone)]
pub enum ClientCredential {
    /// A client secret (`client_secret` grant).
    Secret(ClientSecret),
    /// A certificate whose public part is registered on the app (a signed JWT client assertion).
    Certificate(Arc<CertificateCredential>),
}

/// Timeouts of one HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection, TLS included.
    pub connect: Duration,
    /// The whole request, until the last byte of the body.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(15), request: Duration::from_secs(120) }
    }
}

/// Everything a [`crate::GraphClient`] for one tenant needs.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// The Entra tenant (directory) id, or one of its domain names.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    pub credential: ClientCredential,
    pub endpoints: CloudEndpoints,
    /// The token scope; `None` for the endpoints' ([`CloudEndpoints::scope`]).
    pub scope: Option<String>,
    /// Extra CA certificates (PEM, one or more) trusted for the identity platform and Graph, in
    /// addition to the system's: a TLS-inspecting proxy's CA, or a simulator's.
    pub extra_ca_pem: Option<Vec<u8>>,
    pub pacing: Pacing,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    /// The `tenant` label of metrics and log fields; the tenant id by default.
    pub label: String,
    /// After a token request fails for good (a wrong secret), further requests fail with the
    /// same error for this long before the identity platform is asked again.
    pub auth_failure_cooldown: Duration,
}

impl GraphConfig {
    /// Public cloud, default pacing (just below Graph's reporting limit), default retries.
    pub fn new(tenant_id: impl Into<String>, client_id: impl Into<String>, credential: ClientCredential) -> Self {
        let tenant_id = tenant_id.into();
        GraphConfig {
            label: tenant_id.clone(),
            tenant_id,
            client_id: client_id.into(),
            credential,
            endpoints: CloudEndpoints::default(),
            scope: None,
            extra_ca_pem: None,
            pacing: Pacing::default(),
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            auth_failure_cooldown: Duration::from_secs(30),
        }
    }

    pub fn scope(&self) -> String {
        self.scope.clone().unwrap_or_else(|| self.endpoints.default_scope())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_and_scopes() {
        assert_eq!(Cloud::Public.endpoints().default_scope(), "https://graph.microsoft.com/.default");
        assert_eq!(Cloud::UsGovernment.endpoints().default_scope(), "https://graph.microsoft.us/.default");
        assert_eq!(
            "china".parse::<Cloud>().unwrap().endpoints().authority_host.as_str(),
            "https://login.chinacloudapi.cn/"
        );
        assert!("mars".parse::<Cloud>().unwrap_err().contains("public, usgov"));
        let sim = CloudEndpoints::custom("https://127.0.0.1:8443", "https://127.0.0.1:8443/graph").unwrap();
        assert_eq!(sim.default_scope(), "https://graph.microsoft.com/.default");
        assert_eq!(sim.with_scope("https://graph.microsoft.us/.default").scope, "https://graph.microsoft.us/.default");
        let err = CloudEndpoints::custom("http://127.0.0.1:8080", "https://127.0.0.1:8443").unwrap_err();
        assert!(err.to_string().contains("must use https"), "{err}");
    }

    #[test]
    fn secrets_are_never_printed() {
        let config = GraphConfig::new("t", "c", ClientCredential::Secret(ClientSecret::new("hunter2")));
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
