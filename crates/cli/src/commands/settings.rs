//! `m365mon settings get | put FILE | validate FILE`: the settings document in the KV bucket
//! `<ns>_settings`, which every service watches and applies live (until the web UI manages it).
//!
//! `validate` works offline with the same checks the services apply; `put` refuses a document
//! with any problem and prints each one with its field; `get` prints the stored document (or
//! the defaults, saying so) as JSON that `put` takes back.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use m365mon_bus::NatsArgs;
use m365mon_bus::settings::PutSettingsError;
use m365mon_contracts::Settings;
use m365mon_contracts::settings::SettingsError;
use owo_colors::OwoColorize;

use super::connection::connect;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(subcommand)]
    pub command: SettingsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Print the stored settings document (the defaults when none is stored).
    Get {
        #[command(flatten)]
        nats: NatsArgs,
    },
    /// Validate a settings document and store it; every service applies it within seconds.
    Put {
        /// The document (JSON); `-` reads standard input.
        file: PathBuf,
        #[command(flatten)]
        nats: NatsArgs,
    },
    /// Check a settings document without storing it (no NATS needed).
    Validate {
        /// The document (JSON); `-` reads standard input.
        file: PathBuf,
    },
}

pub fn run(args: SettingsArgs) -> anyhow::Result<Outcome> {
    match args.command {
        SettingsCommand::Validate { file } => {
            read_valid(&file)?;
            eprintln!("{} {} is a valid settings document", "ok:".green().bold(), file.display());
            Ok(Outcome::Complete)
        }
        SettingsCommand::Put { file, nats } => {
            let settings = read_valid(&file)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let revision = runtime.block_on(async {
                let bus = connect(&nats).await?;
                match bus.put_settings(&settings).await {
                    Ok(revision) => anyhow::Ok((revision, bus.namespace().settings_bucket())),
                    Err(PutSettingsError::Invalid(e)) => Err(problems(&file, &e)),
                    Err(PutSettingsError::Bus(e)) => Err(anyhow::Error::new(e).context("storing the settings")),
                }
            })?;
            eprintln!(
                "{} stored {} as revision {} in KV bucket {}; services apply it now",
                "ok:".green().bold(),
                file.display(),
                revision.0,
                revision.1
            );
            Ok(Outcome::Complete)
        }
        SettingsCommand::Get { nats } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (settings, revision, bucket) = runtime.block_on(async {
                let bus = connect(&nats).await?;
                let (settings, revision) = bus.load_settings().await.context("reading the settings")?;
                anyhow::Ok((settings, revision, bus.namespace().settings_bucket()))
            })?;
            if revision == 0 {
                eprintln!("{} no settings stored in {bucket}: these are the defaults", "note:".yellow().bold());
            } else {
                eprintln!("{}", format!("# revision {revision} of {bucket}").dimmed());
            }
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &settings).context("cannot write to standard output")?;
            writeln!(out).context("cannot write to standard output")?;
            Ok(Outcome::Complete)
        }
    }
}

/// Reads and validates a document; the error lists every problem.
fn read_valid(file: &Path) -> anyhow::Result<Settings> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    Settings::from_json_str(&text).map_err(|e| problems(file, &e))
}

/// One line per problem, each naming its field.
fn problems(file: &Path, error: &SettingsError) -> anyhow::Error {
    let mut text = format!(
        "{} is not a valid settings document ({} problem{}):",
        file.display(),
        error.problems.len(),
        if error.problems.len() == 1 { "" } else { "s" }
    );
    for problem in &error.problems {
        text.push_str("\n  - ");
        text.push_str(&problem.to_string());
    }
    anyhow::anyhow!(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, r#"{"failed_logins": {"threshold": 1, "window_minutes": 0}}"#).unwrap();
        let message = read_valid(&path).unwrap_err().to_string();
        assert!(message.contains("failed_logins.threshold"), "{message}");
        assert!(message.contains("failed_logins.window_minutes"), "{message}");
        assert!(message.contains("2 problems"), "{message}");

        std::fs::write(&path, r#"{"nope": 1}"#).unwrap();
        let message = read_valid(&path).unwrap_err().to_string();
        assert!(message.contains("unknown field"), "{message}");

        std::fs::write(&path, r#"{"failed_logins": {"threshold": 3, "window_minutes": 10}}"#).unwrap();
        assert_eq!(read_valid(&path).unwrap().failed_logins.threshold, 3);
        assert!(read_valid(&dir.path().join("missing.json")).unwrap_err().to_string().contains("cannot read"));
    }
}
