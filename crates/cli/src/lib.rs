//! `m365mon`, the command line of m365-monitor.
//!
//! One module per subcommand under [`commands`]; this file only parses the command line and
//! maps results to exit codes, so a new subcommand (`tail`, `status`, `settings`, `notify test`)
//! is a new module and a new enum variant.
//!
//! Exit codes (a contract for scripts):
//! - 0: done, every input record was read;
//! - 1: the command could not run (bad settings file, I/O error …), with a message on stderr;
//! - 2: bad command line (from clap);
//! - 3: done, but some records or files could not be read (each reported on stderr).

pub mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: some input could not be read, the rest was processed.
pub const EXIT_INCOMPLETE: u8 = 3;

/// Security monitoring for Microsoft 365 / Entra ID sign-in and directory audit logs.
#[derive(Debug, Parser)]
#[command(name = "m365mon", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the detection rules over exported sign-in and audit logs and print the alerts.
    Scan(commands::scan::ScanArgs),
    /// Notifications: `notify test` sends a test message through the running notifier.
    Notify(commands::notify::NotifyArgs),
    /// Print alert events as they arrive on the bus (with --since, earlier ones first).
    Tail(commands::tail::TailArgs),
    /// What runs, per tenant the records, last poll, lag, backlog and alerts; dead letters; problems.
    Status(commands::status::StatusArgs),
    /// Show, check or store the settings document every service applies live.
    Settings(commands::settings::SettingsArgs),
}

/// What a command achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was processed.
    Complete,
    /// Processed, but some input was skipped.
    Incomplete,
}

/// Parses the command line, runs the command, and turns the result into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => commands::scan::run(args),
        Command::Notify(args) => commands::notify::run(args),
        Command::Tail(args) => commands::tail::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Settings(args) => commands::settings::run(args),
    };
    match result {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::Incomplete) => ExitCode::from(EXIT_INCOMPLETE),
        // `m365mon scan … | head`: the reader has all it wants.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            use owo_colors::OwoColorize;
            use std::io::Write;
            let mut stderr = anstream::stderr();
            let _ = writeln!(stderr, "{} {error:#}", "error:".red().bold());
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
