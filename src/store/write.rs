//! The pipeline's write transaction, as one interface over both backends.
//!
//! The pipeline decides every reply inside one write transaction: it looks up what is stored
//! (a duplicate source id, the author's history, an answer already in the thread), decides, and
//! inserts the case and its outbox row. [`CaseWriter`] is what it asks of that transaction;
//! [`Store::write_cases`] opens one on either backend, runs the pipeline's closure in it on a
//! blocking thread, and commits.
//!
//! How each backend keeps two deliveries from deciding on the same history at once:
//! - SQLite: one writer connection and `BEGIN IMMEDIATE`, so write transactions run one after
//!   another; [`CaseWriter::lock`] has nothing to do.
//! - PostgreSQL: several processes write at once, so the transaction first takes a
//!   transaction-scoped advisory lock (`pg_advisory_xact_lock`) for each key the pipeline
//!   names: each source id, and each (author or account, category) and (thread, category) it
//!   decides on. A second process with the same key waits until the first commits, and then, in
//!   READ COMMITTED, its next statement sees the first one's case. See `postgres/write.rs`.

use super::history::HistoryQuery;
use super::outbox::NewDelivery;
use super::{classify_reason, NewCase, Source, Store, StoreError};
use crate::respond::History;

/// What the pipeline's write core asks of the open write transaction. Errors are already the
/// user-facing [`StoreError`].
pub(crate) trait CaseWriter {
    /// Whether [`CaseWriter::lock`] does anything here: the keys are not built for nothing.
    fn needs_locks(&self) -> bool;
    /// Serialises this transaction with any other that names one of `keys` (see the module
    /// doc). Called once, first, with every key of the group.
    fn lock(&mut self, keys: &[String]) -> Result<(), StoreError>;
    /// The id of the case stored for each source id, in order, if any, including cases
    /// inserted earlier in this transaction.
    fn stored_ids(&mut self, keys: &[(Source, &str)]) -> Result<Vec<Option<i64>>, StoreError>;
    /// The history of each query, in order; see [`super::history::lookup`]. Asked for a whole
    /// chunk at once: on PostgreSQL each question is a round trip.
    fn histories(
        &mut self,
        qs: &[HistoryQuery<'_>],
        window: i64,
        count_up_to: u32,
        cooldown: Option<i64>,
    ) -> Result<Vec<History>, StoreError>;
    /// Messages per chunk: one savepoint and one multi-row insert.
    fn chunk_size(&self) -> usize {
        super::cases::INSERT_CHUNK
    }
    /// Whether a reply about `category` was posted, or is on its way, on the thread before.
    fn answered_in_thread(&mut self, thread_id: &str, category: &str) -> Result<bool, StoreError>;
    /// Inserts cases (source ids unique among them); `None` for one whose source id is stored.
    fn insert_cases(&mut self, cases: &[NewCase]) -> Result<Vec<Option<i64>>, StoreError>;
    /// The outbox row of a helpdesk reply, with its case.
    fn insert_delivery(&mut self, case_id: i64, d: &NewDelivery, now_ms: i64) -> Result<(), StoreError>;
    /// Starts a chunk of a bulk import that may have to be undone (see `Core::record_all`).
    fn begin_chunk(&mut self) -> Result<(), StoreError>;
    /// Ends it: keeps what it stored, or with `undo` (the ids of the cases it inserted) removes
    /// all of it.
    fn end_chunk(&mut self, undo: Option<&[i64]>) -> Result<(), StoreError>;
    /// The error for a state the transaction rules out.
    fn impossible(&self, what: &str) -> StoreError;
}

impl Store {
    /// Runs `f` in one write transaction and commits what it returns `Ok` for.
    pub(crate) async fn write_cases<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn CaseWriter) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.db {
            super::Db::Postgres(pg) => pg.write_cases(&self.path, f).await,
            super::Db::Sqlite(_) => {
                let path = self.path.clone();
                self.write(move |conn| {
                    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let out = f(&mut SqliteWriter { conn: &tx, path: &path });
                    // An error from the closure rolls back (the transaction drops) and reaches
                    // the caller as it is, inside the Ok of the database call.
                    if out.is_ok() {
                        super::browse::index_new_cases(&tx)?;
                        tx.commit()?;
                    }
                    Ok(out)
                })
                .await?
            }
        }
    }
}

struct SqliteWriter<'a> {
    conn: &'a rusqlite::Connection,
    path: &'a str,
}

impl SqliteWriter<'_> {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify_reason(self.path, e.to_string())
    }
}

impl CaseWriter for SqliteWriter<'_> {
    fn needs_locks(&self) -> bool {
        false
    }

    fn lock(&mut self, _keys: &[String]) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE on the one writer connection already holds the whole database.
        Ok(())
    }

    fn stored_ids(&mut self, keys: &[(Source, &str)]) -> Result<Vec<Option<i64>>, StoreError> {
        super::cases::stored_ids(self.conn, keys).map_err(|e| self.err(e))
    }

    fn histories(
        &mut self,
        qs: &[HistoryQuery<'_>],
        window: i64,
        count_up_to: u32,
        cooldown: Option<i64>,
    ) -> Result<Vec<History>, StoreError> {
        qs.iter().map(|q| super::history::lookup(self.conn, q, window, count_up_to, cooldown).map_err(|e| self.err(e))).collect()
    }

    fn answered_in_thread(&mut self, thread_id: &str, category: &str) -> Result<bool, StoreError> {
        super::history::answered_in_thread(self.conn, thread_id, category).map_err(|e| self.err(e))
    }

    fn insert_cases(&mut self, cases: &[NewCase]) -> Result<Vec<Option<i64>>, StoreError> {
        super::cases::insert_many(self.conn, cases).map_err(|e| self.err(e))
    }

    fn insert_delivery(&mut self, case_id: i64, d: &NewDelivery, now_ms: i64) -> Result<(), StoreError> {
        super::outbox::insert(self.conn, case_id, d, now_ms).map_err(|e| self.err(e))
    }

    /// No savepoint: one would copy every page the chunk changes before changing it (with the
    /// statement journal, 6% of an import's writer work), to undo what only a re-import undoes.
    fn begin_chunk(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// An undone chunk only inserted cases, and none of them is in the search index yet (that
    /// is done at commit): deleting them leaves the store as it was before the chunk.
    fn end_chunk(&mut self, undo: Option<&[i64]>) -> Result<(), StoreError> {
        let Some(ids) = undo else { return Ok(()) };
        let mut delete = self.conn.prepare_cached("DELETE FROM cases WHERE id = ?1").map_err(|e| self.err(e))?;
        for id in ids {
            delete.execute([id]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn impossible(&self, what: &str) -> StoreError {
        StoreError::Query { path: self.path.to_string(), reason: format!("internal error: {what}") }
    }
}
