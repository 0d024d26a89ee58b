//! The certificate the simulator serves: a CA generated at start and a server certificate it
//! signs (for `localhost`, `127.0.0.1`, `::1` and any extra names). Clients trust the CA the way
//! they would trust a corporate TLS-inspecting proxy: an "extra CA certificate" option, which is
//! also how azure_identity (https-only authorities) is pointed at the simulator.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The generated CA and server certificate.
#[derive(Debug, Clone)]
pub struct SimCertificates {
    /// The CA certificate to trust (PEM).
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub server_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

/// Generates a CA and a server certificate for `names` (DNS names or IP addresses).
pub fn generate(names: &[String]) -> Result<SimCertificates, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "m365mon graph-sim local CA");
    ca_params.distinguished_name.push(DnType::OrganizationName, "m365-monitor test");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for n in names {
        if !all.iter().any(|a| a.eq_ignore_ascii_case(n)) {
            all.push(n.clone());
        }
    }
    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(all)?;
    params.distinguished_name.push(DnType::CommonName, "graph-sim");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.use_authority_key_identifier_extension = true;
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let server_cert = params.signed_by(&server_key, &issuer)?;
    Ok(SimCertificates {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        server_der: server_cert.der().to_vec(),
        server_key_der: server_key.serialize_der(),
    })
}

impl SimCertificates {
    /// A rustls server configuration (ring provider set explicitly, so no process-wide provider
    /// is needed) offering HTTP/2 and HTTP/1.1, or no ALPN for SMTP.
    pub fn server_config(&self, alpn: bool) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.server_der.clone()), CertificateDer::from(self.ca_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone())),
            )?;
        if alpn {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_usable_chain() {
        let certs = generate(&["graph-sim".to_string()]).unwrap();
        assert!(certs.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        certs.server_config(true).unwrap();
        certs.server_config(false).unwrap();
    }
}
