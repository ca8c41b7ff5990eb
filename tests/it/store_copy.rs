//! `triage store copy`: a SQLite installation moved into a real PostgreSQL database by the real
//! binary, checked row by row, interrupted with `kill -9` and resumed.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use triage::helpdesk::Helpdesk;
use triage::pipeline::{Delivery, Incoming, Pipeline};
use triage::respond::{Channel, Policy};
use triage::store::outbox::Outcome;
use triage::store::{DatabaseLocation, Source, Store, StoreOptions};
use triage::Classifier;

use crate::support::db::{Backend, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_triage");
const TOKEN: &str =
    "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";
const NOW: i64 = 1_800_000_000;

fn copy(from: &str, to: &str, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["store", "copy", "--from", from, "--to", to])
        .args(extra)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The numbers of one table's line of the count check: source, copied, already there, target.
fn counts(stdout: &str, table: &str) -> [i64; 4] {
    let line = stdout.lines().find(|l| l.split_whitespace().next() == Some(table)).unwrap_or_else(|| panic!("no {table} line: {stdout}"));
    let n: Vec<i64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    [n[0], n[1], n[2], n[3]]
}

async fn sqlite_pipeline(path: &std::path::Path) -> Pipeline {
    let store = Store::open(path).await.unwrap();
    Pipeline::new(Arc::new(Classifier::load(None).unwrap()), store, Policy::default())
}

fn message(i: usize) -> Incoming {
    let texts = [
        "We lost the appToken of our ERP integration. Can we see it again?",
        "Created a new appKey and appToken and every call gives 403. Does the pair need a role?",
        "Can someone who isn't the Sponsor create keys?",
        "What time does the store open on Sundays?",
    ];
    let mut m = Incoming::new(Source::Ticket, format!("T-{i}"), texts[i % texts.len()]);
    m.author = Some(format!("user{}", i % 40));
    m.account = Some(format!("acct{}", i % 7));
    m.received_at = Some(NOW + i as i64 * 60);
    if i % 5 == 0 {
        m.ticket = Some((Helpdesk::Zendesk, format!("Z-{i}")));
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_installation_has_every_case_vote_reply_and_correction_under_its_id() {
    let Some(target) = TestDb::new(Backend::Postgres).await else { return };
    let DatabaseLocation::Postgres(url) = target.location.clone() else { unreachable!() };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    let p = sqlite_pipeline(&path).await;
    let ch = Channel { now: NOW + 400 * 60, ..Channel::default() };
    // Helpdesk tickets (replies through the outbox), then the webhook's (replies returned).
    let batch = |tickets: bool| (0..400).filter(|i| (i % 5 == 0) == tickets).map(|i| (message(i), p.analyse(&message(i).text))).collect();
    p.record_batch(batch(true), Delivery::Post).await.unwrap();
    p.record_batch(batch(false), Delivery::Return).await.unwrap();
    let mut leak = Incoming::new(Source::Discord, "D-1", format!("my appToken is {TOKEN} and it fails"));
    leak.author = Some("carol".into());
    p.handle(leak, &ch, Delivery::Return).await.unwrap();
    let s = p.store().clone();
    for id in 1..=30 {
        s.add_feedback(id, id % 3 != 0, &format!("voter{}", id % 4), "discord", NOW).await.unwrap();
    }
    for id in [2, 3, 5] {
        assert!(s.add_correction(id, "none", "mod-ana", "dashboard", NOW).await.unwrap());
    }
    let due = s.due_deliveries(i64::MAX / 2, 100, &[]).await.unwrap();
    assert!(due.len() > 10, "{}", due.len());
    s.record_deliveries(vec![Outcome::Sent { id: due[0].id, remote_id: Some("c-1".into()), at_ms: 1 }]).await.unwrap();
    let before = (s.count_cases().await.unwrap(), s.stats_rows(0, 10).await.unwrap(), s.outbox_depth().await.unwrap());
    s.close().await;

    let out = copy(&format!("sqlite://{}", path.display()), &url, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("count check: every source row is in the target"), "{stdout}");
    assert_eq!(counts(&stdout, "cases"), [401, 401, 0, 401]);
    assert_eq!(counts(&stdout, "feedback"), [30, 30, 0, 30]);
    assert_eq!(counts(&stdout, "corrections"), [3, 3, 0, 3]);
    let outbox = counts(&stdout, "outbox")[0];
    assert!(outbox > 10, "the installation has replies in its outbox: {stdout}");
    assert_eq!(counts(&stdout, "outbox"), [outbox, outbox, 0, outbox]);
    assert!(!stdout.contains(TOKEN) && !text(&out.stderr).contains(TOKEN));

    let source = Store::open(&path).await.unwrap();
    let pg = target.open().await;
    assert_eq!(pg.count_cases().await.unwrap(), before.0);
    assert_eq!(pg.stats_rows(0, 10).await.unwrap(), before.1, "statistics read the same from the copy");
    assert_eq!(pg.outbox_depth().await.unwrap(), before.2, "the replies still to post are still to post");
    for id in 1..=before.0 {
        assert_eq!(pg.case(id).await.unwrap(), source.case(id).await.unwrap(), "case {id}");
    }
    for id in 1..=30 {
        assert_eq!(pg.feedback_counts(id).await.unwrap(), source.feedback_counts(id).await.unwrap(), "votes on case {id}");
    }
    target.assert_not_stored(TOKEN).await;

    // Run again: nothing new, nothing doubled.
    let again = copy(&path.display().to_string(), &url, &[]);
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert_eq!(counts(&stdout, "cases"), [401, 0, 401, 401]);
    assert_eq!(counts(&stdout, "outbox"), [outbox, 0, outbox, outbox]);

    // New cases on PostgreSQL take ids after the copied ones.
    let live = Pipeline::new(Arc::new(Classifier::load(None).unwrap()), pg, Policy::default());
    let fresh = live.handle(message(10_000), &ch, Delivery::Return).await.unwrap();
    assert_eq!(fresh.case.id, before.0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_killed_halfway_and_run_again_ends_with_every_row_once() {
    let Some(target) = TestDb::new(Backend::Postgres).await else { return };
    let DatabaseLocation::Postgres(url) = target.location.clone() else { unreachable!() };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    let p = sqlite_pipeline(&path).await;
    let n = 3_000;
    for start in (0..n).step_by(500) {
        let batch: Vec<_> = (start..start + 500).map(|i| (message(i), p.analyse(&message(i).text))).collect();
        p.record_batch(batch, Delivery::Never).await.unwrap();
    }
    p.store().close().await;
    let pg = Store::connect(&target.location, StoreOptions::default()).await.unwrap();

    let mut child = Command::new(BIN)
        .args(["store", "copy", "--from", path.to_str().unwrap(), "--to", &url, "--chunk", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let copied = pg.count_cases().await.unwrap_or(0);
        if copied > 0 || started.elapsed().as_secs() > 60 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL, between or inside a chunk's statement
    child.wait().unwrap();
    let partial = pg.count_cases().await.unwrap();
    assert!(partial > 0 && partial < n as i64, "killed halfway: {partial} of {n}");

    let out = copy(path.to_str().unwrap(), &url, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let [source, copied, already, total] = counts(&stdout, "cases");
    assert_eq!((source, total), (n as i64, n as i64));
    assert_eq!((copied + already, already), (n as i64, partial), "the second run skips exactly what the first had copied");
    assert_eq!(pg.count_cases().await.unwrap(), n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_into_a_database_with_other_cases_under_the_same_ids_stops_with_a_one_line_error() {
    let Some(target) = TestDb::new(Backend::Postgres).await else { return };
    let DatabaseLocation::Postgres(url) = target.location.clone() else { unreachable!() };
    let ch = Channel { now: NOW, ..Channel::default() };
    let live = Pipeline::new(Arc::new(Classifier::load(None).unwrap()), target.open().await, Policy::default());
    live.handle(message(1), &ch, Delivery::Return).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    let p = sqlite_pipeline(&path).await;
    p.handle(message(2), &ch, Delivery::Return).await.unwrap();
    p.store().close().await;

    let out = copy(path.to_str().unwrap(), &url, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cases row 1") && stderr.contains("new, empty PostgreSQL database"), "{stderr}");
    assert_eq!(live.store().count_cases().await.unwrap(), 1, "nothing was merged");
}

#[test]
fn a_copy_from_the_wrong_kind_of_database_or_a_missing_file_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    for (from, to, says) in [
        ("postgres://u@127.0.0.1:1/x", "postgres://u@127.0.0.1:1/y", "--from must be a SQLite database"),
        (missing.to_str().unwrap(), "postgres://u@127.0.0.1:1/y", "no database at"),
        (missing.to_str().unwrap(), "other.db", "--to must be a PostgreSQL URL"),
    ] {
        let out = copy(from, to, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(says) && stderr.trim().lines().count() == 1, "{stderr}");
    }
    assert!(!missing.exists(), "a missing source is not created");
}
