//! A deterministic generator of sign-in records, for benchmarks and load tests.
//!
//! Same seed, same workload, same records, on every machine and in every version (the generator
//! uses its own SplitMix64, not a library RNG whose streams may change). The records are shaped
//! like Graph v1.0 `signIn` objects with the usual properties (about 1.7 KB of JSON each). Two
//! workloads ([`Workload`]):
//!
//! - **Realistic** ([`Generator::realistic`]): what a tenant's log looks like. Users sign in about
//!   100 times a day across all sign-in types ([`realistic_step`]; research/performance.md G18,
//!   G19: 50–200 per user per day), one in twenty interactively during working hours
//!   (non-interactive token refreshes outnumber interactive sign-ins 10–50 times, G21). People
//!   work the hours the default settings name (08:00–18:00 UTC, Monday to Friday); outside them
//!   traffic is ten times sparser and almost all non-interactive (devices refreshing tokens;
//!   one record in 200 is someone working late). The usual typos, interrupts and MFA denials,
//!   and every 20,000 records a scripted attack (a password spray, a brute force or an
//!   impossible trip). No single-record "business trips": a trip starts with a journey, not a
//!   teleport between two sign-ins minutes apart.
//! - **Alert-heavy** ([`Generator::new`], the original workload): everyone signs in
//!   interactively one time in five, night and day, with the odd one-record business trip, so
//!   `after_hours` and `impossible_travel` fire constantly: about one alert event per twenty
//!   records. It is a stress test of incidents and rendering, and what the detector's tests
//!   use; real tenants alert far less.

use chrono::{DateTime, Utc};
use m365mon_model::Record;
use serde_json::{Value, json};

use crate::time::{MINUTE, Micros, SECOND, datetime, micros};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub seed: u64,
    pub users: u32,
    /// Time of the first record.
    pub start: DateTime<Utc>,
    /// Average time between two records.
    pub step: std::time::Duration,
    /// The tenant id written into the records (`resourceTenantId`, `homeTenantId`).
    pub tenant: String,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 1,
            users: 2_000,
            start: "2026-03-02T00:00:00Z".parse().unwrap_or_default(),
            step: std::time::Duration::from_millis(500),
            tenant: "5f3c0d2e-8a1b-4c6d-9e7f-0a1b2c3d4e5f".into(),
        }
    }
}

/// SplitMix64: tiny, fast, and its output is fixed by definition.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn guid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// (city, state, country, latitude, longitude, IPv4 /16 prefix)
const CITIES: [(&str, &str, &str, f64, f64, &str); 16] = [
    ("Berlin", "Berlin", "DE", 52.52, 13.405, "85.214"),
    ("Munich", "Bavaria", "DE", 48.137, 11.575, "91.61"),
    ("Paris", "Ile-de-France", "FR", 48.857, 2.352, "82.64"),
    ("London", "England", "GB", 51.507, -0.128, "81.2"),
    ("Madrid", "Madrid", "ES", 40.417, -3.704, "88.26"),
    ("Amsterdam", "North Holland", "NL", 52.370, 4.895, "145.53"),
    ("Stockholm", "Stockholm", "SE", 59.329, 18.069, "78.66"),
    ("Warsaw", "Masovia", "PL", 52.230, 21.012, "83.24"),
    ("New York", "New York", "US", 40.713, -74.006, "24.44"),
    ("Seattle", "Washington", "US", 47.606, -122.332, "73.97"),
    ("Chicago", "Illinois", "US", 41.878, -87.630, "98.212"),
    ("Toronto", "Ontario", "CA", 43.653, -79.383, "99.230"),
    ("Sydney", "New South Wales", "AU", -33.869, 151.209, "1.144"),
    ("Tokyo", "Tokyo", "JP", 35.690, 139.692, "126.15"),
    ("Singapore", "Singapore", "SG", 1.352, 103.820, "116.14"),
    ("Sao Paulo", "Sao Paulo", "BR", -23.551, -46.633, "177.32"),
];

const APPS: [(&str, &str); 6] = [
    ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
    ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
    ("Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000"),
    ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
    ("Microsoft Outlook", "5d661950-3475-41cd-a2c3-d671a3162bc1"),
    ("OneDrive SyncEngine", "ab9b8c07-8f02-4f72-87fa-80105867a763"),
];

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17726; Pro)",
];

#[derive(Debug, Clone)]
struct User {
    upn: String,
    id: String,
    name: String,
    home: usize,
    host: u8,
}

/// What kind of traffic a [`Generator`] produces (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A tenant's ordinary day: interactive sign-ins mostly in working hours, few alerts.
    Realistic,
    /// Interactive sign-ins round the clock and one-record trips: an alert event per twenty records.
    AlertHeavy,
}

