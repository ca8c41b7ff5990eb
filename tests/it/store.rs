//! The case store against real SQLite files and a real PostgreSQL server: each behaviour is one
//! test body, run on both (`on_both_backends!`); what only a file can do stays SQLite-only.

use std::sync::Arc;

use triage::helpdesk::outbox::now_ms;
use triage::helpdesk::Helpdesk;
use triage::pipeline::{Delivery, Incoming, Pipeline};
use triage::respond::{Channel, Policy, Suppression};
use triage::store::outbox::{Outcome, CLAIM_LEASE_MS};
use triage::store::{DatabaseLocation, FeedbackOutcome, ReplyStatus, Source, Store, StoreError};
use triage::Classifier;

use crate::on_both_backends;
use crate::support::db::{Backend, TestDb};

const TOKEN: &str =
    "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";
const NOW: i64 = 1_800_000_000;

async fn pipeline(db: &TestDb, policy: Policy) -> Pipeline {
    Pipeline::new(Arc::new(Classifier::load(None).expect("pack")), db.open().await, policy)
}

fn ticket(id: &str, author: &str, text: &str, at: i64) -> Incoming {
    let mut m = Incoming::new(Source::Ticket, id, text);
    m.author = Some(author.into());
    m.received_at = Some(at);
    m
}

fn ch() -> Channel {
    Channel { now: NOW, ..Channel::default() }
}

on_both_backends! {
    async fn migrations_create_the_schema_in_a_new_database(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        assert_eq!(p.store().count_cases().await.unwrap(), 0);
        assert_eq!(p.store().backend(), match db.backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" });
        if db.backend == Backend::Sqlite {
            assert!(db.dir.path().join("cases.db").exists());
        }
        p.handle(ticket("m-1", "ana", "I never saved the appToken.", NOW), &ch(), Delivery::Return).await.unwrap();
        // Opening again runs no migration twice and keeps what is stored.
        let again = db.open().await;
        assert_eq!(again.count_cases().await.unwrap(), 1);
        again.ping().await.unwrap();
    }
}

on_both_backends! {
    async fn redelivered_message_is_stored_once_and_answers_with_the_first_decision(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let text = "I never saved the appToken. Can I look it up somewhere?";
        let first = p.handle(ticket("T-1", "ana", text, NOW), &ch(), Delivery::Return).await.unwrap();
        assert!(!first.duplicate);
        assert_eq!(first.case.reply_status, ReplyStatus::Sent);
        let again = p.handle(ticket("T-1", "ana", "something else entirely", NOW + 5), &ch(), Delivery::Return).await.unwrap();
        assert!(again.duplicate && again.decision.is_none());
        assert_eq!(again.case, first.case);
        assert_eq!(p.store().count_cases().await.unwrap(), 1);
    }
}

on_both_backends! {
    async fn concurrent_duplicate_deliveries_create_exactly_one_case(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                p.handle(ticket(&format!("T-{}", i % 5), "bob", "App key authentication isn't working for us.", NOW), &ch(), Delivery::Return)
                    .await
            }));
        }
        let mut fresh = 0;
        for t in tasks {
            fresh += usize::from(!t.await.unwrap().unwrap().duplicate);
        }
        assert_eq!(fresh, 5);
        assert_eq!(p.store().count_cases().await.unwrap(), 5);
    }
}

on_both_backends! {
    async fn third_case_in_the_window_escalates_and_second_is_held_by_cooldown(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let text = "We lost the token for our ERP key, where can we find it?";
        let one = p.handle(ticket("a", "carla", text, NOW), &ch(), Delivery::Return).await.unwrap();
        let two = p.handle(ticket("b", "carla", text, NOW + 60), &ch(), Delivery::Return).await.unwrap();
        let three = p.handle(ticket("c", "carla", text, NOW + 120), &ch(), Delivery::Return).await.unwrap();
        let other = p.handle(ticket("d", "dan", text, NOW + 130), &ch(), Delivery::Return).await.unwrap();
        assert!(one.decision.as_ref().unwrap().posts() && !one.case.recurring);
        assert!(two.case.recurring);
        assert_eq!(two.case.suppressed_reason, Some(Suppression::Cooldown));
        assert!(three.case.recurrence_escalation && three.case.reply_status == ReplyStatus::Sent);
        assert!(three.case.reply_text.as_deref().unwrap().contains("case 3"));
        assert!(!other.case.recurring, "another author starts fresh");
        // Outside the window nothing recurs.
        let later = p.handle(ticket("e", "carla", text, NOW + 8 * 86_400), &ch(), Delivery::Return).await.unwrap();
        assert!(!later.case.recurring && later.decision.unwrap().posts());
    }
}

