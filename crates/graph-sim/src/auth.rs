//! The identity platform's v2.0 token endpoint (client-credentials grant) and Graph's side of
//! access-token validation.
//!
//! Tokens are JWTs with the claims Graph cares about (`aud`, `tid`, `appid`, `roles`, `exp`, ...),
//! signed with a key that lives only in this process (HS256: clients never validate Graph tokens,
//! and the simulator does not pretend to be a real issuer). Errors carry the real AADSTS codes,
//! `error` values and body shape (`error`, `error_description` with the trace and correlation
//! suffix, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::rng::guid_of;

/// Graph's resource id and identifier URI.
pub const GRAPH_RESOURCE_ID: &str = "00000003-0000-0000-c000-000000000000";
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

/// Resources the token endpoint knows besides Graph (tokens for them are refused by Graph: wrong audience).
pub const OTHER_RESOURCES: &[&str] =
    &["https://management.azure.com", "https://vault.azure.net", "https://outlook.office365.com"];

/// Application permissions (app roles) an app can hold.
pub const PERMISSIONS: &[&str] =
    &["AuditLog.Read.All", "Directory.Read.All", "RoleManagement.Read.Directory", "Mail.Send", "User.Read.All"];

/// Permissions a new app gets unless told otherwise.
pub const DEFAULT_PERMISSIONS: &[&str] = &["AuditLog.Read.All", "Directory.Read.All", "Mail.Send"];

/// An app registration with a client secret and, on request, a certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppRegistration {
    pub client_id: String,
    pub display_name: String,
    pub client_secret: String,
    /// The secret has passed its end date (AADSTS7000222).
    pub secret_expired: bool,
    /// The app is disabled (AADSTS7000112).
    pub disabled: bool,
    /// Application permissions granted with admin consent; they go into the token's `roles`.
    pub permissions: Vec<String>,
    /// Service principal object id (the token's `oid`).
    pub service_principal_id: String,
    /// A certificate credential, created through the control API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<AppCertificate>,
}

/// A certificate credential of an app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppCertificate {
    pub certificate_pem: String,
    pub private_key_pem: String,
    /// Base64url SHA-1 thumbprint (the assertion's `x5t`).
    pub x5t: String,
    /// Base64url SHA-256 thumbprint (`x5t#S256`).
    pub x5t_s256: String,
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl AppRegistration {
    /// A deterministic registration (`index` 0 is the monitor's own app).
    pub fn generate(tenant_seed: u64, index: u64, display_name: &str, permissions: &[&str]) -> AppRegistration {
        AppRegistration {
            client_id: guid_of(&[tenant_seed, 0xA99, index]),
            display_name: display_name.to_string(),
            client_secret: secret_value(&[tenant_seed, 0x5EC, index]),
            secret_expired: false,
            disabled: false,
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            service_principal_id: guid_of(&[tenant_seed, 0xA9A, index]),
            certificate: None,
        }
    }
}

/// A client secret in Entra's format: three characters, a digit, `Q~`, then 34 characters.
pub fn secret_value(parts: &[u64]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    let mut rng = crate::rng::Rng::from_parts(parts);
    let mut s = String::with_capacity(40);
    for _ in 0..3 {
        s.push(ALPHABET[rng.below(52) as usize] as char);
    }
    s.push((b'0' + rng.below(10) as u8) as char);
    s.push_str("Q~");
    for _ in 0..34 {
        s.push(ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char);
    }
    s
}

/// Creates an RSA-2048 certificate credential.
pub fn generate_certificate(subject: &str) -> Result<AppCertificate, String> {
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| format!("RSA key generation failed: {e}"))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, subject);
    let cert = params.self_signed(&key).map_err(|e| format!("certificate generation failed: {e}"))?;
    let der = cert.der().to_vec();
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let sha256 = ring::digest::digest(&ring::digest::SHA256, &der);
    Ok(AppCertificate {
        certificate_pem: cert.pem(),
        private_key_pem: key.serialize_pem(),
        x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
        x5t_s256: URL_SAFE_NO_PAD.encode(sha256.as_ref()),
        der,
    })
}

