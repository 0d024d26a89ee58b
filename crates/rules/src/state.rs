//! The engine's state per tenant: per-user memories, per-IP windows, open incidents.
//!
//! Everything here is bounded: window entries live for the window plus the allowed lateness,
//! travel sightings for the travel horizon plus the lateness, countries and users for
//! `new_country.forget_days`, incidents until their window closes. [`TenantState::sweep`]
//! drops what no window or horizon can need any more.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::event::SignInEvent;
use crate::incident::{Incident, IncidentKey};
use crate::keys::KeyMap;
use crate::time::Micros;
use crate::window::Window;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TenantState {
    /// The latest event time seen: records older than this minus the allowed lateness are late.
    pub watermark: Option<Micros>,
    pub users: KeyMap<UserState>,
    /// `password_spray` windows by source IP address.
    pub ips: KeyMap<Window>,
    #[serde(with = "crate::serde_vec")]
    pub incidents: BTreeMap<IncidentKey, Incident>,
    pub next_maintenance: Micros,
    /// The earliest event time at which an open incident closes or has growth due for
    /// publication: maintenance skips the incidents until then. Not part of a snapshot (0 after
    /// a restore: the first maintenance looks at every incident and sets it again).
    #[serde(skip)]
    pub next_due: Option<Micros>,
    pub next_sweep: Micros,
    /// `after_hours`: the last working interval and off-hours period (settings-dependent; not
    /// part of a snapshot, cleared when the settings change).
    #[serde(skip)]
    pub hours: crate::hours::HoursCache,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct UserState {
    /// Latest event time of any record of the user.
    pub last_activity: Micros,
    /// Earliest successful sign-in: the learning period of `new_country` starts here.
    pub first_success: Option<Micros>,
    pub countries: Vec<CountryMemo>,
    pub sightings: Vec<Sighting>,
    /// City names of the sightings (usually one or two per user).
    pub cities: Vec<Box<str>>,
    pub failures: Option<Box<Window>>,
    pub mfa: Option<Box<Window>>,
}

/// A country a user signed in from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CountryMemo {
    pub code: [u8; 2],
    pub alerted: bool,
    pub first: Micros,
    pub last: Micros,
    /// The window start of the open `new_country` incident, so later sign-ins can join it.
    pub incident: Option<Micros>,
    /// The first sign-in from this country, kept while a late record could still make it the
    /// first one after the learning period (see `rules::location`).
    pub young: Option<Box<SignInEvent<'static>>>,
}

/// A successful interactive sign-in with a location, kept for the travel horizon.
///
/// Every sighting is kept (not merged into "stays"), so the impossible pairs found are exactly
/// the impossible pairs among the records, whatever order they came in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sighting {
    pub t: Micros,
    pub lat: f32,
    pub lon: f32,
    /// Hash of the /24 (IPv4) or /48 (IPv6) network; 0 when unknown.
    pub net: u32,
    pub country: [u8; 2],
    /// 1-based index into [`UserState::cities`]; 0 when unknown.
    pub city: u8,
    /// The address, IPv4 mapped into IPv6; all zero when unknown.
    pub ip: [u8; 16],
    pub id: CompactId,
}

impl Sighting {
    pub fn ip(&self) -> Option<IpAddr> {
        if self.ip == [0; 16] {
            return None;
        }
        let v6 = std::net::Ipv6Addr::from(self.ip);
        Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
    }
}

/// An address as 16 bytes (IPv4 mapped into IPv6).
pub(crate) fn ip_bytes(ip: Option<IpAddr>) -> [u8; 16] {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
        Some(IpAddr::V6(v6)) => v6.octets(),
        None => [0; 16],
    }
}

/// A Graph record id, 16 bytes when it is a canonical lower-case GUID (they all are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompactId {
    Guid([u8; 16]),
    Text(Box<str>),
}

impl CompactId {
    pub fn new(id: &str) -> CompactId {
        parse_guid(id).map(CompactId::Guid).unwrap_or_else(|| CompactId::Text(id.into()))
    }
}

impl std::fmt::Display for CompactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompactId::Text(t) => f.write_str(t),
            CompactId::Guid(b) => {
                for (i, byte) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl Serialize for CompactId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CompactId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(CompactId::new(&String::deserialize(d)?))
    }
}

/// Only the canonical form (36 characters, lower-case hex, hyphens at 8-4-4-4-12), so that
/// formatting it again gives back exactly the original text.
fn parse_guid(id: &str) -> Option<[u8; 16]> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = 0usize;
    for (i, &c) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        out[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
        nibbles += 1;
    }
    Some(out)
}

/// Notes in a tenant's `next_due` that maintenance must look at the incidents by `t`.
pub(crate) fn due_by(next_due: &mut Option<Micros>, t: Micros) {
    if let Some(due) = next_due {
        *due = (*due).min(t);
    }
}

/// Pushes without the usual doubling: most users have one or two countries and a handful of
/// sightings, and a `Vec`'s first allocation holds four, which per user adds up.
pub(crate) fn push_tight<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact((list.len() / 2).max(1));
    }
    list.push(item);
}

