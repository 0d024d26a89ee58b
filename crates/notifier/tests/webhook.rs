//! Webhooks end to end: a generic webhook receives the signed JSON (checked with the secret the
//! way an integrator would), is retried after a 503, and a Slack-format hook gets blocks. The
//! endpoint is a small capture server standing in for the integrator's receiver.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use m365mon_contracts::settings::{Receiver, WebhookKind, WebhookTarget};
use m365mon_contracts::{RuleId, Severity};
use m365mon_notifier::SystemClock;
use m365mon_notifier::channels::MailTransport;
use m365mon_testkit::{TestBus, eventually};
use sha2::Sha256;

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// Listens on a free port; answers 503 to the first `fail_first` requests, then 200.
async fn capture(fail_first: usize) -> anyhow::Result<(String, Arc<Mutex<Vec<Received>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let seen: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let store = store.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let path = request.uri().path().to_string();
                        let headers = request.headers().clone();
                        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let n = {
                            let mut seen = store.lock().unwrap();
                            seen.push(Received { path, headers, body });
                            seen.len()
                        };
                        let status = if n <= fail_first { 503 } else { 200 };
                        Ok::<_, Infallible>(
                            Response::builder().status(status).body(Full::new(Bytes::from("ok"))).unwrap(),
                        )
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok((base, seen))
}

#[tokio::test]
async fn generic_webhooks_are_signed_retried_and_carry_the_alerts() -> anyhow::Result<()> {
    let t = TestBus::new().await?;
    let (base, seen) = capture(1).await?;
    // Setting a variable needs `unsafe` in edition 2024 (forbidden here), so the secret is one
    // the test runner already sets for every test process.
    let secret_env = "CARGO_PKG_NAME".to_string();
    let secret = std::env::var(&secret_env).expect("cargo sets CARGO_PKG_NAME for tests");
    let mut s = settings(|n| {
        n.group_wait_seconds = 0;
        n.receivers = vec![Receiver {
            name: "hooks".into(),
            webhooks: vec![
                WebhookTarget {
                    kind: WebhookKind::Generic,
                    url: format!("{base}/generic"),
                    secret_env: Some(secret_env.clone()),
                },
                WebhookTarget { kind: WebhookKind::Slack, url: format!("{base}/slack"), secret_env: None },
            ],
            ..Receiver::default()
        }];
    });
    s.notifications.retry_initial_seconds = 1;
    t.bus.put_settings(&s).await?;
    let (_notifier, _shutdown) = start(&t, MailTransport::None, Arc::new(SystemClock)).await?;
    let mut evil = alert(RuleId::PasswordSpray, Severity::High, "contoso", "203.0.113.9", 0);
    evil.summary = "<!channel> <https://evil.test|click>".into();
    publish(&t.bus, &evil).await?;

    let received = eventually(Duration::from_secs(20), "both hooks delivered", || {
        let seen = seen.lock().unwrap().clone();
        let ok = seen.iter().filter(|r| r.path == "/generic").count() >= 2 && seen.iter().any(|r| r.path == "/slack");
        async move { ok.then_some(seen) }
    })
    .await?;
    let generic: Vec<&Received> = received.iter().filter(|r| r.path == "/generic").collect();
    assert_eq!(generic.len(), 2, "one 503, then one success");
    let delivered = generic[1];
    let signature = delivered.headers["x-m365mon-signature"].to_str()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())?;
    mac.update(&delivered.body);
    mac.verify_slice(&hex::decode(signature.strip_prefix("sha256=").unwrap())?)?;
    assert_eq!(
        generic[0].headers["x-m365mon-delivery"], generic[1].headers["x-m365mon-delivery"],
        "a retry keeps its delivery id"
    );
    let payload: serde_json::Value = serde_json::from_slice(&delivered.body)?;
    assert_eq!(payload["schema"], "m365-monitor.notification.v1");
    assert_eq!(payload["alerts"][0]["id"], evil.id.as_str());
    assert_eq!(payload["alerts"][0]["summary"], evil.summary.as_str(), "JSON carries the text as it is");

    let slack = received.iter().find(|r| r.path == "/slack").unwrap();
    let text = String::from_utf8_lossy(&slack.body);
    assert!(!text.contains("<!channel>") && text.contains("&lt;!channel&gt;"), "{text}");
    assert!(slack.headers.get("x-m365mon-signature").is_none(), "only generic hooks are signed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(seen.lock().unwrap().len(), received.len(), "nothing sent twice");
    Ok(())
}
