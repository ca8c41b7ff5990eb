//! A fresh database of either backend for one test, so that each store behaviour has one test
//! body run on both (see `on_both_backends!`).
//!
//! PostgreSQL tests need a server: `TRIAGE_TEST_POSTGRES_URL` names one whose user may create
//! databases (`.ci/run` starts a throwaway cluster; `eval "$(bash .ci/postgres start)"` does the
//! same on a workstation). Without it they print one line and pass, except under CI, where a
//! missing server is a failure: a green CI run must have tested PostgreSQL.

use std::sync::Once;

use triage::store::{DatabaseLocation, Store, StoreOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub location: DatabaseLocation,
    /// The SQLite file's folder (also a scratch folder on PostgreSQL).
    pub dir: tempfile::TempDir,
}

static SKIPPED: Once = Once::new();

/// The server's URL, or `None` (after saying so once) when PostgreSQL tests cannot run here.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TRIAGE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TRIAGE_TEST_POSTGRES_URL is not set under CI: .ci/run must start PostgreSQL (bash .ci/postgres start)"
            );
            // Written to the process's stderr rather than with `eprintln!`, which the test harness
            // captures and hides for passing tests: the skip must be seen once per run.
            SKIPPED.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: PostgreSQL tests (set TRIAGE_TEST_POSTGRES_URL, e.g. eval \"$(bash .ci/postgres start)\", to run them)"
                );
            });
            None
        }
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// A new, empty PostgreSQL database on the test server; its URL.
pub async fn new_postgres_database(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("triage_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn =
        sqlx::PgConnection::connect(admin).await.expect("the test PostgreSQL server (TRIAGE_TEST_POSTGRES_URL) takes connections");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create a test database");
    conn.close().await.ok();
    with_database(admin, &name)
}

impl TestDb {
    /// A fresh database, or `None` when the backend cannot run here (PostgreSQL without a server).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        let location = match backend {
            Backend::Sqlite => DatabaseLocation::Sqlite(dir.path().join("cases.db")),
            Backend::Postgres => DatabaseLocation::Postgres(new_postgres_database(&postgres_url()?).await),
        };
        Some(TestDb { backend, location, dir })
    }

    /// The database as `--database` takes it.
    pub fn arg(&self) -> std::ffi::OsString {
        match &self.location {
            DatabaseLocation::Sqlite(path) => path.into(),
            DatabaseLocation::Postgres(url) => url.into(),
        }
    }

    /// Opens (and migrates) the store; may be called again for a second handle or a reopen.
    pub async fn open(&self) -> Store {
        Store::connect(&self.location, StoreOptions::default()).await.expect("store opens")
    }

    /// Fails if `fragment` was written anywhere the database keeps data: the SQLite file, its
    /// WAL and shared memory; on PostgreSQL, the cluster's files after a checkpoint (when the
    /// test cluster's folder is known, as under `.ci/postgres`) and every row of every table.
    pub async fn assert_not_stored(&self, fragment: &str) {
        match &self.location {
            DatabaseLocation::Sqlite(_) => super::assert_not_on_disk(self.dir.path(), fragment.as_bytes()),
            DatabaseLocation::Postgres(url) => {
                use sqlx::{Connection, Row};
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                let tables: Vec<String> = sqlx::query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                assert!(tables.iter().any(|t| t == "cases"), "{tables:?}");
                for table in tables {
                    let rows = sqlx::query(&format!("SELECT t::text FROM {table} AS t")).fetch_all(&mut conn).await.unwrap();
                    for r in rows {
                        let row: String = r.get(0);
                        assert!(!row.contains(fragment), "the token is stored in table {table}");
                    }
                }
                if let Some(data) = std::env::var_os("TRIAGE_TEST_PGDATA") {
                    sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
                    // This database's own files, the shared catalogue and the write-ahead log
                    // (every database's): the rest of the cluster is other tests' databases.
                    let oid: i64 = sqlx::query("SELECT oid::bigint FROM pg_database WHERE datname = current_database()")
                        .fetch_one(&mut conn)
                        .await
                        .unwrap()
                        .get(0);
                    let cluster = std::path::Path::new(&data).join("data");
                    let mut read = 0;
                    for part in [format!("base/{oid}"), "global".into(), "pg_wal".into()] {
                        read += assert_not_in_tree(&cluster.join(part), fragment.as_bytes());
                    }
                    assert!(read > 10, "the cluster's files were read ({read} files in {})", cluster.display());
                }
            }
        }
    }
}

/// How many files it read.
fn assert_not_in_tree(dir: &std::path::Path, fragment: &[u8]) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut read = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read += assert_not_in_tree(&path, fragment);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(memchr::memmem::find(&bytes, fragment).is_none(), "the token is on disk in {}", path.display());
            read += 1;
        }
    }
    read
}

/// Each `async fn name(db: &TestDb) { ... }` becomes a module `name` with two tests,
/// `on_sqlite` and `on_postgres`, running the one body on a fresh database of each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($(#[$meta:meta])* async fn $name:ident($db:ident: &TestDb) $body:block)*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                use $crate::support::db::{Backend, TestDb};

                async fn body($db: &TestDb) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
                    body(&db).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    if let Some(db) = TestDb::new(Backend::Postgres).await {
                        body(&db).await
                    }
                }
            }
        )*
    };
}
