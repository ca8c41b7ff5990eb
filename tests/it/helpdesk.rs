//! Helpdesk connectors end to end: signed webhooks from a test client, replies posted through the
//! durable outbox to a fake helpdesk on loopback that speaks each API's shapes.

use std::time::Duration;

use serde_json::{json, Value};
use triage::config::{Config, HelpdeskConfig};
use triage::helpdesk::{zammad, zendesk, Connector, Connectors, Helpdesk, Secrets};

use crate::support::app::{spawn_app_with_connectors, TestApp, API_TOKEN};
use crate::support::assert_not_on_disk;
use crate::support::fake_helpdesk::{Answer, FakeHelpdesk};

const API_SECRET: &str = "helpdesk-api-secret-0001";
const HOOK_SECRET: &str = "helpdesk-webhook-secret-0001";
const ROLE_QUESTION: &str = "Our new appKey gets 403 on every call, does it need a role?";
const SPONSOR_QUESTION: &str =
    "Only our Sponsor user can create the appKey and appToken? I am admin and don't see the option to generate keys";

fn connector(helpdesk: Helpdesk, fake: &FakeHelpdesk, public_min_confidence: Option<f64>) -> Connector {
    let config = HelpdeskConfig {
        url: fake.url(),
        email: Some("triage-bot@acme.com".into()),
        public_min_confidence,
        public_categories: Vec::new(),
        give_up_after: Duration::from_secs(120),
        timeout: Duration::from_secs(2),
        bot_login: Some("triage-bot@acme.com".into()),
    };
    Connector::new(helpdesk, config, Secrets { api: API_SECRET.into(), webhook: HOOK_SECRET.into() }).unwrap()
}

async fn app_with(connectors: Vec<Connector>) -> TestApp {
    spawn_app_with_connectors(Config::default(), Some(API_TOKEN), "127.0.0.1:0", Some(Connectors::with(connectors))).await
}

fn now_rfc3339(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn zendesk_webhook(app: &TestApp, body: &Value) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let ts = now_rfc3339(0);
    app.client
        .post(format!("{}/v1/webhooks/zendesk", app.base))
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-signature-timestamp", &ts)
        .header("x-zendesk-webhook-signature", zendesk::sign(HOOK_SECRET, &ts, &raw))
        .body(raw)
        .send()
        .await
        .unwrap()
}

fn zendesk_ticket(id: u64, comment: &str) -> Value {
    json!({
        "ticket_id": id.to_string(), "event": "created", "subject": "API keys", "comment": comment,
        "author_role": "end-user", "requester_id": "9001", "requester_email": "ana@shop.example",
        "organization": "Shop Example", "locale": "en-US"
    })
}

