//! Reviewing triage over real HTTP: the case browser, the review queue, labels, the export and
//! rule health, on the app spawned on port 0 with a fresh database of each backend.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::app::{spawn_app_on, TestApp};
use crate::support::db::TestDb;

const TOKEN: &str =
    "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";

const MESSAGES: &[&str] = &[
    "I made a new app key and every call gets 403. Does the key need a role?",
    "Olvidé copiar el appToken, ¿puedo verlo de nuevo?",
    "Could a trailing space in my appKey cause 401?",
    "Esqueci de copiar o appToken, como vejo de novo?",
    "How do I add a banner to the home page?",
    "Meu usuário não consegue criar chave de aplicação, quem pode?",
    "App key authentication isn't working for us.",
];

/// Posts `n` tickets cycling through `MESSAGES`; returns each case's id and category as the API
/// answered them.
async fn seed(app: &TestApp, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let body = json!({"id": format!("R-{i}"), "body": MESSAGES[i % MESSAGES.len()], "requester": format!("agent-{}", i % 3), "account": "acme"});
        let v: Value = app.post("/v1/tickets").json(&body).send().await.unwrap().json().await.unwrap();
        out.push((v["case_id"].as_i64().expect("a case id"), v["category"].as_str().unwrap().to_string()));
    }
    out
}

async fn list(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/v1/cases?{query}")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{query}");
    r.json().await.unwrap()
}

/// Every page of a filtered list, following `next_before`.
async fn all_pages(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
    let (mut cases, mut pages, mut before) = (Vec::new(), 0, None::<i64>);
    loop {
        let q = match before {
            Some(b) => format!("{query}&before={b}"),
            None => query.to_string(),
        };
        let page = list(app, &q).await;
        pages += 1;
        cases.extend(page["cases"].as_array().unwrap().iter().cloned());
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => return (cases, pages),
        }
    }
}

on_both_backends! {
    async fn filters_and_keyset_pages_list_each_matching_case_once_newest_first(db: &TestDb) {
        let app = spawn_app_on(db).await;
        let seeded = seed(&app, 30).await;
        let mut by_category: HashMap<&str, Vec<i64>> = HashMap::new();
        for (id, category) in &seeded {
            by_category.entry(category.as_str()).or_default().push(*id);
        }
        for (category, ids) in &by_category {
            let (cases, pages) = all_pages(&app, &format!("category={category}&limit=2")).await;
            let got: Vec<i64> = cases.iter().map(|c| c["id"].as_i64().unwrap()).collect();
            let mut want = ids.clone();
            want.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(got, want, "{category}: every case once, newest first");
            assert_eq!(pages, ids.len().div_ceil(2).max(1), "{category}");
            assert!(cases.iter().all(|c| c["category"] == *category));
        }
        // Filters combine.
        let held = list(&app, "outcome=not_support&source=ticket&language=en").await;
        assert!(!held["cases"].as_array().unwrap().is_empty());
        assert!(held["cases"].as_array().unwrap().iter().all(|c| c["suppressed_reason"] == "not_support" && c["language"] == "en"));
        let sure = list(&app, "min_confidence=0.9&limit=200").await;
        assert!(sure["cases"].as_array().unwrap().iter().all(|c| c["confidence"].as_f64().unwrap() >= 0.9));
        // A wrong filter says what is accepted.
        let bad = app.get("/v1/cases?outcome=later").send().await.unwrap();
        assert_eq!(bad.status(), 400);
        assert!(bad.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("below_threshold"));
        assert_eq!(app.get("/v1/cases?colour=red").send().await.unwrap().status(), 400, "an unknown filter is refused");
        app.stop().await;
    }
}