on_both_backends! {
    async fn same_account_counts_as_recurrence_across_authors(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let mut a = ticket("x1", "eve", "Our appKey and appToken stopped working this morning.", NOW);
        a.account = Some("acme".into());
        let mut b = ticket("x2", "fred", "Our appKey and appToken stopped working this morning.", NOW + 10);
        b.account = Some("acme".into());
        p.handle(a, &ch(), Delivery::Return).await.unwrap();
        assert!(p.handle(b, &ch(), Delivery::Return).await.unwrap().case.recurring);
    }
}

on_both_backends! {
    async fn recurrence_reaches_back_across_week_boundaries_and_long_windows(db: &TestDb) {
        const WEEK: i64 = 604_800;
        let text = "We lost the token for our ERP key, where can we find it?";
        // Two days before and one day after a week boundary (weeks count from the Unix epoch).
        let boundary = (NOW / WEEK + 1) * WEEK;
        let p = pipeline(db, Policy::default()).await;
        p.handle(ticket("w1", "hana", text, boundary - 2 * 86_400), &ch(), Delivery::Return).await.unwrap();
        let after = p.handle(ticket("w2", "hana", text, boundary + 86_400), &ch(), Delivery::Return).await.unwrap();
        assert!(after.case.recurring, "a case in the previous week counts");

        // A 30-day window spans five weeks: a case 29 days back still counts, 31 days back not.
        let other = TestDb::new(db.backend).await.unwrap();
        let p = pipeline(&other, Policy { recurrence_window_secs: 30 * 86_400, ..Policy::default() }).await;
        p.handle(ticket("m1", "ivo", text, NOW - 31 * 86_400), &ch(), Delivery::Return).await.unwrap();
        p.handle(ticket("m2", "ivo", text, NOW - 29 * 86_400), &ch(), Delivery::Return).await.unwrap();
        let now = p.handle(ticket("m3", "ivo", text, NOW), &ch(), Delivery::Return).await.unwrap();
        assert!(now.case.recurring);
        assert!(!now.case.recurrence_escalation, "only one earlier case (29 days back) is in the window, not the one 31 days back");
    }
}

on_both_backends! {
    async fn an_imported_case_recurs_when_any_earlier_case_is_in_the_window(db: &TestDb) {
        let text = "We lost the token for our ERP key, where can we find it?";
        let p = pipeline(db, Policy { recurrence_window_secs: 30 * 86_400, ..Policy::default() }).await;
        let import = |id: &str, author: &str, account: &str, at: i64| {
            let mut m = Incoming::new(Source::Import, id, text);
            m.author = Some(author.into());
            m.account = Some(account.into());
            m.received_at = Some(at);
            let c = p.analyse(&m.text);
            let p = p.clone();
            async move {
                p.record_batch(vec![(m, c)], Delivery::Never).await.unwrap();
            }
        };
        // One batch each, so that every lookup goes to the store. Earlier cases 31 and 29 days back
        // (five and four weeks apart): only the second is in the window.
        import("ivo-old", "ivo", "acme", NOW - 31 * 86_400).await;
        import("ivo-now", "ivo", "acme", NOW).await;
        import("kim-old", "kim", "bravo", NOW - 29 * 86_400).await;
        import("kim-now", "kim", "bravo", NOW).await;
        import("colleague", "vic", "bravo", NOW + 60).await;
        let get = |id: &'static str| {
            let p = p.clone();
            async move { p.store().case_by_source(Source::Import, id).await.unwrap().unwrap() }
        };
        assert!(!get("ivo-now").await.recurring, "the case 31 days back is outside the window");
        assert!(get("kim-now").await.recurring, "the case 29 days back is inside the window");
        assert!(get("colleague").await.recurring, "same account, another author");
    }
}

on_both_backends! {
    async fn a_case_from_the_same_author_and_account_counts_once(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let text = "Our appKey and appToken stopped working this morning.";
        let mut first = ticket("s1", "jo", text, NOW);
        first.account = Some("acme".into());
        let mut second = ticket("s2", "jo", text, NOW + 7_200);
        second.account = Some("acme".into());
        p.handle(first, &ch(), Delivery::Return).await.unwrap();
        let h = p.handle(second, &ch(), Delivery::Return).await.unwrap();
        assert!(h.case.recurring);
        // Counted twice, the second case would already be the third and hand over to staff.
        assert!(!h.case.recurrence_escalation);
        assert!(h.decision.is_some_and(|d| d.posts() && !d.recurrence_escalation));
    }
}

