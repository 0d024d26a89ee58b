//! Realism that can be switched on: throttling, transient errors, dropped connections, ingestion
//! latency, duplicate deliveries, records that change after first being served, stale skip tokens.
//!
//! Three named profiles (`none`, `realistic`, `harsh`) set every knob at once; each knob can then
//! be changed on its own through the control API. Per-record decisions (how late a record becomes
//! visible, whether it changes later) come from random bits fixed in the record when it is
//! generated, so they are the same on every request; per-request decisions (a 503 here, a reset
//! there) come from a request counter mixed with the seed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::records::LogKind;
use crate::rng::mix64;
use crate::time::{TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND, Ticks};

/// How long after `createdDateTime` records become visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Latency {
    /// Visible at `createdDateTime`.
    None,
    /// Sign-ins and audits p95 ≈ 2 min, p99 ≈ 5 min; non-interactive 2–30 min; 0.5 % one to four
    /// hours late (Microsoft's published figures and practitioners' observations).
    Realistic,
    /// Three times longer, and 3 % one to six hours late.
    Harsh,
}

/// The named fault profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FaultProfile {
    None,
    Realistic,
    Harsh,
}

/// Every fault knob. Probabilities are per request (or per page, per record where said).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Enforce Graph's reporting-API limit per app and tenant (signIns and directoryAudits share it).
    pub throttle: bool,
    pub throttle_requests: u32,
    pub throttle_window_seconds: f64,
    /// Share of 429s whose `Retry-After` is fractional (like `2.128`).
    pub fractional_retry_after: f64,
    /// Share of 429s without a `Retry-After` header (clients must back off on their own).
    pub omit_retry_after: f64,
    /// Extra 429s regardless of the budget ("429 storm"), with `Retry-After` up to `storm_retry_after_max_seconds`.
    pub random_throttle: f64,
    pub storm_retry_after_max_seconds: f64,
    /// 503 / 504 answers.
    pub server_errors: f64,
    /// Connection reset before any response.
    pub drop_connection: f64,
    /// Response cut off in the middle of the body.
    pub truncate_body: f64,
    /// Delay before answering, milliseconds (uniform in [min, max]).
    pub response_delay_ms: [u64; 2],
    /// Ingestion latency.
    pub latency: Latency,
    /// Per page: the previous page's last record is served again.
    pub duplicates: f64,
    /// Per eligible record (sign-ins completed with MFA): its MFA details arrive 2–120 min after
    /// it first became visible (same id, new content).
    pub late_changes: f64,
    /// Per request carrying a skip token: the token is refused as expired.
    pub stale_skiptokens: f64,
    /// Skip tokens older than this are refused (0 = never).
    pub skiptoken_ttl_seconds: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig::profile(FaultProfile::None)
    }
}

impl FaultConfig {
    pub fn profile(profile: FaultProfile) -> FaultConfig {
        let none = FaultConfig {
            throttle: false,
            throttle_requests: 5,
            throttle_window_seconds: 10.0,
            fractional_retry_after: 0.0,
            omit_retry_after: 0.0,
            random_throttle: 0.0,
            storm_retry_after_max_seconds: 10.0,
            server_errors: 0.0,
            drop_connection: 0.0,
            truncate_body: 0.0,
            response_delay_ms: [0, 0],
            latency: Latency::None,
            duplicates: 0.0,
            late_changes: 0.0,
            stale_skiptokens: 0.0,
            skiptoken_ttl_seconds: 0,
        };
        match profile {
            FaultProfile::None => none,
            FaultProfile::Realistic => FaultConfig {
                throttle: true,
                fractional_retry_after: 0.2,
                server_errors: 0.005,
                drop_connection: 0.001,
                truncate_body: 0.001,
                response_delay_ms: [20, 150],
                latency: Latency::Realistic,
                duplicates: 0.01,
                late_changes: 0.3,
                stale_skiptokens: 0.002,
                skiptoken_ttl_seconds: 3600,
                ..none
            },
            FaultProfile::Harsh => FaultConfig {
                throttle: true,
                fractional_retry_after: 0.3,
                omit_retry_after: 0.05,
                random_throttle: 0.05,
                storm_retry_after_max_seconds: 3.0,
                server_errors: 0.05,
                drop_connection: 0.02,
                truncate_body: 0.02,
                response_delay_ms: [10, 300],
                latency: Latency::Harsh,
                duplicates: 0.1,
                late_changes: 0.6,
                stale_skiptokens: 0.02,
                skiptoken_ttl_seconds: 900,
                ..none
            },
        }
    }

    /// The longest a record can stay invisible under this configuration.
    pub fn max_visibility_delay(&self) -> Ticks {
        match self.latency {
            Latency::None => 0,
            Latency::Realistic => 4 * TICKS_PER_HOUR,
            Latency::Harsh => 6 * TICKS_PER_HOUR,
        }
    }

    /// Validates values a client sent through the control API.
    pub fn validate(&self) -> Result<(), String> {
        let probabilities = [
            ("fractional_retry_after", self.fractional_retry_after),
            ("omit_retry_after", self.omit_retry_after),
            ("random_throttle", self.random_throttle),
            ("server_errors", self.server_errors),
            ("drop_connection", self.drop_connection),
            ("truncate_body", self.truncate_body),
            ("duplicates", self.duplicates),
            ("late_changes", self.late_changes),
            ("stale_skiptokens", self.stale_skiptokens),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be a probability between 0 and 1, not {p}"));
            }
        }
        if self.throttle_requests == 0 {
            return Err("throttle_requests must be at least 1".into());
        }
        if !(self.throttle_window_seconds > 0.0 && self.throttle_window_seconds <= 3600.0) {
            return Err("throttle_window_seconds must be in (0, 3600]".into());
        }
        if self.response_delay_ms[0] > self.response_delay_ms[1] || self.response_delay_ms[1] > 60_000 {
            return Err("response_delay_ms must be [min, max] with min <= max <= 60000".into());
        }
        if !(self.storm_retry_after_max_seconds >= 0.0 && self.storm_retry_after_max_seconds <= 600.0) {
            return Err("storm_retry_after_max_seconds must be in [0, 600]".into());
        }
        Ok(())
    }
}

fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// When a record becomes visible, relative to its `createdDateTime`.
pub fn visibility_delay(latency: Latency, kind: LogKind, roll: u64) -> Ticks {
    let u = unit(mix64(roll ^ 0x1A7E));
    let (scale, very_late_share, very_late_max_h) = match latency {
        Latency::None => return 0,
        Latency::Realistic => (1.0, 0.005, 4.0),
        Latency::Harsh => (3.0, 0.03, 6.0),
    };
    if u > 1.0 - very_late_share {
        // One hour to the maximum.
        let v = (u - (1.0 - very_late_share)) / very_late_share;
        let hours = 1.0 + v * (very_late_max_h - 1.0);
        return (hours * TICKS_PER_HOUR as f64) as Ticks;
    }
    let v = u / (1.0 - very_late_share);
    let seconds = match kind {
        // p50 ≈ 40 s, p95 ≈ 120 s, p99 ≈ 300 s.
        LogKind::InteractiveUser | LogKind::DirectoryAudit => {
            if v < 0.5 {
                10.0 + v * 60.0
            } else if v < 0.95 {
                40.0 + (v - 0.5) / 0.45 * 80.0
            } else {
                120.0 + (v - 0.95) / 0.05 * 180.0
            }
        }
        // Two to thirty minutes.
        LogKind::NonInteractiveUser => 120.0 + v * v * 1680.0,
        LogKind::ServicePrincipal | LogKind::ManagedIdentity => 60.0 + v * 540.0,
    };
    (seconds * scale * TICKS_PER_SECOND as f64) as Ticks
}

/// If the record changes after becoming visible, how long after.
pub fn change_delay(late_changes: f64, roll: u64) -> Option<Ticks> {
    let u = unit(mix64(roll ^ 0xC4A6));
    if u < late_changes {
        let v = unit(mix64(roll ^ 0xC4A7));
        Some(2 * TICKS_PER_MINUTE + (v * 118.0 * TICKS_PER_MINUTE as f64) as Ticks)
    } else {
        None
    }
}

/// Graph's reporting throttle: at most N requests per sliding window per (tenant, app).
#[derive(Debug, Default)]
pub struct Throttle {
    windows: Mutex<HashMap<(usize, String), VecDeque<Instant>>>,
}

impl Throttle {
    /// Admits a request, or says how long to wait.
    pub fn admit(&self, tenant: usize, client_id: &str, limit: u32, window: Duration) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let q = windows.entry((tenant, client_id.to_ascii_lowercase())).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() < limit as usize {
            q.push_back(now);
            Ok(())
        } else {
            let oldest = *q.front().unwrap_or(&now);
            Err(window.saturating_sub(now.duration_since(oldest)))
        }
    }
}

/// Per-request random decisions, reproducible for a given seed and request order.
#[derive(Debug)]
pub struct Dice {
    seed: u64,
    counter: std::sync::atomic::AtomicU64,
}

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice { seed: mix64(seed ^ 0xD1CE), counter: std::sync::atomic::AtomicU64::new(0) }
    }

    /// A fresh uniform number in [0, 1).
    pub fn roll(&self) -> f64 {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unit(mix64(self.seed ^ mix64(n)))
    }

    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.roll() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_validate() {
        for p in [FaultProfile::None, FaultProfile::Realistic, FaultProfile::Harsh] {
            FaultConfig::profile(p).validate().unwrap();
        }
        let bad = FaultConfig { server_errors: 1.5, ..FaultConfig::default() };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn realistic_latency_matches_published_percentiles() {
        let mut delays: Vec<f64> = (0..20_000u64)
            .map(|i| {
                visibility_delay(Latency::Realistic, LogKind::InteractiveUser, mix64(i)) as f64
                    / TICKS_PER_SECOND as f64
            })
            .collect();
        delays.sort_by(f64::total_cmp);
        let p = |q: f64| delays[(q * delays.len() as f64) as usize];
        assert!((90.0..=150.0).contains(&p(0.95)), "p95 {}", p(0.95));
        assert!((200.0..=400.0).contains(&p(0.99)), "p99 {}", p(0.99));
        let max = FaultConfig::profile(FaultProfile::Realistic).max_visibility_delay() as f64 / TICKS_PER_SECOND as f64;
        assert!(delays.last().copied().unwrap_or(0.0) <= max);
        assert_eq!(visibility_delay(Latency::None, LogKind::InteractiveUser, 5), 0);
    }

    #[test]
    fn throttle_admits_five_per_window() {
        let t = Throttle::default();
        let w = Duration::from_secs(10);
        for _ in 0..5 {
            assert!(t.admit(0, "app", 5, w).is_ok());
        }
        let wait = t.admit(0, "app", 5, w).unwrap_err();
        assert!(wait > Duration::from_secs(9) && wait <= w);
        assert!(t.admit(1, "app", 5, w).is_ok(), "tenants are separate");
        assert!(t.admit(0, "other", 5, w).is_ok(), "apps are separate");
    }
}
