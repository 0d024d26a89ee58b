//! A small SMTP server that captures mail: ESMTP with STARTTLS (the simulator's certificate),
//! AUTH PLAIN and AUTH LOGIN, and a switch that refuses mail with a 4xx reply for a while so
//! tests can simulate an outage.
//!
//! Written here rather than taken from a crate: mailin-embedded (the usual in-process capture
//! server) offers AUTH PLAIN only, has no shutdown and runs its own threads; this server is a
//! few hundred lines on the simulator's runtime and stops with it.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::mail::{CapturedMail, MailTransport, parse_message};
use crate::sim::SimState;

/// Largest message accepted (Exchange Online's default is 35 MB).
pub const MAX_MESSAGE_BYTES: usize = 35 * 1024 * 1024;

/// When the server refuses mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefusalStage {
    /// `421` as the greeting, then the connection closes.
    Connect,
    /// `451` to `MAIL FROM`.
    Mail,
    /// `451` after the message data.
    Data,
}

/// An outage in progress.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub until: Instant,
    pub stage: RefusalStage,
    pub code: u16,
}

/// Who may authenticate, and whether they must.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmtpOptions {
    /// Accepted (user, password) pairs.
    pub users: Vec<(String, String)>,
    /// Refuse mail from sessions that did not authenticate.
    pub require_auth: bool,
    /// Refuse AUTH before STARTTLS (as Exchange Online does).
    pub require_tls_for_auth: bool,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Accepts SMTP sessions until cancelled.
pub async fn serve(listener: TcpListener, sim: Arc<SimState>, tls: tokio_rustls::TlsAcceptor, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else { continue };
        // Replies go out as separate small writes; without this, Nagle's algorithm and the
        // client's delayed ACK add about 40 ms to every reply (as for the HTTPS listener).
        let _ = stream.set_nodelay(true);
        let sim = Arc::clone(&sim);
        let tls = tls.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                r = session(Box::new(stream), sim, tls) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "SMTP session ended with an error");
                    }
                }
            }
        });
    }
}

fn refusal(sim: &SimState, stage: RefusalStage) -> Option<u16> {
    let r = sim.smtp_refusal.lock().unwrap_or_else(|e| e.into_inner());
    r.as_ref().filter(|r| r.stage == stage && Instant::now() < r.until).map(|r| r.code)
}

async fn reply(io: &mut BufReader<Box<dyn Io>>, text: &str) -> std::io::Result<()> {
    let w = io.get_mut();
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

async fn read_line(io: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *io).take(8192).read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn address(arg: &str) -> Option<String> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some(arg[start + 1..end].trim().to_string())
}

