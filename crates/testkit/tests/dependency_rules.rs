//! The dependency rules of ARCHITECTURE.md, checked on every test run: the pure crates (record
//! model, contracts, rules engine, notification policy) stay free of I/O, async runtimes and
//! network clients, and only the api may talk to PostgreSQL.

use std::collections::BTreeMap;
use std::process::Command;

/// Our crates' normal (non-dev) dependencies, by package name.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null()) // normal dependencies only
                .map(|d| d["name"].as_str().expect("name").to_string())
                .collect();
            (package["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

const IO_CRATES: &[&str] = &[
    "tokio",
    "async-nats",
    "reqwest",
    "hyper",
    "actix-web",
    "lettre",
    "tokio-postgres",
    "deadpool-postgres",
    "azure_identity",
    "azure_core",
    "m365mon-bus",
    "m365mon-runtime",
    "m365mon-graph",
];

#[test]
fn pure_crates_do_no_io() {
    let deps = workspace_dependencies();
    for pure in ["m365mon-model", "m365mon-contracts", "m365mon-rules", "m365mon-notify-policy"] {
        let Some(list) = deps.get(pure) else { continue };
        for dep in list {
            assert!(!IO_CRATES.contains(&dep.as_str()), "{pure} must stay pure but depends on {dep}");
        }
    }
}

#[test]
fn only_the_api_touches_postgres_and_no_service_depends_on_another() {
    let deps = workspace_dependencies();
    let services = ["m365mon-collector", "m365mon-detector", "m365mon-notifier", "m365mon-api", "m365mon-graph-sim"];
    for (package, list) in &deps {
        for dep in list {
            if dep.contains("postgres") {
                assert_eq!(package, "m365mon-api", "{package} depends on {dep}; only the api owns PostgreSQL");
            }
            if services.contains(&dep.as_str()) {
                assert_eq!(
                    package, "m365mon-testkit",
                    "{package} depends on the service {dep}; services meet over the bus, not by linking"
                );
            }
        }
    }
}
