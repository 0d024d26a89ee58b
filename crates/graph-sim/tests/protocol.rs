//! The identity platform and Graph as clients meet them: the real azure_identity SDK, the token
//! endpoint's errors, Graph's 401/403/400 answers, directory roles, sendMail and the SMTP capture.

mod common;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};
use common::{http_client, install_crypto, token};
use m365mon_graph_sim::{GraphSim, MailTransport, RefusalStage, ScenarioRequest, SimConfig};
use serde_json::{Value, json};

fn sim() -> GraphSim {
    GraphSim::start(SimConfig { users: 20, history_days: 1.0, ..SimConfig::default() }).expect("start")
}

fn credential(
    sim: &GraphSim,
    tenant_id: &str,
    client_id: &str,
    secret: &str,
) -> Arc<azure_identity::ClientSecretCredential> {
    let mut cloud = azure_core::cloud::CustomConfiguration::default();
    cloud.authority_host = sim.base_url().to_string();
    let transport = azure_core::http::Transport::new(Arc::new(http_client(sim)));
    let options = azure_identity::ClientSecretCredentialOptions {
        client_options: azure_core::http::ClientOptions {
            cloud: Some(Arc::new(cloud.into())),
            transport: Some(transport),
            retry: azure_core::http::RetryOptions::none(),
            ..Default::default()
        },
    };
    azure_identity::ClientSecretCredential::new(
        tenant_id,
        client_id.to_string(),
        Secret::new(secret.to_string()),
        Some(options),
    )
    .expect("credential")
}

#[tokio::test]
async fn the_azure_identity_sdk_gets_a_token_that_graph_accepts() {
    install_crypto();
    let sim = sim();
    let tenant = &sim.tenants()[0];
    let app = &tenant.apps[0];
    let cred = credential(&sim, &tenant.tenant_id, &app.client_id, &app.client_secret);
    let token = cred.get_token(&["https://graph.microsoft.com/.default"], None).await.expect("token");
    assert!(token.expires_on > azure_core::time::OffsetDateTime::now_utc() + Duration::from_secs(3000));
    let client = http_client(&sim);
    let response = client
        .get(format!("{}/v1.0/auditLogs/signIns?$top=5", sim.base_url()))
        .bearer_auth(token.token.secret())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("json");
    assert_eq!(page["value"].as_array().map(Vec::len), Some(5));

    // A wrong secret fails inside the SDK with the identity platform's error.
    let bad = credential(&sim, &tenant.tenant_id, &app.client_id, "not-the-secret");
    let err = bad.get_token(&["https://graph.microsoft.com/.default"], None).await.expect_err("must fail");
    assert!(format!("{err:?}").contains("7000215"), "{err:?}");
}

async fn token_error(client: &reqwest::Client, sim: &GraphSim, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r =
        client.post(format!("{}/{tenant}/oauth2/v2.0/token", sim.base_url())).form(form).send().await.expect("send");
    (r.status().as_u16(), r.json().await.expect("json"))
}

