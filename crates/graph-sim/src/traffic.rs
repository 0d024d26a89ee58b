//! Benign background traffic, generated per ten-minute slice.
//!
//! Slice `s` of a tenant holds every record whose `createdDateTime` falls in
//! `[s × 10 min, (s + 1) × 10 min)`, and is a pure function of the tenant seed and `s`: the
//! history (`--history-days`) and the live traffic are the same function evaluated for past and
//! present slices, any slice can be regenerated whenever a query needs it, and nothing grows in
//! memory with the amount of history served. A slice is generated as compact [`Event`]s (about 64
//! bytes each); only the records a page actually returns are expanded and rendered.
//!
//! What users do: interactive sign-ins during their local working hours (with the interrupts real
//! logs are full of: 50140 "keep me signed in", 50074/50076 MFA required, and the occasional wrong
//! password followed by a success), non-interactive token refreshes all day long (fewer at night
//! and at weekends), and about one directory change per user per day made by the help desk or a
//! Microsoft service. Service principals and managed identities sign in on their schedules.

use std::borrow::Cow;

use chrono::{Datelike, Timelike};

use crate::data::{self, CITIES, CLIENT_APPS, GROUPS, RESOURCES};
use crate::records::{
    AuditData, AuthStep, CaResult, DeviceView, Initiator, LocationView, LogKind, Modified, SignInData, SignInKind,
    Target,
};
use crate::rng::{Rng, guid_of, hash, mix64};
use crate::time::{TICKS_PER_MINUTE, TICKS_PER_SECOND, Ticks, to_datetime};
use crate::world::{CaKind, Tenant, User};

/// Length of a generation slice.
pub const SLICE_TICKS: Ticks = 10 * TICKS_PER_MINUTE;

/// The slice a time belongs to.
pub fn slice_of(t: Ticks) -> i64 {
    t.div_euclid(SLICE_TICKS)
}

/// What a synthetic record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Interactive success on an existing session or with an MFA claim already in the token.
    Success,
    /// Interactive success with password and MFA now (MFA details may arrive late).
    SuccessMfa,
    Kmsi50140,
    Mfa50074,
    Mfa50076,
    WrongPassword50126,
    /// Non-interactive refresh.
    TokenRefresh,
    /// Non-interactive refresh refused by sign-in frequency (an interrupt, not a failure).
    SignInFrequency70043,
    ServicePrincipal,
    ManagedIdentity,
    AddMemberToGroup,
    RemoveMemberFromGroup,
    UpdateUser,
    UpdateDevice,
    RegisterDevice,
}

impl Template {
    /// Whether Graph may fill in this record's details after first serving it.
    pub fn may_change_later(self) -> bool {
        matches!(self, Template::SuccessMfa)
    }
}

/// Where a user signs in from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    Office,
    Home,
    Mobile,
}

/// A compact synthetic record.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub ticks: Ticks,
    /// Unique within the tenant; the record id is derived from it.
    pub key: u64,
    pub kind: LogKind,
    pub template: Template,
    /// User, service principal or managed identity index.
    pub actor: u32,
    /// Client app index (sign-ins) or group / detail index (audits).
    pub detail: u16,
    pub device: u8,
    pub net: Net,
    /// Shared by the records of one sign-in flow (their `correlationId`).
    pub session: u64,
    /// Random bits for per-record fault decisions (visibility delay, later change).
    pub roll: u64,
}

/// Volume knobs.
#[derive(Debug, Clone, Copy)]
pub struct Volume {
    /// Multiplies every rate (1.0 ≈ 60 sign-ins per user per working day).
    pub activity: f64,
}

const INTERACTIVE_PER_WORK_HOUR: f64 = 0.8;
const REFRESH_PER_WORK_HOUR: f64 = 4.0;
const REFRESH_PER_EVENING_HOUR: f64 = 0.6;
const REFRESH_PER_WEEKEND_HOUR: f64 = 0.3;
const AUDITS_PER_USER_DAY: f64 = 0.8;

fn is_working(user: &User, t: Ticks) -> bool {
    let local = to_datetime(t).with_timezone(&user.tz);
    let day = local.weekday().num_days_from_monday();
    let minute = local.hour() * 60 + local.minute();
    user.work_days & (1 << day) != 0 && minute >= user.work_start_minute && minute < user.work_end_minute
}

