//! The synthetic tenants: organisation, users (home city, devices, working pattern), directory
//! roles, service principals, managed identities and the app registration our monitor signs in
//! with. Everything here is a pure function of the seed, the tenant index and the user count.
//!
//! The mutable parts of a tenant (licence, app registrations, role membership after a
//! `role_assignment` scenario) live in [`crate::state`]; this module is the part that never
//! changes while the simulator runs.

use std::collections::HashMap;

use chrono_tz::Tz;
use serde::Serialize;

use crate::data::{self, CITIES, COMPANIES, DeviceKind, GIVEN_NAMES, SURNAMES};
use crate::rng::{Rng, guid_of, hash};

/// Working days as a bit mask, bit 0 = Monday.
pub const MON_TO_FRI: u8 = 0b0001_1111;

/// A user of a synthetic tenant.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    #[serde(skip)]
    pub index: usize,
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub job_title: String,
    /// Index into [`data::CITIES`].
    #[serde(skip)]
    pub city: usize,
    pub city_name: &'static str,
    pub country: &'static str,
    pub time_zone: &'static str,
    #[serde(skip)]
    pub tz: Tz,
    pub home_ip: String,
    pub mobile_ip: String,
    /// Minutes after local midnight.
    pub work_start_minute: u32,
    pub work_end_minute: u32,
    #[serde(skip)]
    pub work_days: u8,
    pub devices: Vec<Device>,
    /// Directory roles at start (template indexes).
    #[serde(skip)]
    pub initial_roles: Vec<usize>,
    pub break_glass: bool,
    pub account_enabled: bool,
    /// Relative activity (1.0 = average).
    pub activity: f64,
}

/// A device a user owns.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub device_id: String,
    pub display_name: String,
    #[serde(skip)]
    pub kind: DeviceKind,
    pub operating_system: &'static str,
    pub is_compliant: bool,
    pub is_managed: bool,
}

/// An application of the tenant that signs in with its own credential.
#[derive(Debug, Clone, Serialize)]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub display_name: &'static str,
    pub interval_minutes: u32,
    pub credential_key_id: String,
    pub ip_address: String,
}

/// An Azure resource with a managed identity.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedIdentity {
    pub id: String,
    pub app_id: String,
    pub display_name: &'static str,
    pub associated_resource_id: String,
    pub interval_minutes: u32,
    #[serde(skip)]
    pub resource: usize,
}

/// A Conditional Access policy as it appears in `appliedConditionalAccessPolicies`.
#[derive(Debug, Clone, Serialize)]
pub struct CaPolicy {
    pub id: String,
    pub display_name: &'static str,
    pub grant_controls: &'static [&'static str],
    #[serde(skip)]
    pub kind: CaKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaKind {
    /// MFA for admins: `success` for admins who did MFA, else `notApplied`.
    AdminMfa,
    /// MFA outside trusted locations: `success` with MFA off-site, `notApplied` in the office.
    MfaOffsite,
    /// Legacy authentication block, report-only in this tenant.
    LegacyBlockReportOnly,
    /// Compliant device for Office 365, not enabled.
    CompliantDeviceDisabled,
}

/// A directory role of a tenant (activated role instance).
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    pub id: String,
    #[serde(skip)]
    pub template: usize,
    pub display_name: &'static str,
    pub role_template_id: &'static str,
}

/// A synthetic tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub index: usize,
    pub seed: u64,
    pub id: String,
    pub display_name: String,
    /// Custom domain used in user principal names.
    pub domain: String,
    /// `<label>.onmicrosoft.com`.
    pub initial_domain: String,
    pub home_tz: Tz,
    pub office_city: usize,
    pub office_ip: String,
    pub users: Vec<User>,
    pub service_principals: Vec<ServicePrincipal>,
    pub managed_identities: Vec<ManagedIdentity>,
    pub ca_policies: Vec<CaPolicy>,
    pub roles: Vec<Role>,
    upn_index: HashMap<String, usize>,
}

