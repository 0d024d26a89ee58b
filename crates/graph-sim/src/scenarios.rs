//! Attack scenarios: records that m365-monitor's rules (design §3) exist to catch, with the shape
//! real attacks leave in the logs (error codes, failure reasons, additional details, locations,
//! user agents, risk fields, audit modified properties). Each injection returns the ids it created
//! so tests can check exactly which alerts cite which records.
//!
//! Records end at `at` (default: now) so a running collector finds them in its next poll; the
//! `after_hours` scenario is the exception (it needs an off-hours time, see its description).

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{self, CITIES, CLIENT_APPS, ROLE_TEMPLATES, distance_km};
use crate::records::{AuditData, AuthStep, Initiator, LogKind, Modified, SignInData, Target};
use crate::rng::{Rng, guid_of, mix64};
use crate::sim::SimState;
use crate::store::{StoredBody, StoredRecord, TenantStore};
use crate::time::{TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND, Ticks, format_graph, parse_odata_datetime};
use crate::traffic::{self, Event, Net, Template};
use crate::world::{User, synthetic_ip};

/// A scenario to inject (control API body, `--scenario NAME`, or [`crate::GraphSim::inject`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioRequest {
    pub name: String,
    /// Tenant id, domain, or index ("0"); default the first tenant.
    pub tenant: Option<String>,
    /// Target user (UPN or id); default chosen by the scenario.
    pub user: Option<String>,
    /// Attacker IP address; default a synthetic address in the scenario's city.
    pub ip: Option<String>,
    /// Users (spray), failures (brute force) or prompts (MFA fatigue).
    pub count: Option<u32>,
    /// When the scenario ends (RFC 3339); default now.
    pub at: Option<String>,
}

impl ScenarioRequest {
    pub fn named(name: &str) -> ScenarioRequest {
        ScenarioRequest { name: name.to_string(), ..Default::default() }
    }
}

/// A record a scenario created.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScenarioRecord {
    pub id: String,
    pub kind: LogKind,
    pub time: String,
}

/// What an injection produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InjectedScenario {
    pub name: String,
    pub tenant_id: String,
    pub description: String,
    /// Rule ids (design §3) these records are meant to trigger.
    pub expected_rules: Vec<String>,
    pub user: Option<String>,
    pub ip: Option<String>,
    pub first: String,
    pub last: String,
    pub sign_in_ids: Vec<String>,
    pub audit_ids: Vec<String>,
    pub records: Vec<ScenarioRecord>,
}

/// Why a scenario could not be injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("unknown scenario '{0}'; known: {list}", list = names().join(", "))]
    Unknown(String),
    #[error("unknown tenant '{0}'")]
    Tenant(String),
    #[error("user '{0}' is not in the tenant")]
    User(String),
    #[error("'at' must be an RFC 3339 date-time, not '{0}'")]
    Time(String),
    #[error("'{0}' is not an IP address")]
    Ip(String),
    #[error("{0}")]
    Invalid(String),
}

/// (name, description, expected rules)
pub const SCENARIOS: &[(&str, &str, &[&str])] = &[
    (
        "password_spray",
        "One foreign IP tries one password against many users (50126, a few 50053) within 30 minutes.",
        &["password_spray"],
    ),
    (
        "brute_force",
        "Many wrong passwords for one user from one IP within 8 minutes, ending in a lockout (50053).",
        &["failed_logins"],
    ),
    (
        "impossible_travel",
        "A successful sign-in at home, then another 40 minutes later from a city thousands of kilometres away.",
        &["impossible_travel", "new_country"],
    ),
    (
        "mfa_fatigue",
        "Correct password, then repeated MFA push denials / timeouts (500121) within 12 minutes, then an approval.",
        &["mfa_fatigue"],
    ),
    ("legacy_auth", "A successful IMAP4 sign-in (basic authentication, ROPC, BAV2ROPC user agent).", &["legacy_auth"]),
    (
        "risky_sign_in",
        "A successful sign-in from an anonymising IP that Identity Protection rates high risk.",
        &["risky_sign_in"],
    ),
    ("disabled_account", "Sign-in attempts on a disabled account (50057).", &["disabled_account"]),
    (
        "role_assignment",
        "An administrator adds a user to Global Administrator (audit 'Add member to role').",
        &["sensitive_change"],
    ),
    (
        "consent_grant",
        "A user consents to an unknown app asking for mail and file access ('Consent to application', 'Add delegated permission grant').",
        &["sensitive_change"],
    ),
    (
        "sp_credential",
        "A new client secret is added to a service principal ('Add service principal credentials').",
        &["sensitive_change"],
    ),
    ("break_glass", "The emergency-access account signs in.", &["break_glass", "admin_sign_in"]),
    (
        "after_hours",
        "A successful interactive sign-in outside 08:00-18:00 Mon-Fri UTC: at 'at' if that is off-hours, else 07:55 UTC that day (or 'at' minus a day until off-hours).",
        &["after_hours"],
    ),
    (
        "new_country",
        "A successful sign-in from the nearest city in another country (no impossible travel). Fires only for users past the learning period: use --history-days >= 15.",
        &["new_country"],
    ),
    (
        "high_risk_country",
        "A successful sign-in from Tehran (IR).",
        &["high_risk_country", "new_country", "impossible_travel"],
    ),
    ("admin_sign_in", "A Global Administrator signs in.", &["admin_sign_in"]),
];