on_both_backends! {
    async fn a_batch_larger_than_one_insert_sees_its_own_earlier_cases_and_repeats(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let text = "We lost the token for our ERP key, where can we find it?";
        // 150 messages, one author, one minute apart, ids repeating every 100: crosses the
        // multi-row insert size (64) twice, and repeats ids from an earlier chunk and the same one.
        let items: Vec<_> = (0..150)
            .map(|i| {
                let mut m = Incoming::new(Source::Import, format!("B-{}", i % 100), text);
                m.author = Some("kai".into());
                m.received_at = Some(NOW + i * 60);
                (m.clone(), p.analyse(&m.text))
            })
            .collect();
        let outcome = p.record_batch(items, Delivery::Never).await.unwrap();
        assert_eq!((outcome.inserted, outcome.duplicates), (100, 50));
        assert_eq!(p.store().count_cases().await.unwrap(), 100);
        let first = p.store().case_by_source(Source::Import, "B-0").await.unwrap().unwrap();
        assert!(!first.recurring);
        for id in ["B-1", "B-63", "B-64", "B-65", "B-99"] {
            let case = p.store().case_by_source(Source::Import, id).await.unwrap().unwrap();
            assert!(case.recurring, "{id} follows earlier cases of the same author");
            assert_eq!(case.suppressed_reason, Some(Suppression::Backlog));
            assert!(case.reply_text.is_none());
        }
        // The same batch again adds nothing.
        let again: Vec<_> =
            (0..100).map(|i| Incoming::new(Source::Import, format!("B-{i}"), text)).map(|m| (m.clone(), p.analyse(&m.text))).collect();
        assert_eq!(p.record_batch(again, Delivery::Never).await.unwrap().duplicates, 100);
    }
}