async fn case_count(app: &TestApp) -> i64 {
    let stats: Value = app.get("/v1/stats?since=30d").send().await.unwrap().json().await.unwrap();
    stats["total_cases"].as_i64().unwrap_or_else(|| panic!("no case count in {stats}"))
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn a_signed_zendesk_webhook_leads_to_exactly_one_internal_note_with_auth_and_tags() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    let r = zendesk_webhook(&app, &zendesk_ticket(42, SPONSOR_QUESTION)).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let posted = fake.wait_accepted(1, Duration::from_secs(5)).await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    let call = &posted[0];
    assert_eq!((call.method.as_str(), call.path.as_str()), ("PUT", "/api/v2/tickets/42.json"));
    assert_eq!(call.authorization.as_deref(), Some(basic("triage-bot@acme.com/token", API_SECRET).as_str()));
    let comment = &call.body["ticket"]["comment"];
    assert_eq!(comment["public"], json!(false), "without public_min_confidence every reply is an internal note");
    let html = comment["html_body"].as_str().unwrap();
    assert!(html.contains("<strong>") && html.contains("sponsor-required"), "the note names the category for the agent: {html}");
    assert!(!html.contains("👍") && !html.contains("-#"), "no chat footer on a ticket: {html}");
    let tags: Vec<&str> = call.body["ticket"]["additional_tags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(tags.contains(&"triage_sponsor_required") && tags.contains(&"triage_sponsor"), "{tags:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.requests().len(), 1, "a posted reply is never posted again");
    let metrics = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    let sample = |name: &str, labels: &str| metrics.lines().any(|l| l.starts_with(&format!("{name}{{replica=")) && l.ends_with(labels));
    assert!(sample("triage_helpdesk_deliveries_total", r#",helpdesk="zendesk",outcome="sent"} 1"#), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn a_confident_answer_goes_to_the_customer_without_the_category_or_confidence() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, Some(0.8))]).await;
    zendesk_webhook(&app, &zendesk_ticket(43, ROLE_QUESTION)).await;
    let posted = fake.wait_accepted(1, Duration::from_secs(5)).await;
    let comment = &posted[0].body["ticket"]["comment"];
    assert_eq!(comment["public"], json!(true));
    let html = comment["html_body"].as_str().unwrap();
    assert!(!html.contains("key-not-linked-to-role") && !html.contains("confidence"), "{html}");
    assert!(html.contains("<ol>"), "the remediation's steps are an HTML list: {html}");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_signature_a_stale_timestamp_or_no_signature_gets_401_and_stores_nothing() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    let raw = serde_json::to_vec(&zendesk_ticket(44, ROLE_QUESTION)).unwrap();
    let url = format!("{}/v1/webhooks/zendesk", app.base);
    let fresh = now_rfc3339(0);
    let stale = now_rfc3339(-301);
    let attempts = [
        (Some(fresh.clone()), Some(zendesk::sign("wrong-secret", &fresh, &raw))),
        (Some(stale.clone()), Some(zendesk::sign(HOOK_SECRET, &stale, &raw))),
        (Some(fresh.clone()), None),
        (None, Some(zendesk::sign(HOOK_SECRET, &fresh, &raw))),
    ];
    for (ts, sig) in attempts {
        let mut req = app.client.post(&url).header("content-type", "application/json").body(raw.clone());
        if let Some(ts) = ts {
            req = req.header("x-zendesk-webhook-signature-timestamp", ts);
        }
        if let Some(sig) = sig {
            req = req.header("x-zendesk-webhook-signature", sig);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body = r.text().await.unwrap();
        assert!(!body.contains(HOOK_SECRET), "{body}");
    }
    assert_eq!(case_count(&app).await, 0);
    let metrics = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    let sample = |name: &str, labels: &str| metrics.lines().any(|l| l.starts_with(&format!("{name}{{replica=")) && l.ends_with(labels));
    assert!(sample("triage_helpdesk_webhook_rejections_total", r#",helpdesk="zendesk"} 4"#), "{metrics}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.requests().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_redeliveries_of_one_ticket_are_one_case_and_one_post() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    let body = zendesk_ticket(45, ROLE_QUESTION);
    let sends = (0..20).map(|_| zendesk_webhook(&app, &body));
    let statuses: Vec<u16> = futures_util::future::join_all(sends).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 19, "{statuses:?}");
    fake.wait_accepted(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(case_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_429_and_a_500_are_retried_and_the_reply_is_then_posted_once() {
    let fake = FakeHelpdesk::start().await;
    fake.script(&[Answer::TooMany { retry_after_secs: 1 }, Answer::ServerError]);
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    zendesk_webhook(&app, &zendesk_ticket(46, ROLE_QUESTION)).await;
    let posted = fake.wait_accepted(1, Duration::from_secs(20)).await;
    assert_eq!(posted.len(), 1);
    let all = fake.requests();
    assert_eq!(all.len(), 3, "429, 500, then the post: {:?}", all.iter().map(|r| r.answer).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.requests().len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn a_helpdesk_that_hangs_is_timed_out_and_the_reply_posted_on_a_retry() {
    let fake = FakeHelpdesk::start().await;
    fake.script(&[Answer::Hang]);
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    zendesk_webhook(&app, &zendesk_ticket(51, ROLE_QUESTION)).await;
    let posted = fake.wait_accepted(1, Duration::from_secs(20)).await;
    assert_eq!(posted.len(), 1);
    assert_eq!(fake.requests().len(), 2, "the hung call, then the post");
    app.stop().await;
}

#[tokio::test]
async fn a_reply_the_helpdesk_refuses_is_marked_failed_and_shown_on_the_dashboard() {
    let fake = FakeHelpdesk::start().await;
    fake.script(&[Answer::Refuse]);
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    let r = zendesk_webhook(&app, &zendesk_ticket(52, ROLE_QUESTION)).await;
    let case_id = r.json::<Value>().await.unwrap()["case_id"].as_i64().unwrap();
    fake.wait_requests(1, Duration::from_secs(5)).await;
    let mut status = Value::Null;
    for _ in 0..50 {
        let case: Value = app.get(&format!("/v1/cases/{case_id}")).send().await.unwrap().json().await.unwrap();
        status = case["reply_status"].clone();
        if status == json!("failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, json!("failed"));
    let page = app.get("/").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("could not be posted") && page.contains("422"), "the dashboard lists the failure");
    assert_eq!(fake.requests().len(), 1, "a refusal is not retried");
    app.stop().await;
}

#[tokio::test]
async fn an_agents_or_our_own_comment_is_ignored() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None), connector(Helpdesk::Zammad, &fake, None)]).await;
    let mut agent = zendesk_ticket(47, ROLE_QUESTION);
    agent["author_role"] = json!("Agent");
    let r = zendesk_webhook(&app, &agent).await;
    assert_eq!(r.status(), 200);
    for (sender, login) in [("Agent", "someone@acme.com"), ("Customer", "triage-bot@acme.com")] {
        let r = zammad_webhook(&app, &zammad_article(7, 70, &[70], sender, login, ROLE_QUESTION)).await;
        assert_eq!(r.status(), 200, "{sender} {login}");
        let answer: Value = r.json().await.unwrap();
        assert!(answer["ignored"].is_string(), "{answer}");
    }
    assert_eq!(case_count(&app).await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.requests().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_token_pasted_in_a_ticket_never_reaches_the_helpdesk_or_the_database() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, Some(0.5))]).await;
    let token =
        "QWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZ";
    let comment = format!("{ROLE_QUESTION}\nX-VTEX-API-AppKey: vtexappkey-shop-ABCDEF\nX-VTEX-API-AppToken: {token}");
    zendesk_webhook(&app, &zendesk_ticket(48, &comment)).await;
    let posted = fake.wait_accepted(1, Duration::from_secs(5)).await;
    assert_eq!(posted.len(), 1);
    let html = posted[0].body["ticket"]["comment"]["html_body"].as_str().unwrap();
    assert!(html.contains("appToken"), "the reply warns about the leak: {html}");
    for r in fake.requests() {
        assert!(!r.raw.contains(&token[..24]), "the token reached the helpdesk: {}", r.raw);
    }
    let dir = app.stop().await;
    assert_not_on_disk(dir.path(), &token.as_bytes()[..24]);
}

#[tokio::test]
async fn a_later_comment_on_an_answered_ticket_is_a_case_of_its_own_and_gets_no_second_reply() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    zendesk_webhook(&app, &zendesk_ticket(49, ROLE_QUESTION)).await;
    fake.wait_accepted(1, Duration::from_secs(5)).await;
    let mut later = zendesk_ticket(49, "I still get 403 with the new appKey, does the key need a role for the orders API?");
    later["event"] = json!("updated");
    let r = zendesk_webhook(&app, &later).await;
    assert_eq!(r.status(), 201, "a new comment is a new case");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["category"], json!("key-not-linked-to-role"), "{answer}");
    assert_eq!(answer["reply"]["suppressed_reason"], json!("already_answered"), "{answer}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(case_count(&app).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_case_that_keeps_coming_back_gets_an_internal_note_for_a_person_never_a_public_repeat() {
    let fake = FakeHelpdesk::start().await;
    let mut config = Config::default();
    config.recurrence.escalate_after = 2;
    let connectors = Connectors::with(vec![connector(Helpdesk::Zendesk, &fake, Some(0.5))]);
    let app = spawn_app_with_connectors(config, Some(API_TOKEN), "127.0.0.1:0", Some(connectors)).await;
    zendesk_webhook(&app, &zendesk_ticket(60, ROLE_QUESTION)).await;
    fake.wait_accepted(1, Duration::from_secs(5)).await;
    // Another ticket of the same organisation, about the same cause.
    let mut again = zendesk_ticket(61, "Hello, the new appKey we made returns 403 for everything, is a role missing?");
    again["requester_id"] = json!("9002");
    zendesk_webhook(&app, &again).await;
    let posted = fake.wait_accepted(2, Duration::from_secs(5)).await;
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].body["ticket"]["comment"]["public"], json!(true), "the first answer is confident enough to be public");
    let second = &posted[1].body["ticket"];
    assert_eq!(second["comment"]["public"], json!(false));
    let html = second["comment"]["html_body"].as_str().unwrap();
    assert!(html.contains("needs a person") && html.contains("case 2"), "{html}");
    assert!(second["additional_tags"].as_array().unwrap().contains(&json!("triage_recurring")));
    app.stop().await;
}

#[tokio::test]
async fn shadow_mode_stores_the_case_and_posts_nothing() {
    let fake = FakeHelpdesk::start().await;
    let mut config = Config::default();
    config.reply.shadow = true;
    let connectors = Connectors::with(vec![connector(Helpdesk::Zendesk, &fake, None)]);
    let app = spawn_app_with_connectors(config, Some(API_TOKEN), "127.0.0.1:0", Some(connectors)).await;
    let answer: Value = zendesk_webhook(&app, &zendesk_ticket(62, ROLE_QUESTION)).await.json().await.unwrap();
    assert_eq!(answer["reply"]["suppressed_reason"], json!("shadow_mode"), "{answer}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fake.requests().is_empty());
    assert_eq!(case_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_generic_ticket_cannot_take_the_id_of_a_connectors_ticket() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    let r = app.post("/v1/tickets").json(&json!({"id": "zendesk:42", "body": ROLE_QUESTION})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("/v1/webhooks/zendesk"));
    app.stop().await;
}

#[tokio::test]
async fn a_ticket_id_that_is_not_a_number_is_refused_before_it_can_reach_an_api_path() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    let mut ticket = zendesk_ticket(1, ROLE_QUESTION);
    ticket["ticket_id"] = json!("42/../../users/1");
    let r = zendesk_webhook(&app, &ticket).await;
    assert_eq!(r.status(), 422);
    assert_eq!(case_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_helpdesk_that_is_not_configured_answers_404() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zendesk, &fake, None)]).await;
    let r = app.client.post(format!("{}/v1/webhooks/freshdesk", app.base)).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("[helpdesk.freshdesk]"));
    app.stop().await;
}

