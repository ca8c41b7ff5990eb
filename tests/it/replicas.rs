//! Several `triage serve` processes on one PostgreSQL database: real binaries, real HTTP, one
//! real server. Skipped (with one line) where no PostgreSQL server is configured; see
//! `support/db.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::{json, Value};
use triage::pipeline::{Delivery, Incoming, Pipeline};
use triage::respond::{Channel, Policy};
use triage::store::{DatabaseLocation, Source, Store, StoreOptions};
use triage::Classifier;

use crate::support::db::{new_postgres_database, postgres_url};
use crate::support::fake_helpdesk::FakeHelpdesk;

const BIN: &str = env!("CARGO_BIN_EXE_triage");

/// One `triage serve` process, killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(database: &str, name: &str) -> Replica {
        Replica::start_with(database, name, None, &[])
    }

    /// With a config file and extra environment (a helpdesk's secrets).
    fn start_with(database: &str, name: &str, config: Option<&std::path::Path>, env: &[(&str, &str)]) -> Replica {
        let mut command = Command::new(BIN);
        command.args(["serve", "--listen", "127.0.0.1:0", "--database", database]);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command.envs(env.iter().copied());
        let mut child = command
            .env_remove("DISCORD_TOKEN")
            .env_remove("TRIAGE_API_TOKEN")
            .env_remove("DATABASE_URL")
            .env_remove("TRIAGE_LISTEN")
            .env("TRIAGE_INSTANCE", name)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("triage serve starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let address = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("{name} stopped before serving: {seen}");
            }
            if let Some(a) = line.split("dashboard at http://").nth(1).and_then(|s| s.split('/').next()) {
                break a.to_string();
            }
            seen.push_str(&line);
        };
        let base = format!("http://{address}");
        // Keep reading, so that the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in stderr.lines() {});
        Replica { child, base }
    }

    fn tickets(&self) -> String {
        format!("{}/v1/tickets", self.base)
    }

    fn kill_hard(&mut self) {
        // SIGKILL: no shutdown, no flush, no goodbye.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

async fn store(url: &str) -> Store {
    Store::connect(&DatabaseLocation::Postgres(url.to_string()), StoreOptions::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_take_fifty_concurrent_deliveries_of_one_ticket_as_one_case_and_one_answer() {
    let Some(admin) = postgres_url() else { return };
    let url = new_postgres_database(&admin).await;
    let replicas = [Replica::start(&url, "a"), Replica::start(&url, "b")];
    let client = reqwest::Client::new();
    let body = json!({"id": "T-50", "body": "We lost the appToken of our ERP integration. Can we see it again?", "requester": "ana"});
    let sends = (0..50).map(|i| client.post(replicas[i % 2].tickets()).json(&body).send());
    let mut created = 0;
    let mut answers = Vec::new();
    for r in join_all(sends).await {
        let r = r.expect("each delivery is answered");
        let status = r.status().as_u16();
        assert!(status == 201 || status == 200, "{status}");
        created += usize::from(status == 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["duplicate"], json!(status == 200), "{v}");
        answers.push((v["case_id"].clone(), v["reply"].clone()));
    }
    assert_eq!(created, 1, "exactly one delivery made the case");
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "every delivery got the first one's answer: {answers:?}");
    assert!(answers[0].1["text"].is_string(), "and it is an answer: {:?}", answers[0]);
    assert_eq!(store(&url).await.count_cases().await.unwrap(), 1);
}

/// 1,000 tickets from 100 requesters, each requester's tickets one after another but sent to
/// the two replicas in turn, many requesters at once; the same schedule on one process.
async fn send_thousand(targets: &[String]) -> Vec<u16> {
    let client = reqwest::Client::new();
    let texts = [
        "We lost the appToken of our ERP integration. Can we see it again?",
        "Created a new appKey and appToken and every call gives 403. Does the pair need a role?",
        "Can someone who isn't the Sponsor create keys?",
    ];
    let requesters = (0..100).map(|who| {
        let client = client.clone();
        let targets = targets.to_vec();
        async move {
            let mut statuses = Vec::new();
            for n in 0..10 {
                let id = format!("R-{who}-{n}");
                let body = json!({"id": id, "body": texts[(who + n) % 3], "requester": format!("user{who}")});
                let r = client.post(&targets[n % targets.len()]).json(&body).send().await.expect("answered");
                statuses.push(r.status().as_u16());
            }
            statuses
        }
    });
    // 16 requesters at a time: within the server's connections per client.
    futures_util::stream::iter(requesters).buffer_unordered(16).collect::<Vec<_>>().await.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tickets_across_two_replicas_make_a_thousand_cases_that_recur_as_on_one_process() {
    let Some(admin) = postgres_url() else { return };
    let url = new_postgres_database(&admin).await;
    let (a, b) = (Replica::start(&url, "a"), Replica::start(&url, "b"));
    let statuses = send_thousand(&[a.tickets(), b.tickets()]).await;
    assert!(statuses.iter().all(|s| *s == 201), "every ticket is new");
    let two = store(&url).await.stats_rows(0, 10).await.unwrap();

    // The same tickets, the same order per requester, through one process on SQLite.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("one.db");
    let one = Replica::start(db.to_str().unwrap(), "one");
    send_thousand(&[one.tickets()]).await;
    let single = Store::open(&db).await.unwrap().stats_rows(0, 10).await.unwrap();

    assert_eq!(two.total, 1000);
    assert_eq!(single.total, 1000);
    assert!(single.recurring > 0 && single.recurrence_escalations > 0, "the run exercises recurrence: {single:?}");
    assert_eq!(
        (two.recurring, two.recurrence_escalations, &two.replies, &two.by_category),
        (single.recurring, single.recurrence_escalations, &single.replies, &single.by_category)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_replica_is_killed_under_load_every_acknowledged_ticket_is_kept_and_the_other_answers_on() {
    let Some(admin) = postgres_url() else { return };
    let url = new_postgres_database(&admin).await;
    let mut a = Replica::start(&url, "a");
    let b = Replica::start(&url, "b");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().unwrap();
    let post = |target: String, id: String| {
        let client = client.clone();
        async move {
            let body = json!({"id": id, "body": "Our appKey and appToken stopped working this morning.", "requester": id});
            let ok = client.post(target).json(&body).send().await.is_ok_and(|r| r.status().as_u16() == 201);
            (id, ok)
        }
    };
    // 400 tickets, 16 at a time, to both; the first replica dies a quarter of the way through.
    let mut acked = Vec::new();
    let mut after_kill = 0;
    let targets = [a.tickets(), b.tickets()];
    for wave in 0..25 {
        if wave == 6 {
            a.kill_hard();
        }
        let sends = (0..16).map(|i| {
            let n = wave * 16 + i;
            post(targets[n % 2].clone(), format!("K-{n}"))
        });
        for (id, ok) in join_all(sends).await {
            if ok {
                acked.push(id.clone());
                if wave >= 6 {
                    after_kill += 1;
                }
            } else {
                assert!(wave >= 6, "{id} failed while both replicas were up");
            }
        }
    }
    assert_eq!(after_kill, 19 * 8, "the surviving replica answered every ticket sent to it after the kill");
    let s = store(&url).await;
    for id in &acked {
        assert!(s.case_by_source(Source::Ticket, id).await.unwrap().is_some(), "acknowledged ticket {id} is stored");
    }
    assert!(s.count_cases().await.unwrap() >= acked.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_deciding_on_one_requester_at_the_same_moment_count_each_case_once() {
    let Some(admin) = postgres_url() else { return };
    let url = new_postgres_database(&admin).await;
    let classifier = Arc::new(Classifier::load(None).unwrap());
    // Two stores are two connection pools, as two processes would have.
    let writers = [
        Pipeline::new(classifier.clone(), store(&url).await, Policy::default()),
        Pipeline::new(classifier.clone(), store(&url).await, Policy::default()),
    ];
    const AT: i64 = 1_800_000_000;
    let sends = (0..40).map(|i| {
        let p = writers[i % 2].clone();
        async move {
            let mut m =
                Incoming::new(Source::Ticket, format!("S-{i}"), "We lost the appToken of our ERP integration. Can we see it again?");
            m.author = Some("same-person".into());
            // One timestamp for all: whichever is written first, every later one sees it.
            m.received_at = Some(AT);
            p.handle(m, &Channel { now: AT, ..Channel::default() }, Delivery::Return).await.unwrap()
        }
    });
    let handled = join_all(sends).await;
    let first = handled.iter().filter(|h| !h.case.recurring).count();
    let answered = handled.iter().filter(|h| h.decision.as_ref().is_some_and(|d| d.posts())).count();
    assert_eq!(first, 1, "exactly one case is the requester's first");
    // The first is answered, the second held by cooldown, the third escalated; the rest are
    // within the cooldown of that escalation.
    assert_eq!(answered, 2, "{:?}", handled.iter().map(|h| (h.case.recurring, h.case.suppressed_reason)).collect::<Vec<_>>());
    assert_eq!(handled.iter().filter(|h| h.case.recurrence_escalation).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_a_helpdesk_post_each_ticket_reply_exactly_once() {
    let Some(admin) = postgres_url() else { return };
    let url = new_postgres_database(&admin).await;
    let fake = FakeHelpdesk::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("triage.toml");
    std::fs::write(&config, format!("[helpdesk.zendesk]\nurl = \"{}\"\nemail = \"bot@acme.com\"\ntimeout = \"5s\"\n", fake.url())).unwrap();
    const HOOK: &str = "replica-webhook-secret-0001";
    let env = [("ZENDESK_API_TOKEN", "replica-api-secret-0001"), ("ZENDESK_WEBHOOK_SECRET", HOOK)];
    let (a, b) = (Replica::start_with(&url, "a", Some(&config), &env), Replica::start_with(&url, "b", Some(&config), &env));
    // 200 tickets, each acknowledged by one replica; both workers poll the one outbox.
    let client = reqwest::Client::new();
    let sends = (0..200u32).map(|n| {
        let (client, base) = (client.clone(), if n % 2 == 0 { &a.base } else { &b.base });
        let body = json!({
            "ticket_id": (5000 + n).to_string(), "event": "created", "subject": "API keys",
            "comment": "Our new appKey gets 403 on every call, does it need a role?",
            "author_role": "end-user", "requester_id": format!("r{n}"), "requester_email": format!("r{n}@shop.example"),
        });
        let raw = serde_json::to_vec(&body).unwrap();
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let signature = triage::helpdesk::zendesk::sign(HOOK, &ts, &raw);
        client
            .post(format!("{base}/v1/webhooks/zendesk"))
            .header("content-type", "application/json")
            .header("x-zendesk-webhook-signature-timestamp", ts)
            .header("x-zendesk-webhook-signature", signature)
            .body(raw)
            .send()
    });
    let statuses: Vec<u16> = futures_util::stream::iter(sends).buffer_unordered(16).map(|r| r.unwrap().status().as_u16()).collect().await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let posted = fake.wait_accepted(200, std::time::Duration::from_secs(30)).await;
    assert_eq!(posted.len(), 200, "every reply is posted");
    // Longer than a worker's poll, so that a reply posted twice would show.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mut per_ticket = std::collections::HashMap::<String, usize>::new();
    for r in fake.requests() {
        *per_ticket.entry(r.path.clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_ticket.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "replies posted more than once: {twice:?}");
    assert_eq!(per_ticket.len(), 200);
    let s = store(&url).await;
    assert_eq!(s.outbox_depth().await.unwrap().pending, 0);
    let rows = s.stats_rows(0, 10).await.unwrap();
    assert_eq!(rows.total, 200);
    let sent: i64 = rows.replies.iter().filter(|(status, _, _)| status == "sent").map(|(_, _, n)| n).sum();
    assert_eq!(sent, 200, "every case is marked sent: {:?}", rows.replies);
    drop((a, b));
}
