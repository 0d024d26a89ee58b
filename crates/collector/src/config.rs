//! Configuration of the `m365mon-collector` binary: flags and environment variables, and the
//! tenants file for many tenants.
//!
//! Secrets (client secrets, NATS passwords and tokens) are read only from the environment or from
//! files named by `*_FILE` variables (or `client_secret_file` in the tenants file), never from
//! flags (which `ps` shows) and never from the tenants file itself.
//!
//! Tenants file (TOML), `M365MON_TENANTS_FILE`:
//!
//! ```toml
//! [[tenant]]
//! tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"   # directory (tenant) ID
//! name = "Contoso"                                      # optional, for status pages
//! client_id = "00000000-0000-0000-0000-000000000000"   # application (client) ID
//! client_secret_env = "CONTOSO_CLIENT_SECRET"           # the variable holding the secret, or
//! # client_secret_file = "/run/secrets/contoso"         # a file holding it, or
//! # certificate_file = "/run/secrets/contoso.pem"       # certificate + RSA key (PEM)
//! # key_file = "/run/secrets/contoso.key"               # when the key is in a file of its own
//! # cloud = "usgov"                                     # public (default), usgov, usgov-dod, china
//! # authority_host = "https://login.microsoftonline.us" # or explicit endpoints
//! # graph_url = "https://graph.microsoft.us"
//! # extra_ca_file = "/etc/ssl/proxy-ca.pem"
//! # requests_per_10s = 4                               # 0: no client-side pacing
//! ```
//!
//! Relative paths are relative to the tenants file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::TimeDelta;
use m365mon_bus::BusConfig;
use m365mon_contracts::Namespace;
use m365mon_graph::{
    CertificateCredential, ClientCredential, ClientSecret, Cloud, CloudEndpoints, GraphConfig, Pacing,
};
use serde::Deserialize;

use crate::tenant::{CollectorOptions, TenantSpec, check_tenant_id};

/// Flags and environment variables (every flag has an environment variable; see `.env.sample`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "m365mon-collector",
    version,
    about = "Collects Entra ID sign-in and directory audit logs from Microsoft Graph onto NATS JetStream, each record exactly once."
)]
pub struct Args {
    /// NATS server URL(s), comma-separated for a cluster.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Namespace of every subject, stream and bucket.
    #[arg(long, env = "M365MON_NAMESPACE", default_value = Namespace::DEFAULT)]
    pub namespace: Namespace,
    /// NATS credentials file (decentralised auth).
    #[arg(long, env = "NATS_CREDS_FILE")]
    pub nats_creds_file: Option<PathBuf>,
    /// NATS user (the password comes from NATS_PASSWORD or NATS_PASSWORD_FILE).
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// CA certificate (PEM) of a tls:// NATS server.
    #[arg(long, env = "NATS_CA_FILE")]
    pub nats_ca_file: Option<PathBuf>,
    /// Listen address of /healthz and /metrics; "off" for none.
    #[arg(long, env = "M365MON_COLLECTOR_HEALTH_ADDR", default_value = "0.0.0.0:9181")]
    pub health_addr: String,

    /// One tenant from the environment: the directory (tenant) ID.
    #[arg(long, env = "M365MON_TENANT_ID")]
    pub tenant_id: Option<String>,
    /// Display name of that tenant.
    #[arg(long, env = "M365MON_TENANT_NAME")]
    pub tenant_name: Option<String>,
    /// Application (client) ID. The secret comes from M365MON_CLIENT_SECRET or
    /// M365MON_CLIENT_SECRET_FILE.
    #[arg(long, env = "M365MON_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Certificate credential instead of a secret: PEM with the certificate and its RSA key.
    #[arg(long, env = "M365MON_CLIENT_CERTIFICATE_FILE")]
    pub client_certificate_file: Option<PathBuf>,
    /// The certificate's private key, when it is in a file of its own.
    #[arg(long, env = "M365MON_CLIENT_KEY_FILE")]
    pub client_key_file: Option<PathBuf>,
    /// Many tenants, each with its own credential (TOML; see the crate README).
    #[arg(long, env = "M365MON_TENANTS_FILE")]
    pub tenants_file: Option<PathBuf>,

