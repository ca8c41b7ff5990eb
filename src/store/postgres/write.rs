//! The pipeline's write transaction on PostgreSQL (see `store/write.rs` for the interface).
//!
//! Correct with several writers:
//! - **Duplicates.** `UNIQUE (source, source_id)` and `ON CONFLICT DO NOTHING`: a re-delivered
//!   message is one case whichever process takes it.
//! - **Recurrence and cooldown.** Decided once per (author or account, category): the
//!   transaction first takes `pg_advisory_xact_lock` on each key the pipeline names, so a
//!   second process deciding on the same author or source id waits for the first to commit,
//!   then sees its case (READ COMMITTED: each statement reads what was committed before it).
//!   Every transaction takes a shared lock on "everything" and then its key locks in ascending
//!   order, so two transactions never wait for each other in a circle. A transaction with more
//!   keys than `MOST_KEY_LOCKS` (a bulk import's batch) takes "everything" exclusively instead:
//!   one lock, whatever the batch's size. The locks end with the transaction.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::{Postgres as Pg, Row, Transaction};
use tokio::runtime::Handle;

use super::super::history::{HistoryQuery, PRIOR_CAP};
use super::super::outbox::NewDelivery;
use super::super::write::CaseWriter;
use super::super::{NewCase, Source, StoreError};
use super::{error, Postgres};
use crate::respond::{History, Suppression};

impl Postgres {
    /// One transaction on a blocking thread: the pipeline's core is synchronous, and each of
    /// its statements here is one round trip awaited with `block_on`.
    pub(crate) async fn write_cases<T, F>(&self, shown: &str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn CaseWriter) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let path = shown.to_string();
        let runtime = Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let tx = runtime.block_on(pool.begin()).map_err(|e| error(&path, e))?;
            let mut w = PgWriter { tx, runtime: runtime.clone(), path: path.clone() };
            let out = f(&mut w)?;
            runtime.block_on(w.tx.commit()).map_err(|e| error(&path, e))?;
            Ok(out)
        });
        task.await.unwrap_or_else(|_| {
            Err(StoreError::Query { path: shown.to_string(), reason: "the database writer stopped unexpectedly".into() })
        })
    }
}

struct PgWriter {
    tx: Transaction<'static, Pg>,
    runtime: Handle,
    path: String,
}

/// The most key locks one transaction takes. PostgreSQL keeps every lock in one shared table of
/// `max_locks_per_transaction` × `max_connections` slots (6,400 by default): an import batch of
/// thousands of messages, one lock per author, account and source id, ran it out ("out of
/// shared memory"). Past this many keys, a transaction locks everything at once instead.
const MOST_KEY_LOCKS: usize = 256;

/// A lock key as PostgreSQL's advisory locks take it: 64 bits of the key's SHA-256. Two keys
/// that share them only wait for each other needlessly.
fn lock_id(key: &str) -> i64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl PgWriter {
    fn err(&self, e: sqlx::Error) -> StoreError {
        error(&self.path, e)
    }

    fn run(&mut self, sql: &str) -> Result<(), StoreError> {
        let done = self.runtime.block_on(sqlx::query(sql).execute(&mut *self.tx));
        done.map(|_| ()).map_err(|e| self.err(e))
    }
}

/// Messages per chunk on PostgreSQL.
const PG_CHUNK: usize = 512;

const INSERT: &str = "INSERT INTO cases (source, source_id, guild_id, channel_id, thread_id, origin, author, account, received_at,
      language, category, confidence, rules, findings, secrets_found, escalate_to_sponsor, recurring, recurrence_escalation,
      reply_text, reply_status, suppressed_reason, text, burst_of)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
      $9::bigint[], $10::text[], $11::text[], $12::float8[], $13::text[], $14::text[], $15::bigint[], $16::bool[], $17::bool[],
      $18::bool[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[])
    ON CONFLICT (source, source_id) DO NOTHING
    RETURNING source_id, id";

/// The part both history statements share: the queries, one row each (`$1..$6`: author,
/// account, category, window start, time and cooldown start; `$7`: the cap), and the count of
/// earlier cases of each, as a macro so that each statement stays one constant.
macro_rules! histories_sql {
    ($last:literal, $join:literal) => {
        concat!(
            "SELECT
      (SELECT COUNT(*) FROM (
         (SELECT 1 FROM cases c WHERE c.author = q.author AND c.category = q.category AND c.received_at > q.since
            AND c.received_at <= q.at AND c.burst_of IS NULL LIMIT $7)
         UNION ALL
         (SELECT 1 FROM cases c WHERE c.account = q.account AND c.category = q.category AND c.received_at > q.since
            AND c.received_at <= q.at AND c.burst_of IS NULL AND (q.author IS NULL OR c.author IS DISTINCT FROM q.author) LIMIT $7)
         LIMIT $7) AS earlier), ",
            $last,
            "
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
      WITH ORDINALITY AS q(author, account, category, since, at, cool_since, i)
",
            $join,
            "
    ORDER BY q.i"
        )
    };
}

