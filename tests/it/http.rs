//! The HTTP API and dashboard, spawned on port 0 with a temporary database and driven over real
//! HTTP.

use serde_json::{json, Value};

use crate::support::app::{spawn_app, API_TOKEN};
use crate::support::assert_not_on_disk;

const TOKEN: &str =
    "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";

#[tokio::test]
async fn api_requires_the_bearer_token_but_probes_are_open() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let body = json!({"id": "A-1", "body": "App key authentication isn't working for us."});
    let none = app.client.post(format!("{}/v1/tickets", app.base)).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("Bearer"));
    let wrong = app.client.post(format!("{}/v1/tickets", app.base)).bearer_auth("nope").json(&body).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(app.client.get(format!("{}/v1/stats", app.base)).send().await.unwrap().status(), 401);
    assert_eq!(app.post("/v1/tickets").json(&body).send().await.unwrap().status(), 201);
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), 200);
    assert_eq!(app.client.get(format!("{}/readyz", app.base)).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn ticket_gets_classified_and_the_reply_to_post() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let r = app
        .post("/v1/tickets")
        .json(&json!({"id": 77, "subject": "chaves", "body": "Esqueci de copiar o appToken, como vejo de novo?", "requester": "ana", "account": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["category"], "apptoken-lost");
    assert_eq!(v["language"], "pt");
    assert_eq!(v["escalate_to_sponsor"], true);
    assert_eq!(v["recurring"], false);
    assert!(v["reply"]["text"].as_str().unwrap().contains("usuário Sponsor"));
    assert!(v["reply"].get("suppressed_reason").is_none());
    let case: Value = app.get(&format!("/v1/cases/{}", v["case_id"])).send().await.unwrap().json().await.unwrap();
    assert_eq!(case["source"], "ticket");
    assert_eq!(case["source_id"], "77");
    let off: Value = app
        .post("/v1/tickets")
        .json(&json!({"id": "x", "body": "How do I add a banner?", "language": "es"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(off["category"], "none");
    assert!(off["reply"]["text"].is_null());
    assert_eq!(off["reply"]["suppressed_reason"], "not_support");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_redelivery_stores_each_ticket_once_and_answers_alike() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let req = app.post("/v1/tickets").json(&json!({"id": format!("D-{}", i % 6), "body": "We lost the token for our ERP key, where can we find it?", "requester": format!("r{}", i % 6)}));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() }));
    }
    let mut by_id: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for t in tasks {
        let v = t.await.unwrap();
        by_id.entry(v["case_id"].to_string()).or_default().push(v);
    }
    assert_eq!(by_id.len(), 6, "one case per ticket id");
    for answers in by_id.values() {
        assert_eq!(answers.iter().filter(|a| a["duplicate"] == false).count(), 1);
        assert!(answers.iter().all(|a| a["reply"] == answers[0]["reply"] && a["category"] == answers[0]["category"]));
    }
    let stats: Value = app.get("/v1/stats").send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["total_cases"], 6);
    app.stop().await;
}

#[tokio::test]
async fn every_kind_of_bad_input_gets_a_json_4xx_and_stores_nothing() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (app.post("/v1/tickets").body("{\"id\":1,\"body\":\"x\"}"), 415, "Content-Type"),
        (app.post("/v1/tickets").header("content-type", "application/json").body("{\"id\": 1, \"body\": "), 400, ""),
        (app.post("/v1/tickets").json(&json!({"id": 1})), 422, "missing field `body`"),
        (app.post("/v1/tickets").json(&json!({"id": 1, "body": "a".repeat(10_000)})), 413, "size limit"),
        (app.post("/v1/tickets").json(&json!({"id": 1, "body": "appKey 401", "language": "fr"})), 422, "unknown language"),
        (app.post("/v1/tickets").json(&json!({"id": [1], "body": "appKey 401"})), 422, "`id`"),
        (app.post("/v1/tickets").json(&json!({"id": 2, "body": "   "})), 422, "empty"),
        (app.get("/v1/cases/999"), 404, "no case 999"),
        (app.get("/v1/cases/abc"), 400, "not a case id"),
        (app.get("/v1/stats?since=forever"), 400, "not a period"),
        (app.post("/v1/cases/1/feedback").json(&json!({"helpful": "yes", "by": "x"})), 422, ""),
        (app.post("/v1/cases/999/feedback").json(&json!({"helpful": true, "by": "x"})), 404, "no case"),
    ];
    for (req, status, needle) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.expect("JSON error body");
        assert!(v["error"].as_str().unwrap().contains(needle), "{status}: {v}");
    }
    let stats: Value = app.get("/v1/stats").send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["total_cases"], 0, "nothing half-stored");
    app.stop().await;
}

#[tokio::test]
async fn a_ticket_from_a_windows_sender_with_a_byte_order_mark_is_accepted() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let json = json!({"id": "bom-1", "body": "Perdi o appToken da integração, dá pra recuperar?"}).to_string();
    let with_bom = [&b"\xEF\xBB\xBF"[..], json.as_bytes()].concat();
    let r = app.post("/v1/tickets").header("content-type", "application/json; charset=utf-8").body(with_bom).send().await.unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["category"], "apptoken-lost");
    // A vendor media type ending in +json is JSON too; a mark anywhere but the start is not skipped.
    let vendor = json!({"id": "bom-2", "body": "appKey 401"}).to_string();
    let r = app.post("/v1/tickets").header("content-type", "application/vnd.helpdesk+json").body(vendor).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let late_mark = format!(" \u{FEFF}{json}");
    let r = app.post("/v1/tickets").header("content-type", "application/json").body(late_mark).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let not_utf8 = b"{\"id\": \"bad\", \"body\": \"\xff\xfe appKey\"}".to_vec();
    let r = app.post("/v1/tickets").header("content-type", "application/json").body(not_utf8).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let stats: Value = app.get("/v1/stats").send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["total_cases"], 2);
    app.stop().await;
}