/// Sign-ins per user per day in the realistic workload (all sign-in types).
pub const REALISTIC_SIGN_INS_PER_USER_PER_DAY: u32 = 100;

/// The average step between records (the `step` of [`SynthOptions`]) at which `users` sign in
/// [`REALISTIC_SIGN_INS_PER_USER_PER_DAY`] times a day in the realistic workload: the step is the
/// working-hours one, and the other hours are ten times sparser.
pub fn realistic_step(users: u32) -> std::time::Duration {
    let per_day = f64::from(users.max(1)) * f64::from(REALISTIC_SIGN_INS_PER_USER_PER_DAY);
    // Five weekdays of ten busy hours; the other hours count a tenth.
    let busy_seconds_per_day = (5.0 * (10.0 + 14.0 / 10.0) + 2.0 * 24.0 / 10.0) / 7.0 * 3600.0;
    std::time::Duration::from_secs_f64(busy_seconds_per_day / per_day)
}

/// An endless, deterministic stream of sign-in records in ascending event time.
#[derive(Debug, Clone)]
pub struct Generator {
    workload: Workload,
    rng: SplitMix64,
    users: Vec<User>,
    options: SynthOptions,
    time: Micros,
    step: Micros,
    produced: u64,
    /// Records left in the current scripted attack, and what it is.
    attack: Option<(Attack, u32)>,
}

#[derive(Debug, Clone, Copy)]
enum Attack {
    Spray,
    BruteForce(usize),
    Travel(usize),
}

impl Generator {
    /// The alert-heavy workload ([`Workload::AlertHeavy`]); unchanged since the first version, so
    /// the same seed still gives the same records.
    pub fn new(options: SynthOptions) -> Generator {
        Generator::with_workload(options, Workload::AlertHeavy)
    }

    /// The realistic workload ([`Workload::Realistic`]). Pace it with [`realistic_step`].
    pub fn realistic(options: SynthOptions) -> Generator {
        Generator::with_workload(options, Workload::Realistic)
    }

    pub fn with_workload(options: SynthOptions, workload: Workload) -> Generator {
        let mut rng = SplitMix64(options.seed ^ 0x6d36_356d_6f6e);
        let users = (0..options.users.max(1))
            .map(|i| User {
                upn: format!("user{i:06}@contoso.com"),
                id: rng.guid(),
                name: format!("User {i}"),
                // Most users work in the European offices, the rest around the world.
                home: if rng.below(100) < 95 { rng.below(8) as usize } else { rng.below(CITIES.len() as u64) as usize },
                host: (rng.below(250) + 2) as u8,
            })
            .collect();
        let step = (options.step.as_micros() as Micros).max(1);
        Generator { workload, rng, users, time: micros(options.start), step, produced: 0, attack: None, options }
    }

    /// The next record as Graph JSON.
    pub fn next_json(&mut self) -> Value {
        match self.workload {
            Workload::AlertHeavy => self.next_alert_heavy(),
            Workload::Realistic => self.next_realistic(),
        }
    }

    /// Whether `t` is in the working hours of the default settings (08:00–18:00 UTC, Mon–Fri).
    fn working_time(t: Micros) -> bool {
        let hour = t.div_euclid(crate::time::HOUR).rem_euclid(24);
        // 1970-01-01 was a Thursday: day 0 + 3 is a Sunday ... so (days + 3) % 7 < 5 is Mon–Fri.
        let weekday = (t.div_euclid(crate::time::DAY) + 3).rem_euclid(7);
        weekday < 5 && (8..18).contains(&hour)
    }

    /// Starts a scripted attack every 20,000 records; returns its next record while one runs.
    fn scripted_attack(&mut self) -> Option<Value> {
        if self.attack.is_none() && self.produced.is_multiple_of(20_000) {
            let pick = self.rng.below(3);
            let victim = self.rng.below(self.users.len() as u64) as usize;
            self.attack = Some(match pick {
                0 => (Attack::Spray, 40),
                1 => (Attack::BruteForce(victim), 12),
                _ => (Attack::Travel(victim), 2),
            });
        }
        let (attack, left) = self.attack?;
        self.attack = if left > 1 { Some((attack, left - 1)) } else { None };
        Some(self.attack_record(attack, left))
    }

