//! "Send a test email": request/reply on `<ns>.notify.test`, answered with the mail server's
//! reply or the exact error, so an administrator can check the mail setup from the CLI or the UI
//! before an incident does. One notifier answers (queue group), within the mail rate limit.

use std::sync::Arc;

use futures::StreamExt;
use m365mon_bus::BusError;
use m365mon_notify_policy::render::escape;
use m365mon_notify_policy::test_message::{TestReply, TestRequest};
use m365mon_runtime::CancellationToken;

use crate::Shared;
use crate::channels::OutgoingMail;

pub(crate) async fn subscribe(shared: &Shared) -> Result<async_nats::Subscriber, BusError> {
    let subject = shared.bus.namespace().notify_test_subject();
    shared
        .bus
        .client()
        .queue_subscribe(subject.clone(), "notifier".to_string())
        .await
        .map_err(|e| BusError::Request { subject, reason: e.to_string() })
}

pub(crate) async fn run(shared: Arc<Shared>, mut subscription: async_nats::Subscriber, shutdown: CancellationToken) {
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            message = subscription.next() => message,
        };
        let Some(message) = message else { return };
        let reply = handle(&shared, &message.payload).await;
        if let Some(reply_to) = message.reply {
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            if let Err(e) = shared.bus.client().publish(reply_to, body.into()).await {
                tracing::warn!(error = %e, "cannot answer a test-message request");
            }
        }
    }
}

async fn handle(shared: &Shared, payload: &[u8]) -> TestReply {
    let transport = shared.mail.name().to_string();
    let fail = |to: Vec<String>, detail: String| TestReply { ok: false, transport: transport.clone(), to, detail };
    let request: TestRequest = if payload.iter().all(u8::is_ascii_whitespace) {
        TestRequest::default()
    } else {
        match serde_json::from_slice(payload) {
            Ok(request) => request,
            Err(e) => return fail(Vec::new(), format!("bad request: {e}")),
        }
    };
    let settings = shared.settings();
    let n = &settings.notifications;
    let mut to = request.to;
    if to.is_empty() {
        for receiver in &n.receivers {
            for address in &receiver.email {
                if !to.contains(address) {
                    to.push(address.clone());
                }
            }
        }
    }
    if to.is_empty() {
        return fail(
            to,
            "no recipients: give an address (--to) or add a receiver with email to notifications.receivers".into(),
        );
    }
    if let Some(bad) = to.iter().find(|a| a.parse::<lettre::Address>().is_err()) {
        return fail(to.clone(), format!("'{}' is not a mail address", escape::one_line(bad, 200)));
    }
    let Some(from) = n.mail_from.clone().or_else(|| shared.config.mail_from.clone()) else {
        return fail(to, "no sender address: set notifications.mail_from in the settings or M365MON_MAIL_FROM".into());
    };
    if let Err(wait) = shared.take_token("mail", n.mail_rate_per_minute) {
        return fail(
            to,
            format!(
                "the mail rate limit ({} a minute) is reached; try again in {} s",
                n.mail_rate_per_minute,
                wait.as_secs() + 1
            ),
        );
    }
    let now = shared.clock.now();
    let when = m365mon_notify_policy::render::local_time(now, settings.timezone);
    let domain = from.rsplit_once('@').map_or("m365-monitor.invalid", |(_, d)| d).to_string();
    let subject = escape::one_line(&format!("{} Test message", n.subject_prefix), 200);
    let paragraphs = [
        format!(
            "This is a test message from m365-monitor, sent {when} through {transport} by notifier {}.",
            shared.config.instance
        ),
        "If you can read it, alert notifications reach this mailbox.".to_string(),
    ];
    let text = format!("{}\n", paragraphs.join("\n\n"));
    let html = format!(
        "<!DOCTYPE html>\n<html><body>{}</body></html>\n",
        paragraphs.iter().map(|p| format!("<p>{}</p>", escape::html(p))).collect::<String>()
    );
    let mail = OutgoingMail {
        from,
        from_name: shared.config.from_name.clone(),
        to: to.clone(),
        subject,
        text,
        html,
        message_id: format!("test-{}-{:016x}@{domain}", now.timestamp(), rand::random::<u64>()),
        thread_id: None,
    };
    let result = match tokio::time::timeout(shared.config.send_timeout, shared.mail.send(&mail)).await {
        Ok(result) => result,
        Err(_) => {
            Err(crate::channels::SendError::transient(format!("no answer within {:?}", shared.config.send_timeout)))
        }
    };
    match result {
        Ok(accepted) => {
            tracing::info!(to = ?to, reply = %accepted.detail, "test message accepted");
            TestReply { ok: true, transport, to, detail: accepted.detail }
        }
        Err(e) => {
            tracing::warn!(to = ?to, error = %e, "test message failed");
            fail(to, e.message)
        }
    }
}
