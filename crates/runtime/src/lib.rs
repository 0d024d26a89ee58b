//! Service plumbing shared by m365-monitor's binaries, so each `main` stays thin:
//!
//! - [`init_logging`]: `tracing` to stderr, human-readable or JSON (`M365MON_LOG_FORMAT=json`),
//!   filtered by `RUST_LOG`.
//! - [`shutdown_signal`]: SIGTERM / SIGINT become a [`CancellationToken`] every task watches; a
//!   second signal exits at once.
//! - [`HealthServer`]: `/healthz` and Prometheus `/metrics` on one small HTTP listener.
//! - [`install_crypto_provider`]: the process-wide rustls provider (several are in the dependency
//!   tree, and rustls refuses to guess).

mod health;

use std::sync::OnceLock;

pub use health::{Health, HealthServer};
pub use tokio_util::sync::CancellationToken;

/// Installs rustls' `ring` provider for the process. Call first in every `main` (and in tests that
/// build TLS configs); calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// From `M365MON_LOG_FORMAT` (`json` or `text`, default text).
    pub fn from_env() -> LogFormat {
        match std::env::var("M365MON_LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Sets up `tracing` for a service: `RUST_LOG` filters (default `info`), output to stderr.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A token cancelled on the first SIGTERM or SIGINT; a second signal ends the process at once
/// (exit code 130), for an operator who does not want to wait for a graceful drain.
pub fn shutdown_signal() -> CancellationToken {
    static TOKEN: OnceLock<CancellationToken> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let token = CancellationToken::new();
            let cancel = token.clone();
            // The handlers are installed here, before this returns, not when the task first
            // runs: a signal arriving in between would otherwise kill the process outright.
            let mut signals = Signals::install();
            tokio::spawn(async move {
                signals.next().await;
                tracing::info!("shutdown requested; draining (signal again to exit at once)");
                cancel.cancel();
                signals.next().await;
                tracing::warn!("second signal: exiting now");
                std::process::exit(130);
            });
            token
        })
        .clone()
}

/// SIGTERM and SIGINT, handled by this process from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
        }
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// A secret from the environment: the variable `name`, or the file that `<name>_FILE` names
/// (Docker and Kubernetes secrets), with its trailing newline removed. Never from a command-line
/// flag, which `ps` would show. Setting both, or naming an empty or unreadable file, is an error
/// that says which variable is wrong.
pub fn secret_from_env(name: &str) -> anyhow::Result<Option<String>> {
    let file_var = format!("{name}_FILE");
    let value = std::env::var(name).ok().filter(|v| !v.is_empty());
    let file = std::env::var_os(&file_var).filter(|v| !v.is_empty());
    match (value, file) {
        (Some(_), Some(_)) => anyhow::bail!("set either {name} or {file_var}, not both"),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => {
            read_secret_file(std::path::Path::new(&path)).map(Some).map_err(|e| anyhow::anyhow!("{file_var}: {e}"))
        }
        (None, None) => Ok(None),
    }
}

/// Reads a secret file: its content without the trailing newline; an empty file is an error.
pub fn read_secret_file(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let value = text.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        anyhow::bail!("{} is empty", path.display());
    }
    Ok(value)
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_variable_or_its_file() {
        let dir = std::env::temp_dir().join(format!("m365mon-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        // Setting variables needs `unsafe` in edition 2024 (and the crate forbids it), so the file
        // handling is tested directly and the variable lookup on a name nobody sets.
        assert_eq!(read_secret_file(&file).unwrap(), "s3cret");
        let err = read_secret_file(&empty).unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
        let err = read_secret_file(&dir.join("missing")).unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
        assert_eq!(secret_from_env("M365MON_TEST_VARIABLE_NOBODY_SETS").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
