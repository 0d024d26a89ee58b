//! Location rules with per-user memory: `new_country` and `impossible_travel`.
//!
//! False-positive controls (research/detections.md §1 SEED-2/SEED-5 and §2): only successful
//! interactive sign-ins; a sign-in from a trusted range is neither alerted on nor remembered (a
//! VPN egress must not become the user's "last place"); a record without a location, or with
//! "null island" coordinates, is no evidence; two sign-ins from the same /24 or /48 network are
//! never impossible travel (the geolocation moved, not the user); below the minimum distance,
//! geolocation noise is ignored.
//!
//! `new_country` is order-independent in the way that matters: a country is new when its
//! *earliest* sign-in (by event time) comes after the user's learning period, which starts at
//! the user's *earliest* successful sign-in. Late records move those minima, and the rule
//! re-checks when they do. The alert names the country's first sign-in (an earlier one arriving
//! late takes its place); later sign-ins from it are simply known. The one thing a late record
//! cannot undo is an alert already raised for a country whose earlier sign-in, arriving late,
//! falls inside the learning period: a record at the very end of a user's learning period, late
//! by up to the allowed lateness.

use std::net::IpAddr;

use m365mon_contracts::{AlertEvent, RuleId};
use serde_json::json;

use super::{Env, Member, add_to_incident};
use crate::Stats;
use crate::codes::Outcome;
use crate::event::SignInEvent;
use crate::geo::distance_km;
use crate::keys;
use crate::render;
use crate::state::{CompactId, CountryMemo, Sighting, TenantState, UserState, ip_bytes, network_key};
use crate::time::{DAY, HOUR, MINUTE, Micros, datetime, utc_day};

/// Sightings kept per user at most (the oldest go first).
const MAX_SIGHTINGS: usize = 32;

pub(crate) fn evaluate(
    ts: &mut TenantState,
    env: &Env<'_>,
    stats: &mut Stats,
    s: &SignInEvent<'_>,
    ip: Option<IpAddr>,
    trusted_ip: bool,
    out: &mut Vec<AlertEvent>,
) {
    if !env.on_time || s.outcome() != Outcome::Success {
        return;
    }
    let Some(user) = s.user() else { return };
    let cfg = env.cfg;
    let (upn, user_id) = (s.user_principal_name.as_deref(), s.user_id.as_deref());
    let new_country = cfg.applies(RuleId::NewCountry, upn, user_id);
    let travel = s.interactive && !trusted_ip && cfg.applies(RuleId::ImpossibleTravel, upn, user_id);
    if !new_country && !travel {
        return;
    }
    let state = ts.users.entry(keys::folded(user)).or_default();
    state.last_activity = state.last_activity.max(s.time);

    let mut new_countries = Vec::new();
    let mut joins = Vec::new();
    let mut known_updates = Vec::new();
    if new_country {
        learn_country(state, cfg, s, trusted_ip, &mut new_countries, &mut joins, &mut known_updates);
    }
    let legs = if travel { sight(state, cfg, s, ip) } else { Vec::new() };
    if new_countries.is_empty() && joins.is_empty() && known_updates.is_empty() && legs.is_empty() {
        return;
    }
    let subject = user.to_lowercase();

    for found in new_countries {
        let code = found.code;
        let country_subject = format!("{subject}|{code}");
        let evidence = found.evidence;
        let member = Member { time: evidence.time, record_id: &evidence.id, ip: evidence.ip_address.as_deref() };
        add_to_incident(
            ts,
            env,
            stats,
            RuleId::NewCountry,
            country_subject,
            found.window_start,
            found.first + DAY,
            Some(&subject),
            member,
            |f| {
                f.sign_in(&evidence);
                f.labels.insert("country".into(), code.clone());
                for known in &found.known {
                    f.note("known_countries", known);
                }
                f.item_with(evidence.time, &evidence.id, || render::sign_in_item(&evidence, None));
            },
            out,
        );
    }
    for (code, window_start) in joins {
        // An earlier sign-in from a country already alerted as new: it becomes the one the
        // alert names, so the alert is the same whichever of the two arrived first.
        let key = crate::incident::IncidentKey {
            rule: RuleId::NewCountry,
            subject: format!("{subject}|{code}"),
            window_start,
        };
        if let Some(incident) = ts.incidents.get_mut(&key) {
            incident.reset_members(&["known_countries"]);
            let first = evidence(s);
            incident.add_member(first.time, &first.id, first.ip_address.as_deref());
            incident.facts.sign_in(&first);
            incident.facts.item_with(first.time, &first.id, || render::sign_in_item(&first, None));
            super::publish(incident, &mut ts.next_due, env, stats, out);
        }
    }
    for (code, window_start, known) in known_updates {
        let key = crate::incident::IncidentKey {
            rule: RuleId::NewCountry,
            subject: format!("{subject}|{code}"),
            window_start,
        };
        if let Some(incident) = ts.incidents.get_mut(&key)
            && incident.facts.note("known_countries", &known)
        {
            incident.mark_changed();
            super::publish(incident, &mut ts.next_due, env, stats, out);
        }
    }
    for leg in legs {
        let day = utc_day(leg.later_time);
        let ip_text = ip.map(|ip| ip.to_string());
        let (incident, next_due) = super::incident(
            ts,
            env,
            stats,
            RuleId::ImpossibleTravel,
            subject.clone(),
            day,
            day + DAY,
            Some(&subject),
            s.time,
            &s.id,
        );
        // Both sign-ins of the pair are members; the leg is evidence.
        let a = incident.add_member(s.time, &s.id, ip_text.as_deref());
        let b = incident.add_member(leg.other_time, &leg.other_id, leg.other_ip.as_deref());
        let key = format!("{}|{}", leg.later_id, leg.earlier_id);
        let c = incident.facts.item(leg.later_time, &key, leg.details);
        incident.facts.maximum("speed_kmh", leg.speed_kmh);
        incident.facts.maximum("distance_km", leg.distance_km);
        if a || b || c {
            incident.mark_changed();
            super::publish(incident, next_due, env, stats, out);
        }
    }
}