fn is_weekend(user: &User, t: Ticks) -> bool {
    let local = to_datetime(t).with_timezone(&user.tz);
    user.work_days & (1 << local.weekday().num_days_from_monday()) == 0
}

/// Farthest a user lives from the head office and still works there on a working day.
const COMMUTE_KM: f64 = 100.0;

/// Whether `user` works in the head office (on the corporate network) during working hours.
/// Remote staff work from home: a user who lives in Lisbon is never on the London office's
/// network minutes after a sign-in from home, which would be travel no one can make and an
/// `impossible_travel` alert on benign traffic.
fn commutes_to_office(tenant: &Tenant, user: &User) -> bool {
    data::distance_km(&CITIES[user.city], &CITIES[tenant.office_city]) <= COMMUTE_KM
}

/// Generates slice `s` of `tenant`, sorted by (time, key).
pub fn generate_slice(tenant: &Tenant, s: i64, volume: Volume) -> Vec<Event> {
    let start = s * SLICE_TICKS;
    let mid = start + SLICE_TICKS / 2;
    let slice_hours = SLICE_TICKS as f64 / (60.0 * TICKS_PER_MINUTE as f64);
    let mut out = Vec::new();
    let mut seq: u64 = 0;
    let key = |seq: &mut u64| {
        *seq += 1;
        ((s as u64) << 24) | (*seq & 0xFF_FFFF)
    };
    let helpdesk: Vec<u32> =
        tenant.users.iter().filter(|u| !u.initial_roles.is_empty() && !u.break_glass).map(|u| u.index as u32).collect();

    for user in tenant.regular_users() {
        let mut rng = Rng::from_parts(&[tenant.seed, s as u64, user.index as u64, 0x7A]);
        let working = is_working(user, mid);
        let rate = user.activity * volume.activity * slice_hours;
        let interactive = if working { rng.poisson(INTERACTIVE_PER_WORK_HOUR * rate) } else { 0 };
        let refresh_rate = if working {
            REFRESH_PER_WORK_HOUR
        } else if is_weekend(user, mid) {
            REFRESH_PER_WEEKEND_HOUR
        } else {
            REFRESH_PER_EVENING_HOUR
        };
        let refreshes = rng.poisson(refresh_rate * rate);
        let audits = rng.poisson(AUDITS_PER_USER_DAY / 24.0 * rate);
        let commutes = commutes_to_office(tenant, user);
        let net_for = |rng: &mut Rng, device_kind: data::DeviceKind| {
            if matches!(device_kind, data::DeviceKind::IPhone | data::DeviceKind::Android) && rng.chance(0.5) {
                Net::Mobile
            } else if working && rng.chance(0.6) && commutes {
                // (The draw comes first so that a remote user's other draws stay as they were.)
                Net::Office
            } else {
                Net::Home
            }
        };

        for _ in 0..interactive {
            let t0 = start + rng.below((SLICE_TICKS - 3 * TICKS_PER_MINUTE) as u64) as Ticks;
            let device = rng.below(user.devices.len() as u64) as u8;
            let net = net_for(&mut rng, user.devices[device as usize].kind);
            let app = *rng.pick(&[
                data::APP_OFFICE_WEB,
                data::APP_OFFICE_WEB,
                data::APP_TEAMS,
                data::APP_OUTLOOK,
                data::APP_PORTAL,
            ]);
            let session = rng.next_u64();
            let flow: &[(Template, i64)] = match rng.below(100) {
                0..=69 => &[(Template::Success, 0)],
                70..=81 => &[(Template::Kmsi50140, 0), (Template::Success, 12)],
                82..=91 => &[(Template::Mfa50074, 0), (Template::SuccessMfa, 25)],
                92..=94 => &[(Template::Mfa50076, 0), (Template::SuccessMfa, 30)],
                _ => &[(Template::WrongPassword50126, 0), (Template::SuccessMfa, 40)],
            };
            for (template, delay_s) in flow {
                out.push(Event {
                    ticks: t0 + delay_s * TICKS_PER_SECOND + rng.below(TICKS_PER_SECOND as u64) as Ticks,
                    key: key(&mut seq),
                    kind: LogKind::InteractiveUser,
                    template: *template,
                    actor: user.index as u32,
                    detail: app as u16,
                    device,
                    net,
                    session,
                    roll: rng.next_u64(),
                });
            }
        }
        for _ in 0..refreshes {
            let t = start + rng.below(SLICE_TICKS as u64) as Ticks;
            let device = rng.below(user.devices.len() as u64) as u8;
            let net = net_for(&mut rng, user.devices[device as usize].kind);
            let app = *rng.pick(&[
                data::APP_OUTLOOK,
                data::APP_TEAMS,
                data::APP_ONEDRIVE,
                data::APP_OFFICE,
                data::APP_BROKER,
            ]);
            let template = if rng.chance(0.015) { Template::SignInFrequency70043 } else { Template::TokenRefresh };
            out.push(Event {
                ticks: t,
                key: key(&mut seq),
                kind: LogKind::NonInteractiveUser,
                template,
                actor: user.index as u32,
                detail: app as u16,
                device,
                net,
                session: rng.next_u64(),
                roll: rng.next_u64(),
            });
        }
        for _ in 0..audits {
            let t = start + rng.below(SLICE_TICKS as u64) as Ticks;
            let template = *rng.pick(&[
                Template::AddMemberToGroup,
                Template::AddMemberToGroup,
                Template::RemoveMemberFromGroup,
                Template::UpdateUser,
                Template::UpdateDevice,
                Template::RegisterDevice,
            ]);
            let initiator = if helpdesk.is_empty() { 0 } else { *rng.pick(&helpdesk) };
            out.push(Event {
                ticks: t,
                key: key(&mut seq),
                kind: LogKind::DirectoryAudit,
                template,
                actor: user.index as u32,
                detail: rng.below(GROUPS.len() as u64) as u16,
                device: initiator.min(255) as u8,
                net: Net::Office,
                session: rng.next_u64(),
                roll: rng.next_u64(),
            });
        }
    }

    // Workloads on fixed schedules with a stable phase per app.
    let scheduled = tenant
        .service_principals
        .iter()
        .map(|sp| (LogKind::ServicePrincipal, Template::ServicePrincipal, sp.interval_minutes))
        .chain(
            tenant
                .managed_identities
                .iter()
                .map(|mi| (LogKind::ManagedIdentity, Template::ManagedIdentity, mi.interval_minutes)),
        );
    let mut counters = [0u32; 2];
    for (kind, template, interval) in scheduled {
        let idx = if kind == LogKind::ServicePrincipal { &mut counters[0] } else { &mut counters[1] };
        let actor = *idx;
        *idx += 1;
        let period = i64::from(interval.max(1)) * TICKS_PER_MINUTE;
        let phase = (mix64(tenant.seed ^ u64::from(actor) ^ (kind as u64) << 8) % period as u64) as i64;
        let mut k = (start - phase).div_euclid(period);
        loop {
            let base = phase + k * period;
            k += 1;
            if base >= start + SLICE_TICKS {
                break;
            }
            if base < start {
                continue;
            }
            let mut rng = Rng::from_parts(&[tenant.seed, base as u64, u64::from(actor), kind as u64]);
            let t = base + rng.below(TICKS_PER_SECOND as u64 * 20) as Ticks;
            let t = t.min(start + SLICE_TICKS - 1);
            out.push(Event {
                ticks: t,
                key: key(&mut seq),
                kind,
                template,
                actor,
                detail: 0,
                device: 0,
                net: Net::Office,
                session: rng.next_u64(),
                roll: rng.next_u64(),
            });
        }
    }

    out.sort_unstable_by_key(|e| (e.ticks, e.key));
    out
}

