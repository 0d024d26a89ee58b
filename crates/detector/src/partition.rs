//! Which detector works on which tenant.
//!
//! Every rule is scoped to one tenant, so tenants are the unit of work. A tenant belongs to one
//! of `count` partitions by a stable hash of its id ([`partition_of`]: the first eight bytes of
//! SHA-256, modulo the count; the same on every machine and in every version, unlike Rust's
//! `DefaultHasher`). Each detector process owns a set of partitions ([`PartitionSet`], e.g.
//! `0-7` of 16) and works on exactly the tenants that hash into them. Scaling out is handing
//! partitions to another process; the tenants' state follows through the shared snapshots, and a
//! lease per tenant keeps two processes from ever working on one tenant at the same time.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The partition of `tenant` among `count` partitions.
pub fn partition_of(tenant: &str, count: u16) -> u16 {
    let digest = Sha256::digest(tenant.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u16
}

/// The partitions a detector owns, out of `count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSet {
    count: u16,
    owned: BTreeSet<u16>,
}

/// A partition specification that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("the partition count must be between 1 and 1024 (got {0})")]
    Count(u32),
    #[error("'{0}' is not a partition list: use 'all', or numbers and ranges such as '0-3,7'")]
    Syntax(String),
    #[error("partition {partition} does not exist: with {count} partitions they are numbered 0 to {}", count - 1)]
    OutOfRange { partition: u32, count: u16 },
    #[error("the partition list is empty")]
    Empty,
}

impl PartitionSet {
    /// Every partition of `count`: one detector does all the work.
    pub fn all(count: u16) -> Result<PartitionSet, PartitionError> {
        check_count(u32::from(count))?;
        Ok(PartitionSet { count, owned: (0..count).collect() })
    }

    /// Parses `all`, or a comma-separated list of partitions and inclusive ranges (`0-3,7`).
    pub fn parse(spec: &str, count: u16) -> Result<PartitionSet, PartitionError> {
        check_count(u32::from(count))?;
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("all") {
            return PartitionSet::all(count);
        }
        let mut owned = BTreeSet::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (low, high) = match part.split_once('-') {
                Some((low, high)) => (number(low, spec)?, number(high, spec)?),
                None => {
                    let n = number(part, spec)?;
                    (n, n)
                }
            };
            if low > high {
                return Err(PartitionError::Syntax(spec.to_string()));
            }
            for partition in low..=high {
                if partition >= u32::from(count) {
                    return Err(PartitionError::OutOfRange { partition, count });
                }
                owned.insert(partition as u16);
            }
        }
        if owned.is_empty() {
            return Err(PartitionError::Empty);
        }
        Ok(PartitionSet { count, owned })
    }

    pub fn count(&self) -> u16 {
        self.count
    }

    pub fn owned(&self) -> impl Iterator<Item = u16> + '_ {
        self.owned.iter().copied()
    }

    pub fn owns_partition(&self, partition: u16) -> bool {
        self.owned.contains(&partition)
    }

    /// Whether this detector works on `tenant`.
    pub fn owns(&self, tenant: &str) -> bool {
        self.owns_partition(partition_of(tenant, self.count))
    }

    pub fn is_all(&self) -> bool {
        self.owned.len() == usize::from(self.count)
    }
}

impl fmt::Display for PartitionSet {
    /// Compact ranges: `0-3,7 of 16`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return write!(f, "all of {}", self.count);
        }
        let mut first = true;
        let mut iter = self.owned.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end = iter.next().unwrap_or(end);
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end { write!(f, "{start}")? } else { write!(f, "{start}-{end}")? }
        }
        write!(f, " of {}", self.count)
    }
}

fn check_count(count: u32) -> Result<(), PartitionError> {
    if (1..=1024).contains(&count) { Ok(()) } else { Err(PartitionError::Count(count)) }
}

fn number(text: &str, spec: &str) -> Result<u32, PartitionError> {
    u32::from_str(text.trim()).map_err(|_| PartitionError::Syntax(spec.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_and_spreads_tenants() {
        // Fixed values: a change here would move every tenant to another detector.
        let golden: Vec<u16> = ["tenant-a", "tenant-b", "tenant-c"].iter().map(|t| partition_of(t, 16)).collect();
        assert_eq!(golden, [1, 10, 12]);
        let mut seen = BTreeSet::new();
        for i in 0..200 {
            seen.insert(partition_of(&format!("tenant-{i}"), 16));
        }
        assert_eq!(seen.len(), 16, "200 tenants reach every one of 16 partitions");
    }

    #[test]
    fn partition_lists_parse_and_print() {
        let set = PartitionSet::parse("0-3, 7,9-10", 16).unwrap();
        assert_eq!(set.owned().collect::<Vec<_>>(), vec![0, 1, 2, 3, 7, 9, 10]);
        assert_eq!(set.to_string(), "0-3,7,9-10 of 16");
        assert_eq!(PartitionSet::parse("all", 4).unwrap().to_string(), "all of 4");
        assert!(PartitionSet::parse("0-3", 4).unwrap().is_all());
        assert_eq!(PartitionSet::parse("16", 16), Err(PartitionError::OutOfRange { partition: 16, count: 16 }));
        assert!(matches!(PartitionSet::parse("3-1", 16), Err(PartitionError::Syntax(_))));
        assert!(matches!(PartitionSet::parse("x", 16), Err(PartitionError::Syntax(_))));
        assert_eq!(PartitionSet::parse(" , ", 16), Err(PartitionError::Empty));
        assert_eq!(PartitionSet::all(0), Err(PartitionError::Count(0)));
    }

    #[test]
    fn two_halves_cover_every_tenant_exactly_once() {
        let a = PartitionSet::parse("0-7", 16).unwrap();
        let b = PartitionSet::parse("8-15", 16).unwrap();
        for i in 0..500 {
            let tenant = format!("t-{i}");
            assert!(a.owns(&tenant) ^ b.owns(&tenant), "{tenant}");
        }
    }
}
