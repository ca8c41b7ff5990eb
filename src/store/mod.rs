//! The case store: SQLite (the default, one file) or PostgreSQL (several processes on one
//! database), chosen by the database URL. All SQL lives in this folder; the rest of the code
//! calls the typed functions of [`Store`] and never learns which backend it runs on.
//!
//! Each concern has one file here (`cases.rs`, `stats.rs`, ...) with its types, its SQLite SQL
//! and the dispatch to the backend; PostgreSQL's own SQL is in `postgres/`, one file per
//! concern. The pipeline's write transaction is one interface over both ([`write::CaseWriter`]).

pub mod browse;
pub(crate) mod cases;
mod checkpoint;
pub mod copy;
mod corrections;
mod feedback;
pub mod history;
pub mod outbox;
mod postgres;
pub mod review;
pub mod rule_health;
mod select;
mod stats;
pub mod write;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions;

pub use cases::{CaseRecord, NewCase, ReplyChange, ReplyStatus, Source};
pub use corrections::Correction;
pub use feedback::FeedbackOutcome;
pub use stats::{StatsRows, TopRecurring};

/// Database problems a user can act on, each one line.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the database {path} is locked by another process (is another `triage` running on it?); stop it or pass another --database")]
    Locked { path: String },
    #[error("{path} is not a triage database ({reason}); pass another --database or move the file away")]
    NotADatabase { path: String, reason: String },
    #[error("cannot update the database schema of {path}: {reason}")]
    Migrate { path: String, reason: String },
    #[error("database error on {path}: {reason}")]
    Query { path: String, reason: String },
    #[error("{what} is not available on PostgreSQL yet ({path}); run it on a SQLite database, or copy the cases with `triage store copy`")]
    NotOnPostgres { path: String, what: &'static str },
    #[error("{table} row {id} of the source and row {id} of {path} are different rows: copy into a new, empty PostgreSQL database")]
    CopyConflict { path: String, table: &'static str, id: i64 },
}

/// Where the database lives: `DATABASE_URL`, `--database`, the config's `database`, or
/// `./triage.db`. `postgres://` and `postgresql://` URLs select PostgreSQL; `sqlite://PATH`,
/// `sqlite:PATH` or a plain path select SQLite.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseLocation {
    pub const DEFAULT: &'static str = "triage.db";

    pub fn parse(s: &str) -> DatabaseLocation {
        let s = s.trim();
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return DatabaseLocation::Postgres(s.to_string());
        }
        let path = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")).unwrap_or(s);
        let path = path.split('?').next().unwrap_or(path);
        DatabaseLocation::Sqlite(PathBuf::from(path))
    }

    pub fn resolve(flag: Option<&str>, config: Option<&str>) -> DatabaseLocation {
        let env = std::env::var("DATABASE_URL").ok();
        let chosen = flag.map(str::to_string).or(env).or(config.map(str::to_string)).unwrap_or_else(|| Self::DEFAULT.to_string());
        DatabaseLocation::parse(&chosen)
    }

    /// Whether the database is there already. A PostgreSQL server is asked when the store
    /// connects; only a SQLite file can be missing.
    pub fn exists(&self) -> bool {
        match self {
            DatabaseLocation::Sqlite(path) => path.exists(),
            DatabaseLocation::Postgres(_) => true,
        }
    }
}

impl From<PathBuf> for DatabaseLocation {
    fn from(path: PathBuf) -> DatabaseLocation {
        DatabaseLocation::Sqlite(path)
    }
}

impl From<&Path> for DatabaseLocation {
    fn from(path: &Path) -> DatabaseLocation {
        DatabaseLocation::Sqlite(path.to_path_buf())
    }
}

/// How a location is named in messages and logs: a URL's password is never shown.
impl std::fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseLocation::Sqlite(path) => write!(f, "{}", path.display()),
            DatabaseLocation::Postgres(url) => f.write_str(&postgres::shown_url(url)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// The file's path, or the URL without its password: for messages.
    path: String,
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite(Sqlite),
    Postgres(postgres::Postgres),
}

#[derive(Clone, Debug)]
pub(crate) struct Sqlite {
    /// One connection: SQLite has one writer anyway, and a single connection makes
    /// check-then-insert sequences race-free without retry loops.
    write: SqlitePool,
    read: SqlitePool,
    /// Copies the WAL into the database in the background (see `checkpoint.rs`).
    checkpoint: SqlitePool,
}

impl Store {
    /// Which kind of database this store is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// The SQLite database, for what PostgreSQL does not have yet: on PostgreSQL, an error that
    /// names `what` and says where it does run.
    pub(crate) fn sqlite(&self, what: &'static str) -> Result<&Sqlite, StoreError> {
        match &self.db {
            Db::Sqlite(db) => Ok(db),
            Db::Postgres(_) => Err(StoreError::NotOnPostgres { path: self.path.clone(), what }),
        }
    }
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// Largest the database file may grow, in MiB; past it, writes fail as on a full disk.
    pub max_mb: Option<u64>,
}