pub fn names() -> Vec<&'static str> {
    SCENARIOS.iter().map(|s| s.0).collect()
}

struct Builder<'s> {
    store: &'s TenantStore,
    rng: Rng,
    records: Vec<StoredRecord>,
}

impl<'s> Builder<'s> {
    fn key(&self) -> u64 {
        self.store.next_key(false)
    }

    /// A realistic successful interactive sign-in of `user` at `t`, from home.
    fn sign_in(&mut self, user: &User, t: Ticks) -> SignInData<'static> {
        let key = self.key();
        let e = Event {
            ticks: t,
            key,
            kind: LogKind::InteractiveUser,
            template: Template::Success,
            actor: user.index as u32,
            detail: data::APP_OFFICE_WEB as u16,
            device: 0,
            net: Net::Home,
            session: self.rng.next_u64(),
            roll: mix64(key),
        };
        let mut d = traffic::sign_in(&self.store.tenant, &e, true).into_owned();
        d.id = Cow::Owned(guid_of(&[self.store.tenant.seed, key, 0x5C]));
        d
    }

    fn push_sign_in(&mut self, d: SignInData<'static>) {
        let key = self.key();
        self.records.push(StoredRecord {
            ticks: d.created,
            key,
            kind: LogKind::from(d.kind),
            id: d.id.to_string(),
            body: StoredBody::SignIn(Box::new(d)),
            early: None,
            roll: mix64(key ^ 0x5EED),
        });
    }

    fn push_audit(&mut self, a: AuditData<'static>) {
        let key = self.key();
        self.records.push(StoredRecord {
            ticks: a.at,
            key,
            kind: LogKind::DirectoryAudit,
            id: a.id.to_string(),
            body: StoredBody::Audit(Box::new(a)),
            early: None,
            roll: mix64(key ^ 0x5EED),
        });
    }

    fn audit_id(&mut self, corr: &str) -> String {
        let h = self.rng.next_u64();
        let letters: String = (0..5).map(|i| (b'A' + ((h >> (i * 5)) % 26) as u8) as char).collect();
        format!("Directory_{corr}_{letters}_{}", 100_000_000 + (h >> 32) % 900_000_000)
    }
}

fn place(d: &mut SignInData<'static>, city: usize, ip: &str) {
    let c = &CITIES[city];
    d.ip_address = Cow::Owned(ip.to_string());
    d.location.city = Cow::Borrowed(c.name);
    d.location.state = Cow::Borrowed(c.state);
    d.location.country = Cow::Borrowed(c.country);
    d.location.coordinates = Some((c.latitude, c.longitude));
    d.asn = c.asn;
    d.named_network = None;
}

fn unknown_device(d: &mut SignInData<'static>, os: &'static str, browser: &'static str) {
    d.device.device_id = Cow::Borrowed("");
    d.device.display_name = Cow::Borrowed("");
    d.device.operating_system = Cow::Borrowed(os);
    d.device.browser = Cow::Borrowed(browser);
    d.device.is_compliant = false;
    d.device.is_managed = false;
    d.device.trust_type = Cow::Borrowed("");
}