    /// National cloud: public, usgov, usgov-dod, china.
    #[arg(long, env = "M365MON_CLOUD", default_value = "public")]
    pub cloud: String,
    /// Authority host override (https), e.g. a simulator.
    #[arg(long, env = "M365MON_AUTHORITY_HOST")]
    pub authority_host: Option<String>,
    /// Graph base URL override, e.g. a simulator.
    #[arg(long, env = "M365MON_GRAPH_URL")]
    pub graph_url: Option<String>,
    /// Extra CA certificate(s) (PEM) trusted for the identity platform and Graph, besides the
    /// system's: a TLS-inspecting proxy's CA.
    #[arg(long, env = "M365MON_EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,
    /// Requests per 10 seconds per tenant (Graph allows 5 for the log APIs); 0 switches pacing off.
    #[arg(long, env = "M365MON_GRAPH_REQUESTS_PER_10S", default_value_t = 4)]
    pub requests_per_10s: u32,
    /// Length of the first backfill slice, in minutes; the checkpoint advances after each slice,
    /// and later slices adapt (5 minutes to 24 hours) to hold about ten pages.
    #[arg(long, env = "M365MON_COLLECTOR_SLICE_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub slice_minutes: u32,
    /// Publishes in flight per log.
    #[arg(long, env = "M365MON_COLLECTOR_PUBLISH_CONCURRENCY", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub publish_concurrency: u32,
    /// Stop once every log has caught up (a one-off import) instead of polling for ever.
    #[arg(long, env = "M365MON_COLLECTOR_EXIT_WHEN_CAUGHT_UP")]
    pub exit_when_caught_up: bool,
    /// Records per Graph page (`$top`; Graph allows at most 1000).
    #[arg(long, env = "M365MON_COLLECTOR_PAGE_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
}

/// Everything the binary needs, resolved and checked.
#[derive(Debug)]
pub struct Resolved {
    pub bus: BusConfig,
    pub namespace: Namespace,
    pub health_addr: Option<SocketAddr>,
    pub options: CollectorOptions,
    pub tenants: Vec<TenantSpec>,
}

pub use m365mon_runtime::{read_secret_file, secret_from_env};

/// An empty variable (`M365MON_TENANT_ID=` in a copied `.env`) means "not set".
fn given<T: AsRef<std::ffi::OsStr>>(value: &Option<T>) -> Option<&T> {
    value.as_ref().filter(|v| !v.as_ref().is_empty())
}

impl Args {
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let mut bus = BusConfig::new(self.nats_url.clone(), "m365mon-collector");
        bus.credentials_file = given(&self.nats_creds_file).cloned();
        bus.ca_file = given(&self.nats_ca_file).cloned();
        if let Some(user) = given(&self.nats_user) {
            let password = secret_from_env("NATS_PASSWORD")?
                .context("NATS_USER is set: give the password in NATS_PASSWORD or NATS_PASSWORD_FILE")?;
            bus.user_password = Some((user.clone(), password));
        }
        bus.token = secret_from_env("NATS_TOKEN")?;

        let health_addr = match self.health_addr.trim() {
            "" | "off" | "none" => None,
            text => {
                Some(text.parse().with_context(|| format!("M365MON_COLLECTOR_HEALTH_ADDR '{text}' is not host:port"))?)
            }
        };

        let defaults = CloudDefaults {
            cloud: self.cloud.clone(),
            authority_host: given(&self.authority_host).cloned(),
            graph_url: given(&self.graph_url).cloned(),
            extra_ca_file: given(&self.extra_ca_file).cloned(),
            requests_per_10s: self.requests_per_10s,
        };
        let mut tenants = Vec::new();
        if let Some(tenant_id) = given(&self.tenant_id) {
            let client_id =
                given(&self.client_id).cloned().context("M365MON_TENANT_ID is set: set M365MON_CLIENT_ID too")?;
            let secret = secret_from_env("M365MON_CLIENT_SECRET")?;
            let credential = credential(
                secret,
                given(&self.client_certificate_file).map(PathBuf::as_path),
                given(&self.client_key_file).map(PathBuf::as_path),
                "M365MON_CLIENT_SECRET / M365MON_CLIENT_SECRET_FILE",
                "M365MON_CLIENT_CERTIFICATE_FILE",
            )
            .with_context(|| format!("tenant {tenant_id} (from the environment)"))?;
            tenants.push(tenant(
                tenant_id,
                given(&self.tenant_name).cloned(),
                &client_id,
                credential,
                &defaults,
                &TenantOverrides::default(),
            )?);
        } else if given(&self.client_id).is_some() {
            bail!("M365MON_CLIENT_ID is set but M365MON_TENANT_ID is not");
        }
        if let Some(path) = given(&self.tenants_file) {
            tenants.extend(read_tenants_file(path, &defaults)?);
        }
        if tenants.is_empty() {
            bail!(
                "no tenant configured: set M365MON_TENANT_ID, M365MON_CLIENT_ID and M365MON_CLIENT_SECRET (or \
                 M365MON_CLIENT_SECRET_FILE / M365MON_CLIENT_CERTIFICATE_FILE), or M365MON_TENANTS_FILE"
            );
        }
        Ok(Resolved {
            bus,
            namespace: self.namespace.clone(),
            health_addr,
            options: CollectorOptions {
                backfill_slice: TimeDelta::minutes(i64::from(self.slice_minutes)),
                publish_concurrency: self.publish_concurrency as usize,
                page_size: self.page_size,
                exit_when_caught_up: self.exit_when_caught_up,
                ..CollectorOptions::default()
            },
            tenants,
        })
    }
}