impl Store {
    /// Opens (creating if missing) and migrates the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default()).await
    }

    /// Opens and migrates the database at `location`, of either backend.
    pub async fn connect(location: &DatabaseLocation, options: StoreOptions) -> Result<Store, StoreError> {
        match location {
            DatabaseLocation::Sqlite(path) => Store::open_with(path, options).await,
            DatabaseLocation::Postgres(url) => {
                let path = postgres::shown_url(url);
                let db = postgres::Postgres::connect(url, &path).await?;
                Ok(Store { db: Db::Postgres(db), path })
            }
        }
    }

    pub async fn open_with(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(StoreError::Open { path: shown, reason: "it is a folder".into() });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                return Err(StoreError::Open { path: shown, reason: format!("the folder {} does not exist", parent.display()) });
            }
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| StoreError::Open { path: shown.clone(), reason: e.to_string() })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("cache_size", "-16000")
            .pragma("wal_autocheckpoint", checkpoint::WRITER_AUTOCHECKPOINT_PAGES.to_string())
            // A statistics scan over a large store takes seconds by design. sqlx would warn about
            // each one in the middle of `triage stats` output; `serve` still logs them at info.
            .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1));
        let classify = |e: sqlx::Error| classify_error(&shown, e);
        // The writer's savepoint and statement journals hold only the pages one chunk of cases
        // changes: kept in memory, each chunk stops writing (and rewriting) a file in /var/tmp.
        let mut write_opts = opts.clone().pragma("temp_store", "memory");
        if let Some(mb) = options.max_mb {
            // max_page_count counts pages of the default 4 KiB.
            write_opts = write_opts.pragma("max_page_count", (mb.max(1) * 256).to_string());
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(write_opts)
            .await
            .map_err(classify)?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => classify_error(&shown, inner),
            other => StoreError::Migrate { path: shown.clone(), reason: other.to_string() },
        })?;
        let checkpoint =
            SqlitePoolOptions::new().max_connections(1).connect_with(opts.clone().pragma("cache_size", "-2000")).await.map_err(classify)?;
        checkpoint::spawn(checkpoint.clone(), shown.clone());
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.read_only(true))
            .await
            .map_err(classify)?;
        Ok(Store { db: Db::Sqlite(Sqlite { write, read, checkpoint }), path: shown })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> StoreError {
        classify_error(&self.path, e)
    }

    /// Runs `f` on the SQLite writer connection, off the async threads. Writes go through SQLite's C
    /// API (rusqlite) on sqlx's own connection: prepared statements reused row after row cost
    /// a fraction of a round trip to sqlx's worker thread per statement, which is what bulk
    /// imports and group commits spend most of their time on otherwise.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let mut conn = self.sqlite("this write")?.write.acquire().await.map_err(|e| self.err(e))?;
        let path = self.path.clone();
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let mut locked = runtime.block_on(conn.lock_handle()).map_err(|e| classify_error(&path, e))?;
            // SAFETY: while `locked` lives, sqlx's worker makes no call on this handle, and a
            // connection made by `from_handle` neither closes it nor outlives this block (its
            // prepared statements are finalised when it drops, before `locked` does).
            let result = match unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) } {
                Ok(mut raw) => f(&mut raw),
                Err(e) => Err(e),
            };
            result.map_err(|e| classify_reason(&path, e.to_string()))
        });
        task.await.unwrap_or_else(|_| {
            Err(StoreError::Query { path: self.path.clone(), reason: "the database writer stopped unexpectedly".into() })
        })
    }

    /// For readiness probes: can we still read, and write? A write that needs new pages is
    /// made and rolled back, so that a full disk or a read-only file shows here, not only in
    /// the next ticket's error.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.ping(&self.path).await,
        };
        sqlx::query("SELECT 1").execute(&db.read).await.map_err(|e| self.err(e))?;
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("INSERT INTO readiness_probe (filler) VALUES (zeroblob(65536))", [])?;
            tx.rollback()
        })
        .await
    }

    /// Waits for in-flight queries and closes every connection. The writer goes last: the last
    /// connection to close checkpoints and removes the WAL.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(db) => {
                db.read.close().await;
                db.checkpoint.close().await;
                db.write.close().await;
            }
            Db::Postgres(pg) => pg.pool.close().await,
        }
    }
}

fn classify_error(path: &str, e: sqlx::Error) -> StoreError {
    classify_reason(path, e.to_string())
}

fn classify_reason(path: &str, reason: String) -> StoreError {
    let lower = reason.to_ascii_lowercase();
    let path = path.to_string();
    if lower.contains("locked") || lower.contains("busy") {
        StoreError::Locked { path }
    } else if lower.contains("not a database") || lower.contains("malformed") || lower.contains("file is encrypted") {
        StoreError::NotADatabase { path, reason: lower.replace("error returned from database: ", "") }
    } else if lower.contains("unable to open")
        || lower.contains("permission denied")
        || lower.contains("readonly")
        || lower.contains("read-only")
    {
        StoreError::Open { path, reason }
    } else {
        StoreError::Query { path, reason }
    }
}