#[tokio::test]
async fn the_token_endpoint_answers_like_the_identity_platform() {
    let sim = sim();
    let client = http_client(&sim);
    let tenant = sim.tenants()[0].clone();
    let app = &tenant.apps[0];
    let scope = "https://graph.microsoft.com/.default";
    let ok = [
        ("grant_type", "client_credentials"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.as_str()),
        ("scope", scope),
    ];
    let r = client.post(&tenant.token_url).form(&ok).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3));
    // The domain works as the tenant segment too.
    let by_domain = client
        .post(format!("{}/{}/oauth2/v2.0/token", sim.base_url(), tenant.initial_domain))
        .form(&ok)
        .send()
        .await
        .expect("send");
    assert_eq!(by_domain.status(), 200);

    // (tenant segment, form, status, error, AADSTS code)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            tenant.tenant_id.as_str(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", "wrong"),
                ("scope", scope),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            tenant.tenant_id.as_str(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "11111111-2222-3333-4444-555555555555"),
                ("client_secret", "x"),
                ("scope", scope),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        ("00000000-0000-0000-0000-000000000001", ok.to_vec(), 400, "invalid_request", 90002),
        (
            tenant.tenant_id.as_str(),
            vec![("client_id", &app.client_id), ("client_secret", &app.client_secret), ("scope", scope)],
            400,
            "invalid_request",
            900144,
        ),
        (
            tenant.tenant_id.as_str(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", &app.client_secret),
                ("scope", "nonsense/.default"),
            ],
            400,
            "invalid_scope",
            70011,
        ),
        (
            tenant.tenant_id.as_str(),
            vec![("grant_type", "client_credentials"), ("client_id", &app.client_id), ("scope", scope)],
            401,
            "invalid_client",
            7000218,
        ),
        (
            tenant.tenant_id.as_str(),
            vec![("grant_type", "password"), ("client_id", &app.client_id), ("scope", scope)],
            400,
            "unsupported_grant_type",
            70003,
        ),
    ];
    for (tenant_segment, form, status, error, code) in cases {
        let (s, body) = token_error(&client, &sim, tenant_segment, &form).await;
        assert_eq!((s, body["error"].as_str()), (status, Some(error)), "{body}");
        assert_eq!(body["error_codes"], json!([code]));
        let description = body["error_description"].as_str().expect("description");
        assert!(description.starts_with(&format!("AADSTS{code}: ")), "{description}");
        assert!(
            description.contains("Trace ID: ")
                && description.contains("Correlation ID: ")
                && description.contains("Timestamp: ")
        );
        for key in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
            assert!(body.get(key).is_some(), "{key} missing in {body}");
        }
    }
}

#[tokio::test]
async fn certificate_assertions_are_accepted() {
    let sim = sim();
    let client = http_client(&sim);
    let tenant = sim.tenants()[0].clone();
    let app_id = tenant.apps[0].client_id.clone();
    let r =
        client.post(format!("{}/_sim/tenants/0/apps/{app_id}/certificate", sim.base_url())).send().await.expect("send");
    assert_eq!(r.status(), 201);
    let app = sim.state().tenants[0].state().apps[0].clone();
    let assertion = m365mon_graph_sim::auth::build_assertion(&app, &tenant.token_url, chrono::Utc::now().timestamp())
        .expect("assertion");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app_id.as_str()),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let r = client.post(&tenant.token_url).form(&form).send().await.expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

async fn graph_get(client: &reqwest::Client, url: String, token: &str) -> (u16, Value) {
    let r = client.get(url).bearer_auth(token).send().await.expect("send");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
    for key in ["date", "request-id", "client-request-id"] {
        assert!(body["error"]["innerError"][key].is_string(), "{key} in {body}");
    }
}

#[tokio::test]
async fn graph_refuses_like_graph() {
    let sim = sim();
    let client = http_client(&sim);
    let tenant = sim.tenants()[0].clone();
    let base = sim.base_url().to_string();
    let signins = format!("{base}/v1.0/auditLogs/signIns");

    let (s, body) = graph_get(&client, signins.clone(), "").await;
    assert_eq!(s, 401);
    assert_graph_error(&body, "InvalidAuthenticationToken");
    assert_eq!(body["error"]["message"], "Access token is empty.");

    // A token for another audience.
    let app = &tenant.apps[0];
    let r: Value = client
        .post(&tenant.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let (s, body) = graph_get(&client, signins.clone(), r["access_token"].as_str().expect("token")).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"]["message"], "Access token validation failure. Invalid audience.");

    let t = token(&client, &sim, &tenant).await;
    for (query, code) in [
        ("$top=1001", "Request_BadRequest"),
        ("$filter=createdDateTime gt 2025-01-01T00:00:00Z", "Request_BadRequest"),
        ("$filter=IsRisky eq true", "Request_BadRequest"),
        ("$filter=createdDateTime ge", "BadRequest"),
        ("$filter=signInEventTypes/any(t: t eq 'nonInteractiveUser')", "Request_BadRequest"),
        ("$skiptoken=forged", "BadRequest"),
        ("$expand=x", "BadRequest"),
    ] {
        let (s, body) = graph_get(&client, format!("{signins}?{query}"), &t).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert_graph_error(&body, code);
    }
    let (s, body) = graph_get(&client, format!("{base}/v1.0/auditLogs/nothing"), &t).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "BadRequest");

    // Missing permission, then the licence gate.
    assert!(sim.set_permissions(0, &app.client_id, &["Directory.Read.All"]));
    let limited = token(&client, &sim, &tenant).await;
    let (s, body) = graph_get(&client, signins.clone(), &limited).await;
    assert_eq!(s, 403);
    assert_graph_error(&body, "Authorization_RequestDenied");
    assert!(sim.set_permissions(0, &app.client_id, &["AuditLog.Read.All", "Directory.Read.All", "Mail.Send"]));
    sim.set_premium(0, false);
    let t = token(&client, &sim, &tenant).await;
    let (s, body) = graph_get(&client, signins.clone(), &t).await;
    assert_eq!(s, 403);
    assert_graph_error(&body, "Authentication_RequestFromNonPremiumTenantOrB2CTenant");
    let (s, _) = graph_get(&client, format!("{base}/v1.0/auditLogs/directoryAudits?$top=1"), &t).await;
    assert_eq!(s, 200, "audit logs need no premium licence");
}

