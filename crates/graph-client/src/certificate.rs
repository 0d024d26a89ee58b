//! Certificate credentials: a JWT client assertion signed with the app's private key.
//!
//! Why not azure_identity's `ClientCertificateCredential`: in azure_identity 1.0 it exists only
//! behind the `client_certificate` feature, which links OpenSSL (a system library we otherwise do
//! not need; everything else here is rustls and ring), and it reads only PKCS#12 bundles. Instead
//! the assertion is built here exactly as the identity platform documents it
//! (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials>): header
//! `{"alg":"RS256","typ":"JWT","x5t":…,"x5t#S256":…}`, claims `aud` (the token endpoint), `iss` and
//! `sub` (the client id), `jti`, `nbf`, `iat`, `exp`, signed RS256 with ring; and azure_identity's
//! `ClientAssertionCredential` posts it (`client_assertion_type=…jwt-bearer`) and caches the token.
//!
//! Input is PEM: the certificate and its RSA private key (PKCS#8 or PKCS#1), in one file or two,
//! as Key Vault exports them and as `openssl pkcs12 -in app.pfx -nodes -out app.pem` converts a PFX.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use rustls_pemfile::Item;

use crate::GraphError;

/// How long a signed assertion is valid (the identity platform only needs it for one request).
const ASSERTION_LIFETIME_SECONDS: u64 = 600;

/// A certificate and its private key, ready to sign client assertions.
pub struct CertificateCredential {
    key: RsaKeyPair,
    /// Base64url SHA-1 thumbprint of the certificate (`x5t`).
    x5t: String,
    /// Base64url SHA-256 thumbprint (`x5t#S256`).
    x5t_s256: String,
    /// Hex SHA-1 thumbprint, as the Azure portal shows it.
    thumbprint_hex: String,
}

impl fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateCredential").field("thumbprint", &self.thumbprint_hex).finish_non_exhaustive()
    }
}

impl CertificateCredential {
    /// From PEM text holding the certificate and the private key (in any order; the first
    /// certificate is the app's, further ones are ignored).
    pub fn from_pem(pem: &[u8]) -> Result<CertificateCredential, GraphError> {
        Self::from_pem_parts(pem, pem)
    }

    /// From a certificate PEM and a separate private-key PEM.
    pub fn from_pem_parts(certificate_pem: &[u8], key_pem: &[u8]) -> Result<CertificateCredential, GraphError> {
        let bad = |what: &str| GraphError::Config(format!("certificate credential: {what}"));
        let mut certificate = None;
        for item in rustls_pemfile::read_all(&mut &certificate_pem[..]) {
            if let Item::X509Certificate(der) = item.map_err(|e| bad(&format!("unreadable PEM: {e}")))? {
                certificate = Some(der);
                break;
            }
        }
        let certificate = certificate.ok_or_else(|| bad("no CERTIFICATE block found in the PEM"))?;

        let mut key = None;
        for item in rustls_pemfile::read_all(&mut &key_pem[..]) {
            match item.map_err(|e| bad(&format!("unreadable PEM: {e}")))? {
                Item::Pkcs8Key(der) => {
                    key = Some(RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| {
                        bad(&format!("the PKCS#8 private key is not a usable RSA key (at least 2048 bits): {e}"))
                    })?);
                    break;
                }
                Item::Pkcs1Key(der) => {
                    key =
                        Some(RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(|e| {
                            bad(&format!("the RSA private key is not usable (at least 2048 bits): {e}"))
                        })?);
                    break;
                }
                Item::Sec1Key(_) => {
                    return Err(bad(
                        "the private key is an EC key; the identity platform needs an RSA certificate (RS256)",
                    ));
                }
                _ => {}
            }
        }
        let key = key.ok_or_else(|| bad("no PRIVATE KEY or RSA PRIVATE KEY block found in the PEM"))?;

        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate.as_ref());
        let sha256 = ring::digest::digest(&ring::digest::SHA256, certificate.as_ref());
        Ok(CertificateCredential {
            key,
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256.as_ref()),
            thumbprint_hex: sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
        })
    }

    /// The SHA-1 thumbprint in hex, as the Azure portal lists the app's certificates.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint_hex
    }

    /// A signed client assertion for `client_id` at the token endpoint `audience`.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, GraphError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256});
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string().as_bytes()),
            URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes())
        );
        let mut signature_bytes = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature_bytes)
            .map_err(|_| GraphError::Config("certificate credential: signing the client assertion failed".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&signature_bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
        let params = rcgen::CertificateParams::new(vec!["m365mon-test".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn signs_a_verifiable_assertion_with_the_documented_claims() {
        let (cert_pem, key_pem) = generated();
        let combined = format!("{key_pem}\n{cert_pem}");
        let credential = CertificateCredential::from_pem(combined.as_bytes()).unwrap();
        assert_eq!(credential.thumbprint().len(), 40);
        let jwt = credential.assertion("client-1", "https://login.example/t/oauth2/v2.0/token").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert!(header["x5t"].as_str().is_some_and(|t| !t.is_empty()));
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert!(claims["exp"].as_u64().unwrap() > claims["nbf"].as_u64().unwrap());

        // The signature verifies with the certificate's public key.
        let public = credential.key.public().as_ref().to_vec();
        let verifier = signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public);
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier.verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).expect("valid signature");
    }

    #[test]
    fn explains_what_is_missing_or_wrong() {
        let err = CertificateCredential::from_pem(b"nothing here").unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
        let ec_key = rcgen::KeyPair::generate().unwrap(); // P-256
        let params = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap();
        let cert = params.self_signed(&ec_key).unwrap();
        let pem = format!("{}{}", cert.pem(), ec_key.serialize_pem());
        let err = CertificateCredential::from_pem(pem.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("RSA"), "{err}");
    }
}
