//! The outbox of helpdesk replies: written with its case, claimed by the delivery worker, and
//! finished as sent or failed. On SQLite one process owns the writer, so claiming needs no
//! lease: the worker keeps the ids it is posting in memory, and after a restart every pending
//! row is due again. On PostgreSQL several workers share the table, and claiming takes a lease
//! with `FOR UPDATE SKIP LOCKED` (see `postgres/outbox.rs`).

use rusqlite::{params, OptionalExtension};
use sqlx::Row;

use super::{Db, Store, StoreError};
use crate::helpdesk::Helpdesk;

/// How long a PostgreSQL worker owns a delivery it claimed (see `postgres/outbox.rs`): an
/// attempt is at most two API calls (the reply, then its tags) of `timeout` each (10 s by
/// default) and two writes, and the lease must outlast it, or a slow attempt could be claimed
/// and posted again by another process. It is also how long a reply claimed by a process that
/// died waits for another process to post it.
pub const CLAIM_LEASE_MS: i64 = 2 * 60 * 1000;

/// A reply to post, as the pipeline writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub helpdesk: Helpdesk,
    pub ticket_id: String,
    pub public: bool,
    pub body: String,
    pub tags: Vec<String>,
}

/// A pending reply, as the worker reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub case_id: i64,
    pub helpdesk: Helpdesk,
    pub ticket_id: String,
    pub public: bool,
    pub body: String,
    pub tags: Vec<String>,
    pub step: i64,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub remote_id: Option<String>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Posted: the row and its case say so, with the remote id.
    Sent { id: i64, remote_id: Option<String>, at_ms: i64 },
    /// Try again at `next_ms`.
    Retry { id: i64, next_ms: i64, error: String },
    /// Given up: the row and its case are marked failed.
    Failed { id: i64, at_ms: i64, error: String },
}

impl Outcome {
    pub fn id(&self) -> i64 {
        match self {
            Outcome::Sent { id, .. } | Outcome::Retry { id, .. } | Outcome::Failed { id, .. } => *id,
        }
    }
}

/// A delivery that gave up, for the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedDelivery {
    pub case_id: i64,
    pub helpdesk: String,
    pub ticket_id: String,
    pub attempts: i64,
    pub done_at_ms: i64,
    pub last_error: String,
}

/// What is waiting, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutboxDepth {
    pub pending: i64,
    pub oldest_created_at_ms: Option<i64>,
}

/// A pending delivery from a row of either backend (SQLite's 0/1 `public` and PostgreSQL's
/// boolean both decode as `bool`); `None` for a helpdesk this build does not know.
pub(super) fn delivery_from_row<'r, R>(r: &'r R) -> Result<Option<Delivery>, sqlx::Error>
where
    R: Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let Some(helpdesk) = Helpdesk::parse(&r.try_get::<String, _>("helpdesk")?) else { return Ok(None) };
    let tags: String = r.try_get("tags")?;
    Ok(Some(Delivery {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        helpdesk,
        ticket_id: r.try_get("ticket_id")?,
        public: r.try_get("public")?,
        body: r.try_get("body")?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        step: r.try_get("step")?,
        attempts: r.try_get("attempts")?,
        created_at_ms: r.try_get("created_at")?,
        remote_id: r.try_get("remote_id")?,
    }))
}

/// A given-up delivery from a row of either backend.
pub(super) fn failed_from_row<'r, R>(r: &'r R) -> Result<FailedDelivery, sqlx::Error>
where
    R: Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(FailedDelivery {
        case_id: r.try_get("case_id")?,
        helpdesk: r.try_get("helpdesk")?,
        ticket_id: r.try_get("ticket_id")?,
        attempts: r.try_get("attempts")?,
        done_at_ms: r.try_get::<Option<i64>, _>("done_at")?.unwrap_or(0),
        last_error: r.try_get("last_error")?,
    })
}

/// Inside the caller's write transaction, with the case it belongs to.
pub(crate) fn insert(conn: &rusqlite::Connection, case_id: i64, d: &NewDelivery, now_ms: i64) -> rusqlite::Result<()> {
    let tags = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO outbox (case_id, helpdesk, ticket_id, public, body, tags, state, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7) ON CONFLICT (case_id) DO NOTHING",
    )?
    .execute(params![case_id, d.helpdesk.as_str(), d.ticket_id, d.public, d.body, tags, now_ms])?;
    Ok(())
}