#[tokio::test]
async fn directory_roles_list_their_members() {
    let sim = sim();
    let client = http_client(&sim);
    let tenant = sim.tenants()[0].clone();
    let t = token(&client, &sim, &tenant).await;
    let (s, body) = graph_get(&client, format!("{}/v1.0/directoryRoles?$expand=members", sim.base_url()), &t).await;
    assert_eq!(s, 200);
    let roles = body["value"].as_array().expect("roles");
    let global = roles.iter().find(|r| r["displayName"] == "Global Administrator").expect("GA");
    assert_eq!(global["roleTemplateId"], "62e90394-69f5-4237-9190-012177145e10");
    let members: Vec<&str> =
        global["members"].as_array().expect("members").iter().filter_map(|m| m["userPrincipalName"].as_str()).collect();
    assert!(members.contains(&tenant.break_glass_upn.as_str()));
    assert!(global["members"][0]["@odata.type"] == "#microsoft.graph.user");
    // A role assignment scenario changes membership.
    let done = sim.inject(&ScenarioRequest::named("role_assignment")).expect("inject");
    let id = global["id"].as_str().expect("id");
    let (s, body) = graph_get(&client, format!("{}/v1.0/directoryRoles/{id}/members", sim.base_url()), &t).await;
    assert_eq!(s, 200);
    let upns: Vec<&str> =
        body["value"].as_array().expect("value").iter().filter_map(|m| m["userPrincipalName"].as_str()).collect();
    assert!(upns.contains(&done.user.as_deref().expect("user")));
    let (s, by_template) = graph_get(
        &client,
        format!(
            "{}/v1.0/directoryRoles(roleTemplateId='62e90394-69f5-4237-9190-012177145e10')/members",
            sim.base_url()
        ),
        &t,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(by_template["value"], body["value"]);
}

#[tokio::test]
async fn send_mail_is_captured_and_can_be_refused() {
    let sim = sim();
    let client = http_client(&sim);
    let tenant = sim.tenants()[0].clone();
    let t = token(&client, &sim, &tenant).await;
    let sender = &tenant.admin_upns[0];
    let url = format!("{}/v1.0/users/{sender}/sendMail", sim.base_url());
    let message = json!({"message": {
        "subject": "[high] password_spray: 12 users <script>",
        "body": {"contentType": "HTML", "content": "<p>alert</p>"},
        "toRecipients": [{"emailAddress": {"address": "soc@example.com"}}]
    }, "saveToSentItems": false});
    let r = client.post(&url).bearer_auth(&t).json(&message).send().await.expect("send");
    assert_eq!(r.status(), 202);
    let mail = sim.mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].transport, MailTransport::Graph);
    assert_eq!(mail[0].rcpt_to, ["soc@example.com"]);
    assert_eq!(mail[0].subject.as_deref(), Some("[high] password_spray: 12 users <script>"));
    let page = client
        .get(format!("{}/_sim/mail/view", sim.base_url()))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(page.contains("12 users &lt;script&gt;") && !page.contains("users <script>"));

    let r = client
        .post(format!("{}/v1.0/users/nobody@nowhere.test/sendMail", sim.base_url()))
        .bearer_auth(&t)
        .json(&message)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    sim.refuse_sendmail(Duration::from_secs(60), 503);
    let r = client.post(&url).bearer_auth(&t).json(&message).send().await.expect("send");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(sim.mail().len(), 1);
}