#[tokio::test]
async fn leaked_token_is_masked_in_response_case_and_database() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let body = format!("curl -H 'X-VTEX-API-AppKey: vtexappkey-acme-QWERTY' -H 'X-VTEX-API-AppToken: {TOKEN}' https://acme.vtexcommercestable.com.br/api/oms/pvt/orders da 403");
    let r = app.post("/v1/tickets").json(&json!({"id": "leak", "body": body})).send().await.unwrap().text().await.unwrap();
    assert!(!r.contains(&TOKEN[..24]));
    let v: Value = serde_json::from_str(&r).unwrap();
    assert_eq!(v["escalate_to_sponsor"], true);
    assert!(v["reply"]["text"].as_str().unwrap().contains("appToken"));
    let case = app.get(&format!("/v1/cases/{}", v["case_id"])).send().await.unwrap().text().await.unwrap();
    assert!(!case.contains(&TOKEN[..24]) && case.contains("[masked:apptoken]"));
    let dir = app.stop().await;
    assert_not_on_disk(dir.path(), &TOKEN.as_bytes()[..24]);
}

#[tokio::test]
async fn feedback_and_stats_match_the_cli() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let texts = ["Can someone who isn't the Sponsor create keys?", "Could a trailing space in my appKey cause 401?", "Thanks a lot!"];
    let mut ids = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let v: Value =
            app.post("/v1/tickets").json(&json!({"id": i, "body": t, "requester": "same"})).send().await.unwrap().json().await.unwrap();
        ids.push(v["case_id"].as_i64().unwrap());
    }
    let r = app.post(&format!("/v1/cases/{}/feedback", ids[0])).json(&json!({"helpful": true, "by": "agent-1"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let api: Value = app.get("/v1/stats?since=7d").send().await.unwrap().json().await.unwrap();
    let db = app.dir.path().join("cases.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["stats", "--json", "--since", "7d", "--database", db.to_str().unwrap()])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut api = api;
    for v in [&mut cli, &mut api] {
        v.as_object_mut().unwrap().remove("since");
        v.as_object_mut().unwrap().remove("until");
    }
    assert_eq!(api, cli);
    assert_eq!(api["total_cases"], 3);
    assert_eq!(api["feedback"][0]["helpful"], 1);
    app.stop().await;
}

#[tokio::test]
async fn dashboard_needs_a_login_and_shows_labelled_charts() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    app.post("/v1/tickets")
        .json(&json!({"id": 1, "body": "Our appKey and appToken stopped working this morning.", "account": "<b>acme</b>"}))
        .send()
        .await
        .unwrap();
    let anon = app.client.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(anon.status(), 303);
    assert_eq!(anon.headers()["location"], "/login");
    let bad = app.client.post(format!("{}/login", app.base)).form(&[("token", "nope")]).send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let login = app.client.post(format!("{}/login", app.base)).form(&[("token", API_TOKEN)]).send().await.unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = app.client.get(format!("{}/?days=7", app.base)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.matches("<svg").count() >= 3);
    for label in ["Cases per day by category", "Category share", "auth-unspecified", "Top recurring accounts", "7 days"] {
        assert!(html.contains(label), "missing {label}");
    }
    assert!(!html.contains("<b>acme</b>"));
    app.stop().await;
}

#[tokio::test]
async fn without_a_token_the_server_binds_only_to_loopback() {
    let app = spawn_app(None, "0.0.0.0:0").await;
    assert!(app.address.ip().is_loopback());
    let r = app.client.post(format!("{}/v1/tickets", app.base)).json(&json!({"id": 1, "body": "appKey 401 help"})).send().await.unwrap();
    assert_eq!(r.status(), 201, "open on loopback");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let port = app.address.port();
    let line = metrics.lines().find(|l| l.starts_with("triage_classifications_total{")).unwrap_or_default();
    assert!(line.contains(&format!(":{port}\",category=\"auth-unspecified\"}} 1")), "named by host and port by default: {metrics}");
    assert!(metrics.contains("triage_http_request_duration_seconds_bucket"));
    app.stop().await;
}

#[tokio::test]
async fn every_metric_and_the_readiness_probe_name_the_replica_that_answered() {
    let mut config = triage::config::Config::default();
    config.http.instance = Some("replica-a".into());
    let app = crate::support::app::spawn_app_with(config, None, "127.0.0.1:0").await;
    let r = app.client.post(format!("{}/v1/tickets", app.base)).json(&json!({"id": 1, "body": "appKey 401 help"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let samples: Vec<&str> = metrics.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert!(samples.len() > 10, "{metrics}");
    for line in &samples {
        assert!(line.contains("replica=\"replica-a\""), "every sample names the replica: {line}");
    }
    let ready: Value = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["instance"], "replica-a");
    assert_eq!(ready["database"], json!({"backend": "sqlite", "ok": true}));
    app.stop().await;
}