struct NewCountry {
    code: String,
    first: Micros,
    window_start: Micros,
    known: Vec<String>,
    evidence: Box<SignInEvent<'static>>,
}

fn country_code(s: &SignInEvent<'_>) -> Option<[u8; 2]> {
    let c = s.country.as_deref()?.as_bytes();
    (c.len() == 2 && c.iter().all(u8::is_ascii_alphabetic))
        .then(|| [c[0].to_ascii_uppercase(), c[1].to_ascii_uppercase()])
}

/// What a `new_country` alert shows of the first sign-in from the country: the rest of the
/// record is not kept while it waits.
fn evidence(s: &SignInEvent<'_>) -> SignInEvent<'static> {
    let mut e = s.clone();
    e.user_agent = None;
    e.failure_reason = None;
    e.additional_details = None;
    e.risk_level_during_sign_in = None;
    e.risk_level_aggregated = None;
    e.risk_state = None;
    e.risk_detail = None;
    e.risk_event_types = Vec::new();
    e.authentication_requirement = None;
    e.correlation_id = None;
    e.into_owned()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn code_text(code: [u8; 2]) -> String {
    String::from_utf8_lossy(&code).into_owned()
}

fn learn_country(
    state: &mut UserState,
    cfg: &crate::config::Config,
    s: &SignInEvent<'_>,
    trusted_ip: bool,
    found: &mut Vec<NewCountry>,
    joins: &mut Vec<(String, Micros)>,
    known_updates: &mut Vec<(String, Micros, String)>,
) {
    let previous_first = state.first_success;
    let first_success = previous_first.map_or(s.time, |p| p.min(s.time));
    state.first_success = Some(first_success);
    let moved_earlier = previous_first.is_some_and(|p| first_success < p);

    let mut current = None;
    if s.interactive
        && !trusted_ip
        && let Some(code) = country_code(s)
    {
        let index = match state.countries.iter().position(|c| c.code == code) {
            Some(i) => {
                let memo = &mut state.countries[i];
                if s.time < memo.first {
                    memo.first = s.time;
                    memo.young = Some(Box::new(evidence(s)));
                    // An earlier sign-in from a country already alerted as new, arriving late:
                    // the alert names it too, so it always shows the first one.
                    if let Some(window_start) = memo.incident {
                        joins.push((code_text(code), window_start));
                    }
                }
                memo.last = memo.last.max(s.time);
                i
            }
            None => {
                crate::state::push_tight(
                    &mut state.countries,
                    CountryMemo {
                        code,
                        alerted: false,
                        first: s.time,
                        last: s.time,
                        incident: None,
                        young: Some(Box::new(evidence(s))),
                    },
                );
                state.countries.len() - 1
            }
        };
        current = Some(index);
        // Countries alerted as new whose first sign-in came after this one's: this country was
        // known before them (a late record can tell us only now).
        let (this_code, this_first) = (state.countries[index].code, state.countries[index].first);
        for other in &state.countries {
            if let Some(window_start) = other.incident
                && other.first > this_first
            {
                known_updates.push((code_text(other.code), window_start, code_text(this_code)));
            }
        }
    }

    let learning_end = first_success.saturating_add(cfg.learning);
    let candidates = if moved_earlier { 0..state.countries.len() } else { current.map_or(0..0, |i| i..i + 1) };
    for i in candidates {
        let memo = &state.countries[i];
        if memo.alerted || memo.first <= learning_end {
            continue;
        }
        let Some(evidence) = memo.young.clone() else { continue };
        let first = memo.first;
        let known = state.countries.iter().filter(|c| c.first < first).map(|c| code_text(c.code)).collect();
        let window_start = first.div_euclid(cfg.forget.max(DAY)) * cfg.forget.max(DAY);
        let memo = &mut state.countries[i];
        memo.alerted = true;
        memo.incident = Some(window_start);
        found.push(NewCountry { code: code_text(memo.code), first, window_start, known, evidence });
    }
}

struct Leg {
    later_time: Micros,
    later_id: String,
    earlier_id: String,
    other_time: Micros,
    other_id: String,
    other_ip: Option<String>,
    distance_km: f64,
    speed_kmh: f64,
    details: serde_json::Value,
}

/// Remembers the sighting and returns the impossible pairs it forms with earlier ones.
fn sight(state: &mut UserState, cfg: &crate::config::Config, s: &SignInEvent<'_>, ip: Option<IpAddr>) -> Vec<Leg> {
    let Some((lat, lon)) = s.coordinates() else { return Vec::new() };
    // Stored at f32 precision (about a metre); compute with the stored values on both sides so
    // the result is the same whichever of the pair came first.
    let (lat, lon) = (f64::from(lat as f32), f64::from(lon as f32));
    let country = country_code(s).unwrap_or(*b"--");
    let id = CompactId::new(&s.id);
    if state.sightings.iter().any(|p| p.t == s.time && p.id == id) {
        return Vec::new(); // the same record again
    }
    let net = network_key(ip);
    let limits = &cfg.settings.impossible_travel;
    let mut legs = Vec::new();
    for p in &state.sightings {
        if net != 0 && p.net == net {
            continue;
        }
        let distance = distance_km(f64::from(p.lat), f64::from(p.lon), lat, lon);
        if distance < limits.min_distance_km {
            continue;
        }
        let gap = (s.time - p.t).abs().max(MINUTE);
        let hours = gap as f64 / HOUR as f64;
        let speed = distance / hours;
        if speed <= limits.max_speed_kmh {
            continue;
        }
        let here = json!({
            "time": datetime(s.time).to_rfc3339(),
            "record_id": s.id,
            "ip": ip.map(|ip| ip.to_string()),
            "city": s.city,
            "country": code_text(country),
            "latitude": round4(lat),
            "longitude": round4(lon),
        });
        let other_city = (p.city > 0).then(|| state.cities.get(usize::from(p.city) - 1)).flatten();
        let there = json!({
            "time": datetime(p.t).to_rfc3339(),
            "record_id": p.id.to_string(),
            "ip": p.ip().map(|ip| ip.to_string()),
            "city": other_city.map(|c| c.to_string()),
            "country": code_text(p.country),
            "latitude": round4(f64::from(p.lat)),
            "longitude": round4(f64::from(p.lon)),
        });
        let (from, to) = if p.t <= s.time { (there, here) } else { (here, there) };
        let distance_km = (distance * 10.0).round() / 10.0;
        let speed_kmh = speed.round();
        let details = json!({
            "from": from,
            "to": to,
            "distance_km": distance_km,
            "hours": (hours * 100.0).round() / 100.0,
            "speed_kmh": speed_kmh,
        });
        let other_id = p.id.to_string();
        let (later_id, earlier_id) =
            if p.t <= s.time { (s.id.to_string(), other_id.clone()) } else { (other_id.clone(), s.id.to_string()) };
        legs.push(Leg {
            later_time: s.time.max(p.t),
            later_id,
            earlier_id,
            other_time: p.t,
            other_ip: p.ip().map(|ip| ip.to_string()),
            other_id,
            distance_km,
            speed_kmh,
            details,
        });
    }
    let city = match s.city.as_deref() {
        Some(name) => match state.cities.iter().position(|c| &**c == name) {
            Some(i) => u8::try_from(i + 1).unwrap_or(0),
            None if state.cities.len() < 255 => {
                crate::state::push_tight(&mut state.cities, name.into());
                u8::try_from(state.cities.len()).unwrap_or(0)
            }
            None => 0,
        },
        None => 0,
    };
    if state.sightings.len() >= MAX_SIGHTINGS
        && let Some(oldest) = state.sightings.iter().enumerate().min_by_key(|(_, p)| p.t).map(|(i, _)| i)
    {
        state.sightings.swap_remove(oldest);
    }
    crate::state::push_tight(
        &mut state.sightings,
        Sighting { t: s.time, lat: lat as f32, lon: lon as f32, net, country, city, ip: ip_bytes(ip), id },
    );
    legs
}
