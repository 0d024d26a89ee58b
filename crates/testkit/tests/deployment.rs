//! The deployment files are checked here, since no container engine runs in CI: every service in
//! docker-compose.yml runs a binary this workspace builds, NATS is pinned to a release with the
//! features nats.conf uses, every variable in .env.sample and deploy/demo.env is one some binary
//! reads, the demo settings validate, nats.conf is accepted by the NATS server when one is
//! installed, and its per-service users line up with what compose gives each service.
//! (crates/cli/tests/nats_users.rs runs the services against nats.conf's users.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Names of the binaries the workspace builds.
fn workspace_binaries() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let mut bins = BTreeSet::new();
    for package in metadata["packages"].as_array().expect("packages") {
        for target in package["targets"].as_array().expect("targets") {
            if target["kind"].as_array().expect("kind").iter().any(|k| k == "bin") {
                bins.insert(target["name"].as_str().expect("name").to_string());
            }
        }
    }
    bins
}

/// Every quoted SCREAMING_CASE word in the workspace's Rust sources: the environment variables the
/// binaries read (clap `env = "…"`, `std::env::var("…")`, variable names in documentation).
fn variables_in_sources() -> BTreeSet<String> {
    fn walk(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for piece in text.split('"').skip(1).step_by(2) {
                    if piece.len() > 3
                        && piece.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    {
                        found.insert(piece.to_string());
                    }
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    for crate_dir in std::fs::read_dir(root().join("crates")).expect("crates dir").flatten() {
        let src = crate_dir.path().join("src");
        if src.is_dir() {
            walk(&src, &mut found);
        }
    }
    // Read by libraries we use, not by our code.
    for external in ["RUST_LOG", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"] {
        found.insert(external.to_string());
    }
    found
}

/// The environment variables nats.conf references (`password: $NATS_COLLECTOR_PASSWORD`): outside
/// comments and quoted strings, which hold subjects such as `"$JS.API.>"`.
fn nats_conf_variables() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in read("nats.conf").lines() {
        let code = line.split('#').next().unwrap_or("");
        for (i, piece) in code.split('"').enumerate() {
            if i % 2 == 1 {
                continue; // inside quotes
            }
            for candidate in piece.split('$').skip(1) {
                let name: String = candidate
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// nats.conf's users and the variable each one's password comes from.
fn nats_conf_users() -> Vec<(String, String)> {
    let mut users = Vec::new();
    let mut user = None;
    for line in read("nats.conf").lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix("user:") {
            user = Some(name.trim().trim_matches('"').to_string());
        } else if let Some(password) = line.strip_prefix("password:") {
            let variable = password.trim().strip_prefix('$').expect("passwords come from the environment");
            users.push((user.take().expect("a user before its password"), variable.to_string()));
        }
    }
    users
}

fn compose() -> Yaml {
    let docs = YamlLoader::load_from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML");
    docs.into_iter().next().expect("one document")
}

#[test]
fn compose_services_run_binaries_this_workspace_builds() {
    let bins = workspace_binaries();
    let compose = compose();
    let services = compose["services"].as_hash().expect("services");
    assert!(services.len() >= 4, "nats, collector, detector, notifier at least");
    for (name, service) in services {
        let name = name.as_str().expect("service name");
        if name == "nats" {
            continue;
        }
        // The command (or entrypoint) comes first; merged anchors keep `<<` as a key.
        let program = service["entrypoint"][0].as_str().or_else(|| service["command"][0].as_str());
        let program = program.unwrap_or_else(|| panic!("service {name} names no program"));
        assert!(bins.contains(program), "service {name} runs {program}, which the workspace does not build ({bins:?})");
    }
    for required in ["m365mon-collector", "m365mon-detector", "m365mon-notifier"] {
        assert!(
            services.values().any(|s| s["command"][0].as_str() == Some(required)),
            "no compose service runs {required}"
        );
    }
}

#[test]
fn compose_pins_a_nats_release_with_the_features_nats_conf_uses() {
    let compose = compose();
    let image = compose["services"]["nats"]["image"].as_str().expect("nats image");
    let tag = image.strip_prefix("nats:").expect("the official nats image");
    let version: Vec<u32> =
        tag.split('-').next().unwrap().split('.').map(|p| p.parse().expect("numeric tag")).collect();
    assert_eq!(version.len(), 3, "pin an exact release, not {tag}");
    assert!((version[0], version[1]) >= (2, 10), "nats.conf uses sync_interval, which needs NATS 2.10 ({tag})");
    let dockerfile = read("deploy/Dockerfile");
    for bin in ["m365mon", "m365mon-collector", "m365mon-detector", "m365mon-notifier", "m365mon-graph-sim"] {
        assert!(dockerfile.contains(&format!("target/release/{bin} ")), "deploy/Dockerfile does not ship {bin}");
    }
}

#[test]
fn every_configured_variable_is_read_by_some_binary() {
    let known = variables_in_sources();
    let compose_text = read("docker-compose.yml");
    let mut configured: Vec<(String, String)> = Vec::new();
    for file in [".env.sample", "deploy/demo.env"] {
        for line in read(file).lines() {
            let line = line.trim().trim_start_matches('#').trim();
            if let Some((name, _)) = line.split_once('=')
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                configured.push((file.to_string(), name.to_string()));
            }
        }
    }
    let compose = compose();
    for (_, service) in compose["services"].as_hash().expect("services") {
        if let Some(env) = service["environment"].as_hash() {
            for (name, _) in env {
                configured.push(("docker-compose.yml".into(), name.as_str().expect("name").to_string()));
            }
        }
    }
    assert!(compose_text.contains("env_file: .env"));
    // The NATS server reads the users' passwords (nats.conf), not one of our binaries.
    let known: BTreeSet<String> = known.into_iter().chain(nats_conf_variables()).collect();
    for (file, name) in configured {
        // ALERT_WEBHOOK_SECRET is an example of a name the settings choose (secret_env).
        if name == "ALERT_WEBHOOK_SECRET" {
            continue;
        }
        // Secrets follow the `NAME` / `NAME_FILE` convention: the file variant is derived.
        let base = name.strip_suffix("_FILE").filter(|base| known.contains(*base));
        assert!(known.contains(&name) || base.is_some(), "{file} sets {name}, which no binary reads");
    }
}

#[test]
fn the_demo_settings_document_is_valid() {
    let text = read("deploy/demo-settings.json");
    if let Err(e) = m365mon_contracts::Settings::from_json_str(&text) {
        panic!("deploy/demo-settings.json: {e}");
    }
}

#[test]
fn nats_conf_is_accepted_by_the_nats_server() {
    let Some(server) = m365mon_testkit::NatsServerBinary::find() else {
        eprintln!("skipping: no nats-server installed to check nats.conf with");
        return;
    };
    let mut config = read("nats.conf");
    // Older servers (Debian's 2.9) do not know sync_interval; everything else must still parse.
    if !server.knows_sync_interval() {
        config = config.lines().filter(|l| !l.trim_start().starts_with("sync_interval")).collect::<Vec<_>>().join("\n");
    }
    let dir = std::env::temp_dir().join(format!("m365mon-nats-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nats.conf");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(&server.path);
    command.args(["-t", "-c"]).arg(&path);
    for variable in nats_conf_variables() {
        command.env(variable, "a-password");
    }
    let output = command.output().expect("nats-server runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "nats-server ({}) rejects nats.conf: {}{}",
        server.version_text,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_service_connects_as_its_own_nats_user() {
    let users = nats_conf_users();
    let names: BTreeSet<&str> = users.iter().map(|(user, _)| user.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["cli", "collector", "detector", "notifier"]), "nats.conf's users");
    assert_eq!(names.len(), users.len(), "one entry per user");
    let compose = compose();
    let services = &compose["services"];
    // The server gets every password, and every password is set for both ways of running.
    let server_env = services["nats"]["environment"].as_hash().expect("the nats service's environment");
    for (user, variable) in &users {
        let value = server_env.get(&Yaml::String(variable.clone())).and_then(Yaml::as_str).unwrap_or("");
        assert!(value.starts_with(&format!("${{{variable}:?")), "the nats service must get {variable} (for {user})");
        for file in [".env.sample", "deploy/demo.env"] {
            assert!(
                read(file).lines().any(|l| l.starts_with(&format!("{variable}="))),
                "{file} does not set {variable}"
            );
        }
    }
    // Each service (and the command line) as its user, with that user's password.
    for (service, user) in [
        ("collector", "collector"),
        ("detector", "detector"),
        ("notifier", "notifier"),
        ("cli", "cli"),
        ("demo-settings", "cli"),
    ] {
        let env = &services[service]["environment"];
        assert_eq!(env["NATS_USER"].as_str(), Some(user), "compose service {service} connects as {user}");
        let variable = &users.iter().find(|(u, _)| u == user).expect("a user of nats.conf").1;
        let password = env["NATS_PASSWORD"].as_str().unwrap_or("");
        assert!(
            password.starts_with(&format!("${{{variable}:?")),
            "compose service {service}: NATS_PASSWORD from {variable}"
        );
    }
}