/// The record id of a synthetic event.
pub fn record_id(tenant: &Tenant, e: &Event) -> String {
    if e.kind == LogKind::DirectoryAudit {
        let corr = guid_of(&[tenant.seed, e.session]);
        let h = hash(&[tenant.seed, e.key, 0xA0]);
        let letters: String = (0..5).map(|i| (b'A' + ((h >> (i * 5)) % 26) as u8) as char).collect();
        format!("Directory_{corr}_{letters}_{}", 100_000_000 + (h >> 32) % 900_000_000)
    } else {
        guid_of(&[tenant.seed, e.key])
    }
}

fn token_identifier(seed: u64, key: u64) -> String {
    use base64::Engine;
    let a = hash(&[seed, key, 0x70]);
    let b = mix64(a);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([a.to_le_bytes(), b.to_le_bytes()].concat())
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

/// Expands a sign-in event into a record. `changed` says whether details that arrive late are
/// already there (always true unless the fault profile delays them).
pub fn sign_in<'t>(tenant: &'t Tenant, e: &Event, changed: bool) -> SignInData<'t> {
    match e.kind {
        LogKind::ServicePrincipal => return service_principal_sign_in(tenant, e),
        LogKind::ManagedIdentity => return managed_identity_sign_in(tenant, e),
        _ => {}
    }
    let user = &tenant.users[e.actor as usize];
    let device = &user.devices[(e.device as usize).min(user.devices.len() - 1)];
    let app = &CLIENT_APPS[e.detail as usize];
    let resource = &RESOURCES[app.resource];
    let (ip, city, named) = match e.net {
        Net::Office => (tenant.office_ip.as_str(), tenant.office_city, Some("Corporate Network")),
        Net::Home => (user.home_ip.as_str(), user.city, None),
        Net::Mobile => (user.mobile_ip.as_str(), user.city, None),
    };
    let c = &CITIES[city];
    let is_admin = !user.initial_roles.is_empty();
    let interactive = e.kind == LogKind::InteractiveUser;
    let t = e.ticks;
    let mut error_code = 0;
    let mut failure_reason: Option<&'static str> = None;
    let mut additional: Option<Cow<'t, str>> = None;
    let mut mfa = false;
    let mut steps = Vec::new();
    let mut methods: Vec<&'static str> = Vec::new();
    let mut requirement = "singleFactorAuthentication";
    match e.template {
        Template::Success => {
            steps.push(step(
                t,
                "Previously satisfied",
                "",
                true,
                "First factor requirement satisfied by claim in the token",
                "Primary authentication",
            ));
            if is_admin || e.net != Net::Office {
                steps.push(step(
                    t,
                    "Previously satisfied",
                    "",
                    true,
                    "MFA requirement satisfied by claim in the token",
                    "Multifactor authentication",
                ));
                requirement = "multiFactorAuthentication";
                additional = Some(Cow::Borrowed("MFA requirement satisfied by claim in the token"));
            }
        }
        Template::SuccessMfa => {
            mfa = true;
            requirement = "multiFactorAuthentication";
            methods.push("Password");
            steps.push(step(
                t - 20 * TICKS_PER_SECOND,
                "Password",
                "Password in the cloud",
                true,
                "Correct password",
                "Primary authentication",
            ));
            if changed {
                methods.push("Mobile app notification");
                steps.push(step(
                    t,
                    "Mobile app notification",
                    "",
                    true,
                    "MFA successfully completed",
                    "Multifactor authentication",
                ));
                additional = Some(Cow::Borrowed("MFA completed in Azure AD"));
            }
        }
        Template::Kmsi50140 => {
            error_code = 50140;
            failure_reason =
                Some("This error occurred due to 'Keep me signed in' interrupt when the user was signing in.");
            methods.push("Password");
            steps.push(step(
                t,
                "Password",
                "Password in the cloud",
                true,
                "Correct password",
                "Primary authentication",
            ));
        }
        Template::Mfa50074 => {
            error_code = 50074;
            failure_reason = Some("Strong Authentication is required.");
            additional = Some(Cow::Borrowed(
                "The user is required to satisfy MFA requirement. This is an expected part of the login flow, where a user is asked if they want to remain signed into their current browser to make further logins easier.",
            ));
            requirement = "multiFactorAuthentication";
            methods.push("Password");
            steps.push(step(
                t,
                "Password",
                "Password in the cloud",
                true,
                "Correct password",
                "Primary authentication",
            ));
        }
        Template::Mfa50076 => {
            error_code = 50076;
            failure_reason = Some(
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
            );
            additional = Some(Cow::Borrowed("MFA required in Azure AD"));
            requirement = "multiFactorAuthentication";
            methods.push("Password");
            steps.push(step(
                t,
                "Password",
                "Password in the cloud",
                true,
                "Correct password",
                "Primary authentication",
            ));
        }
        Template::WrongPassword50126 => {
            error_code = 50126;
            failure_reason = Some("Error validating credentials due to invalid username or password.");
            additional = Some(Cow::Borrowed(
                "The user didn't enter the right credentials. It's expected to see some number of these errors in your logs due to users making mistakes.",
            ));
            methods.push("Password");
            steps.push(step(
                t,
                "Password",
                "Password in the cloud",
                false,
                "Invalid username or password or Invalid on-premise username or password.",
                "Primary authentication",
            ));
        }
        Template::TokenRefresh => {
            steps.push(step(
                t,
                "Previously satisfied",
                "",
                true,
                "First factor requirement satisfied by claim in the token",
                "Primary authentication",
            ));
        }
        Template::SignInFrequency70043 => {
            error_code = 70043;
            failure_reason = Some(
                "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.",
            );
            steps.push(step(
                t,
                "Previously satisfied",
                "",
                false,
                "First factor requirement satisfied by claim in the token",
                "Primary authentication",
            ));
        }
        _ => {}
    }
    let success = error_code == 0;
    let ca_policies = tenant
        .ca_policies
        .iter()
        .map(|p| CaResult {
            id: Cow::Borrowed(p.id.as_str()),
            display_name: Cow::Borrowed(p.display_name),
            grant_controls: p.grant_controls,
            result: match p.kind {
                CaKind::AdminMfa if is_admin && success => "success",
                CaKind::AdminMfa => "notApplied",
                CaKind::MfaOffsite if e.net != Net::Office && success => "success",
                CaKind::MfaOffsite => "notApplied",
                CaKind::LegacyBlockReportOnly => "reportOnlyNotApplied",
                CaKind::CompliantDeviceDisabled => "notEnabled",
            },
        })
        .collect::<Vec<_>>();
    let ca_status = if ca_policies.iter().any(|p| p.result == "success") { "success" } else { "notApplied" };
    let browser_based = app.client_app_used == "Browser";
    SignInData {
        id: Cow::Owned(record_id(tenant, e)),
        created: e.ticks,
        kind: if interactive { SignInKind::InteractiveUser } else { SignInKind::NonInteractiveUser },
        user_display_name: Some(Cow::Borrowed(user.display_name.as_str())),
        user_principal_name: Some(Cow::Borrowed(user.user_principal_name.as_str())),
        user_id: Cow::Borrowed(user.id.as_str()),
        user_type: Some("member"),
        app_id: Cow::Borrowed(app.app_id),
        app_display_name: Cow::Borrowed(app.display_name),
        ip_address: Cow::Borrowed(ip),
        client_app_used: Some(Cow::Borrowed(app.client_app_used)),
        user_agent: Some(Cow::Borrowed(if browser_based {
            device.kind.user_agent()
        } else {
            device.kind.client_user_agent()
        })),
        correlation_id: Cow::Owned(guid_of(&[tenant.seed, e.session])),
        original_request_id: Cow::Owned(guid_of(&[tenant.seed, e.key, 1])),
        unique_token_identifier: Cow::Owned(token_identifier(tenant.seed, e.key)),
        conditional_access_status: ca_status,
        authentication_protocol: if interactive { "oAuth2" } else { "none" },
        incoming_token_type: if interactive {
            "none"
        } else if device.kind == data::DeviceKind::WindowsLaptop {
            "primaryRefreshToken"
        } else {
            "refreshToken"
        },
        processing_time_ms: 40 + (e.roll >> 40) as u32 % 260,
        risk_detail: "none",
        risk_level_aggregated: "none",
        risk_level_during_sign_in: "none",
        risk_state: "none",
        risk_event_types: Vec::new(),
        resource_display_name: Cow::Borrowed(resource.display_name),
        resource_id: Cow::Borrowed(resource.resource_id),
        tenant_id: Cow::Borrowed(tenant.id.as_str()),
        authentication_requirement: if mfa { "multiFactorAuthentication" } else { requirement },
        error_code,
        failure_reason: failure_reason.map(Cow::Borrowed),
        additional_details: additional,
        device: DeviceView {
            device_id: Cow::Borrowed(device.device_id.as_str()),
            display_name: Cow::Borrowed(device.display_name.as_str()),
            operating_system: Cow::Borrowed(device.operating_system),
            browser: Cow::Borrowed(if browser_based { device.kind.browser() } else { "" }),
            is_compliant: device.is_compliant,
            is_managed: device.is_managed,
            trust_type: Cow::Borrowed(device.kind.trust_type()),
        },
        location: LocationView {
            city: Cow::Borrowed(c.name),
            state: Cow::Borrowed(c.state),
            country: Cow::Borrowed(c.country),
            coordinates: Some((c.latitude, c.longitude)),
        },
        ca_policies,
        auth_details: steps,
        auth_methods_used: methods,
        service_principal_id: Cow::Borrowed(""),
        service_principal_name: None,
        sp_credential_key_id: None,
        client_credential_type: "none",
        managed_identity_resource: None,
        asn: c.asn,
        named_network: named,
        processing_details: if interactive {
            vec![("Login Hint Present", Cow::Borrowed(if e.roll & 1 == 0 { "True" } else { "False" }))]
        } else {
            Vec::new()
        },
    }
}