    /// A result code, reason and details: mostly success, some typos, interrupts, MFA denials.
    fn result(&mut self) -> (i64, Option<&'static str>, Option<&'static str>) {
        let roll = self.rng.unit();
        if roll < 0.93 {
            (0, None, None)
        } else if roll < 0.96 {
            (
                50140,
                Some("This error occurred due to 'Keep me signed in' interrupt when the user was signing in."),
                None,
            )
        } else if roll < 0.985 {
            (50126, Some("Error validating credentials due to invalid username or password."), None)
        } else if roll < 0.995 {
            (50074, Some("Strong Authentication is required."), None)
        } else {
            (
                500121,
                Some("Authentication failed during strong authentication request."),
                Some("MFA denied; user did not respond to mobile app notification"),
            )
        }
    }

    fn next_realistic(&mut self) -> Value {
        let working = Self::working_time(self.time);
        let sparse = if working { 1.0 } else { 10.0 };
        let jitter = (self.rng.unit() * 2.0 * self.step as f64 * sparse) as Micros;
        self.time += jitter.max(1);
        self.produced += 1;
        if let Some(record) = self.scripted_attack() {
            return record;
        }
        let u = self.rng.below(self.users.len() as u64) as usize;
        let (code, reason, details) = self.result();
        // Interactive one time in twenty at work; out of hours almost only devices refreshing tokens.
        let interactive = self.rng.unit() < if working { 0.05 } else { 0.005 };
        let (city, host) = (self.users[u].home, self.users[u].host);
        self.sign_in(u, city, host, code, reason, details, interactive)
    }

    fn next_alert_heavy(&mut self) -> Value {
        // Irregular spacing around the average step, ten times sparser outside 06:00–18:00 UTC
        // (the tenant's working day: most users work in Europe).
        let hour = self.time.div_euclid(crate::time::HOUR).rem_euclid(24);
        let sparse = if (6..18).contains(&hour) { 1.0 } else { 10.0 };
        let jitter = (self.rng.unit() * 2.0 * self.step as f64 * sparse) as Micros;
        self.time += jitter.max(1);
        self.produced += 1;
        if let Some(record) = self.scripted_attack() {
            return record;
        }
        // People work in their own daytime: a user whose local hour (from the office's
        // longitude) is outside 08:00–17:00 is usually replaced by another.
        let utc_hour = (self.time.div_euclid(crate::time::HOUR)).rem_euclid(24);
        let mut u = self.rng.below(self.users.len() as u64) as usize;
        for _ in 0..4 {
            let offset = (CITIES[self.users[u].home].4 / 15.0).round() as i64;
            let local = (utc_hour + offset).rem_euclid(24);
            if (8..17).contains(&local) || self.rng.unit() < 0.05 {
                break;
            }
            u = self.rng.below(self.users.len() as u64) as usize;
        }
        let (code, reason, details) = self.result();
        let interactive = self.rng.unit() < 0.2;
        // One in a thousand sign-ins happens on a business trip.
        let city =
            if self.rng.unit() < 0.001 { self.rng.below(CITIES.len() as u64) as usize } else { self.users[u].home };
        let host = self.users[u].host;
        self.sign_in(u, city, host, code, reason, details, interactive)
    }

    /// The next record, parsed into the model.
    pub fn next_record(&mut self) -> Record {
        let value = self.next_json();
        serde_json::from_value(value).expect("generated records are valid")
    }