impl Tenant {
    /// Builds tenant `index` of a world with `seed`.
    pub fn generate(seed: u64, index: usize, user_count: usize) -> Tenant {
        let tseed = hash(&[seed, index as u64, 0x007E_4A47]);
        let company = COMPANIES[index % COMPANIES.len()];
        let suffix = if index >= COMPANIES.len() { format!("{}", index / COMPANIES.len() + 1) } else { String::new() };
        let label = format!("{}{}", company.domain_label, suffix);
        let display_name = if suffix.is_empty() {
            company.display_name.to_string()
        } else {
            format!("{} {}", company.display_name, suffix)
        };
        let domain = format!("{label}.com");
        let initial_domain = format!("{label}.onmicrosoft.com");
        let office_city = data::city_index(company.home_cities[0]);
        let home_tz: Tz = CITIES[office_city].tz.parse().unwrap_or(chrono_tz::UTC);
        let mut rng = Rng::new(tseed);
        let office_ip = synthetic_ip(&mut rng, office_city, 1);

        let user_count = user_count.max(3);
        let mut users = Vec::with_capacity(user_count);
        let mut taken: HashMap<String, u32> = HashMap::new();
        for u in 0..user_count {
            users.push(make_user(tseed, u, user_count, company.home_cities, &domain, &initial_domain, &mut taken));
        }
        let upn_index = users.iter().map(|u| (u.user_principal_name.to_ascii_lowercase(), u.index)).collect();

        let service_principals = data::SERVICE_APPS
            .iter()
            .enumerate()
            .map(|(i, (name, interval))| {
                let mut r = Rng::from_parts(&[tseed, 0x5B, i as u64]);
                ServicePrincipal {
                    id: guid_of(&[tseed, 0x5B1, i as u64]),
                    app_id: guid_of(&[tseed, 0x5B2, i as u64]),
                    display_name: name,
                    interval_minutes: *interval,
                    credential_key_id: guid_of(&[tseed, 0x5B3, i as u64]),
                    ip_address: synthetic_ip(&mut r, data::city_index("Ashburn"), 0),
                }
            })
            .collect();
        let managed_identities = data::MANAGED_IDENTITIES
            .iter()
            .enumerate()
            .map(|(i, (name, kind, interval, resource))| {
                let subscription = guid_of(&[tseed, 0x3B0]);
                ManagedIdentity {
                    id: guid_of(&[tseed, 0x3B1, i as u64]),
                    app_id: guid_of(&[tseed, 0x3B2, i as u64]),
                    display_name: name,
                    associated_resource_id: format!(
                        "/subscriptions/{subscription}/resourceGroups/rg-{label}-prod/providers/{kind}/{name}"
                    ),
                    interval_minutes: *interval,
                    resource: *resource,
                }
            })
            .collect();
        let ca_policies = vec![
            CaPolicy {
                id: guid_of(&[tseed, 0xCA, 1]),
                display_name: "Require multifactor authentication for admins",
                grant_controls: &["Mfa"],
                kind: CaKind::AdminMfa,
            },
            CaPolicy {
                id: guid_of(&[tseed, 0xCA, 2]),
                display_name: "Require MFA outside trusted locations",
                grant_controls: &["Mfa"],
                kind: CaKind::MfaOffsite,
            },
            CaPolicy {
                id: guid_of(&[tseed, 0xCA, 3]),
                display_name: "Block legacy authentication",
                grant_controls: &["Block"],
                kind: CaKind::LegacyBlockReportOnly,
            },
            CaPolicy {
                id: guid_of(&[tseed, 0xCA, 4]),
                display_name: "Require compliant device for Office 365",
                grant_controls: &["RequireCompliantDevice"],
                kind: CaKind::CompliantDeviceDisabled,
            },
        ];
        let roles = data::ROLE_TEMPLATES
            .iter()
            .enumerate()
            .map(|(i, t)| Role {
                id: guid_of(&[tseed, 0x20, i as u64]),
                template: i,
                display_name: t.display_name,
                role_template_id: t.template_id,
            })
            .collect();

        Tenant {
            index,
            seed: tseed,
            id: guid_of(&[seed, index as u64, 0x7E]),
            display_name,
            domain,
            initial_domain,
            home_tz,
            office_city,
            office_ip,
            users,
            service_principals,
            managed_identities,
            ca_policies,
            roles,
            upn_index,
        }
    }