on_both_backends! {
    async fn free_text_search_finds_the_masked_text_but_never_a_secrets_original(db: &TestDb) {
        let app = spawn_app_on(db).await;
        seed(&app, 7).await;
        let body = json!({"id": "S-1", "body": format!("our zebra integration fails: X-VTEX-API-AppToken: {TOKEN}")});
        assert_eq!(app.post("/v1/tickets").json(&body).send().await.unwrap().status(), 201);
        let found = list(&app, "q=zebra").await;
        assert_eq!(found["cases"].as_array().unwrap().len(), 1);
        assert!(found["cases"][0]["text"].as_str().unwrap().contains("[masked:apptoken]"));
        for probe in [TOKEN, &TOKEN[..24], &TOKEN.to_lowercase()] {
            let q = list(&app, &format!("q={probe}")).await;
            assert!(q["cases"].as_array().unwrap().is_empty(), "the original of a masked token is not searchable");
        }
        assert_eq!(list(&app, "q=zebra%20masked").await["cases"].as_array().unwrap().len(), 1);
        // Words and a category are found together; a word of a category's name is not text.
        let category = found["cases"][0]["category"].as_str().unwrap().to_string();
        assert_eq!(list(&app, &format!("q=zebra&category={category}")).await["cases"].as_array().unwrap().len(), 1);
        let other = if category == "none" { "apptoken-lost" } else { "none" };
        assert!(list(&app, &format!("q=zebra&category={other}")).await["cases"].as_array().unwrap().is_empty());
        assert!(
            list(&app, "q=unspecified").await["cases"].as_array().unwrap().is_empty(),
            "auth-unspecified is a category, not a word of any text"
        );
        // FTS syntax in the query is only words.
        assert_eq!(app.get("/v1/cases?q=%22zebra%20OR%20NEAR(").send().await.unwrap().status(), 200);
        app.stop().await;
    }
}

async fn label_from_dashboard(app: &TestApp, id: i64, category: &str) -> reqwest::Response {
    app.post(&format!("/review/{id}")).form(&[("category", category), ("back", "/review")]).send().await.unwrap()
}