async fn freshdesk_webhook(app: &TestApp, secret: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(format!("{}/v1/webhooks/freshdesk", app.base)).json(body);
    if let Some(secret) = secret {
        req = req.header("x-triage-webhook-secret", secret);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn freshdesk_needs_its_shared_secret_and_gets_a_private_note_then_merged_tags() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Freshdesk, &fake, None)]).await;
    let body = json!({
        "ticket_id": "310", "event": "created", "subject": "Keys", "description": format!("<div>{SPONSOR_QUESTION}</div>"),
        "requester_email": "ana@shop.example", "company": "Shop", "locale": "en"
    });
    assert_eq!(freshdesk_webhook(&app, None, &body).await.status(), 401);
    assert_eq!(freshdesk_webhook(&app, Some("not-it"), &body).await.status(), 401);
    assert_eq!(case_count(&app).await, 0);
    assert_eq!(freshdesk_webhook(&app, Some(HOOK_SECRET), &body).await.status(), 201);
    let calls = fake.wait_accepted(3, Duration::from_secs(5)).await;
    let paths: Vec<(String, String)> = calls.iter().map(|c| (c.method.to_string(), c.path.clone())).collect();
    assert_eq!(
        paths,
        [("POST", "/api/v2/tickets/310/notes"), ("GET", "/api/v2/tickets/310"), ("PUT", "/api/v2/tickets/310")]
            .map(|(m, p)| (m.to_string(), p.to_string()))
    );
    assert_eq!(calls[0].body["private"], json!(true));
    assert_eq!(calls[0].authorization.as_deref(), Some(basic(API_SECRET, "X").as_str()));
    let tags: Vec<&str> = calls[2].body["tags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(tags.contains(&"existing") && tags.contains(&"triage_sponsor"), "tags already on the ticket are kept: {tags:?}");
    app.stop().await;
}

