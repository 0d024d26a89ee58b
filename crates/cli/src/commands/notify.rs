//! `m365mon notify test [--to ADDRESS]…`: asks a running notifier to send a test message and
//! prints the mail server's reply or the exact error, so the mail setup can be checked before an
//! incident depends on it. The request goes over NATS (`<ns>.notify.test`); the web UI uses the
//! same subject.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use m365mon_bus::NatsArgs;
use m365mon_notify_policy::test_message::{TestReply, TestRequest};

use crate::Outcome;

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message through the notifier's mail transport and show the server's reply.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Recipient (repeat for several). Default: every address of every receiver in the settings.
    #[arg(long = "to", value_name = "ADDRESS")]
    pub to: Vec<String>,
    /// How long to wait for the notifier's answer (it includes the mail server's).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub nats: NatsArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration such as 30s or 2m: {e}"))
}

pub fn run(args: NotifyArgs) -> anyhow::Result<Outcome> {
    match args.command {
        NotifyCommand::Test(args) => test(args),
    }
}

fn test(args: TestArgs) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let reply = runtime.block_on(async {
        let bus = args.nats.connect("m365mon-cli").await.context("connecting to NATS")?;
        let subject = bus.namespace().notify_test_subject();
        let request = serde_json::to_vec(&TestRequest { to: args.to.clone() })?;
        let answer = tokio::time::timeout(args.timeout, bus.client().request(subject.clone(), request.into()))
            .await
            .map_err(|_| anyhow::anyhow!("no answer on {subject} within {:?}", args.timeout))?
            .map_err(|e| match e.kind() {
                async_nats::RequestErrorKind::NoResponders => {
                    anyhow::anyhow!(
                        "no notifier is running in namespace '{}' (nobody answers {subject})",
                        bus.namespace()
                    )
                }
                _ => anyhow::anyhow!("request on {subject} failed: {e}"),
            })?;
        let reply: TestReply =
            serde_json::from_slice(&answer.payload).context("the notifier's answer is not a test-message reply")?;
        anyhow::Ok(reply)
    })?;
    let recipients = if reply.to.is_empty() { "(no recipients)".to_string() } else { reply.to.join(", ") };
    if reply.ok {
        println!("sent to {recipients} via {}: {}", reply.transport, reply.detail);
        Ok(Outcome::Complete)
    } else {
        bail!("test message to {recipients} via {} failed: {}", reply.transport, reply.detail)
    }
}