struct CloudDefaults {
    cloud: String,
    authority_host: Option<String>,
    graph_url: Option<String>,
    extra_ca_file: Option<PathBuf>,
    requests_per_10s: u32,
}

#[derive(Default)]
struct TenantOverrides {
    cloud: Option<String>,
    authority_host: Option<String>,
    graph_url: Option<String>,
    extra_ca_file: Option<PathBuf>,
    requests_per_10s: Option<u32>,
}

fn credential(
    secret: Option<String>,
    certificate_file: Option<&Path>,
    key_file: Option<&Path>,
    secret_name: &str,
    certificate_name: &str,
) -> anyhow::Result<ClientCredential> {
    match (secret, certificate_file) {
        (Some(_), Some(_)) => {
            bail!("give either a client secret ({secret_name}) or a certificate ({certificate_name}), not both")
        }
        (Some(secret), None) => Ok(ClientCredential::Secret(ClientSecret::new(secret))),
        (None, Some(path)) => {
            let certificate = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let parsed = match key_file {
                Some(key_path) => {
                    let key = std::fs::read(key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
                    CertificateCredential::from_pem_parts(&certificate, &key)
                }
                None => CertificateCredential::from_pem(&certificate),
            }
            .with_context(|| format!("{}", path.display()))?;
            tracing::info!(thumbprint = parsed.thumbprint(), "using a certificate credential");
            Ok(ClientCredential::Certificate(Arc::new(parsed)))
        }
        (None, None) => {
            bail!("no credential: give a client secret ({secret_name}) or a certificate ({certificate_name})")
        }
    }
}

fn tenant(
    tenant_id: &str,
    name: Option<String>,
    client_id: &str,
    credential: ClientCredential,
    defaults: &CloudDefaults,
    overrides: &TenantOverrides,
) -> anyhow::Result<TenantSpec> {
    check_tenant_id(tenant_id).map_err(anyhow::Error::msg)?;
    let cloud_name = overrides.cloud.as_deref().unwrap_or(&defaults.cloud);
    let cloud: Cloud = cloud_name.parse().map_err(anyhow::Error::msg)?;
    let mut endpoints = cloud.endpoints();
    let authority = overrides.authority_host.as_ref().or(defaults.authority_host.as_ref());
    let graph_url = overrides.graph_url.as_ref().or(defaults.graph_url.as_ref());
    if authority.is_some() || graph_url.is_some() {
        // A proxy or simulator stands in for the cloud's Graph: the token is still for that Graph.
        endpoints = CloudEndpoints::custom(
            authority.map_or(endpoints.authority_host.as_str(), String::as_str),
            graph_url.map_or(endpoints.graph_base.as_str(), String::as_str),
        )?
        .with_scope(endpoints.scope.clone());
    }
    let mut graph = GraphConfig::new(tenant_id, client_id, credential);
    graph.endpoints = endpoints;
    if let Some(path) = overrides.extra_ca_file.as_ref().or(defaults.extra_ca_file.as_ref()) {
        graph.extra_ca_pem =
            Some(std::fs::read(path).with_context(|| format!("cannot read the extra CA file {}", path.display()))?);
    }
    let per_10s = overrides.requests_per_10s.unwrap_or(defaults.requests_per_10s);
    graph.pacing =
        if per_10s == 0 { Pacing::Off } else { Pacing::Limit { requests: per_10s, per: Duration::from_secs(10) } };
    Ok(TenantSpec { tenant_id: tenant_id.to_string(), name, graph })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    #[serde(default, rename = "tenant")]
    tenants: Vec<TenantEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantEntry {
    tenant_id: String,
    name: Option<String>,
    client_id: String,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    certificate_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    cloud: Option<String>,
    authority_host: Option<String>,
    graph_url: Option<String>,
    extra_ca_file: Option<PathBuf>,
    requests_per_10s: Option<u32>,
}

/// Reads the tenants file; every problem names the tenant entry.
fn read_tenants_file(path: &Path, defaults: &CloudDefaults) -> anyhow::Result<Vec<TenantSpec>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the tenants file {}", path.display()))?;
    parse_tenants(&text, path.parent().unwrap_or(Path::new(".")), defaults)
        .with_context(|| format!("tenants file {}", path.display()))
}

fn parse_tenants(text: &str, base: &Path, defaults: &CloudDefaults) -> anyhow::Result<Vec<TenantSpec>> {
    // A secret written into the file is refused with a clear word, before serde's generic one.
    if let Ok(table) = text.parse::<toml::Table>()
        && let Some(toml::Value::Array(entries)) = table.get("tenant")
    {
        for (i, entry) in entries.iter().enumerate() {
            if entry.get("client_secret").is_some() {
                bail!(
                    "[[tenant]] #{}: client_secret may not be written in the file; name an environment variable \
                     (client_secret_env) or a file (client_secret_file) that holds it",
                    i + 1
                );
            }
        }
    }
    let file: TenantsFile = toml::from_str(text)?;
    if file.tenants.is_empty() {
        bail!("no [[tenant]] entries");
    }
    let resolve = |p: &PathBuf| if p.is_absolute() { p.clone() } else { base.join(p) };
    let mut specs = Vec::new();
    for (i, entry) in file.tenants.iter().enumerate() {
        let at = format!("[[tenant]] #{} ({})", i + 1, entry.tenant_id);
        let secret = match (&entry.client_secret_env, &entry.client_secret_file) {
            (Some(_), Some(_)) => bail!("{at}: give client_secret_env or client_secret_file, not both"),
            (Some(var), None) => Some(
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .with_context(|| format!("{at}: the environment variable {var} is not set"))?,
            ),
            (None, Some(file)) => Some(read_secret_file(&resolve(file)).with_context(|| at.clone())?),
            (None, None) => None,
        };
        let certificate = entry.certificate_file.as_ref().map(resolve);
        let key = entry.key_file.as_ref().map(resolve);
        let credential = credential(
            secret,
            certificate.as_deref(),
            key.as_deref(),
            "client_secret_env / client_secret_file",
            "certificate_file",
        )
        .with_context(|| at.clone())?;
        let overrides = TenantOverrides {
            cloud: entry.cloud.clone(),
            authority_host: entry.authority_host.clone(),
            graph_url: entry.graph_url.clone(),
            extra_ca_file: entry.extra_ca_file.as_ref().map(resolve),
            requests_per_10s: entry.requests_per_10s,
        };
        specs.push(
            tenant(&entry.tenant_id, entry.name.clone(), &entry.client_id, credential, defaults, &overrides)
                .with_context(|| at.clone())?,
        );
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> CloudDefaults {
        CloudDefaults {
            cloud: "public".into(),
            authority_host: None,
            graph_url: None,
            extra_ca_file: None,
            requests_per_10s: 4,
        }
    }

    #[test]
    fn a_tenants_file_with_secret_files_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.secret"), "s3cret\n").unwrap();
        let text = r#"
            [[tenant]]
            tenant_id = "11111111-1111-1111-1111-111111111111"
            name = "A"
            client_id = "app-a"
            client_secret_file = "a.secret"

            [[tenant]]
            tenant_id = "22222222-2222-2222-2222-222222222222"
            client_id = "app-b"
            client_secret_file = "a.secret"
            cloud = "usgov"
            requests_per_10s = 0
        "#;
        let specs = parse_tenants(text, dir.path(), &defaults()).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name.as_deref(), Some("A"));
        match &specs[0].graph.credential {
            ClientCredential::Secret(s) => assert_eq!(s.expose(), "s3cret"),
            other => panic!("{other:?}"),
        }
        assert_eq!(specs[1].graph.endpoints.graph_base.as_str(), "https://graph.microsoft.us/");
        assert_eq!(specs[1].graph.pacing, Pacing::Off);
        assert_eq!(specs[0].graph.pacing, Pacing::GRAPH_REPORTS);
    }

    #[test]
    fn secrets_in_the_file_and_other_mistakes_are_refused_clearly() {
        let base = Path::new(".");
        let inline = r#"
            [[tenant]]
            tenant_id = "t"
            client_id = "c"
            client_secret = "oops"
        "#;
        let err = format!("{:#}", parse_tenants(inline, base, &defaults()).unwrap_err());
        assert!(err.contains("client_secret may not be written in the file"), "{err}");

        let no_credential = "[[tenant]]\ntenant_id = \"t\"\nclient_id = \"c\"\n";
        let err = format!("{:#}", parse_tenants(no_credential, base, &defaults()).unwrap_err());
        assert!(err.contains("#1 (t)") && err.contains("no credential"), "{err}");

        let domain =
            "[[tenant]]\ntenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"c\"\nclient_secret_env = \"PATH\"\n";
        let err = format!("{:#}", parse_tenants(domain, base, &defaults()).unwrap_err());
        assert!(err.contains("not a domain name"), "{err}");

        let typo = "[[tenant]]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"PATH\"\nclould = \"x\"\n";
        let err = format!("{:#}", parse_tenants(typo, base, &defaults()).unwrap_err());
        assert!(err.contains("unknown field `clould`"), "{err}");

        let missing_var =
            "[[tenant]]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"M365MON_SURELY_UNSET_VAR\"\n";
        let err = format!("{:#}", parse_tenants(missing_var, base, &defaults()).unwrap_err());
        assert!(err.contains("M365MON_SURELY_UNSET_VAR is not set"), "{err}");
    }
}