fn zammad_article(ticket: u64, article: u64, article_ids: &[u64], sender: &str, login: &str, text: &str) -> Value {
    json!({
        "ticket": { "id": ticket, "number": "31001", "title": "API keys", "article_ids": article_ids,
                    "customer": { "id": 3, "email": "ana@shop.example", "preferences": { "locale": "pt-br" } },
                    "organization": { "name": "Shop" } },
        "article": { "id": article, "sender": sender, "internal": false, "type": "email", "content_type": "text/html",
                     "body": format!("<p>{text}</p>"), "created_by": { "login": login } }
    })
}

async fn zammad_webhook(app: &TestApp, body: &Value) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    app.client
        .post(format!("{}/v1/webhooks/zammad", app.base))
        .header("content-type", "application/json")
        .header("x-hub-signature", zammad::sign(HOOK_SECRET, &raw))
        .body(raw)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn zammad_gets_an_internal_html_note_in_the_tickets_language_then_its_tags() {
    let fake = FakeHelpdesk::start().await;
    let app = app_with(vec![connector(Helpdesk::Zammad, &fake, None)]).await;
    let r = zammad_webhook(&app, &zammad_article(8, 80, &[80], "Customer", "ana@shop.example", ROLE_QUESTION)).await;
    assert_eq!(r.status(), 201);
    let calls = fake.wait_accepted(2, Duration::from_secs(5)).await;
    assert_eq!(calls[0].path, "/api/v1/ticket_articles");
    assert_eq!(calls[0].authorization.as_deref(), Some(format!("Token token={API_SECRET}").as_str()));
    let article = &calls[0].body;
    assert_eq!(
        (article["ticket_id"].clone(), article["type"].clone(), article["internal"].clone()),
        (json!(8), json!("note"), json!(true))
    );
    assert_eq!(article["content_type"], json!("text/html"));
    assert!(article["body"].as_str().unwrap().contains("Sugestão do triage"), "the locale pt-br picks Portuguese: {}", article["body"]);
    assert_eq!(calls[1].path, "/api/v1/tags/add");
    assert_eq!(calls[1].body["o_id"], json!(8));
    let mut bad = app.client.post(format!("{}/v1/webhooks/zammad", app.base)).header("x-hub-signature", "sha1=00");
    bad = bad.body(serde_json::to_vec(&zammad_article(9, 90, &[90], "Customer", "x@y.z", ROLE_QUESTION)).unwrap());
    assert_eq!(bad.send().await.unwrap().status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_configured_helpdesk_without_its_secrets_is_a_one_line_start_up_error() {
    let config = Config::parse("[helpdesk.zammad]\nurl = \"https://support.acme.com\"\n").unwrap();
    let err = Connectors::from_env(&config.helpdesk).unwrap_err().to_string();
    assert!(err.contains("ZAMMAD_API_TOKEN") && !err.contains('\n'), "{err}");
}

/// `triage serve` as its own process, on a database and config in `dir`.
fn start_serve(dir: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(dir.join("cases.db"))
        .arg("--config")
        .arg(dir.join("triage.toml"))
        .env("TRIAGE_API_TOKEN", API_TOKEN)
        .env("ZENDESK_API_TOKEN", API_SECRET)
        .env("ZENDESK_WEBHOOK_SECRET", HOOK_SECRET)
        .env_remove("DISCORD_TOKEN")
        .env_remove("DATABASE_URL")
        .env_remove("TRIAGE_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("the server printed its address").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap().trim_end_matches('/'));
        }
    };
    // Keep reading, so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

#[tokio::test]
async fn a_kill_9_between_the_acknowledgement_and_the_post_leads_to_exactly_one_post_after_restart() {
    let fake = FakeHelpdesk::start().await;
    fake.answer_always(Answer::ServerError);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[helpdesk.zendesk]\nurl = \"{}\"\nemail = \"triage-bot@acme.com\"\ntimeout = \"2s\"\ngive_up_after = \"10m\"\n",
        fake.url()
    );
    std::fs::write(dir.path().join("triage.toml"), config).unwrap();
    let (mut first, base) = start_serve(dir.path());
    let raw = serde_json::to_vec(&zendesk_ticket(77, ROLE_QUESTION)).unwrap();
    let ts = now_rfc3339(0);
    let client = reqwest::Client::new();
    let ack = client
        .post(format!("{base}/v1/webhooks/zendesk"))
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-signature-timestamp", &ts)
        .header("x-zendesk-webhook-signature", zendesk::sign(HOOK_SECRET, &ts, &raw))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 201);
    let case_id = ack.json::<Value>().await.unwrap()["case_id"].as_i64().unwrap();
    // The helpdesk failed the first attempt; the process dies before the retry.
    assert!(!fake.wait_requests(1, Duration::from_secs(5)).await.is_empty());
    first.kill().unwrap();
    first.wait().unwrap();
    let failed_attempts = fake.requests().len();
    assert!(fake.accepted().is_empty());

    fake.answer_always(Answer::Ok);
    let (mut second, base) = start_serve(dir.path());
    let posted = fake.wait_accepted(1, Duration::from_secs(20)).await;
    assert_eq!(posted.len(), 1, "the acknowledged reply is posted after the restart");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.accepted().len(), 1, "and only once");
    assert_eq!(fake.requests().len(), failed_attempts + 1);
    let case: Value = client.get(format!("{base}/v1/cases/{case_id}")).bearer_auth(API_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(case["reply_status"], json!("sent"), "{case}");
    second.kill().unwrap();
    second.wait().unwrap();
}