fn step(
    at: Ticks,
    method: &'static str,
    detail: &'static str,
    ok: bool,
    result: &'static str,
    req: &'static str,
) -> AuthStep<'static> {
    AuthStep {
        at,
        method: Cow::Borrowed(method),
        method_detail: Cow::Borrowed(detail),
        succeeded: ok,
        result_detail: Cow::Borrowed(result),
        requirement: Cow::Borrowed(req),
    }
}

fn fail(d: &mut SignInData<'static>, code: i32, reason: &'static str, details: Option<&'static str>) {
    d.error_code = code;
    d.failure_reason = Some(Cow::Borrowed(reason));
    d.additional_details = details.map(Cow::Borrowed);
    d.conditional_access_status = "notApplied";
    for p in &mut d.ca_policies {
        if matches!(p.result, "success" | "failure") {
            p.result = "notApplied";
        }
    }
}

fn wrong_password(d: &mut SignInData<'static>) {
    fail(
        d,
        50126,
        "Error validating credentials due to invalid username or password.",
        Some(
            "The user didn't enter the right credentials. It's expected to see some number of these errors in your logs due to users making mistakes.",
        ),
    );
    d.auth_details = vec![step(
        d.created,
        "Password",
        "Password in the cloud",
        false,
        "Invalid username or password or Invalid on-premise username or password.",
        "Primary authentication",
    )];
    d.auth_methods_used = vec!["Password"];
    d.authentication_requirement = "singleFactorAuthentication";
}

fn attacker_tooling(d: &mut SignInData<'static>, app: usize, user_agent: &'static str) {
    let a = &CLIENT_APPS[app];
    d.app_id = Cow::Borrowed(a.app_id);
    d.app_display_name = Cow::Borrowed(a.display_name);
    d.client_app_used = Some(Cow::Borrowed(a.client_app_used));
    d.user_agent = Some(Cow::Borrowed(user_agent));
    d.authentication_protocol = "ropc";
    d.processing_details.clear();
    unknown_device(d, "", "");
}

fn ip_or(request: &ScenarioRequest, rng: &mut Rng, city: usize) -> Result<String, ScenarioError> {
    match &request.ip {
        Some(ip) => ip.parse::<std::net::IpAddr>().map(|_| ip.clone()).map_err(|_| ScenarioError::Ip(ip.clone())),
        None => Ok(synthetic_ip(rng, city, 5)),
    }
}

/// A city far from `home` (another region).
fn far_city(home: usize) -> usize {
    let h = &CITIES[home];
    let candidates = ["Singapore", "Sydney", "Sao Paulo", "Tokyo", "Lagos", "London", "New York"];
    candidates
        .iter()
        .map(|n| data::city_index(n))
        .filter(|c| CITIES[*c].country != h.country)
        .max_by(|a, b| distance_km(h, &CITIES[*a]).total_cmp(&distance_km(h, &CITIES[*b])))
        .unwrap_or(0)
}

/// The nearest city in another country.
fn nearest_foreign_city(home: usize) -> usize {
    let h = &CITIES[home];
    (0..CITIES.len())
        .filter(|c| CITIES[*c].country != h.country && !["IR", "KP", "SY", "CU"].contains(&CITIES[*c].country))
        .min_by(|a, b| distance_km(h, &CITIES[*a]).total_cmp(&distance_km(h, &CITIES[*b])))
        .unwrap_or(0)
}

fn off_hours(at: Ticks) -> Ticks {
    use chrono::{Datelike, Timelike};
    let mut t = at;
    for _ in 0..8 {
        let dt = crate::time::to_datetime(t);
        let weekday = dt.weekday().num_days_from_monday() < 5;
        let minute = dt.hour() * 60 + dt.minute();
        if !weekday || !(8 * 60..18 * 60).contains(&minute) {
            return t;
        }
        // 07:55 UTC the same day.
        let midnight = t
            - (i64::from(minute) * TICKS_PER_MINUTE
                + i64::from(dt.second()) * TICKS_PER_SECOND
                + t.rem_euclid(TICKS_PER_SECOND));
        t = midnight + 7 * TICKS_PER_HOUR + 55 * TICKS_PER_MINUTE;
    }
    t
}