/// Claims of an access token the simulator issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub app_displayname: String,
    pub appid: String,
    pub appidacr: String,
    pub idp: String,
    pub idtyp: String,
    pub oid: String,
    pub roles: Vec<String>,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
}

type HmacSha256 = Hmac<Sha256>;

fn sign(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new_from_slice(&[0u8; 32]).expect("fixed key"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Signs claims into a compact JWT.
pub fn encode_token(key: &[u8], claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256","kid":"graph-sim"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(sign(key, signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

/// Why Graph refused a token (401 `InvalidAuthenticationToken`, with Graph's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    #[error("Access token is empty.")]
    Missing,
    #[error("IDX14100: JWT is not well formed, there are no dots (.).")]
    Malformed,
    #[error("Access token validation failure.")]
    BadSignature,
    #[error("Lifetime validation failed, the token is expired.")]
    Expired,
    #[error("Access token validation failure. Invalid audience.")]
    WrongAudience,
}

/// Verifies a bearer token and returns its claims.
pub fn decode_token(key: &[u8], token: &str, now_unix: i64) -> Result<Claims, TokenProblem> {
    if token.trim().is_empty() {
        return Err(TokenProblem::Missing);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenProblem::Malformed);
    };
    let given = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenProblem::BadSignature)?;
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| TokenProblem::BadSignature)?;
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&given).map_err(|_| TokenProblem::BadSignature)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| TokenProblem::BadSignature)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenProblem::BadSignature)?;
    if claims.exp <= now_unix {
        return Err(TokenProblem::Expired);
    }
    if claims.aud != GRAPH_AUDIENCE && claims.aud != GRAPH_RESOURCE_ID {
        return Err(TokenProblem::WrongAudience);
    }
    Ok(claims)
}

/// A refusal of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl StsError {
    pub fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> StsError {
        StsError { status, error, code, description: description.into() }
    }

    /// The body, as the identity platform writes it.
    pub fn body(&self, now: crate::time::Ticks, trace_id: &str, correlation_id: &str, base_url: &str) -> Value {
        let timestamp = crate::time::format_sts(now);
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{base_url}/error?code={}", self.code),
        })
    }
}

/// What the client asked the token endpoint for, after parsing the form.
#[derive(Debug, Clone, Default)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    pub scope: Option<String>,
}

impl TokenForm {
    /// Parses an `application/x-www-form-urlencoded` body and an optional Basic authorization.
    pub fn parse(body: &[u8], authorization: Option<&str>) -> TokenForm {
        let mut f = TokenForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "grant_type" => f.grant_type = v,
                "client_id" => f.client_id = v,
                "client_secret" => f.client_secret = v,
                "client_assertion_type" => f.client_assertion_type = v,
                "client_assertion" => f.client_assertion = v,
                "scope" => f.scope = v,
                _ => {}
            }
        }
        // RFC 6749 §2.3.1: client_id:client_secret, each form-urlencoded, in HTTP Basic.
        if let Some(basic) = authorization.and_then(|a| a.strip_prefix("Basic ").or_else(|| a.strip_prefix("basic ")))
            && let Ok(decoded) = STANDARD.decode(basic.trim())
            && let Ok(text) = String::from_utf8(decoded)
            && let Some((id, secret)) = text.split_once(':')
        {
            let unescape =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            if f.client_id.is_none() {
                f.client_id = unescape(id);
            }
            if f.client_secret.is_none() {
                f.client_secret = unescape(secret);
            }
        }
        f
    }
}