fn workload_sign_in<'t>(
    tenant: &'t Tenant,
    e: &Event,
    kind: SignInKind,
    (id, app_id, name): (&'t str, &'t str, &'static str),
    resource: usize,
    ip: &'t str,
) -> SignInData<'t> {
    let resource = &RESOURCES[resource];
    let (location, asn) = if kind == SignInKind::ManagedIdentity {
        (
            LocationView {
                city: Cow::Borrowed(""),
                state: Cow::Borrowed(""),
                country: Cow::Borrowed(""),
                coordinates: Some((0.0, 0.0)),
            },
            0,
        )
    } else {
        let c = &CITIES[data::city_index("Ashburn")];
        (
            LocationView {
                city: Cow::Borrowed(c.name),
                state: Cow::Borrowed(c.state),
                country: Cow::Borrowed(c.country),
                coordinates: Some((c.latitude, c.longitude)),
            },
            c.asn,
        )
    };
    SignInData {
        id: Cow::Owned(record_id(tenant, e)),
        created: e.ticks,
        kind,
        user_display_name: None,
        user_principal_name: None,
        user_id: Cow::Borrowed(""),
        user_type: None,
        app_id: Cow::Borrowed(app_id),
        app_display_name: Cow::Borrowed(name),
        ip_address: Cow::Borrowed(ip),
        client_app_used: None,
        user_agent: None,
        correlation_id: Cow::Owned(guid_of(&[tenant.seed, e.session])),
        original_request_id: Cow::Owned(guid_of(&[tenant.seed, e.key, 1])),
        unique_token_identifier: Cow::Owned(token_identifier(tenant.seed, e.key)),
        conditional_access_status: "notApplied",
        authentication_protocol: "none",
        incoming_token_type: "none",
        processing_time_ms: 10 + (e.roll >> 40) as u32 % 90,
        risk_detail: "none",
        risk_level_aggregated: "none",
        risk_level_during_sign_in: "none",
        risk_state: "none",
        risk_event_types: Vec::new(),
        resource_display_name: Cow::Borrowed(resource.display_name),
        resource_id: Cow::Borrowed(resource.resource_id),
        tenant_id: Cow::Borrowed(tenant.id.as_str()),
        authentication_requirement: "singleFactorAuthentication",
        error_code: 0,
        failure_reason: None,
        additional_details: None,
        device: DeviceView::default(),
        location,
        ca_policies: Vec::new(),
        auth_details: Vec::new(),
        auth_methods_used: Vec::new(),
        service_principal_id: Cow::Borrowed(id),
        service_principal_name: Some(Cow::Borrowed(name)),
        sp_credential_key_id: None,
        client_credential_type: if kind == SignInKind::ManagedIdentity { "managedIdentity" } else { "clientSecret" },
        managed_identity_resource: None,
        asn,
        named_network: None,
        processing_details: Vec::new(),
    }
}

