//! Times the engine with one rule at a time switched on, to see where the time goes.
//!
//! `cargo run --release -p m365mon-rules --example profile_rules [realistic|alert-heavy]`
//! (default realistic; see `m365mon_rules::synth`). `ALL_ONLY=1` times all rules five times;
//! `RECORDS=n` sets the number of records (default 100,000).

use std::time::Instant;

use m365mon_contracts::RuleId;
use m365mon_contracts::settings::Settings;
use m365mon_rules::Engine;
use m365mon_rules::synth::{Generator, SynthOptions, Workload, realistic_step};

fn main() {
    let workload = match std::env::args().nth(1).as_deref() {
        Some("alert-heavy") => Workload::AlertHeavy,
        Some("realistic") | None => Workload::Realistic,
        Some(other) => {
            eprintln!("unknown workload {other:?}: realistic or alert-heavy");
            std::process::exit(2);
        }
    };
    let step = if workload == Workload::Realistic { realistic_step(10_000) } else { SynthOptions::default().step };
    let mut generator =
        Generator::with_workload(SynthOptions { users: 10_000, seed: 7, step, ..SynthOptions::default() }, workload);
    let n: usize = std::env::var("RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let records: Vec<_> = (0..n).map(|_| generator.next_record()).collect();
    let run = |settings: Settings, label: &str| {
        let mut engine = Engine::new(settings);
        let start = Instant::now();
        let mut alerts = 0;
        for r in &records {
            alerts += engine.observe("t", r).len();
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{label:>20}: {:>9.0} records/s, {alerts} alert events", records.len() as f64 / secs);
    };
    run(Settings::default(), "all rules");
    if std::env::var_os("ALL_ONLY").is_some() {
        for _ in 0..std::env::var("REPEAT").ok().and_then(|n| n.parse().ok()).unwrap_or(4) {
            run(Settings::default(), "all rules");
        }
        return;
    }
    let mut none = Settings::default();
    for rule in RuleId::ALL {
        let r = match rule {
            RuleId::FailedLogins => &mut none.rules.failed_logins,
            RuleId::PasswordSpray => &mut none.rules.password_spray,
            RuleId::HighRiskCountry => &mut none.rules.high_risk_country,
            RuleId::NewCountry => &mut none.rules.new_country,
            RuleId::AfterHours => &mut none.rules.after_hours,
            RuleId::AdminSignIn => &mut none.rules.admin_sign_in,
            RuleId::ImpossibleTravel => &mut none.rules.impossible_travel,
            RuleId::SensitiveChange => &mut none.rules.sensitive_change,
            RuleId::MfaFatigue => &mut none.rules.mfa_fatigue,
            RuleId::LegacyAuth => &mut none.rules.legacy_auth,
            RuleId::DisabledAccount => &mut none.rules.disabled_account,
            RuleId::RiskySignIn => &mut none.rules.risky_sign_in,
            RuleId::BreakGlass => &mut none.rules.break_glass,
        };
        r.enabled = false;
    }
    run(none.clone(), "no rules");
    for rule in RuleId::ALL {
        let mut one = none.clone();
        let json = serde_json::to_value(&one).unwrap();
        let mut json = json;
        json["rules"][rule.as_str()]["enabled"] = true.into();
        one = serde_json::from_value(json).unwrap();
        run(one, rule.as_str());
    }
}
