//! Stable 64-bit keys for users, IP addresses, correlation ids and record ids.
//!
//! Why not `std`'s hasher: the engine's state is snapshotted and restored by another process
//! (a detector restart), so keys must be the same in every process and every version. FNV-1a with
//! a SplitMix64 finaliser is stable by definition, cheap on the short strings we hash, and spreads
//! well enough for the hash maps that then use the key as its own hash ([`KeyMap`]).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn finish(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Key of a text, byte for byte.
pub(crate) fn exact(text: &str) -> u64 {
    let mut h = FNV_OFFSET;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    finish(h)
}

/// Key of a text compared case-insensitively (user principal names, object ids, activities).
pub(crate) fn folded(text: &str) -> u64 {
    let mut h = FNV_OFFSET;
    if text.is_ascii() {
        for b in text.bytes() {
            h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
        }
    } else {
        let mut buf = [0u8; 4];
        for c in text.chars().flat_map(char::to_lowercase) {
            for b in c.encode_utf8(&mut buf).bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
        }
    }
    finish(h)
}

/// A hasher for keys that are already well-mixed 64-bit values.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by a stable key.
pub(crate) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;
/// A set of stable keys.
pub(crate) type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_fold_case() {
        assert_eq!(folded("Alice@Contoso.com"), folded("alice@contoso.com"));
        assert_eq!(folded("ÄRGER@x.de"), folded("ärger@x.de"));
        assert_ne!(exact("Alice"), exact("alice"));
        assert_ne!(folded("alice"), folded("alicf"));
        // The value is part of the snapshot format: it must never change.
        assert_eq!(exact(""), finish(FNV_OFFSET));
    }
}