on_both_backends! {
    async fn one_large_import_batch_decides_recurrence_as_one_message_at_a_time_would(db: &TestDb) {
        // 1,300 messages over 30 days: several chunks of either backend, 7 authors in 3
        // accounts (and some with neither), several categories. Every 5th message is stored
        // first, as by an import that stopped part way, so the batch meets stored ids, stored
        // history and its own earlier chunks at once.
        let texts = [
            "We lost the token for our ERP key, where can we find it?",
            "All my requests with the new appKey get 403. Does the key need a role?",
            "Could a trailing space in my appKey cause 401?",
            "How do I add a banner to the home page?",
        ];
        let messages: Vec<Incoming> = (0..1_300i64)
            .map(|i| {
                let mut m = Incoming::new(Source::Import, format!("L-{i}"), texts[(i * 7 % 11 % 4) as usize]);
                if i % 13 != 0 {
                    m.author = Some(format!("author-{}", i * 5 % 7));
                    m.account = (i % 4 != 0).then(|| format!("account-{}", i % 3));
                }
                m.received_at = Some(NOW + i * 2_000);
                m
            })
            .collect();
        let reference = TestDb::new(db.backend).await.expect("a second database of the same backend");
        let one_by_one = pipeline(&reference, Policy::default()).await;
        for m in &messages {
            one_by_one.record_batch(vec![(m.clone(), one_by_one.analyse(&m.text))], Delivery::Never).await.unwrap();
        }
        let p = pipeline(db, Policy::default()).await;
        for m in messages.iter().step_by(5) {
            p.record_batch(vec![(m.clone(), p.analyse(&m.text))], Delivery::Never).await.unwrap();
        }
        let batch: Vec<_> = messages.iter().map(|m| (m.clone(), p.analyse(&m.text))).collect();
        let outcome = p.record_batch(batch, Delivery::Never).await.unwrap();
        assert_eq!((outcome.inserted, outcome.duplicates), (1_040, 260));
        let (mut recurring, mut differs) = (0, Vec::new());
        // The cases stored first were decided on less history; the others must agree.
        for (i, m) in messages.iter().enumerate().filter(|(i, _)| i % 5 != 0) {
            let got = p.store().case_by_source(Source::Import, &m.source_id).await.unwrap().unwrap();
            let want = one_by_one.store().case_by_source(Source::Import, &m.source_id).await.unwrap().unwrap();
            recurring += usize::from(want.recurring);
            if got.recurring != want.recurring || got.category != want.category {
                differs.push(i);
            }
        }
        assert!(differs.is_empty(), "messages decided otherwise in one batch: {differs:?}");
        assert!((100..1_000).contains(&recurring), "both kinds are tested: {recurring} of 1,040 recur");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_an_import_batch_with_more_requesters_than_the_lock_table_holds_is_stored_whole_while_tickets_go_on() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let p = pipeline(&db, Policy::default()).await;
    // PostgreSQL keeps every lock in one table of max_locks_per_transaction x max_connections
    // slots; three times that many keys (a source id and an author each) would not fit, one
    // lock each.
    let DatabaseLocation::Postgres(url) = &db.location else { unreachable!() };
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.unwrap();
    let per_tx: String = sqlx::query_scalar("SHOW max_locks_per_transaction").fetch_one(&mut conn).await.unwrap();
    let connections: String = sqlx::query_scalar("SHOW max_connections").fetch_one(&mut conn).await.unwrap();
    let (per_tx, connections): (i64, i64) = (per_tx.parse().unwrap(), connections.parse().unwrap());
    let n = (per_tx * connections * 3 / 2) as usize;
    let text = "We lost the appToken, can we see it again?";
    let c = p.analyse(text);
    let items: Vec<_> = (0..n)
        .map(|i| {
            let mut m = Incoming::new(Source::Import, format!("I-{i}"), text);
            m.author = Some(format!("author-{i}"));
            m.account = Some(format!("acct-{}", i % 1_000));
            m.received_at = Some(NOW + i as i64);
            (m, c.clone())
        })
        .collect();
    let live = {
        let p = p.clone();
        tokio::spawn(async move {
            let mut answered = 0;
            for i in 0..20 {
                let h = p.handle(ticket(&format!("L-{i}"), &format!("live-{i}"), text, NOW), &ch(), Delivery::Return).await.unwrap();
                answered += usize::from(h.decision.is_some_and(|d| d.posts()));
            }
            answered
        })
    };
    let outcome = p.record_batch(items, Delivery::Never).await.unwrap();
    assert_eq!(outcome.inserted, n as u64);
    assert_eq!(live.await.unwrap(), 20, "each live requester's first ticket is answered");
    assert_eq!(p.store().count_cases().await.unwrap(), n as i64 + 20);
    let later = p.store().case_by_source(Source::Import, &format!("I-{}", n - 1)).await.unwrap().unwrap();
    assert!(later.recurring, "the account's earlier cases in the same batch count");
}

on_both_backends! {
    async fn a_resumed_import_keeps_the_stored_case_when_an_id_comes_back_changed(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let text = "We lost the token for our ERP key, where can we find it?";
        let item = |id: &str, author: &str, minute: i64| {
            let mut m = Incoming::new(Source::Import, id, text);
            m.author = Some(author.into());
            m.received_at = Some(NOW + minute * 60);
            (m.clone(), p.analyse(&m.text))
        };
        let first: Vec<_> = (0..10).map(|i| item(&format!("R-{i}"), if i == 5 { "zed" } else { "ana" }, i)).collect();
        p.record_batch(first, Delivery::Never).await.unwrap();
        // The re-run starts inside what is stored. R-5 now names kai: the stored case (zed's) stays,
        // so kai's R-10 is kai's first case. Counted from the re-sent line, it would be recurring.
        let mut second: Vec<_> = (5..10).map(|i| item(&format!("R-{i}"), "kai", i)).collect();
        second.extend((10..100).map(|i| item(&format!("R-{i}"), if i == 10 { "kai" } else { "ana" }, i)));
        let outcome = p.record_batch(second, Delivery::Never).await.unwrap();
        assert_eq!((outcome.inserted, outcome.duplicates), (90, 5));
        assert_eq!(p.store().count_cases().await.unwrap(), 100);
        let kept = p.store().case_by_source(Source::Import, "R-5").await.unwrap().unwrap();
        assert_eq!(kept.author.as_deref(), Some("zed"));
        let kai = p.store().case_by_source(Source::Import, "R-10").await.unwrap().unwrap();
        assert!(!kai.recurring, "R-10 is kai's first case");
        let ana = p.store().case_by_source(Source::Import, "R-11").await.unwrap().unwrap();
        assert!(ana.recurring);
    }
}

on_both_backends! {
    async fn masked_secrets_never_reach_the_database_file(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let text = format!("curl -H 'X-VTEX-API-AppKey: vtexappkey-acme-QWERTY' -H 'X-VTEX-API-AppToken: {TOKEN}' gives 401");
        let h = p.handle(ticket("leak", "gil", &text, NOW), &ch(), Delivery::Return).await.unwrap();
        assert_eq!(h.case.secrets_found, 1);
        assert!(h.case.text.contains("[masked:apptoken]"));
        p.store().close().await;
        db.assert_not_stored(&TOKEN[..24]).await;
    }
}

on_both_backends! {
    async fn feedback_is_stored_per_voter_and_counted_in_stats(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let h = p
            .handle(ticket("f", "hal", "Can someone who isn't the Sponsor create keys?", triage::pipeline::now()), &ch(), Delivery::Return)
            .await
            .unwrap();
        let s = p.store();
        assert_eq!(s.add_feedback(h.case.id, true, "u1", "api", NOW).await.unwrap(), FeedbackOutcome::Recorded);
        assert_eq!(s.add_feedback(h.case.id, false, "u2", "api", NOW).await.unwrap(), FeedbackOutcome::Recorded);
        s.add_feedback(h.case.id, true, "u2", "api", NOW).await.unwrap();
        assert_eq!(s.feedback_counts(h.case.id).await.unwrap(), (2, 0), "a second vote replaces the first");
        assert_eq!(s.add_feedback(999, true, "u1", "api", NOW).await.unwrap(), FeedbackOutcome::UnknownCase);
        let stats = triage::stats::compute(s, std::time::Duration::from_secs(86_400), 5, triage::pipeline::now()).await.unwrap();
        assert_eq!(stats.total_cases, 1);
        assert_eq!(stats.escalated_to_sponsor, 1);
        assert_eq!(stats.feedback[0].helpful, 2);
        assert_eq!(stats.feedback[0].helpful_rate, Some(1.0));
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = Store::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    assert!(err.to_string().contains("not a triage database"), "{err}");
    let err = Store::open(dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("folder"), "{err}");
    let err = Store::open(&dir.path().join("missing/sub/x.db")).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn a_database_locked_by_another_process_gets_a_clear_error() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
    sqlx::query("PRAGMA locking_mode = EXCLUSIVE").execute(&mut holder).await.unwrap();
    sqlx::query("CREATE TABLE hold (x)").execute(&mut holder).await.unwrap();
    let err = Store::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked by another process"), "{err}");
}

#[tokio::test]
async fn the_wal_is_copied_into_the_database_in_the_background() {
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    let p = pipeline(&sqlite, Policy::default()).await;
    let db = sqlite.dir.path().join("cases.db");
    let before = std::fs::metadata(&db).unwrap().len();
    let text = "We lost the token for our ERP key, where can we find it? ".repeat(8);
    let items: Vec<_> = (0..3000)
        .map(|i| {
            let mut m = Incoming::new(Source::Import, format!("W-{i}"), text.as_str());
            m.author = Some(format!("user{}", i % 300));
            (m.clone(), p.analyse(&m.text))
        })
        .collect();
    p.record_batch(items, Delivery::Never).await.unwrap();
    // A few megabytes: far under the writer's own checkpoint threshold, so only the background
    // checkpoint can move them into the database file while the store stays open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&db).unwrap().len() < before + 1_000_000 {
        assert!(std::time::Instant::now() < deadline, "the database file did not grow: nothing checkpointed the WAL");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(p.store().count_cases().await.unwrap(), 3000);
}

on_both_backends! {
    async fn statistics_add_up_to_the_stored_cases_in_every_breakdown(db: &TestDb) {
        use std::collections::BTreeMap;
        let p = pipeline(db, Policy::default()).await;
        let texts = [
            "We lost the token for our ERP key, where can we find it?",
            "Perdemos o appToken da integração, dá para ver de novo?",
            "Can someone who isn't the Sponsor create keys?",
            "How do I change the checkout button colour in the theme?",
            "Creé una appKey nueva y todo devuelve 403, ¿hay que asociarla a un rol?",
        ];
        // Two days, three languages, several categories, answered and held back (cooldown, not
        // support), plus a backlog import: every breakdown has more than one group.
        let mut cases = Vec::new();
        for i in 0..20i64 {
            let at = NOW - 2 * 86_400 + i * 7_200;
            let m = ticket(&format!("S-{i}"), &format!("u{}", i % 3), texts[(i % 5) as usize], at);
            cases.push(p.handle(m, &ch(), Delivery::Return).await.unwrap().case);
        }
        let mut m = Incoming::new(Source::Import, "S-import", texts[4]);
        m.received_at = Some(NOW - 3_600);
        p.record_batch(vec![(m.clone(), p.analyse(&m.text))], Delivery::Never).await.unwrap();
        cases.push(p.store().case_by_source(Source::Import, "S-import").await.unwrap().unwrap());

        let stats = triage::stats::compute(p.store(), std::time::Duration::from_secs(3 * 86_400), 5, NOW).await.unwrap();
        let tally = |key: &dyn Fn(&triage::store::CaseRecord) -> String| {
            let mut m = BTreeMap::<String, i64>::new();
            for c in &cases {
                *m.entry(key(c)).or_default() += 1;
            }
            m
        };
        let ranked = |v: &[triage::stats::Count]| v.iter().map(|c| (c.name.clone(), c.cases)).collect::<BTreeMap<_, _>>();
        assert_eq!(stats.total_cases, cases.len() as i64);
        assert_eq!(ranked(&stats.by_category), tally(&|c| c.category.clone()));
        assert_eq!(ranked(&stats.by_language), tally(&|c| c.language.code().to_string()));
        for list in [&stats.by_category, &stats.by_language] {
            assert!(list.windows(2).all(|w| w[0].cases > w[1].cases || (w[0].cases == w[1].cases && w[0].name < w[1].name)), "{list:?}");
        }
        let days: BTreeMap<String, i64> = stats.by_day.iter().map(|d| (d.day.clone(), d.cases)).collect();
        assert_eq!(days, tally(&|c| triage::stats::day_of(c.received_at)));
        assert!(days.len() >= 2);
        for d in &stats.by_day {
            let per_category = tally(&|c| if triage::stats::day_of(c.received_at) == d.day { c.category.clone() } else { String::new() });
            let per_category: BTreeMap<_, _> = per_category.into_iter().filter(|(k, _)| !k.is_empty()).collect();
            assert_eq!(d.by_category, per_category, "{}", d.day);
        }
        let status = tally(&|c| format!("{:?}", c.reply_status));
        assert_eq!(stats.replies.sent, status.get("Sent").copied().unwrap_or(0));
        let reasons = tally(&|c| c.suppressed_reason.map(|r| r.as_str().to_string()).unwrap_or_default());
        let reasons: BTreeMap<_, _> = reasons.into_iter().filter(|(k, _)| !k.is_empty()).collect();
        assert_eq!(stats.replies.suppressed_by_reason, reasons);
        assert!(reasons.len() >= 2, "{reasons:?}");
        assert_eq!(stats.escalated_to_sponsor, cases.iter().filter(|c| c.escalate_to_sponsor).count() as i64);
        assert_eq!(stats.recurring, cases.iter().filter(|c| c.recurring).count() as i64);
    }
}

on_both_backends! {
    async fn a_burst_member_is_not_counted_again_by_recurrence_but_a_separate_case_is(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let text = "We lost the token for our ERP key, where can we find it?";
        // Within one transaction (a batch) and across transactions, from memory and from SQL.
        let mut member = ticket("b-1", "dora", text, NOW);
        member.burst_of = Some("b-2".into());
        let held = Channel { humans_first: Some(Suppression::InBurst), ..ch() };
        p.handle(member, &held, Delivery::Return).await.unwrap();
        let answer = p.handle(ticket("b-2", "dora", text, NOW + 5), &ch(), Delivery::Return).await.unwrap();
        assert!(!answer.case.recurring, "the burst is one question");
        let later = p.handle(ticket("b-3", "dora", text, NOW + 60), &ch(), Delivery::Return).await.unwrap();
        assert!(later.case.recurring, "a later question recurs");
        assert_eq!(later.decision.as_ref().map(|d| d.recurring), Some(true));

        let mut batch_member = ticket("c-1", "eve", text, NOW);
        batch_member.burst_of = Some("c-2".into());
        let c = |m: Incoming| {
            let classification = p.analyse(&m.text);
            (m, classification)
        };
        p.record_batch(vec![c(batch_member), c(ticket("c-2", "eve", text, NOW + 5))], Delivery::Never).await.unwrap();
        let stored = p.store().case_by_source(Source::Ticket, "c-2").await.unwrap().unwrap();
        assert!(!stored.recurring, "in one batch too");
        assert_eq!(p.store().case_by_source(Source::Ticket, "c-1").await.unwrap().unwrap().burst_of.as_deref(), Some("c-2"));
    }
}

#[tokio::test]
async fn search_finds_a_case_by_its_edited_text_and_no_longer_by_the_old() {
    use triage::store::browse::CaseFilter;
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    let p = pipeline(&sqlite, Policy::default()).await;
    let first = p.handle(ticket("e-1", "ana", "the walrus integration lost its appToken", NOW), &ch(), Delivery::Return).await.unwrap();
    let find = |word: &str| CaseFilter { text: Some(word.into()), ..CaseFilter::default() };
    assert_eq!(p.store().browse(&find("walrus"), None, 10).await.unwrap().cases.len(), 1, "searchable once committed");
    let edited = p.analyse(&format!("the narwhal integration lost its appToken {TOKEN}"));
    p.store().update_after_edit(first.case.id, &edited, None).await.unwrap();
    assert!(p.store().browse(&find("walrus"), None, 10).await.unwrap().cases.is_empty());
    assert_eq!(p.store().browse(&find("narwhal"), None, 10).await.unwrap().cases.len(), 1);
    assert!(p.store().browse(&find(TOKEN), None, 10).await.unwrap().cases.is_empty(), "the edit's token was masked first");
}

#[tokio::test]
async fn an_import_chunk_undone_for_a_stored_id_leaves_search_finding_each_case_once() {
    use triage::store::browse::CaseFilter;
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    let p = pipeline(&sqlite, Policy::default()).await;
    // Each case has a word of its own, so a search names exactly one case.
    let item = |i: i64| {
        let mut m = Incoming::new(Source::Import, format!("U-{i}"), format!("our appToken got lost, case marker{i}"));
        m.received_at = Some(NOW + i);
        (m.clone(), p.analyse(&m.text))
    };
    // U-100 is stored first: the batch's second chunk of 64 meets it after inserting the cases
    // before it, and is undone and redone with checks.
    p.record_batch(vec![item(100)], Delivery::Never).await.unwrap();
    let outcome = p.record_batch((0..200).map(item).collect(), Delivery::Never).await.unwrap();
    assert_eq!((outcome.inserted, outcome.duplicates), (199, 1));
    for i in [0, 63, 64, 99, 100, 101, 127, 128, 199] {
        let found = p.store().browse(&CaseFilter { text: Some(format!("marker{i}")), ..CaseFilter::default() }, None, 10).await.unwrap();
        let ids: Vec<&str> = found.cases.iter().map(|c| c.source_id.as_str()).collect();
        assert_eq!(ids, [format!("U-{i}")], "marker{i}");
    }
    assert_eq!(p.store().count_cases().await.unwrap(), 200);
}

#[tokio::test]
async fn a_store_indexed_before_the_leaner_search_index_finds_each_case_once_after_the_upgrade() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use triage::store::browse::CaseFilter;
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    let DatabaseLocation::Sqlite(path) = &sqlite.location else { unreachable!() };
    // The store as the release before migration 0008 left it: its schema, and cases it indexed.
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = std::borrow::Cow::Owned(before.migrations.iter().filter(|m| m.version < 8).cloned().collect());
    let old = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(path).create_if_missing(true))
        .await
        .unwrap();
    before.run(&old).await.unwrap();
    for i in 0..3 {
        sqlx::query(
            "INSERT INTO cases (source, source_id, received_at, language, category, confidence, reply_status, text)
             VALUES ('import', ?1, ?2, 'en', 'none', 1.0, 'suppressed', ?3)",
        )
        .bind(format!("old-{i}"))
        .bind(NOW + i)
        .bind(format!("the walrus case old{i}"))
        .execute(&old)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO cases_fts (rowid, text, category) SELECT id, text, category FROM cases").execute(&old).await.unwrap();
    sqlx::query("UPDATE cases_fts_done SET last_id = (SELECT MAX(id) FROM cases)").execute(&old).await.unwrap();
    old.close().await;

    let p = pipeline(&sqlite, Policy::default()).await;
    p.handle(ticket("new-0", "ana", "the walrus case new0", NOW + 10), &ch(), Delivery::Return).await.unwrap();
    let find = |word: &str| CaseFilter { text: Some(word.into()), ..CaseFilter::default() };
    let ids = |page: triage::store::browse::CasePage| page.cases.iter().map(|c| c.source_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(p.store().browse(&find("walrus"), None, 10).await.unwrap()), ["new-0", "old-2", "old-1", "old-0"]);
    for id in ["old0", "old1", "old2", "new0"] {
        assert_eq!(p.store().browse(&find(id), None, 10).await.unwrap().cases.len(), 1, "{id}");
    }
}

/// A ticket whose reply goes to the outbox, as a helpdesk webhook makes it.
fn helpdesk_ticket(id: &str, author: &str) -> Incoming {
    let mut m = ticket(id, author, "Our new appKey gets 403 on every call, does it need a role?", NOW);
    m.ticket = Some((Helpdesk::Zendesk, id.to_string()));
    m
}

on_both_backends! {
    async fn an_outbox_reply_is_due_until_it_is_recorded_sent_and_then_marks_its_case_sent(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let handled = p.handle(helpdesk_ticket("Z-1", "ana"), &ch(), Delivery::Post).await.unwrap();
        assert_eq!(handled.case.reply_status, ReplyStatus::Pending);
        let store = p.store();
        let now = now_ms();
        let due = store.due_deliveries(now, 16, &[]).await.unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!((due[0].case_id, due[0].ticket_id.as_str(), due[0].helpdesk), (handled.case.id, "Z-1", Helpdesk::Zendesk));
        assert_eq!(store.outbox_depth().await.unwrap().pending, 1);
        // A retry is not due before its time, and is after it.
        store.record_deliveries(vec![Outcome::Retry { id: due[0].id, next_ms: now + 60_000, error: "503".into() }]).await.unwrap();
        assert!(store.due_deliveries(now + 59_000, 16, &[]).await.unwrap().is_empty());
        let again = store.due_deliveries(now + 60_000, 16, &[]).await.unwrap();
        assert_eq!(again.iter().map(|d| (d.id, d.attempts)).collect::<Vec<_>>(), vec![(due[0].id, 1)]);
        store.record_deliveries(vec![Outcome::Sent { id: due[0].id, remote_id: Some("c-9".into()), at_ms: now + 61_000 }]).await.unwrap();
        assert!(store.due_deliveries(now + 10 * CLAIM_LEASE_MS, 16, &[]).await.unwrap().is_empty(), "a sent reply is never due again");
        assert_eq!(store.outbox_depth().await.unwrap().pending, 0);
        let case = store.case(handled.case.id).await.unwrap().unwrap();
        assert_eq!((case.reply_status, case.reply_ref.as_deref()), (ReplyStatus::Sent, Some("c-9")));
    }
}

on_both_backends! {
    async fn a_delivery_given_up_marks_its_case_failed_and_is_listed_for_the_dashboard(db: &TestDb) {
        let p = pipeline(db, Policy::default()).await;
        let handled = p.handle(helpdesk_ticket("Z-2", "bob"), &ch(), Delivery::Post).await.unwrap();
        let store = p.store();
        let due = store.due_deliveries(now_ms(), 16, &[]).await.unwrap();
        store.record_deliveries(vec![Outcome::Failed { id: due[0].id, at_ms: now_ms(), error: "gave up: 500".into() }]).await.unwrap();
        let failed = store.failed_deliveries(10).await.unwrap();
        assert_eq!(failed.iter().map(|f| (f.case_id, f.ticket_id.as_str(), f.attempts)).collect::<Vec<_>>(), vec![(handled.case.id, "Z-2", 1)]);
        assert_eq!(store.case(handled.case.id).await.unwrap().unwrap().reply_status, ReplyStatus::Failed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_workers_claiming_at_once_never_take_the_same_delivery() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let p = pipeline(&db, Policy::default()).await;
    for i in 0..300 {
        p.handle(helpdesk_ticket(&format!("Z-{i}"), &format!("author-{i}")), &ch(), Delivery::Post).await.unwrap();
    }
    assert_eq!(p.store().outbox_depth().await.unwrap().pending, 300);
    // Eight workers, each with its own connection pool as in its own process, claim in small
    // bites until nothing is due. All of them make a first claim before any goes on, so that the
    // claims overlap however the machine schedules them (on a busy machine one worker could
    // otherwise take everything before the others start).
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let store = db.open().await;
        let barrier = barrier.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut first = true;
            loop {
                let got = store.due_deliveries(now_ms(), 7, &[]).await.unwrap();
                if std::mem::take(&mut first) {
                    // A worker that failed would hold the others here for ever: fail instead.
                    let all_started = tokio::time::timeout(std::time::Duration::from_secs(60), barrier.wait()).await;
                    assert!(all_started.is_ok(), "not every worker made its first claim");
                }
                // More than there are: claims are being handed out twice (and would be forever).
                if got.is_empty() || mine.len() > 300 {
                    return mine;
                }
                mine.extend(got.into_iter().map(|d| d.id));
            }
        }));
    }
    let mut all = Vec::new();
    let mut busy_workers = 0;
    for w in workers {
        let mine = w.await.unwrap();
        busy_workers += usize::from(!mine.is_empty());
        all.extend(mine);
    }
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((claimed, all.len()), (300, 300), "every delivery claimed exactly once");
    // 8 first claims of 7 take 56 of the 300: each worker's first claim found some.
    assert_eq!(busy_workers, 8, "every worker claimed some");
}

#[tokio::test]
async fn on_postgres_a_delivery_claimed_by_a_worker_that_died_is_due_again_when_its_lease_ends() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let p = pipeline(&db, Policy::default()).await;
    p.handle(helpdesk_ticket("Z-7", "ana"), &ch(), Delivery::Post).await.unwrap();
    let now = now_ms();
    let dead = db.open().await;
    let claimed = dead.due_deliveries(now, 16, &[]).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(dead);
    let other = db.open().await;
    assert!(other.due_deliveries(now + CLAIM_LEASE_MS - 1000, 16, &[]).await.unwrap().is_empty(), "claimed: not due to others");
    let taken = other.due_deliveries(now + CLAIM_LEASE_MS + 1000, 16, &[]).await.unwrap();
    assert_eq!(taken.iter().map(|d| d.id).collect::<Vec<_>>(), vec![claimed[0].id], "after the lease another worker takes it");
}