/// Injects a scenario into the simulator.
pub fn inject(state: &SimState, request: &ScenarioRequest) -> Result<InjectedScenario, ScenarioError> {
    let (name, description, expected) =
        *SCENARIOS.iter().find(|s| s.0 == request.name).ok_or_else(|| ScenarioError::Unknown(request.name.clone()))?;
    let tenant_index = match &request.tenant {
        None => 0,
        Some(t) => match t.parse::<usize>() {
            Ok(i) if i < state.tenants.len() => i,
            _ => state.tenant_index(t).ok_or_else(|| ScenarioError::Tenant(t.clone()))?,
        },
    };
    let store = &state.tenants[tenant_index];
    let tenant = &store.tenant;
    let at = match &request.at {
        None => state.clock.now() - TICKS_PER_SECOND,
        Some(text) => parse_odata_datetime(text).ok_or_else(|| ScenarioError::Time(text.clone()))?,
    };
    let scenario_number = state.scenarios.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
    let mut b =
        Builder { store, rng: Rng::from_parts(&[tenant.seed, 0x5CE, scenario_number, at as u64]), records: Vec::new() };
    let regular: Vec<&User> = tenant.regular_users().filter(|u| u.initial_roles.is_empty()).collect();
    let pick_user = |b: &mut Builder<'_>, default: Option<&'static str>| -> Result<&User, ScenarioError> {
        match &request.user {
            Some(u) => tenant.find_user(u).ok_or_else(|| ScenarioError::User(u.clone())),
            None => match default {
                Some("admin") => Ok(&tenant.users[1]),
                Some("break_glass") => Ok(&tenant.users[0]),
                Some("disabled") => Ok(tenant
                    .users
                    .iter()
                    .find(|u| !u.account_enabled)
                    .unwrap_or(&tenant.users[tenant.users.len() - 1])),
                _ => {
                    if regular.is_empty() {
                        Ok(&tenant.users[tenant.users.len() - 1])
                    } else {
                        Ok(regular[b.rng.below(regular.len() as u64) as usize])
                    }
                }
            },
        }
    };
    let chosen_user: Option<String>;
    let chosen_ip: Option<String>;
    match name {
        "password_spray" => {
            let city = data::city_index("Moscow");
            let ip = ip_or(request, &mut b.rng, city)?;
            let n = request.count.unwrap_or(15).max(1) as usize;
            let mut targets: Vec<&User> = tenant.users.iter().filter(|u| !u.break_glass).collect();
            if targets.is_empty() {
                return Err(ScenarioError::Invalid("the tenant has no users to spray".into()));
            }
            let offset = b.rng.below(targets.len() as u64) as usize;
            targets.rotate_left(offset);
            let n = n.min(targets.len());
            for (i, user) in targets.iter().take(n).enumerate() {
                let t = at - 30 * TICKS_PER_MINUTE + (i as i64 * 30 * TICKS_PER_MINUTE) / n as i64;
                let mut d = b.sign_in(user, t);
                place(&mut d, city, &ip);
                attacker_tooling(&mut d, data::APP_AZURE_POWERSHELL, "python-requests/2.32.3");
                wrong_password(&mut d);
                if i + 2 >= n && n > 4 {
                    fail(
                        &mut d,
                        50053,
                        "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
                        Some("Sign-in was blocked because it came from an IP address with malicious activity."),
                    );
                }
                b.push_sign_in(d);
            }
            chosen_user = None;
            chosen_ip = Some(ip);
        }
        "brute_force" => {
            let user = pick_user(&mut b, None)?;
            let city = data::city_index("Bucharest");
            let ip = ip_or(request, &mut b.rng, city)?;
            let n = request.count.unwrap_or(12).max(1) as i64;
            for i in 0..=n {
                let t = at - 8 * TICKS_PER_MINUTE + (i * 8 * TICKS_PER_MINUTE) / (n + 1);
                let mut d = b.sign_in(user, t);
                place(&mut d, city, &ip);
                attacker_tooling(
                    &mut d,
                    data::APP_OFFICE_WEB,
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                );
                d.client_app_used = Some(Cow::Borrowed("Browser"));
                d.authentication_protocol = "oAuth2";
                wrong_password(&mut d);
                if i == n {
                    fail(
                        &mut d,
                        50053,
                        "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
                        Some(
                            "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
                        ),
                    );
                }
                b.push_sign_in(d);
            }
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "impossible_travel" => {
            let user = pick_user(&mut b, None)?;
            let home = b.sign_in(user, at - 40 * TICKS_PER_MINUTE);
            b.push_sign_in(home);
            let city = far_city(user.city);
            let ip = ip_or(request, &mut b.rng, city)?;
            let mut d = b.sign_in(user, at);
            place(&mut d, city, &ip);
            unknown_device(&mut d, "Windows 10", "Chrome 120.0.0");
            d.user_agent = Some(Cow::Borrowed(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ));
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "mfa_fatigue" => {
            let user = pick_user(&mut b, None)?;
            let city = data::city_index("Lagos");
            let ip = ip_or(request, &mut b.rng, city)?;
            let n = request.count.unwrap_or(7).max(1) as i64;
            for i in 0..n {
                let t = at - 12 * TICKS_PER_MINUTE + (i * 11 * TICKS_PER_MINUTE) / n;
                let mut d = b.sign_in(user, t);
                place(&mut d, city, &ip);
                unknown_device(&mut d, "Windows 10", "Chrome 120.0.0");
                let detail = if i % 3 == 2 {
                    "MFA denied; user did not respond to mobile app notification"
                } else {
                    "MFA denied; user declined the authentication"
                };
                fail(&mut d, 500121, "Authentication failed during strong authentication request.", Some(detail));
                d.authentication_requirement = "multiFactorAuthentication";
                d.auth_methods_used = vec!["Password", "Mobile app notification"];
                d.auth_details = vec![
                    step(
                        t - 15 * TICKS_PER_SECOND,
                        "Password",
                        "Password in the cloud",
                        true,
                        "Correct password",
                        "Primary authentication",
                    ),
                    step(t, "Mobile app notification", "", false, detail, "Multifactor authentication"),
                ];
                b.push_sign_in(d);
            }
            let mut d = b.sign_in(user, at);
            place(&mut d, city, &ip);
            unknown_device(&mut d, "Windows 10", "Chrome 120.0.0");
            d.authentication_requirement = "multiFactorAuthentication";
            d.additional_details = Some(Cow::Borrowed("MFA completed in Azure AD"));
            d.auth_methods_used = vec!["Password", "Mobile app notification"];
            d.auth_details = vec![
                step(
                    at - 20 * TICKS_PER_SECOND,
                    "Password",
                    "Password in the cloud",
                    true,
                    "Correct password",
                    "Primary authentication",
                ),
                step(
                    at,
                    "Mobile app notification",
                    "",
                    true,
                    "MFA successfully completed",
                    "Multifactor authentication",
                ),
            ];
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "legacy_auth" => {
            let user = pick_user(&mut b, None)?;
            let city = user.city;
            let ip = ip_or(request, &mut b.rng, city)?;
            let mut d = b.sign_in(user, at);
            place(&mut d, city, &ip);
            attacker_tooling(&mut d, data::APP_EXCHANGE_LEGACY, "BAV2ROPC");
            d.client_app_used = Some(Cow::Borrowed("IMAP4"));
            d.resource_display_name = Cow::Borrowed("Office 365 Exchange Online");
            d.resource_id = Cow::Borrowed("00000002-0000-0ff1-ce00-000000000000");
            d.authentication_requirement = "singleFactorAuthentication";
            d.additional_details = None;
            d.auth_methods_used = vec!["Password"];
            d.auth_details =
                vec![step(at, "Password", "Password in the cloud", true, "Correct password", "Primary authentication")];
            for p in &mut d.ca_policies {
                if p.display_name == "Block legacy authentication" {
                    p.result = "reportOnlyFailure";
                }
            }
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "risky_sign_in" => {
            let user = pick_user(&mut b, None)?;
            let city = data::city_index("Frankfurt am Main");
            let ip = ip_or(request, &mut b.rng, city)?;
            let mut d = b.sign_in(user, at);
            place(&mut d, city, &ip);
            unknown_device(&mut d, "Linux", "Firefox 115.0");
            d.user_agent = Some(Cow::Borrowed("Mozilla/5.0 (Windows NT 10.0; rv:115.0) Gecko/20100101 Firefox/115.0"));
            d.risk_level_during_sign_in = "high";
            d.risk_level_aggregated = "high";
            d.risk_state = "atRisk";
            d.risk_detail = "none";
            d.risk_event_types = vec!["anonymizedIPAddress", "unfamiliarFeatures"];
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "disabled_account" => {
            let user = pick_user(&mut b, Some("disabled"))?;
            let city = user.city;
            let ip = ip_or(request, &mut b.rng, city)?;
            for i in 0..3 {
                let mut d = b.sign_in(user, at - (2 - i) * 3 * TICKS_PER_MINUTE);
                place(&mut d, city, &ip);
                fail(
                    &mut d,
                    50057,
                    "User account is disabled. The account has been disabled by an administrator.",
                    Some("The user account is disabled. The account has been disabled by an administrator."),
                );
                d.auth_details = vec![step(
                    d.created,
                    "Password",
                    "Password in the cloud",
                    true,
                    "Correct password",
                    "Primary authentication",
                )];
                b.push_sign_in(d);
            }
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "role_assignment" => {
            let user = pick_user(&mut b, None)?;
            let admin = &tenant.users[1];
            let city = data::city_index("Kyiv");
            let ip = ip_or(request, &mut b.rng, city)?;
            let role = &tenant.roles[data::ROLE_GLOBAL_ADMIN];
            let corr = guid_of(&[b.rng.next_u64()]);
            let q = |s: &str| Some(Cow::Owned(format!("\"{s}\"")));
            let id = b.audit_id(&corr);
            b.push_audit(AuditData {
                id: Cow::Owned(id),
                at,
                activity_display_name: Cow::Borrowed("Add member to role"),
                category: "RoleManagement",
                correlation_id: Cow::Owned(corr),
                logged_by_service: "Core Directory",
                operation_type: "Assign",
                result: "success",
                result_reason: Cow::Borrowed(""),
                initiated_by: Initiator::User {
                    id: Cow::Owned(admin.id.clone()),
                    display_name: None,
                    user_principal_name: Cow::Owned(admin.user_principal_name.clone()),
                    ip_address: Cow::Owned(ip.clone()),
                },
                targets: vec![Target {
                    id: Cow::Owned(user.id.clone()),
                    display_name: None,
                    kind: "User",
                    user_principal_name: Some(Cow::Owned(user.user_principal_name.clone())),
                    group_type: None,
                    modified: vec![
                        Modified { display_name: Cow::Borrowed("Role.ObjectID"), old_value: None, new_value: q(&role.id) },
                        Modified { display_name: Cow::Borrowed("Role.DisplayName"), old_value: None, new_value: q(role.display_name) },
                        Modified { display_name: Cow::Borrowed("Role.TemplateId"), old_value: None, new_value: q(ROLE_TEMPLATES[data::ROLE_GLOBAL_ADMIN].template_id) },
                        Modified { display_name: Cow::Borrowed("Role.WellKnownObjectName"), old_value: None, new_value: q("CompanyAdministrator") },
                    ],
                }],
                additional_details: vec![(Cow::Borrowed("User-Agent"), Cow::Borrowed("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"))],
                user_agent: None,
            });
            store.state_mut().role_members[data::ROLE_GLOBAL_ADMIN].insert(user.index);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "consent_grant" => {
            let user = pick_user(&mut b, None)?;
            let city = data::city_index("Lagos");
            let ip = ip_or(request, &mut b.rng, city)?;
            let app_id = guid_of(&[tenant.seed, 0xBAD, at as u64]);
            let sp_id = guid_of(&[tenant.seed, 0xBAE, at as u64]);
            let scopes = " Mail.Read Mail.Send Files.ReadWrite.All offline_access User.Read";
            let corr = guid_of(&[b.rng.next_u64()]);
            let initiator = Initiator::User {
                id: Cow::Owned(user.id.clone()),
                display_name: None,
                user_principal_name: Cow::Owned(user.user_principal_name.clone()),
                ip_address: Cow::Owned(ip.clone()),
            };
            let sp_target = |modified: Vec<Modified<'static>>| Target {
                id: Cow::Owned(sp_id.clone()),
                display_name: Some(Cow::Borrowed("Mail Sync Pro")),
                kind: "ServicePrincipal",
                user_principal_name: None,
                group_type: None,
                modified,
            };
            let id = b.audit_id(&corr);
            b.push_audit(AuditData {
                id: Cow::Owned(id),
                at: at - 2 * TICKS_PER_SECOND,
                activity_display_name: Cow::Borrowed("Add delegated permission grant"),
                category: "ApplicationManagement",
                correlation_id: Cow::Owned(corr.clone()),
                logged_by_service: "Core Directory",
                operation_type: "Assign",
                result: "success",
                result_reason: Cow::Borrowed(""),
                initiated_by: initiator.clone(),
                targets: vec![sp_target(vec![
                    Modified {
                        display_name: Cow::Borrowed("DelegatedPermissionGrant.Scope"),
                        old_value: Some(Cow::Borrowed("\"\"")),
                        new_value: Some(Cow::Owned(format!("\"{scopes}\""))),
                    },
                    Modified {
                        display_name: Cow::Borrowed("DelegatedPermissionGrant.ConsentType"),
                        old_value: Some(Cow::Borrowed("\"\"")),
                        new_value: Some(Cow::Borrowed("\"Principal\"")),
                    },
                ])],
                additional_details: vec![],
                user_agent: None,
            });
            let id = b.audit_id(&corr);
            b.push_audit(AuditData {
                id: Cow::Owned(id),
                at,
                activity_display_name: Cow::Borrowed("Consent to application"),
                category: "ApplicationManagement",
                correlation_id: Cow::Owned(corr),
                logged_by_service: "Core Directory",
                operation_type: "Assign",
                result: "success",
                result_reason: Cow::Borrowed(""),
                initiated_by: initiator,
                targets: vec![sp_target(vec![
                    Modified { display_name: Cow::Borrowed("ConsentContext.IsAdminConsent"), old_value: None, new_value: Some(Cow::Borrowed("\"False\"")) },
                    Modified { display_name: Cow::Borrowed("ConsentContext.IsAppOnly"), old_value: None, new_value: Some(Cow::Borrowed("\"False\"")) },
                    Modified { display_name: Cow::Borrowed("ConsentContext.OnBehalfOfAll"), old_value: None, new_value: Some(Cow::Borrowed("\"False\"")) },
                    Modified {
                        display_name: Cow::Borrowed("ConsentAction.Permissions"),
                        old_value: None,
                        new_value: Some(Cow::Owned(format!(
                            "\"[] => [[Id: {}, ClientId: {sp_id}, PrincipalId: {}, ResourceId: {}, ConsentType: Principal, Scope: {scopes}, CreatedDateTime: , LastModifiedDateTime ]]; \"",
                            guid_of(&[tenant.seed, 0xBAF, at as u64]),
                            user.id,
                            guid_of(&[tenant.seed, 0x6A4]),
                        ))),
                    },
                    Modified { display_name: Cow::Borrowed("TargetId.ServicePrincipalNames"), old_value: None, new_value: Some(Cow::Owned(format!("\"{app_id}\""))) },
                ])],
                additional_details: vec![(Cow::Borrowed("User-Agent"), Cow::Borrowed("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"))],
                user_agent: None,
            });
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "sp_credential" => {
            let user = pick_user(&mut b, Some("admin"))?;
            let city = data::city_index("Hanoi");
            let ip = ip_or(request, &mut b.rng, city)?;
            let sp = &tenant.service_principals[b.rng.below(tenant.service_principals.len() as u64) as usize];
            let key_id = guid_of(&[b.rng.next_u64()]);
            let corr = guid_of(&[b.rng.next_u64()]);
            let id = b.audit_id(&corr);
            b.push_audit(AuditData {
                id: Cow::Owned(id),
                at,
                activity_display_name: Cow::Borrowed("Add service principal credentials"),
                category: "ApplicationManagement",
                correlation_id: Cow::Owned(corr),
                logged_by_service: "Core Directory",
                operation_type: "Update",
                result: "success",
                result_reason: Cow::Borrowed(""),
                initiated_by: Initiator::User {
                    id: Cow::Owned(user.id.clone()),
                    display_name: None,
                    user_principal_name: Cow::Owned(user.user_principal_name.clone()),
                    ip_address: Cow::Owned(ip.clone()),
                },
                targets: vec![Target {
                    id: Cow::Owned(sp.id.clone()),
                    display_name: Some(Cow::Borrowed(sp.display_name)),
                    kind: "ServicePrincipal",
                    user_principal_name: None,
                    group_type: None,
                    modified: vec![
                        Modified {
                            display_name: Cow::Borrowed("KeyDescription"),
                            old_value: Some(Cow::Owned(format!("[\"[KeyIdentifier={},KeyType=Password,KeyUsage=Verify,DisplayName=primary]\"]", sp.credential_key_id))),
                            new_value: Some(Cow::Owned(format!(
                                "[\"[KeyIdentifier={},KeyType=Password,KeyUsage=Verify,DisplayName=primary]\",\"[KeyIdentifier={key_id},KeyType=Password,KeyUsage=Verify,DisplayName=sync]\"]",
                                sp.credential_key_id
                            ))),
                        },
                        Modified { display_name: Cow::Borrowed("Included Updated Properties"), old_value: None, new_value: Some(Cow::Borrowed("\"KeyDescription\"")) },
                    ],
                }],
                additional_details: vec![
                    (Cow::Borrowed("User-Agent"), Cow::Borrowed("python-requests/2.32.3")),
                    (Cow::Borrowed("AppId"), Cow::Owned(sp.app_id.clone())),
                ],
                user_agent: None,
            });
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "break_glass" | "admin_sign_in" => {
            let user = pick_user(&mut b, Some(if name == "break_glass" { "break_glass" } else { "admin" }))?;
            let city = tenant.office_city;
            let ip = match &request.ip {
                Some(_) => ip_or(request, &mut b.rng, city)?,
                None => tenant.office_ip.clone(),
            };
            let mut d = b.sign_in(user, at);
            place(&mut d, city, &ip);
            let portal = &CLIENT_APPS[data::APP_PORTAL];
            d.app_id = Cow::Borrowed(portal.app_id);
            d.app_display_name = Cow::Borrowed(portal.display_name);
            d.resource_display_name = Cow::Borrowed("Windows Azure Service Management API");
            d.resource_id = Cow::Borrowed("797f4846-ba00-4fd7-ba43-dac1f8f63013");
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "after_hours" => {
            let user = pick_user(&mut b, None)?;
            let t = off_hours(at);
            let mut d = b.sign_in(user, t);
            let ip = ip_or(request, &mut b.rng, user.city)?;
            place(&mut d, user.city, &ip);
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "new_country" => {
            let user = pick_user(&mut b, None)?;
            let city = nearest_foreign_city(user.city);
            let ip = ip_or(request, &mut b.rng, city)?;
            let mut d = b.sign_in(user, at);
            place(&mut d, city, &ip);
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        "high_risk_country" => {
            let user = pick_user(&mut b, None)?;
            let city = data::city_index("Tehran");
            let ip = ip_or(request, &mut b.rng, city)?;
            let mut d = b.sign_in(user, at);
            place(&mut d, city, &ip);
            unknown_device(&mut d, "Android", "Chrome Mobile 120.0.6099");
            b.push_sign_in(d);
            chosen_user = Some(user.user_principal_name.clone());
            chosen_ip = Some(ip);
        }
        other => return Err(ScenarioError::Unknown(other.to_string())),
    }

    let records: Vec<ScenarioRecord> = b
        .records
        .iter()
        .map(|r| ScenarioRecord { id: r.id.clone(), kind: r.kind, time: format_graph(r.ticks) })
        .collect();
    let first = b.records.iter().map(|r| r.ticks).min().unwrap_or(at);
    let last = b.records.iter().map(|r| r.ticks).max().unwrap_or(at);
    let stored: Vec<Arc<StoredRecord>> = store.insert(b.records);
    let injected = InjectedScenario {
        name: name.to_string(),
        tenant_id: tenant.id.clone(),
        description: description.to_string(),
        expected_rules: expected.iter().map(|s| s.to_string()).collect(),
        user: chosen_user,
        ip: chosen_ip,
        first: format_graph(first),
        last: format_graph(last),
        sign_in_ids: stored.iter().filter(|r| r.kind != LogKind::DirectoryAudit).map(|r| r.id.clone()).collect(),
        audit_ids: stored.iter().filter(|r| r.kind == LogKind::DirectoryAudit).map(|r| r.id.clone()).collect(),
        records,
    };
    state.scenarios.lock().unwrap_or_else(|e| e.into_inner()).push(injected.clone());
    tracing::info!(scenario = name, tenant = %tenant.id, records = injected.records.len(), "scenario injected");
    Ok(injected)
}