fn export(db: &TestDb) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["review", "export", "--since", "30d", "--database"])
        .arg(db.arg())
        .env_remove("DATABASE_URL")
        .env_remove("TRIAGE_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

on_both_backends! {
    async fn a_dashboard_label_appears_in_the_export_and_the_classifiers_fields_stay(db: &TestDb) {
        let app = spawn_app_on(db).await;
        let seeded = seed(&app, 7).await;
        let (id, category) = seeded.iter().find(|(_, c)| c != "none").cloned().unwrap();
        let before: Value = app.get(&format!("/v1/cases/{id}")).send().await.unwrap().json().await.unwrap();
        let r = label_from_dashboard(&app, id, "none").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/review");
        let after: Value = app.get(&format!("/v1/cases/{id}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(before, after, "the classifier's output is never rewritten");
        assert_eq!(after["category"], category.as_str());
        // A page elsewhere cannot label cases with a reviewer's session.
        let forged =
            app.post(&format!("/review/{id}")).header("origin", "https://evil.example").form(&[("category", "none")]).send().await.unwrap();
        assert_eq!(forged.status(), 403);
        assert_eq!(label_from_dashboard(&app, id, "nonsense").await.status(), 422);

        let lines = export(db);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["id"], format!("case-{id}"));
        assert_eq!(line["expected"], "none");
        assert_eq!(line["triaged"], category.as_str());
        assert_eq!(line["labelled_by"], "api");
        assert_eq!(line["text"], after["text"]);
        // The export is a corpus `triage eval` reads.
        let file = app.dir.path().join("reviewed.jsonl");
        std::fs::write(&file, lines.iter().map(|l| l.to_string() + "\n").collect::<String>()).unwrap();
        let eval = std::process::Command::new(env!("CARGO_BIN_EXE_triage")).arg("eval").arg(&file).arg("--json").output().unwrap();
        assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
        let report: Value = serde_json::from_slice(&eval.stdout).unwrap();
        assert_eq!(report["messages"], 1);
        assert_eq!(report["accuracy"], 0.0, "triage said {category}, the reviewer none");
        app.stop().await;
    }
}

on_both_backends! {
    async fn a_thumbs_down_case_is_first_in_the_review_queue(db: &TestDb) {
        let app = spawn_app_on(db).await;
        // Recurring and sampled cases come first by id; the 👎 goes on an early one.
        let seeded = seed(&app, 21).await;
        let (down, _) = seeded.iter().find(|(_, c)| c != "none").cloned().unwrap();
        let vote = app.post(&format!("/v1/cases/{down}/feedback")).json(&json!({"helpful": false, "by": "agent-9"})).send().await.unwrap();
        assert_eq!(vote.status(), 201);
        let queue: Value = app.get("/v1/review").send().await.unwrap().json().await.unwrap();
        let queue = queue.as_array().unwrap();
        assert!(queue.len() > 1, "more than the 👎 needs review: {queue:?}");
        assert_eq!((queue[0]["why"].as_str(), queue[0]["case"]["id"].as_i64()), (Some("thumbs_down"), Some(down)));
        let ids: Vec<i64> = queue.iter().map(|e| e["case"]["id"].as_i64().unwrap()).collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "each case once");
        let html = app.get("/review").send().await.unwrap().text().await.unwrap();
        let first_row = html.find("<tr data-why=").expect("rows");
        assert!(html[first_row..].starts_with("<tr data-why=\"thumbs_down\""), "{}", &html[first_row..first_row + 80]);
        assert!(html[first_row..].contains(&format!("href=\"/cases/{down}\"")));
        // Once labelled, it leaves the queue.
        assert_eq!(label_from_dashboard(&app, down, "none").await.status(), 303);
        let queue: Value = app.get("/v1/review").send().await.unwrap().json().await.unwrap();
        assert!(queue.as_array().unwrap().iter().all(|e| e["case"]["id"].as_i64() != Some(down)));
        app.stop().await;
    }
}

on_both_backends! {
    async fn precision_per_rule_is_computed_from_reviewed_cases_with_the_count_behind_it(db: &TestDb) {
        let app = spawn_app_on(db).await;
        let seeded = seed(&app, 14).await;
        // Label every case of one category: alternately right and wrong.
        let (_, category) = seeded.iter().find(|(_, c)| c != "none").cloned().unwrap();
        let ours: Vec<i64> = seeded.iter().filter(|(_, c)| *c == category).map(|(id, _)| *id).collect();
        let mut right = 0;
        for (i, id) in ours.iter().enumerate() {
            let label = if i % 2 == 0 { category.as_str() } else { "none" };
            right += usize::from(i % 2 == 0);
            assert_eq!(label_from_dashboard(&app, *id, label).await.status(), 303);
        }
        let case: Value = app.get(&format!("/v1/cases/{}", ours[0])).send().await.unwrap().json().await.unwrap();
        let rule = case["rules"][0].as_str().expect("a rule fired").to_string();
        let health: Value = app.get("/v1/rules?period=30d").send().await.unwrap().json().await.unwrap();
        let cat = health["categories"].as_array().unwrap().iter().find(|r| r["name"] == category.as_str()).expect("category row");
        assert_eq!(cat["judged"], ours.len());
        assert_eq!(cat["right"], right);
        let precision = cat["precision"].as_f64().unwrap();
        assert!((precision - right as f64 / ours.len() as f64).abs() < 1e-9);
        assert!(cat["precision_low"].as_f64().unwrap() < precision, "the lower bound shows how few cases stand behind it");
        let r = health["rules"].as_array().unwrap().iter().find(|r| r["name"] == rule.as_str()).expect("rule row");
        assert!(r["fired"].as_i64().unwrap() >= ours.len() as i64);
        assert!(r["judged"].as_i64().unwrap() >= 1);
        let page = app.get("/rules").send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&rule) && page.contains(&format!("{right} of {}", ours.len())), "the page shows the count behind it");
        app.stop().await;
    }
}

on_both_backends! {
    async fn the_case_page_shows_the_explanation_with_marked_spans_and_no_secret(db: &TestDb) {
        let app = spawn_app_on(db).await;
        let body = json!({"id": "P-1", "body": format!("I made a new app key and every call gets 403. Does the key need a role? X-VTEX-API-AppToken: {TOKEN}"), "requester": "ana"});
        let v: Value = app.post("/v1/tickets").json(&body).send().await.unwrap().json().await.unwrap();
        let id = v["case_id"].as_i64().unwrap();
        let html = app.get(&format!("/cases/{id}")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("<mark title="), "spans are marked");
        assert!(html.contains("key-not-linked-to-role/"), "the rule that fired");
        assert!(html.contains("[masked:apptoken]") && !html.contains(TOKEN));
        assert!(html.contains(&format!("action=\"/review/{id}\"")), "one-click labels");
        let list = app.get("/cases?category=key-not-linked-to-role").send().await.unwrap().text().await.unwrap();
        assert!(list.contains(&format!("href=\"/cases/{id}\"")));
        assert_eq!(app.get("/cases/999999").send().await.unwrap().status(), 404);
        app.stop().await;
    }
}
