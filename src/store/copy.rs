//! `triage store copy`: an installation's cases, votes, outbox and corrections, from its SQLite
//! file into a PostgreSQL database, keeping every row's id (links to `/cases/ID`, feedback and
//! outbox rows point at case ids).
//!
//! Resumable and idempotent: each table is read in id order, a chunk at a time, and each chunk
//! is one multi-row statement that skips rows already there (`ON CONFLICT DO NOTHING`). An
//! interrupted copy, run again, skips what it copied and goes on; a finished one, run again,
//! copies nothing. A row skipped because its id is taken by a *different* row (the target had
//! cases of its own) stops the copy with an error: merging two installations is not a copy.
//!
//! The tables are described here as plain data, so that reading (SQLite, below) and writing
//! (`postgres/copy.rs`) are one piece of code each for all four.

use sqlx::Row;

use super::{Db, Store, StoreError};

/// How a column is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Float,
    /// 0/1 on SQLite, BOOLEAN on PostgreSQL.
    Bool,
}

pub(crate) struct Table {
    pub name: &'static str,
    /// Every column, `id` first.
    pub columns: &'static [(&'static str, Kind)],
    /// What makes a row the same row, beside its id: a skipped row whose key differs in the
    /// target is another row holding the id.
    pub key: &'static [&'static str],
}

use Kind::{Bool, Float, Int, Text};

/// In the order they are copied: the others point at cases.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "cases",
        columns: &[
            ("id", Int),
            ("source", Text),
            ("source_id", Text),
            ("guild_id", Text),
            ("channel_id", Text),
            ("thread_id", Text),
            ("origin", Text),
            ("author", Text),
            ("account", Text),
            ("received_at", Int),
            ("language", Text),
            ("category", Text),
            ("confidence", Float),
            ("rules", Text),
            ("findings", Text),
            ("secrets_found", Int),
            ("escalate_to_sponsor", Bool),
            ("recurring", Bool),
            ("recurrence_escalation", Bool),
            ("reply_text", Text),
            ("reply_status", Text),
            ("suppressed_reason", Text),
            ("reply_ref", Text),
            ("text", Text),
            ("burst_of", Text),
            ("taken_over_by", Text),
            ("taken_over_at", Int),
        ],
        key: &["source", "source_id"],
    },
    Table {
        name: "feedback",
        columns: &[("id", Int), ("case_id", Int), ("helpful", Bool), ("voter", Text), ("source", Text), ("created_at", Int)],
        key: &["case_id", "voter"],
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Int),
            ("case_id", Int),
            ("helpdesk", Text),
            ("ticket_id", Text),
            ("public", Bool),
            ("body", Text),
            ("tags", Text),
            ("state", Text),
            ("step", Int),
            ("attempts", Int),
            ("created_at", Int),
            ("next_attempt_at", Int),
            ("done_at", Int),
            ("remote_id", Text),
            ("last_error", Text),
        ],
        key: &["case_id"],
    },
    Table {
        name: "corrections",
        columns: &[("id", Int), ("case_id", Int), ("category", Text), ("corrected_by", Text), ("source", Text), ("created_at", Int)],
        key: &["case_id", "created_at", "corrected_by"],
    },
];

/// Rows per statement: 27 arrays of 2,000 values stay far from any limit, and a chunk is
/// what an interrupted copy may have to read again.
pub const CHUNK: i64 = 2_000;

/// One column of a chunk of rows.
#[derive(Debug, Clone)]
pub(crate) enum Values {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

/// A chunk of one table, column by column, with each row's id and key (as text) beside.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub ids: Vec<i64>,
    pub keys: Vec<String>,
    pub columns: Vec<Values>,
}

/// What the copy did to one table, and the count check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    /// Rows in the source.
    pub source: i64,
    /// Inserted by this run.
    pub copied: i64,
    /// Skipped by this run because an earlier run copied them.
    pub already: i64,
    /// Rows in the target once done (more than `source` if the target has rows of its own).
    pub target: i64,
    /// Source ids found in the target once done: equal to `source` when the copy is complete.
    pub found: i64,
}