impl Store {
    /// Pending deliveries due by `now_ms`, oldest first, leaving out those being posted. On
    /// PostgreSQL they are claimed for this process (another process's worker skips them).
    pub async fn due_deliveries(&self, now_ms: i64, limit: i64, busy: &[i64]) -> Result<Vec<Delivery>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.claim_deliveries(&self.path, now_ms, limit).await,
        };
        let busy_json = serde_json::to_string(busy).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(
            "SELECT id, case_id, helpdesk, ticket_id, public, body, tags, step, attempts, created_at, remote_id FROM outbox
             WHERE state = 'pending' AND next_attempt_at <= ?1 AND id NOT IN (SELECT value FROM json_each(?2))
             ORDER BY next_attempt_at LIMIT ?3",
        )
        .bind(now_ms)
        .bind(busy_json)
        .bind(limit)
        .fetch_all(&db.read)
        .await
        .map_err(|e| self.err(e))?;
        let rows: Vec<Option<Delivery>> = rows.iter().map(delivery_from_row).collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// The earliest time a pending delivery is due, to sleep until then.
    pub async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.next_delivery_due(&self.path).await,
        };
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
            .fetch_one(&db.read)
            .await
            .map_err(|e| self.err(e))
    }

    /// The comment is posted: remember it, so that a retry of the tags does not post it again.
    pub async fn delivery_step_done(&self, id: i64, step: i64, remote_id: Option<String>) -> Result<(), StoreError> {
        if let Db::Postgres(pg) = &self.db {
            return pg.delivery_step_done(&self.path, id, step, remote_id).await;
        }
        self.write(move |conn| {
            conn.prepare_cached("UPDATE outbox SET step = ?2, remote_id = COALESCE(?3, remote_id) WHERE id = ?1")?
                .execute(params![id, step, remote_id])?;
            Ok(())
        })
        .await
    }

    /// Records what attempts came to, in one transaction: the worker posts many replies at
    /// once, and one commit for each would make the single writer the bottleneck.
    pub async fn record_deliveries(&self, outcomes: Vec<Outcome>) -> Result<(), StoreError> {
        if let Db::Postgres(pg) = &self.db {
            return pg.record_deliveries(&self.path, outcomes).await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for o in &outcomes {
                match o {
                    Outcome::Sent { id, remote_id, at_ms } => {
                        let case: Option<i64> = tx
                            .prepare_cached(
                                "UPDATE outbox SET state = 'sent', done_at = ?2, attempts = attempts + 1, remote_id = COALESCE(?3, remote_id)
                                 WHERE id = ?1 RETURNING case_id",
                            )?
                            .query_row(params![id, at_ms, remote_id], |r| r.get(0))
                            .optional()?;
                        if let Some(case_id) = case {
                            tx.prepare_cached("UPDATE cases SET reply_status = 'sent', reply_ref = COALESCE(?2, reply_ref) WHERE id = ?1")?
                                .execute(params![case_id, remote_id])?;
                        }
                    }
                    Outcome::Retry { id, next_ms, error } => {
                        tx.prepare_cached("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1")?
                            .execute(params![id, next_ms, error])?;
                    }
                    Outcome::Failed { id, at_ms, error } => {
                        let case: Option<i64> = tx
                            .prepare_cached(
                                "UPDATE outbox SET state = 'failed', done_at = ?2, attempts = attempts + 1, last_error = ?3 WHERE id = ?1 RETURNING case_id",
                            )?
                            .query_row(params![id, at_ms, error], |r| r.get(0))
                            .optional()?;
                        if let Some(case_id) = case {
                            tx.prepare_cached("UPDATE cases SET reply_status = 'failed' WHERE id = ?1")?.execute(params![case_id])?;
                        }
                    }
                }
            }
            tx.commit()
        })
        .await
    }

    pub async fn outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.outbox_depth(&self.path).await,
        };
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state = 'pending'")
            .fetch_one(&db.read)
            .await
            .map_err(|e| self.err(e))?;
        Ok(OutboxDepth { pending: row.get("n"), oldest_created_at_ms: row.get("oldest") })
    }

    /// The latest deliveries that gave up, newest first.
    pub async fn failed_deliveries(&self, limit: i64) -> Result<Vec<FailedDelivery>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.failed_deliveries(&self.path, limit).await,
        };
        let rows = sqlx::query(
            "SELECT case_id, helpdesk, ticket_id, attempts, done_at, COALESCE(last_error, '') AS last_error FROM outbox
             WHERE state = 'failed' ORDER BY done_at DESC LIMIT ?1",
        )
        .bind(limit)
        .fetch_all(&db.read)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(failed_from_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