/// Checks the `scope` of a client-credentials request; returns the audience.
pub fn check_scope(scope: &str) -> Result<String, StsError> {
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let invalid = |s: &str| {
        StsError::new(
            400,
            "invalid_scope",
            70011,
            format!("The provided value for the input parameter 'scope' is not valid. The scope {s} is not valid."),
        )
    };
    if scopes.len() != 1 {
        return Err(StsError::new(
            400,
            "invalid_scope",
            700022,
            "The provided value for the input parameter scope isn't valid because it contains more than one resource.",
        ));
    }
    let scope = scopes[0];
    let Some(resource) = scope.strip_suffix("/.default") else {
        return Err(StsError::new(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    };
    let resource = resource.trim_end_matches('/');
    if resource.eq_ignore_ascii_case(GRAPH_AUDIENCE) || resource.eq_ignore_ascii_case(GRAPH_RESOURCE_ID) {
        return Ok(GRAPH_AUDIENCE.to_string());
    }
    if OTHER_RESOURCES.iter().any(|r| r.eq_ignore_ascii_case(resource)) {
        return Ok(resource.to_ascii_lowercase());
    }
    if !resource.starts_with("https://") && !resource.starts_with("api://") && uuid_like(resource).is_none() {
        return Err(invalid(scope));
    }
    Err(StsError::new(
        400,
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    ))
}

fn uuid_like(s: &str) -> Option<()> {
    (s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then_some(())
}

/// Verifies a certificate client assertion (RFC 7523 JWT, RS256 or PS256) for `app`.
pub fn verify_assertion(
    assertion: &str,
    app: &AppRegistration,
    token_url_suffix: &str,
    now_unix: i64,
) -> Result<(), StsError> {
    let malformed =
        |why: &str| StsError::new(400, "invalid_request", 50027, format!("JWT token is invalid or malformed. {why}"));
    let mut parts = assertion.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("The assertion is not a compact JWT."));
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("The header is not base64url JSON."))?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("The payload is not base64url JSON."))?;
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| malformed("The signature is not base64url."))?;
    let Some(cert) = &app.certificate else {
        return Err(StsError::new(
            401,
            "invalid_client",
            700027,
            format!(
                "Client assertion failed signature validation. The application '{}' has no certificate credential.",
                app.client_id
            ),
        ));
    };
    let thumbprint_ok = header.get("x5t").and_then(Value::as_str) == Some(cert.x5t.as_str())
        || header.get("x5t#S256").and_then(Value::as_str) == Some(cert.x5t_s256.as_str());
    if !thumbprint_ok {
        return Err(StsError::new(
            401,
            "invalid_client",
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                header.get("x5t").and_then(Value::as_str).unwrap_or("")
            ),
        ));
    }
    let alg: &dyn rustls::pki_types::SignatureVerificationAlgorithm = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        other => return Err(malformed(&format!("Unsupported signing algorithm {other:?}; use RS256 or PS256."))),
    };
    let der = rustls::pki_types::CertificateDer::from(cert.der.as_slice());
    let ee =
        webpki::EndEntityCert::try_from(&der).map_err(|e| malformed(&format!("stored certificate unusable: {e}")))?;
    if ee.verify_signature(alg, format!("{h}.{p}").as_bytes(), &signature).is_err() {
        return Err(StsError::new(401, "invalid_client", 700027, "Client assertion failed signature validation."));
    }
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    if text("iss") != app.client_id || text("sub") != app.client_id {
        return Err(StsError::new(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    if !text("aud").ends_with(token_url_suffix) {
        return Err(StsError::new(
            401,
            "invalid_client",
            700021,
            format!(
                "Client assertion audience claim does not match Realm issuer. Expected an audience ending with '{token_url_suffix}'."
            ),
        ));
    }
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let nbf = claims.get("nbf").and_then(Value::as_i64).unwrap_or(0);
    if exp <= now_unix - 300 || nbf > now_unix + 300 {
        return Err(StsError::new(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    Ok(())
}

/// Builds a client assertion for an app with a certificate: what a client such as
/// `ClientCertificateCredential` sends. Offered for tests of the certificate path.
pub fn build_assertion(app: &AppRegistration, token_url: &str, now_unix: i64) -> Result<String, String> {
    let cert = app.certificate.as_ref().ok_or("the app has no certificate")?;
    let key = rcgen::KeyPair::from_pem(&cert.private_key_pem).map_err(|e| e.to_string())?;
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": cert.x5t});
    let claims = json!({
        "aud": token_url, "iss": app.client_id, "sub": app.client_id,
        "jti": guid_of(&[now_unix as u64, 0x7717]), "nbf": now_unix, "exp": now_unix + 600
    });
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = rcgen::SigningKey::sign(&key, input.as_bytes()).map_err(|e| e.to_string())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: &str, exp: i64) -> Claims {
        Claims {
            aud: aud.into(),
            iss: "x".into(),
            iat: 0,
            nbf: 0,
            exp,
            app_displayname: "a".into(),
            appid: "b".into(),
            appidacr: "1".into(),
            idp: "x".into(),
            idtyp: "app".into(),
            oid: "o".into(),
            roles: vec!["AuditLog.Read.All".into()],
            sub: "o".into(),
            tid: "t".into(),
            uti: "u".into(),
            ver: "1.0".into(),
        }
    }

    #[test]
    fn tokens_round_trip_and_fail_properly() {
        let key = b"0123456789abcdef0123456789abcdef";
        let t = encode_token(key, &claims(GRAPH_AUDIENCE, 1000));
        assert_eq!(decode_token(key, &t, 10).unwrap().roles, vec!["AuditLog.Read.All"]);
        assert_eq!(decode_token(key, &t, 1000).unwrap_err(), TokenProblem::Expired);
        assert_eq!(decode_token(b"another key", &t, 10).unwrap_err(), TokenProblem::BadSignature);
        assert_eq!(decode_token(key, "", 10).unwrap_err(), TokenProblem::Missing);
        assert_eq!(decode_token(key, "abc", 10).unwrap_err(), TokenProblem::Malformed);
        let other = encode_token(key, &claims("https://management.azure.com", 1000));
        assert_eq!(decode_token(key, &other, 10).unwrap_err(), TokenProblem::WrongAudience);
    }

    #[test]
    fn scopes() {
        assert_eq!(check_scope("https://graph.microsoft.com/.default").unwrap(), GRAPH_AUDIENCE);
        assert_eq!(check_scope("00000003-0000-0000-c000-000000000000/.default").unwrap(), GRAPH_AUDIENCE);
        assert_eq!(check_scope("https://graph.microsoft.com/User.Read").unwrap_err().code, 1002012);
        assert_eq!(check_scope("https://foo.microsoft.com/.default").unwrap_err().code, 500011);
        assert_eq!(check_scope("a/.default b/.default").unwrap_err().code, 700022);
        assert_eq!(check_scope("nonsense/.default").unwrap_err().code, 70011);
    }

    #[test]
    fn secrets_look_like_entra_secrets() {
        let s = secret_value(&[1, 2]);
        assert_eq!(s.len(), 40);
        assert_eq!(&s[4..6], "Q~");
    }

    #[test]
    fn basic_authentication_is_accepted() {
        let header = format!("Basic {}", STANDARD.encode("my-client:p%40ss"));
        let f = TokenForm::parse(b"grant_type=client_credentials&scope=x", Some(&header));
        assert_eq!(f.client_id.as_deref(), Some("my-client"));
        assert_eq!(f.client_secret.as_deref(), Some("p@ss"));
    }

    #[test]
    fn certificate_assertions_verify() {
        let mut app = AppRegistration::generate(1, 0, "m365-monitor", DEFAULT_PERMISSIONS);
        app.certificate = Some(generate_certificate("m365-monitor").unwrap());
        let url = "https://127.0.0.1:1/tenant/oauth2/v2.0/token";
        let a = build_assertion(&app, url, 1_700_000_000).unwrap();
        verify_assertion(&a, &app, "/tenant/oauth2/v2.0/token", 1_700_000_000).unwrap();
        assert_eq!(verify_assertion(&a, &app, "/tenant/oauth2/v2.0/token", 1_700_100_000).unwrap_err().code, 700024);
        let mut tampered = a.clone();
        tampered.push('A');
        assert!(verify_assertion(&tampered, &app, "/tenant/oauth2/v2.0/token", 1_700_000_000).is_err());
        let mut other = app.clone();
        other.certificate = Some(generate_certificate("other").unwrap());
        assert_eq!(verify_assertion(&a, &other, "/tenant/oauth2/v2.0/token", 1_700_000_000).unwrap_err().code, 700027);
    }
}