#[tokio::test]
async fn smtp_capture_with_starttls_and_auth_and_an_outage() {
    use lettre::message::{Mailbox, header::ContentType};
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    install_crypto();
    let sim = GraphSim::start(SimConfig {
        users: 5,
        history_days: 0.0,
        smtp_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..SimConfig::default()
    })
    .expect("start");
    let smtp = sim.info().smtp.clone().expect("smtp");
    let tls = TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(sim.ca_pem().as_bytes()).expect("pem"))
        .build_rustls()
        .expect("tls");
    let message = || {
        Message::builder()
            .from("Monitor <alerts@contoso.com>".parse::<Mailbox>().expect("from"))
            .to("soc@contoso.com".parse::<Mailbox>().expect("to"))
            .subject("Three alerts: ✓")
            .header(ContentType::TEXT_PLAIN)
            .body(String::from("body line\n.leading dot"))
            .expect("message")
    };
    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
            .port(smtp.port)
            .tls(Tls::Required(tls.clone()))
            .credentials(Credentials::new(smtp.username.clone(), smtp.password.clone()))
            .authentication(vec![mechanism])
            .build();
        let response = mailer.send(message()).await.expect("sent");
        assert_eq!(response.code().to_string(), "250");
    }
    let mail = sim.mail();
    assert_eq!(mail.len(), 2);
    assert!(mail.iter().all(|m| m.tls && m.authenticated_user.as_deref() == Some(smtp.username.as_str())));
    assert_eq!(mail[0].subject.as_deref(), Some("Three alerts: ✓"));
    assert_eq!(mail[0].rcpt_to, ["soc@contoso.com"]);
    assert!(mail[0].text_body.as_deref().is_some_and(|b| b.contains(".leading dot")));

    // Wrong password.
    let wrong = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(smtp.port)
        .tls(Tls::Required(tls.clone()))
        .credentials(Credentials::new(smtp.username.clone(), "wrong".into()))
        .build();
    assert!(wrong.send(message()).await.is_err());

    // An outage: 4xx (transient) for a while, then delivery works again.
    sim.refuse_smtp(Duration::from_millis(800), RefusalStage::Data, 451);
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(smtp.port)
        .tls(Tls::Required(tls))
        .build();
    let err = mailer.send(message()).await.expect_err("refused");
    assert!(err.is_transient(), "{err:?}");
    tokio::time::sleep(Duration::from_millis(900)).await;
    mailer.send(message()).await.expect("delivered after the outage");
    assert_eq!(sim.mail().len(), 3);
}

#[test]
fn the_binary_prints_one_json_line_first_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_m365mon-graph-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
            "--users",
            "10",
            "--tenants",
            "2",
            "--history-days",
            "0.5",
        ])
        .args(["--scenario", "password_spray", "--non-premium-tenant", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let info = m365mon_graph_sim::StartupInfo::from_line(&first).expect("the first line is the JSON object");
    assert!(info.base_url.starts_with("https://127.0.0.1:") && !info.base_url.ends_with(":0"));
    assert_eq!(info.tenants.len(), 2);
    assert!(!info.tenants[1].premium);
    assert_ne!(info.tenants[0].apps[0].client_secret, info.tenants[1].apps[0].client_secret);
    assert!(info.smtp.as_ref().is_some_and(|s| s.port != 0));
    assert!(info.ca_pem.contains("BEGIN CERTIFICATE"));
    let human = lines.next().expect("a second line").expect("utf-8");
    assert!(human.starts_with("graph-sim "), "{human}");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "graph-sim should exit cleanly on SIGTERM: {exit:?}");
}