fn service_principal_sign_in<'t>(tenant: &'t Tenant, e: &Event) -> SignInData<'t> {
    let sp = &tenant.service_principals[e.actor as usize];
    let mut d = workload_sign_in(
        tenant,
        e,
        SignInKind::ServicePrincipal,
        (&sp.id, &sp.app_id, sp.display_name),
        0,
        &sp.ip_address,
    );
    d.sp_credential_key_id = Some(Cow::Borrowed(sp.credential_key_id.as_str()));
    d
}

fn managed_identity_sign_in<'t>(tenant: &'t Tenant, e: &Event) -> SignInData<'t> {
    let mi = &tenant.managed_identities[e.actor as usize];
    let mut d = workload_sign_in(
        tenant,
        e,
        SignInKind::ManagedIdentity,
        (&mi.id, &mi.app_id, mi.display_name),
        mi.resource,
        "",
    );
    d.managed_identity_resource = Some(Cow::Borrowed(mi.associated_resource_id.as_str()));
    d
}

/// Expands an audit event into a record.
pub fn audit<'t>(tenant: &'t Tenant, e: &Event) -> AuditData<'t> {
    let target = &tenant.users[e.actor as usize];
    let initiator_user = &tenant.users[(e.device as usize).min(tenant.users.len() - 1)];
    let group = GROUPS[e.detail as usize % GROUPS.len()];
    let group_id = guid_of(&[tenant.seed, 0x6A, u64::from(e.detail)]);
    let device = &target.devices[0];
    let by_admin = Initiator::User {
        id: Cow::Borrowed(initiator_user.id.as_str()),
        display_name: Some(Cow::Borrowed(initiator_user.display_name.as_str())),
        user_principal_name: Cow::Borrowed(initiator_user.user_principal_name.as_str()),
        ip_address: Cow::Borrowed(tenant.office_ip.as_str()),
    };
    let by_drs = Initiator::App {
        app_id: None,
        display_name: Cow::Borrowed("Device Registration Service"),
        service_principal_id: Cow::Owned(guid_of(&[tenant.seed, 0xD25])),
        service_principal_name: None,
    };
    let user_target = |modified: Vec<Modified<'t>>| Target {
        id: Cow::Borrowed(target.id.as_str()),
        display_name: None,
        kind: "User",
        user_principal_name: Some(Cow::Borrowed(target.user_principal_name.as_str())),
        group_type: None,
        modified,
    };
    let m = |name: &'static str, old: Option<String>, new: Option<String>| Modified {
        display_name: Cow::Borrowed(name),
        old_value: old.map(Cow::Owned),
        new_value: new.map(Cow::Owned),
    };
    let group_target = Target {
        id: Cow::Owned(group_id.clone()),
        display_name: Some(Cow::Borrowed(group)),
        kind: "Group",
        user_principal_name: None,
        group_type: Some("unifiedGroups"),
        modified: Vec::new(),
    };
    let device_target = Target {
        id: Cow::Borrowed(device.device_id.as_str()),
        display_name: Some(Cow::Borrowed(device.display_name.as_str())),
        kind: "Device",
        user_principal_name: None,
        group_type: None,
        modified: Vec::new(),
    };
    let portal_ua = data::DeviceKind::WindowsLaptop.user_agent();
    let (activity, category, op, initiated_by, targets, details): (&'static str, &'static str, &'static str, _, _, _) =
        match e.template {
            Template::AddMemberToGroup | Template::RemoveMemberFromGroup => {
                let add = e.template == Template::AddMemberToGroup;
                let (old, new) =
                    if add { (None, Some(format!("\"{group_id}\""))) } else { (Some(format!("\"{group_id}\"")), None) };
                let (old_name, new_name) =
                    if add { (None, Some(format!("\"{group}\""))) } else { (Some(format!("\"{group}\"")), None) };
                (
                    if add { "Add member to group" } else { "Remove member from group" },
                    "GroupManagement",
                    if add { "Assign" } else { "Unassign" },
                    by_admin,
                    vec![
                        user_target(vec![m("Group.ObjectID", old, new), m("Group.DisplayName", old_name, new_name)]),
                        group_target,
                    ],
                    vec![(Cow::Borrowed("User-Agent"), Cow::Borrowed(portal_ua))],
                )
            }
            Template::UpdateUser => (
                "Update user",
                "UserManagement",
                "Update",
                by_admin,
                vec![user_target(vec![
                    m(
                        "JobTitle",
                        Some(format!("[\"{}\"]", target.job_title)),
                        Some(format!("[\"Senior {}\"]", target.job_title)),
                    ),
                    m("Included Updated Properties", None, Some("\"JobTitle\"".to_string())),
                ])],
                vec![
                    (Cow::Borrowed("UserType"), Cow::Borrowed("Member")),
                    (Cow::Borrowed("User-Agent"), Cow::Borrowed(portal_ua)),
                ],
            ),
            Template::UpdateDevice => (
                "Update device",
                "Device",
                "Update",
                by_drs,
                vec![Target {
                    modified: vec![m(
                        "ApproximateLastLogonTimestamp",
                        Some(format!("[\"{}\"]", crate::time::format_graph(e.ticks - 7 * crate::time::TICKS_PER_DAY))),
                        Some(format!("[\"{}\"]", crate::time::format_graph(e.ticks))),
                    )],
                    ..device_target
                }],
                vec![],
            ),
            _ => (
                "Register device",
                "Device",
                "Add",
                by_drs,
                vec![device_target],
                vec![
                    (Cow::Borrowed("Device Id"), Cow::Borrowed(device.device_id.as_str())),
                    (Cow::Borrowed("Device OS"), Cow::Borrowed(device.operating_system)),
                    (Cow::Borrowed("Device Trust Type"), Cow::Borrowed(device.kind.trust_type())),
                ],
            ),
        };
    AuditData {
        id: Cow::Owned(record_id(tenant, e)),
        at: e.ticks,
        activity_display_name: Cow::Borrowed(activity),
        category,
        correlation_id: Cow::Owned(guid_of(&[tenant.seed, e.session])),
        logged_by_service: "Core Directory",
        operation_type: op,
        result: "success",
        result_reason: Cow::Borrowed(""),
        initiated_by,
        targets,
        additional_details: details,
        user_agent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{TICKS_PER_DAY, parse_odata_datetime};

    #[test]
    fn slices_are_deterministic_sorted_and_bounded() {
        let tenant = Tenant::generate(7, 0, 200);
        // A Tuesday, 10:00 UTC: London working hours.
        let t = parse_odata_datetime("2025-03-04T10:00:00Z").unwrap();
        let s = slice_of(t);
        let a = generate_slice(&tenant, s, Volume { activity: 1.0 });
        let b = generate_slice(&tenant, s, Volume { activity: 1.0 });
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.key == y.key && x.ticks == y.ticks));
        assert!(a.windows(2).all(|w| (w[0].ticks, w[0].key) < (w[1].ticks, w[1].key)));
        assert!(a.iter().all(|e| slice_of(e.ticks) == s));
        assert!(a.iter().any(|e| e.kind == LogKind::InteractiveUser));
        assert!(a.iter().any(|e| e.kind == LogKind::NonInteractiveUser));
        let mut keys: Vec<u64> = a.iter().map(|e| e.key).collect();
        keys.dedup();
        assert_eq!(keys.len(), a.len());
    }

    #[test]
    fn daily_volume_is_in_the_planned_band() {
        let tenant = Tenant::generate(3, 0, 100);
        let monday = parse_odata_datetime("2025-03-03T00:00:00Z").unwrap();
        let per_day = TICKS_PER_DAY / SLICE_TICKS;
        let events: usize =
            (0..per_day).map(|i| generate_slice(&tenant, slice_of(monday) + i, Volume { activity: 1.0 }).len()).sum();
        let per_user = events as f64 / 100.0;
        assert!((25.0..120.0).contains(&per_user), "{per_user} records per user per weekday");
    }

    #[test]
    fn no_interactive_sign_in_outside_working_hours() {
        let tenant = Tenant::generate(5, 0, 100);
        let sunday = parse_odata_datetime("2025-03-02T12:00:00Z").unwrap();
        let events = generate_slice(&tenant, slice_of(sunday), Volume { activity: 1.0 });
        assert!(events.iter().all(|e| e.kind != LogKind::InteractiveUser));
    }

    #[test]
    fn records_expand() {
        let tenant = Tenant::generate(9, 0, 50);
        let t = parse_odata_datetime("2025-03-04T10:00:00Z").unwrap();
        for s in slice_of(t)..slice_of(t) + 6 {
            for e in generate_slice(&tenant, s, Volume { activity: 1.0 }) {
                if e.kind == LogKind::DirectoryAudit {
                    let a = audit(&tenant, &e);
                    assert!(a.id.starts_with("Directory_"));
                } else {
                    let d = sign_in(&tenant, &e, true);
                    assert_eq!(d.id.len(), 36);
                    assert_eq!(LogKind::from(d.kind), e.kind);
                }
            }
        }
    }
}