/// Gives back spare capacity after entries were dropped.
fn shrink<T>(list: &mut Vec<T>) {
    if list.capacity() > list.len() + list.len() / 2 + 1 {
        list.shrink_to_fit();
    }
}

/// The network of an address, for "same network, so the geolocation moved, not the user".
pub(crate) fn network_key(ip: Option<IpAddr>) -> u32 {
    let k = network_key64(ip);
    if k == 0 { 0 } else { ((k ^ (k >> 32)) as u32).max(1) }
}

fn network_key64(ip: Option<IpAddr>) -> u64 {
    match ip {
        Some(IpAddr::V4(v4)) => {
            let o = v4.octets();
            (4u64 << 56) | (u64::from(o[0]) << 16) | (u64::from(o[1]) << 8) | u64::from(o[2])
        }
        Some(IpAddr::V6(v6)) => {
            let o = v6.octets();
            let mut k = 6u64 << 56;
            for (i, byte) in o[..6].iter().enumerate() {
                k |= u64::from(*byte) << (8 * (5 - i));
            }
            k
        }
        None => 0,
    }
}

impl UserState {
    /// Drops what no rule can need any more; `true` when nothing is left.
    pub fn prune(&mut self, cfg: &Config, watermark: Micros) -> bool {
        let late_edge = watermark - cfg.lateness;
        self.countries.retain(|c| c.last >= watermark - cfg.forget);
        for c in &mut self.countries {
            if c.first < late_edge {
                c.young = None;
            }
            if c.incident.is_some() && c.first + crate::time::DAY + cfg.lateness < watermark {
                c.incident = None;
            }
        }
        self.sightings.retain(|s| s.t >= late_edge - cfg.travel_horizon);
        if self.sightings.is_empty() {
            self.cities = Vec::new();
        }
        shrink(&mut self.countries);
        shrink(&mut self.sightings);
        for (window, width) in [(&mut self.failures, cfg.failed_window), (&mut self.mfa, cfg.mfa_window)] {
            if let Some(w) = window {
                w.evict_before(late_edge - width);
                if w.is_empty() {
                    *window = None;
                }
            }
        }
        if self.last_activity < watermark - cfg.forget {
            return true;
        }
        self.countries.is_empty()
            && self.sightings.is_empty()
            && self.failures.is_none()
            && self.mfa.is_none()
            && self.first_success.is_none()
    }

    /// Approximate bytes held by this user, map slot included.
    pub fn approx_bytes(&self) -> usize {
        let mut n = std::mem::size_of::<UserState>() + 8 + 2;
        n += self.countries.capacity() * std::mem::size_of::<CountryMemo>();
        n += self.countries.iter().filter(|c| c.young.is_some()).count() * 512;
        n += self.sightings.capacity() * std::mem::size_of::<Sighting>();
        n += self.cities.capacity() * 16 + self.cities.iter().map(|c| c.len()).sum::<usize>();
        n += self.failures.as_ref().map_or(0, |w| w.heap_bytes());
        n += self.mfa.as_ref().map_or(0, |w| w.heap_bytes());
        n
    }
}

impl TenantState {
    /// Drops users, IP windows and memories nothing can need any more.
    pub fn sweep(&mut self, cfg: &Config, watermark: Micros) {
        self.users.retain(|_, u| !u.prune(cfg, watermark));
        let edge = watermark - cfg.lateness - cfg.spray_window;
        self.ips.retain(|_, w| {
            w.evict_before(edge);
            !w.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_round_trip_and_other_ids_stay_text() {
        for id in ["66ea54eb-6301-4ee5-be62-ff5a759b0100", "00000000-0000-0000-0000-000000000000"] {
            let c = CompactId::new(id);
            assert!(matches!(c, CompactId::Guid(_)));
            assert_eq!(c.to_string(), id);
        }
        for id in ["66EA54EB-6301-4EE5-BE62-FF5A759B0100", "id", "66ea54eb_6301-4ee5-be62-ff5a759b0100"] {
            let c = CompactId::new(id);
            assert!(matches!(c, CompactId::Text(_)));
            assert_eq!(c.to_string(), id);
        }
    }

    #[test]
    fn network_keys_group_by_prefix() {
        let a: IpAddr = "203.0.113.5".parse().unwrap();
        let b: IpAddr = "203.0.113.200".parse().unwrap();
        let c: IpAddr = "203.0.114.5".parse().unwrap();
        assert_eq!(network_key(Some(a)), network_key(Some(b)));
        assert_ne!(network_key(Some(a)), network_key(Some(c)));
        let x: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:ffff::1".parse().unwrap();
        assert_eq!(network_key(Some(x)), network_key(Some(y)));
        assert_eq!(network_key(None), 0);
        assert_ne!(network_key(Some(a)), 0);
        for ip in [a, x] {
            let s = Sighting {
                t: 0,
                lat: 0.0,
                lon: 0.0,
                net: 0,
                country: *b"DE",
                city: 0,
                ip: ip_bytes(Some(ip)),
                id: CompactId::new("x"),
            };
            assert_eq!(s.ip(), Some(ip));
        }
    }
}
