//! Opaque `$skiptoken`s: they carry the tenant, the endpoint, a hash of the query, the position
//! reached and the snapshot time, signed so a client cannot forge or edit them. The nextLink
//! repeats the client's query string verbatim and appends the token, as Graph does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::time::Ticks;

/// What a skip token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipToken {
    /// Tenant index.
    pub t: u32,
    /// Endpoint id.
    pub e: u8,
    /// Hash of the query options.
    pub q: u64,
    /// Position to continue after.
    pub c: Option<(Ticks, u64)>,
    /// Visibility snapshot.
    pub a: Ticks,
    /// Issued at (real time, Unix seconds).
    pub i: i64,
    /// Nonce (decides staleness faults).
    pub n: u64,
}

/// Why a skip token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    Invalid,
    Expired,
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes()[..12].to_vec()
}

impl SkipToken {
    pub fn encode(&self, key: &[u8]) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let sig = hex::encode(mac(key, body.as_bytes()));
        format!("{body}{sig}")
    }

    pub fn decode(key: &[u8], text: &str) -> Result<SkipToken, TokenRefusal> {
        if text.len() < 25 || !text.is_char_boundary(text.len() - 24) {
            return Err(TokenRefusal::Invalid);
        }
        let (body, sig) = text.split_at(text.len() - 24);
        let sig = hex::decode(sig).map_err(|_| TokenRefusal::Invalid)?;
        if sig != mac(key, body.as_bytes()) {
            return Err(TokenRefusal::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenRefusal::Invalid)?;
        serde_json::from_slice(&bytes).map_err(|_| TokenRefusal::Invalid)
    }
}

/// The client's query string without its `$skiptoken`, to build the nextLink from.
pub fn query_without_skiptoken(raw_query: &str) -> String {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split('=').next().unwrap_or("").to_ascii_lowercase();
            name != "$skiptoken" && name != "%24skiptoken"
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let key = b"k";
        let t = SkipToken { t: 1, e: 2, q: 3, c: Some((4, 5)), a: 6, i: 7, n: 8 };
        let s = t.encode(key);
        assert_eq!(SkipToken::decode(key, &s), Ok(t));
        let mut bad = s.clone();
        bad.replace_range(0..1, if s.starts_with('e') { "f" } else { "e" });
        assert_eq!(SkipToken::decode(key, &bad), Err(TokenRefusal::Invalid));
        assert_eq!(SkipToken::decode(key, "short"), Err(TokenRefusal::Invalid));
        assert_eq!(SkipToken::decode(key, "ééééééééééééééééééééééééééééé"), Err(TokenRefusal::Invalid));
    }

    #[test]
    fn next_link_query_keeps_everything_else() {
        assert_eq!(
            query_without_skiptoken("$filter=createdDateTime%20ge%202024-01-01T00:00:00Z&$top=10&$skiptoken=abc"),
            "$filter=createdDateTime%20ge%202024-01-01T00:00:00Z&$top=10"
        );
        assert_eq!(query_without_skiptoken("%24skiptoken=abc&%24top=5"), "%24top=5");
    }
}
