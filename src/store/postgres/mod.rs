//! The PostgreSQL backend: several `triage` processes on one database. The schema is in
//! `migrations/postgres/`; each file here holds the SQL of one concern where PostgreSQL's
//! differs from SQLite's (placeholders, booleans, dates, arrays, locking).

mod cases;
mod copy;
mod feedback;
mod outbox;
mod stats;
mod write;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;

use super::StoreError;

#[derive(Clone, Debug)]
pub(crate) struct Postgres {
    pub(super) pool: PgPool,
}

/// Connections per process: the pipeline's writer uses one at a time per group commit, the
/// HTTP reads and the outbox the rest. A server's default `max_connections` is 100, which
/// leaves room for several replicas.
const POOL_SIZE: u32 = 16;

impl Postgres {
    pub(super) async fn connect(url: &str, shown: &str) -> Result<Postgres, StoreError> {
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .map_err(|e| StoreError::Open { path: shown.to_string(), reason: without_url(&e.to_string(), url, shown) })?
            .application_name("triage")
            // NOTICEs ("relation ... already exists, skipping" from every replica's start-up
            // migration check) are not for users; warnings and errors still come through.
            .options([("client_min_messages", "warning")])
            .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1));
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open { path: shown.to_string(), reason: without_url(&e.to_string(), url, shown) })?;
        // sqlx holds an advisory lock while it migrates, so replicas starting together apply
        // each migration once.
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => error(shown, inner),
            other => StoreError::Migrate { path: shown.to_string(), reason: other.to_string() },
        })?;
        Ok(Postgres { pool })
    }

    /// Can we read, and can we write a row (rolled back)?
    pub(super) async fn ping(&self, shown: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| error(shown, e))?;
        sqlx::query("INSERT INTO readiness_probe (filler) VALUES (convert_to(repeat('x', 65536), 'UTF8'))")
            .execute(&mut *tx)
            .await
            .map_err(|e| error(shown, e))?;
        tx.rollback().await.map_err(|e| error(shown, e))
    }
}

/// A database error as users see it, one line.
pub(super) fn error(shown: &str, e: sqlx::Error) -> StoreError {
    let path = shown.to_string();
    match &e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Open { path, reason: e.to_string() }
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") || db.code().as_deref() == Some("28P01") => {
            StoreError::Open { path, reason: db.message().to_string() }
        }
        _ => StoreError::Query { path, reason: e.to_string().replace("error returned from database: ", "") },
    }
}

/// The URL as it may be shown: without its password, whether in the user part or in a
/// `password=` parameter.
pub(crate) fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let hostpart = match before_query.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => before_query.to_string(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|kv| if kv.to_ascii_lowercase().starts_with("password=") { "password=***" } else { kv })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) => format!("{scheme}://{hostpart}?{q}"),
        None => format!("{scheme}://{hostpart}"),
    }
}

/// An error message with the full URL (some of sqlx's quote it) replaced by its shown form.
fn without_url(message: &str, url: &str, shown: &str) -> String {
    message.replace(url, shown)
}

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        for (url, shown) in [
            ("postgres://triage:s3cret@db:5432/triage", "postgres://triage:***@db:5432/triage"),
            ("postgresql://triage@db/triage", "postgresql://triage@db/triage"),
            ("postgres://db/triage?user=t&password=s3cret&sslmode=require", "postgres://db/triage?user=t&password=***&sslmode=require"),
            ("postgres://u:p@ss@db/x", "postgres://u:***@db/x"),
        ] {
            assert_eq!(shown_url(url), shown, "{url}");
            assert!(!shown_url(url).contains("s3cret"));
        }
    }
}