    /// A user by id or user principal name (case-insensitive, as Graph matches UPNs).
    pub fn find_user(&self, id_or_upn: &str) -> Option<&User> {
        if let Some(&i) = self.upn_index.get(&id_or_upn.to_ascii_lowercase()) {
            return self.users.get(i);
        }
        self.users.iter().find(|u| u.id.eq_ignore_ascii_case(id_or_upn))
    }

    /// Users who sign in as part of normal business (not disabled, not the break-glass account).
    pub fn regular_users(&self) -> impl Iterator<Item = &User> {
        self.users.iter().filter(|u| u.account_enabled && !u.break_glass)
    }

    /// Whether `name` is one of this tenant's names (id, domain, initial domain).
    pub fn answers_to(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.id)
            || name.eq_ignore_ascii_case(&self.domain)
            || name.eq_ignore_ascii_case(&self.initial_domain)
    }
}

fn make_user(
    tseed: u64,
    u: usize,
    count: usize,
    home_cities: &[&str],
    domain: &str,
    initial_domain: &str,
    taken: &mut HashMap<String, u32>,
) -> User {
    let mut rng = Rng::from_parts(&[tseed, 0x05E2, u as u64]);
    // Special accounts first: the break-glass account, two administrators, a helpdesk operator.
    let (given, surname, job, roles, break_glass): (String, String, &str, Vec<usize>, bool) = match u {
        0 => ("Emergency".into(), "Access 01".into(), "Emergency access account", vec![data::ROLE_GLOBAL_ADMIN], true),
        1 => (
            rng.pick(GIVEN_NAMES).to_string(),
            rng.pick(SURNAMES).to_string(),
            "IT Administrator",
            vec![data::ROLE_GLOBAL_ADMIN],
            false,
        ),
        2 if count > 3 => (
            rng.pick(GIVEN_NAMES).to_string(),
            rng.pick(SURNAMES).to_string(),
            "Security Engineer",
            vec![data::ROLE_SECURITY_ADMIN, data::ROLE_PRIVILEGED_ROLE_ADMIN],
            false,
        ),
        3 if count > 4 => (
            rng.pick(GIVEN_NAMES).to_string(),
            rng.pick(SURNAMES).to_string(),
            "Service Desk Analyst",
            vec![data::ROLE_HELPDESK_ADMIN],
            false,
        ),
        4 if count > 6 => (
            rng.pick(GIVEN_NAMES).to_string(),
            rng.pick(SURNAMES).to_string(),
            "Messaging Administrator",
            vec![data::ROLE_EXCHANGE_ADMIN],
            false,
        ),
        _ => {
            let jobs = [
                "Account Manager",
                "Accountant",
                "Software Engineer",
                "Marketing Specialist",
                "Analyst",
                "Project Manager",
                "Designer",
                "Sales Representative",
                "Operations Lead",
                "Consultant",
            ];
            (rng.pick(GIVEN_NAMES).to_string(), rng.pick(SURNAMES).to_string(), *rng.pick(&jobs), vec![], false)
        }
    };
    let (local, dom) = if break_glass {
        ("emergency-access-01".to_string(), initial_domain)
    } else {
        (format!("{}.{}", given.to_ascii_lowercase(), surname.to_ascii_lowercase().replace(' ', "")), domain)
    };
    let n = taken.entry(local.clone()).or_insert(0);
    *n += 1;
    let local = if *n > 1 { format!("{local}{n}") } else { local };
    let upn = format!("{local}@{dom}");

    // About two thirds live in the head office's city, the rest anywhere in the tenant's list
    // (remote staff; the traffic keeps those who live far away off the office network).
    let city_name = if u < 5 || rng.chance(0.6) { home_cities[0] } else { *rng.pick(home_cities) };
    let city = data::city_index(city_name);
    let c = &CITIES[city];
    let tz: Tz = c.tz.parse().unwrap_or(chrono_tz::UTC);
    let work_start_minute = 8 * 60 + rng.range(0, 6) as u32 * 15;
    let work_end_minute = (work_start_minute + 8 * 60 + rng.range(0, 4) as u32 * 15).min(18 * 60);

    let mut devices = Vec::new();
    let laptop = if rng.chance(0.8) { DeviceKind::WindowsLaptop } else { DeviceKind::MacBook };
    devices.push(make_device(tseed, u, 0, laptop, &given, &mut rng));
    if rng.chance(0.85) {
        let phone = if rng.chance(0.55) { DeviceKind::IPhone } else { DeviceKind::Android };
        devices.push(make_device(tseed, u, 1, phone, &given, &mut rng));
    }
    // About 2 % of accounts are disabled leavers (never the special accounts).
    let random_leaver = u >= 5 && count >= 10 && rng.chance(0.02);
    let last_account_left = u == count - 1 && count >= 20;
    let account_enabled = !random_leaver && !last_account_left;

    User {
        index: u,
        id: guid_of(&[tseed, 0x05E1, u as u64]),
        user_principal_name: upn,
        display_name: format!("{given} {surname}"),
        given_name: given,
        surname,
        job_title: job.to_string(),
        city,
        city_name: c.name,
        country: c.country,
        time_zone: c.tz,
        tz,
        home_ip: synthetic_ip(&mut rng, city, 2),
        mobile_ip: synthetic_ip(&mut rng, city, 3),
        work_start_minute,
        work_end_minute,
        work_days: MON_TO_FRI,
        devices,
        initial_roles: roles,
        break_glass,
        account_enabled,
        activity: 0.6 + rng.unit() * 0.9,
    }
}