async fn session(stream: Box<dyn Io>, sim: Arc<SimState>, tls: tokio_rustls::TlsAcceptor) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    if let Some(code) = refusal(&sim, RefusalStage::Connect) {
        reply(&mut io, &format!("{code} 4.3.2 Service not available, closing transmission channel")).await?;
        return Ok(());
    }
    reply(&mut io, "220 graph-sim ESMTP ready").await?;
    let opts = sim.smtp_options.clone();
    let mut secure = false;
    let mut authenticated: Option<String> = None;
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut io).await? else { return Ok(()) };
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (line.trim().to_ascii_uppercase(), String::new()),
        };
        match verb.as_str() {
            "EHLO" => {
                let mut lines = vec![
                    "250-graph-sim greets you".to_string(),
                    format!("250-SIZE {MAX_MESSAGE_BYTES}"),
                    "250-8BITMIME".into(),
                ];
                if !secure {
                    lines.push("250-STARTTLS".into());
                }
                if secure || !opts.require_tls_for_auth {
                    lines.push("250-AUTH PLAIN LOGIN".into());
                }
                lines.push("250 ENHANCEDSTATUSCODES".into());
                reply(&mut io, &lines.join("\r\n")).await?;
            }
            "HELO" => reply(&mut io, "250 graph-sim").await?,
            "STARTTLS" if !secure => {
                reply(&mut io, "220 2.0.0 Ready to start TLS").await?;
                let plain = io.into_inner();
                let tls_stream = tls.accept(plain).await?;
                io = BufReader::new(Box::new(tls_stream));
                secure = true;
                authenticated = None;
                from = None;
                rcpts.clear();
            }
            "STARTTLS" => reply(&mut io, "503 5.5.1 TLS already active").await?,
            "AUTH" => {
                if opts.require_tls_for_auth && !secure {
                    reply(&mut io, "530 5.7.0 Must issue a STARTTLS command first").await?;
                    continue;
                }
                let mut parts = arg.split_whitespace();
                let mechanism = parts.next().unwrap_or("").to_ascii_uppercase();
                let initial = parts.next().map(str::to_string);
                let credentials = match mechanism.as_str() {
                    "PLAIN" => {
                        let data = match initial {
                            Some(d) => d,
                            None => {
                                reply(&mut io, "334 ").await?;
                                read_line(&mut io).await?.unwrap_or_default()
                            }
                        };
                        STANDARD.decode(data.trim()).ok().and_then(|b| {
                            let fields: Vec<&[u8]> = b.split(|c| *c == 0).collect();
                            (fields.len() == 3).then(|| {
                                (
                                    String::from_utf8_lossy(fields[1]).into_owned(),
                                    String::from_utf8_lossy(fields[2]).into_owned(),
                                )
                            })
                        })
                    }
                    "LOGIN" => {
                        let user = match initial {
                            Some(u) => u,
                            None => {
                                reply(&mut io, "334 VXNlcm5hbWU6").await?;
                                read_line(&mut io).await?.unwrap_or_default()
                            }
                        };
                        reply(&mut io, "334 UGFzc3dvcmQ6").await?;
                        let pass = read_line(&mut io).await?.unwrap_or_default();
                        match (STANDARD.decode(user.trim()), STANDARD.decode(pass.trim())) {
                            (Ok(u), Ok(p)) => Some((
                                String::from_utf8_lossy(&u).into_owned(),
                                String::from_utf8_lossy(&p).into_owned(),
                            )),
                            _ => None,
                        }
                    }
                    _ => {
                        reply(&mut io, "504 5.5.4 Unrecognized authentication type").await?;
                        continue;
                    }
                };
                match credentials {
                    Some((u, p)) if opts.users.iter().any(|(uu, pp)| *uu == u && *pp == p) => {
                        authenticated = Some(u);
                        reply(&mut io, "235 2.7.0 Authentication successful").await?;
                    }
                    Some(_) => reply(&mut io, "535 5.7.8 Authentication unsuccessful").await?,
                    None => reply(&mut io, "501 5.5.2 Cannot decode the authentication data").await?,
                }
            }
            "MAIL" => {
                if opts.require_auth && authenticated.is_none() {
                    reply(&mut io, "530 5.7.57 Client not authenticated to send mail").await?;
                    continue;
                }
                if let Some(code) = refusal(&sim, RefusalStage::Mail) {
                    reply(&mut io, &format!("{code} 4.3.0 Mail server temporarily unavailable, try again later"))
                        .await?;
                    continue;
                }
                match arg.to_ascii_uppercase().starts_with("FROM:").then(|| address(&arg)).flatten() {
                    Some(a) => {
                        from = Some(a);
                        rcpts.clear();
                        reply(&mut io, "250 2.1.0 Sender OK").await?;
                    }
                    None => reply(&mut io, "501 5.5.4 Syntax: MAIL FROM:<address>").await?,
                }
            }
            "RCPT" => {
                if from.is_none() {
                    reply(&mut io, "503 5.5.1 Need MAIL before RCPT").await?;
                    continue;
                }
                match arg.to_ascii_uppercase().starts_with("TO:").then(|| address(&arg)).flatten() {
                    Some(a) if !a.is_empty() => {
                        rcpts.push(a);
                        reply(&mut io, "250 2.1.5 Recipient OK").await?;
                    }
                    _ => reply(&mut io, "501 5.5.4 Syntax: RCPT TO:<address>").await?,
                }
            }
            "DATA" => {
                if from.is_none() || rcpts.is_empty() {
                    reply(&mut io, "503 5.5.1 Need MAIL and RCPT before DATA").await?;
                    continue;
                }
                reply(&mut io, "354 Start mail input; end with <CRLF>.<CRLF>").await?;
                let mut message: Vec<u8> = Vec::new();
                let mut too_big = false;
                loop {
                    let mut buf = Vec::new();
                    let n = (&mut io).take(1 << 20).read_until(b'\n', &mut buf).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    let trimmed: &[u8] = buf.strip_suffix(b"\r\n").or_else(|| buf.strip_suffix(b"\n")).unwrap_or(&buf);
                    if trimmed == b"." {
                        break;
                    }
                    let line = trimmed.strip_prefix(b".").unwrap_or(trimmed);
                    if message.len() + line.len() + 2 > MAX_MESSAGE_BYTES {
                        too_big = true;
                        continue;
                    }
                    message.extend_from_slice(line);
                    message.extend_from_slice(b"\r\n");
                }
                if too_big {
                    reply(&mut io, "552 5.3.4 Message size exceeds fixed maximum message size").await?;
                } else if let Some(code) = refusal(&sim, RefusalStage::Data) {
                    reply(&mut io, &format!("{code} 4.3.0 Mail server temporarily unavailable, try again later"))
                        .await?;
                } else {
                    let (subject, text_body, html_body) = parse_message(&message);
                    let id = sim.mail.push(CapturedMail {
                        id: 0,
                        received_at: chrono::Utc::now().to_rfc3339(),
                        transport: MailTransport::Smtp,
                        tenant_id: None,
                        mail_from: from.clone().unwrap_or_default(),
                        rcpt_to: rcpts.clone(),
                        subject,
                        authenticated_user: authenticated.clone(),
                        tls: secure,
                        text_body,
                        html_body,
                        raw: String::from_utf8_lossy(&message).into_owned(),
                    });
                    reply(&mut io, &format!("250 2.0.0 OK queued as {id}")).await?;
                }
                from = None;
                rcpts.clear();
            }
            "RSET" => {
                from = None;
                rcpts.clear();
                reply(&mut io, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut io, "250 2.0.0 OK").await?,
            "VRFY" => reply(&mut io, "252 2.5.0 Cannot VRFY user").await?,
            "QUIT" => {
                reply(&mut io, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => reply(&mut io, "500 5.5.2 Command not recognized").await?,
        }
    }
}
