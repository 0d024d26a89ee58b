//! Benign background traffic, fed through the rules engine with its default settings, raises no
//! `impossible_travel` alert: without an injected scenario nobody travels faster than possible.
//! (Remote staff once signed in from the head office's network minutes after a sign-in from home
//! hundreds of kilometres away.)

mod common;

use std::collections::BTreeMap;

use common::{all_pages, http_client, token};
use m365mon_contracts::{AlertEvent, RuleId, Settings};
use m365mon_graph_sim::time::parse_odata_datetime;
use m365mon_graph_sim::{GraphSim, SimConfig};
use m365mon_rules::Engine;
use serde_json::Value;

/// One tenant's interactive sign-ins (the only ones `impossible_travel` reads), oldest first.
async fn interactive_sign_ins(sim: &GraphSim, tenant: usize) -> Vec<Value> {
    let client = http_client(sim);
    let t = token(&client, sim, &sim.tenants()[tenant]).await;
    let url = format!("{}/v1.0/auditLogs/signIns?$top=999&$orderby=createdDateTime%20asc", sim.base_url());
    all_pages(&client, url, &t).await
}

/// One line per leg of an alert, for the failure message.
fn describe(alert: &AlertEvent) -> String {
    let legs = alert.details["legs"].as_array().cloned().unwrap_or_default();
    let leg = |l: &Value| {
        format!(
            "{} {} ({}) -> {} {} ({}): {} km in {} h",
            l["from"]["time"],
            l["from"]["city"],
            l["from"]["ip"],
            l["to"]["time"],
            l["to"]["city"],
            l["to"]["ip"],
            l["distance_km"],
            l["hours"]
        )
    };
    format!("{}: {}", alert.user.as_deref().unwrap_or("?"), legs.iter().map(leg).collect::<Vec<_>>().join("; "))
}

#[tokio::test]
async fn a_week_of_background_traffic_raises_no_impossible_travel() {
    // Every company (their offices and remote staff are in different parts of the world), a
    // week of history ending on a Tuesday morning in London.
    let tenants = m365mon_graph_sim::data::COMPANIES.len();
    let config = SimConfig {
        tenants,
        users: 25,
        history_days: 7.0,
        start_at: Some(parse_odata_datetime("2025-03-04T11:00:00Z").expect("time")),
        ..SimConfig::default()
    };
    let sim = GraphSim::start(config).expect("start");
    let mut engine = Engine::new(Settings::default());
    let mut alerts = Vec::new();
    let mut fed = 0;
    let mut remote_users = 0;
    for (index, info) in sim.tenants().iter().enumerate() {
        for r in interactive_sign_ins(&sim, index).await {
            let record = m365mon_model::parse_record(r.to_string().as_bytes()).expect("a served record reads");
            alerts.extend(engine.observe(&info.tenant_id, &record));
            fed += 1;
        }
        let tenant = &sim.state().tenants[index].tenant;
        let office = &m365mon_graph_sim::data::CITIES[tenant.office_city];
        remote_users += tenant
            .users
            .iter()
            .filter(|u| m365mon_graph_sim::data::distance_km(&m365mon_graph_sim::data::CITIES[u.city], office) > 500.0)
            .count();
    }
    alerts.extend(engine.finish());
    // The check has teeth: there are remote staff (more than 500 km from their office) to move.
    assert!(remote_users > 15, "only {remote_users} remote users");
    assert!(fed > 5_000, "only {fed} records");
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &alerts {
        *by_rule.entry(a.rule.as_str()).or_default() += 1;
    }
    eprintln!("{fed} records from {tenants} tenants; alert events by rule: {by_rule:?}");
    let travel: Vec<String> = alerts.iter().filter(|a| a.rule == RuleId::ImpossibleTravel).map(describe).collect();
    assert!(travel.is_empty(), "{} impossible_travel alert events:\n{}", travel.len(), travel.join("\n"));
}
