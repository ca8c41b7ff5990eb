//! Reads written once for both backends: the review queue, corrections and rule health.
//!
//! Their SQL is the same on SQLite and PostgreSQL once it keeps to what both speak: `$1`
//! placeholders (sqlx numbers them on SQLite too), `COUNT(*) FILTER (WHERE ...)` instead of
//! summing comparisons, and flags tested as `v.helpful` / `NOT v.helpful`, which SQLite's 0/1
//! integers and PostgreSQL's booleans both answer. Where the two really differ (opening a JSON
//! list, free-text search), the caller asks [`Store::backend`] and writes each form.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::{Db, Store, StoreError};

/// A value bound to a query written for both backends.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Real(f64),
    Text(String),
}

macro_rules! bind_args {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for a in $args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Real(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}

impl Store {
    /// The rows of `sql`, each read by `read_sqlite` or `read_pg`: the same generic reader,
    /// instantiated for each backend's row type (for example `cases::from_row`).
    pub(crate) async fn select<T>(
        &self,
        sql: &str,
        args: &[Arg],
        read_sqlite: fn(&SqliteRow) -> Result<T, sqlx::Error>,
        read_pg: fn(&PgRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let e = |e| self.err(e);
        match &self.db {
            Db::Sqlite(db) => {
                bind_args!(sql, args).fetch_all(&db.read).await.map_err(e)?.iter().map(read_sqlite).collect::<Result<Vec<T>, _>>()
            }
            Db::Postgres(pg) => {
                bind_args!(sql, args).fetch_all(&pg.pool).await.map_err(e)?.iter().map(read_pg).collect::<Result<Vec<T>, _>>()
            }
        }
        .map_err(e)
    }

    /// Runs a write written for both backends; the number of rows it changed.
    pub(crate) async fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        let e = |e| self.err(e);
        Ok(match &self.db {
            Db::Sqlite(db) => bind_args!(sql, args).execute(&db.write).await.map_err(e)?.rows_affected(),
            Db::Postgres(pg) => bind_args!(sql, args).execute(&pg.pool).await.map_err(e)?.rows_affected(),
        })
    }
}