impl TableCopy {
    pub fn complete(&self) -> bool {
        self.found == self.source
    }
}

/// The key columns as one text, the same on both backends.
pub(crate) fn key_sql(table: &Table) -> String {
    let parts: Vec<String> = table.key.iter().map(|c| format!("COALESCE(CAST({c} AS TEXT), '')")).collect();
    parts.join(" || '|' || ")
}

impl Store {
    /// Copies every table into `target`, `chunk` rows per statement (see the module doc);
    /// `progress` hears each chunk's row count. SQLite to PostgreSQL only.
    pub async fn copy_into(&self, target: &Store, chunk_rows: i64, progress: impl Fn(u64)) -> Result<Vec<TableCopy>, StoreError> {
        let (Db::Sqlite(from), Db::Postgres(to)) = (&self.db, &target.db) else {
            return Err(StoreError::Query {
                path: target.path.clone(),
                reason: "`triage store copy` copies from a SQLite database into a PostgreSQL one".into(),
            });
        };
        let mut report = Vec::new();
        for table in TABLES {
            let select = format!(
                "SELECT {}, {} AS copy_key FROM {} WHERE id > ?1 ORDER BY id LIMIT ?2",
                table.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", "),
                key_sql(table),
                table.name
            );
            let (mut copied, mut already, mut after) = (0i64, 0i64, i64::MIN);
            loop {
                let rows = sqlx::query(&select).bind(after).bind(chunk_rows.max(1)).fetch_all(&from.read).await.map_err(|e| self.err(e))?;
                let Some(last) = rows.last() else { break };
                after = last.get("id");
                let chunk = chunk(table, &rows).map_err(|e| self.err(e))?;
                let inserted = to.insert_copied(&target.path, table, &chunk).await?;
                copied += inserted;
                already += chunk.ids.len() as i64 - inserted;
                progress(chunk.ids.len() as u64);
            }
            // The source's ids once: their number is the source's count, and the target is
            // checked for each of them.
            let ids: Vec<i64> =
                sqlx::query_scalar(&format!("SELECT id FROM {}", table.name)).fetch_all(&from.read).await.map_err(|e| self.err(e))?;
            let (target_rows, found) = to.count_copied(&target.path, table, &ids).await?;
            report.push(TableCopy { table: table.name, source: ids.len() as i64, copied, already, target: target_rows, found });
        }
        to.advance_ids(&target.path).await?;
        Ok(report)
    }

    /// Rows of every table that `copy_into` copies, for a progress bar.
    pub async fn copy_size(&self) -> Result<u64, StoreError> {
        let db = self.sqlite("copying")?;
        let mut total = 0i64;
        for table in TABLES {
            let n: i64 =
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name)).fetch_one(&db.read).await.map_err(|e| self.err(e))?;
            total += n;
        }
        Ok(total.max(0) as u64)
    }
}

fn chunk(table: &Table, rows: &[sqlx::sqlite::SqliteRow]) -> Result<Chunk, sqlx::Error> {
    let mut columns = Vec::with_capacity(table.columns.len());
    for (name, kind) in table.columns {
        let name = *name;
        columns.push(match kind {
            Kind::Text => Values::Text(rows.iter().map(|r| r.try_get(name)).collect::<Result<_, _>>()?),
            Kind::Int => Values::Int(rows.iter().map(|r| r.try_get(name)).collect::<Result<_, _>>()?),
            Kind::Float => Values::Float(rows.iter().map(|r| r.try_get(name)).collect::<Result<_, _>>()?),
            Kind::Bool => Values::Bool(rows.iter().map(|r| r.try_get(name)).collect::<Result<_, _>>()?),
        });
    }
    Ok(Chunk {
        ids: rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?,
        keys: rows.iter().map(|r| r.try_get("copy_key")).collect::<Result<_, _>>()?,
        columns,
    })
}