    fn attack_record(&mut self, attack: Attack, left: u32) -> Value {
        match attack {
            Attack::Spray => {
                let u = self.rng.below(self.users.len() as u64) as usize;
                let mut v = self.sign_in(
                    u,
                    7,
                    66,
                    50126,
                    Some("Error validating credentials due to invalid username or password."),
                    None,
                    true,
                );
                v["ipAddress"] = json!("185.220.101.66");
                v["userAgent"] = json!("python-requests/2.31.0");
                v
            }
            Attack::BruteForce(victim) => self.sign_in(
                victim,
                15,
                9,
                50126,
                Some("Error validating credentials due to invalid username or password."),
                None,
                true,
            ),
            Attack::Travel(victim) => {
                let home = self.users[victim].home;
                let far = (home + CITIES.len() / 2) % CITIES.len();
                let city = if left == 2 { home } else { far };
                let host = self.users[victim].host;
                self.sign_in(victim, city, host, 0, None, None, true)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sign_in(
        &mut self,
        u: usize,
        city: usize,
        host: u8,
        code: i64,
        reason: Option<&str>,
        details: Option<&str>,
        interactive: bool,
    ) -> Value {
        let (name, state, country, lat, lon, prefix) = CITIES[city];
        let (app, app_id) = APPS[self.rng.below(APPS.len() as u64) as usize];
        let agent = AGENTS[self.rng.below(AGENTS.len() as u64) as usize];
        let subnet = self.rng.below(4) + 10;
        let user = &self.users[u];
        let (upn, user_id, display) = (user.upn.clone(), user.id.clone(), user.name.clone());
        let id = self.rng.guid();
        let correlation = self.rng.guid();
        let time = datetime(self.time);
        json!({
            "id": id,
            "createdDateTime": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "userDisplayName": display,
            "userPrincipalName": upn,
            "userId": user_id,
            "appId": app_id,
            "appDisplayName": app,
            "ipAddress": format!("{prefix}.{subnet}.{host}"),
            "clientAppUsed": if interactive { "Browser" } else { "Mobile Apps and Desktop clients" },
            "correlationId": correlation,
            "conditionalAccessStatus": if code == 0 { "success" } else { "notApplied" },
            "isInteractive": interactive,
            "riskDetail": "none",
            "riskLevelAggregated": "none",
            "riskLevelDuringSignIn": "none",
            "riskState": "none",
            "riskEventTypes_v2": [],
            "resourceDisplayName": app,
            "resourceId": app_id,
            "userAgent": agent,
            "resourceTenantId": self.options.tenant,
            "homeTenantId": self.options.tenant,
            "status": {
                "errorCode": code,
                "failureReason": reason.unwrap_or("Other."),
                "additionalDetails": details,
            },
            "deviceDetail": {
                "deviceId": "",
                "displayName": "",
                "operatingSystem": if agent.contains("iPhone") { "Ios 17" } else { "Windows 10" },
                "browser": if agent.contains("Edg") { "Edge 126.0.0" } else { "Rich Client 5.2.0" },
                "isCompliant": false,
                "isManaged": false,
                "trustType": "",
            },
            "location": {
                "city": name,
                "state": state,
                "countryOrRegion": country,
                "geoCoordinates": {"altitude": null, "latitude": lat, "longitude": lon},
            },
            "appliedConditionalAccessPolicies": [
                {"id": "8e1f2a3b-0000-4000-8000-000000000001", "displayName": "Require MFA for admins", "enforcedGrantControls": [], "enforcedSessionControls": [], "result": "notApplied"},
                {"id": "8e1f2a3b-0000-4000-8000-000000000002", "displayName": "Block legacy authentication", "enforcedGrantControls": ["Block"], "enforcedSessionControls": [], "result": "notApplied"},
            ],
        })
    }

    /// Seconds of event time the generator has covered so far.
    pub fn elapsed_seconds(&self) -> i64 {
        (self.time - micros(self.options.start)) / SECOND
    }

    /// Average minutes between records.
    pub fn step_minutes(&self) -> f64 {
        self.step as f64 / MINUTE as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_records_and_they_parse() {
        let mut a = Generator::new(SynthOptions { users: 50, ..SynthOptions::default() });
        let mut b = Generator::new(SynthOptions { users: 50, ..SynthOptions::default() });
        for _ in 0..500 {
            let (x, y) = (a.next_json(), b.next_json());
            assert_eq!(x, y);
            let record: Record = serde_json::from_value(x).unwrap();
            assert!(record.event_time().is_some());
        }
        let mut c = Generator::new(SynthOptions { users: 50, seed: 2, ..SynthOptions::default() });
        assert_ne!(a.next_json()["id"], c.next_json()["id"]);
    }

    #[test]
    fn realistic_traffic_is_mostly_non_interactive_and_quiet_at_night() {
        let options = SynthOptions { users: 1_000, step: realistic_step(1_000), ..SynthOptions::default() };
        let (mut a, mut b) = (Generator::realistic(options.clone()), Generator::realistic(options));
        let (mut night, mut night_interactive, mut day, mut day_interactive) = (0u32, 0u32, 0u32, 0u32);
        let mut last = String::new();
        for _ in 0..100_000 {
            let record = a.next_json();
            assert_eq!(record, b.next_json(), "same seed, same records");
            let time = record["createdDateTime"].as_str().unwrap().to_string();
            assert!(time >= last, "ascending event time");
            let hour: u32 = time[11..13].parse().unwrap();
            let interactive = record["isInteractive"].as_bool().unwrap();
            if (8..18).contains(&hour) {
                day += 1;
                day_interactive += u32::from(interactive);
            } else {
                night += 1;
                night_interactive += u32::from(interactive);
            }
            last = time;
        }
        // 100 sign-ins per user per day: 100,000 records of 1,000 users are about a day.
        assert!(last.starts_with("2026-03-02") || last.starts_with("2026-03-03"), "{last}");
        assert!(day > 0 && night > 0);
        let (day_share, night_share) =
            (f64::from(day_interactive) / f64::from(day), f64::from(night_interactive) / f64::from(night));
        assert!((0.035..0.065).contains(&day_share), "interactive by day {day_share}");
        assert!(night_share < 0.01, "interactive at night {night_share}");
    }
}