/// [`CaseWriter::histories`] without a cooldown: earlier cases only.
const HISTORIES: &str = histories_sql!("NULL::bigint, NULL::bool", "");

/// [`CaseWriter::histories`] with a cooldown: also our last reply since each query's cooldown
/// start.
const HISTORIES_WITH_COOLDOWN: &str = histories_sql!(
    "last.received_at, last.recurrence_escalation",
    "    LEFT JOIN LATERAL (
      SELECT received_at, recurrence_escalation FROM (
        (SELECT received_at, recurrence_escalation FROM cases c
           WHERE c.author = q.author AND c.category = q.category AND c.received_at > q.cool_since AND c.received_at <= q.at
             AND c.reply_status IN ('sent', 'pending')
           ORDER BY c.received_at DESC, c.recurrence_escalation DESC LIMIT 1)
        UNION ALL
        (SELECT received_at, recurrence_escalation FROM cases c
           WHERE c.account = q.account AND c.category = q.category AND c.received_at > q.cool_since AND c.received_at <= q.at
             AND c.reply_status IN ('sent', 'pending')
           ORDER BY c.received_at DESC, c.recurrence_escalation DESC LIMIT 1)
      ) AS replies ORDER BY received_at DESC, recurrence_escalation DESC LIMIT 1
    ) AS last ON TRUE"
);

impl CaseWriter for PgWriter {
    fn needs_locks(&self) -> bool {
        true
    }

    /// Larger than SQLite's: each chunk is a few round trips, whatever its size.
    fn chunk_size(&self) -> usize {
        PG_CHUNK
    }