fn make_device(tseed: u64, u: usize, d: u64, kind: DeviceKind, given: &str, rng: &mut Rng) -> Device {
    let display_name = match kind {
        DeviceKind::WindowsLaptop | DeviceKind::MacBook => {
            format!("{}-{:05}", kind.name_prefix(), rng.range(10_000, 99_999))
        }
        DeviceKind::IPhone | DeviceKind::Android => format!("{}'s {}", given, kind.name_prefix()),
    };
    let managed = matches!(kind, DeviceKind::WindowsLaptop) || rng.chance(0.5);
    Device {
        device_id: guid_of(&[tseed, 0xDE, u as u64, d]),
        display_name,
        kind,
        operating_system: kind.operating_system(),
        is_compliant: managed && rng.chance(0.95),
        is_managed: managed,
    }
}

/// A synthetic public address in `city`'s prefix. `pool` separates offices, homes and mobile
/// carriers so the same user gets stable but distinct addresses.
pub fn synthetic_ip(rng: &mut Rng, city: usize, pool: u8) -> String {
    let [a, b] = CITIES[city].ip_prefix;
    let third = (pool.wrapping_mul(61)).wrapping_add(rng.below(40) as u8);
    format!("{a}.{b}.{third}.{}", rng.range(2, 254))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_deterministic_and_distinct() {
        let a = Tenant::generate(42, 0, 30);
        let b = Tenant::generate(42, 0, 30);
        let c = Tenant::generate(43, 0, 30);
        assert_eq!(a.id, b.id);
        assert_eq!(a.users[10].user_principal_name, b.users[10].user_principal_name);
        assert_ne!(a.id, c.id);
        let t1 = Tenant::generate(42, 1, 30);
        assert_ne!(a.id, t1.id);
        assert_ne!(a.domain, t1.domain);
    }

    #[test]
    fn special_accounts_exist_and_upns_are_unique() {
        let t = Tenant::generate(1, 0, 2000);
        assert!(t.users[0].break_glass);
        assert!(t.users[0].user_principal_name.ends_with(".onmicrosoft.com"));
        assert!(t.users[1].initial_roles.contains(&data::ROLE_GLOBAL_ADMIN));
        let mut upns: Vec<_> = t.users.iter().map(|u| u.user_principal_name.to_lowercase()).collect();
        upns.sort();
        upns.dedup();
        assert_eq!(upns.len(), 2000);
        assert!(t.users.iter().any(|u| !u.account_enabled));
        assert!(t.find_user(&t.users[7].user_principal_name.to_uppercase()).is_some());
        assert!(t.find_user(&t.users[7].id).is_some());
        for u in &t.users {
            assert!(u.work_end_minute <= 18 * 60 && u.work_start_minute >= 8 * 60);
        }
    }
}