    fn lock(&mut self, keys: &[String]) -> Result<(), StoreError> {
        let mut ids: Vec<i64> = keys.iter().map(|k| lock_id(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let everything = lock_id("triage: every key");
        if ids.len() > MOST_KEY_LOCKS {
            // A bulk import's batch: one exclusive lock on everything, which waits for every
            // transaction holding key locks and keeps new ones out until this one commits.
            let done = self.runtime.block_on(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(everything).execute(&mut *self.tx));
            return done.map(|_| ()).map_err(|e| self.err(e));
        }
        // Everything shared first, then the keys: every transaction takes its locks in that
        // order, so none waits for another in a circle. UNNEST yields the array in order, so
        // the keys are taken in ascending order.
        let shared = self.runtime.block_on(sqlx::query("SELECT pg_advisory_xact_lock_shared($1)").bind(everything).execute(&mut *self.tx));
        shared.map_err(|e| self.err(e))?;
        let done = self
            .runtime
            .block_on(sqlx::query("SELECT pg_advisory_xact_lock(k) FROM UNNEST($1::bigint[]) AS k").bind(&ids).execute(&mut *self.tx));
        done.map(|_| ()).map_err(|e| self.err(e))
    }

    fn stored_ids(&mut self, keys: &[(Source, &str)]) -> Result<Vec<Option<i64>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let q = sqlx::query(
            "SELECT (SELECT id FROM cases c WHERE c.source = k.source AND c.source_id = k.source_id)
             FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS k(source, source_id, i) ORDER BY k.i",
        )
        .bind(keys.iter().map(|(s, _)| s.as_str()).collect::<Vec<&str>>())
        .bind(keys.iter().map(|(_, id)| *id).collect::<Vec<&str>>());
        let rows = self.runtime.block_on(q.fetch_all(&mut *self.tx)).map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| r.get::<Option<i64>, _>(0)).collect())
    }

    /// One statement for the whole chunk: each query row makes its own index probes (scalar
    /// subqueries with LIMIT are executed per row, so the planner cannot turn them into a scan
    /// of the whole table), and the round trip is paid once. A case from both the same author
    /// and the same account is counted once, by the author branch.
    fn histories(
        &mut self,
        qs: &[HistoryQuery<'_>],
        window: i64,
        count_up_to: u32,
        cooldown: Option<i64>,
    ) -> Result<Vec<History>, StoreError> {
        if qs.is_empty() {
            return Ok(Vec::new());
        }
        let cap = i64::from(count_up_to.min(PRIOR_CAP));
        let sql = if cooldown.is_some() { HISTORIES_WITH_COOLDOWN } else { HISTORIES };
        let q = sqlx::query(sql)
            .bind(qs.iter().map(|q| q.author).collect::<Vec<Option<&str>>>())
            .bind(qs.iter().map(|q| q.account).collect::<Vec<Option<&str>>>())
            .bind(qs.iter().map(|q| q.category).collect::<Vec<&str>>())
            .bind(qs.iter().map(|q| q.at.saturating_sub(window.max(0))).collect::<Vec<i64>>())
            .bind(qs.iter().map(|q| q.at).collect::<Vec<i64>>())
            .bind(qs.iter().map(|q| q.at.saturating_sub(cooldown.unwrap_or(0).max(0))).collect::<Vec<i64>>())
            .bind(cap);
        let rows = self.runtime.block_on(q.fetch_all(&mut *self.tx)).map_err(|e| self.err(e))?;
        Ok(qs
            .iter()
            .zip(&rows)
            .map(|(q, r)| {
                if q.author.is_none() && q.account.is_none() {
                    return History::default();
                }
                let prior: i64 = r.get(0);
                let last: Option<i64> = r.get(1);
                History {
                    prior_cases: u32::try_from(prior).unwrap_or(u32::MAX),
                    last_reply_at: last,
                    last_reply_escalated: r.get::<Option<bool>, _>(2).unwrap_or(false),
                    answered_in_thread: false,
                }
            })
            .collect())
    }

    fn answered_in_thread(&mut self, thread_id: &str, category: &str) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE thread_id = $1 AND category = $2 AND reply_status IN ('sent', 'pending'))",
        )
        .bind(thread_id)
        .bind(category);
        Ok(self.runtime.block_on(q.fetch_one(&mut *self.tx)).map_err(|e| self.err(e))?.get(0))
    }

    fn insert_cases(&mut self, cases: &[NewCase]) -> Result<Vec<Option<i64>>, StoreError> {
        if cases.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for the whole chunk, one array per column.
        let text = |f: fn(&NewCase) -> String| cases.iter().map(f).collect::<Vec<String>>();
        let opt = |f: fn(&NewCase) -> Option<String>| cases.iter().map(f).collect::<Vec<Option<String>>>();
        let flag = |f: fn(&NewCase) -> bool| cases.iter().map(f).collect::<Vec<bool>>();
        let q = sqlx::query(INSERT)
            .bind(text(|c| c.source.as_str().to_string()))
            .bind(text(|c| c.source_id.clone()))
            .bind(opt(|c| c.guild_id.clone()))
            .bind(opt(|c| c.channel_id.clone()))
            .bind(opt(|c| c.thread_id.clone()))
            .bind(opt(|c| c.origin.clone()))
            .bind(opt(|c| c.author.clone()))
            .bind(opt(|c| c.account.clone()))
            .bind(cases.iter().map(|c| c.received_at).collect::<Vec<i64>>())
            .bind(text(|c| c.language.code().to_string()))
            .bind(text(|c| c.category.clone()))
            .bind(cases.iter().map(|c| c.confidence).collect::<Vec<f64>>())
            .bind(cases.iter().map(|c| serde_json::to_string(&c.rules).unwrap_or_else(|_| "[]".into())).collect::<Vec<String>>())
            .bind(cases.iter().map(|c| serde_json::to_string(&c.findings).unwrap_or_else(|_| "[]".into())).collect::<Vec<String>>())
            .bind(cases.iter().map(|c| c.secrets_found as i64).collect::<Vec<i64>>())
            .bind(flag(|c| c.escalate_to_sponsor))
            .bind(flag(|c| c.recurring))
            .bind(flag(|c| c.recurrence_escalation))
            .bind(opt(|c| c.reply_text.clone()))
            .bind(text(|c| c.reply_status.as_str().to_string()))
            .bind(opt(|c| c.suppressed_reason.map(Suppression::as_str).map(str::to_string)))
            .bind(text(|c| c.text.clone()))
            .bind(opt(|c| c.burst_of.clone()));
        let rows = self.runtime.block_on(q.fetch_all(&mut *self.tx)).map_err(|e| self.err(e))?;
        let returned: HashMap<String, i64> = rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect();
        Ok(cases.iter().map(|c| returned.get(&c.source_id).copied()).collect())
    }

    fn insert_delivery(&mut self, case_id: i64, d: &NewDelivery, now_ms: i64) -> Result<(), StoreError> {
        let tags = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".into());
        let q = sqlx::query(
            "INSERT INTO outbox (case_id, helpdesk, ticket_id, public, body, tags, state, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(d.helpdesk.as_str())
        .bind(&d.ticket_id)
        .bind(d.public)
        .bind(&d.body)
        .bind(tags)
        .bind(now_ms);
        self.runtime.block_on(q.execute(&mut *self.tx)).map(|_| ()).map_err(|e| self.err(e))
    }

    fn begin_chunk(&mut self) -> Result<(), StoreError> {
        self.run("SAVEPOINT chunk")
    }

    fn end_chunk(&mut self, undo: Option<&[i64]>) -> Result<(), StoreError> {
        if undo.is_some() {
            self.run("ROLLBACK TO SAVEPOINT chunk")?;
        }
        self.run("RELEASE SAVEPOINT chunk")
    }

    fn impossible(&self, what: &str) -> StoreError {
        StoreError::Query { path: self.path.clone(), reason: format!("internal error: {what}") }
    }
}
