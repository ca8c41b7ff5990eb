//! The PostgreSQL side of `triage store copy` (see `store/copy.rs`): one `UNNEST` statement per
//! chunk, ids kept, rows already there skipped, and a row skipped for an id held by another row
//! reported.

use std::collections::HashMap;

use sqlx::Row;

use super::super::copy::{key_sql, Chunk, Kind, Table, Values, TABLES};
use super::super::StoreError;
use super::{error, Postgres};

impl Postgres {
    /// Inserts a chunk; how many rows were new.
    pub(crate) async fn insert_copied(&self, shown: &str, table: &Table, chunk: &Chunk) -> Result<i64, StoreError> {
        let names: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let arrays: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| {
                let t = match kind {
                    Kind::Text => "text",
                    Kind::Int => "bigint",
                    Kind::Float => "float8",
                    Kind::Bool => "bool",
                };
                format!("${}::{t}[]", i + 1)
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) ON CONFLICT DO NOTHING RETURNING id",
            table.name,
            names.join(", "),
            arrays.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for values in &chunk.columns {
            q = match values {
                Values::Text(v) => q.bind(v),
                Values::Int(v) => q.bind(v),
                Values::Float(v) => q.bind(v),
                Values::Bool(v) => q.bind(v),
            };
        }
        let inserted: Vec<i64> = q.fetch_all(&self.pool).await.map_err(|e| error(shown, e))?.iter().map(|r| r.get::<i64, _>(0)).collect();
        if inserted.len() < chunk.ids.len() {
            self.check_skipped(shown, table, chunk, &inserted).await?;
        }
        Ok(inserted.len() as i64)
    }

    /// Every skipped row must be there already, the same row under the same id.
    async fn check_skipped(&self, shown: &str, table: &Table, chunk: &Chunk, inserted: &[i64]) -> Result<(), StoreError> {
        let inserted: std::collections::HashSet<i64> = inserted.iter().copied().collect();
        let skipped: Vec<(i64, &str)> =
            chunk.ids.iter().zip(&chunk.keys).filter(|(id, _)| !inserted.contains(id)).map(|(id, k)| (*id, k.as_str())).collect();
        let ids: Vec<i64> = skipped.iter().map(|(id, _)| *id).collect();
        let there: HashMap<i64, String> =
            sqlx::query(&format!("SELECT id, {} AS copy_key FROM {} WHERE id = ANY($1)", key_sql(table), table.name))
                .bind(&ids)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| error(shown, e))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        for (id, key) in skipped {
            if there.get(&id).map(String::as_str) != Some(key) {
                return Err(StoreError::CopyConflict { path: shown.to_string(), table: table.name, id });
            }
        }
        Ok(())
    }

    /// (rows in the table, how many of `ids` are among them).
    pub(crate) async fn count_copied(&self, shown: &str, table: &Table, ids: &[i64]) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(&format!("SELECT (SELECT COUNT(*) FROM {0}), (SELECT COUNT(*) FROM {0} WHERE id = ANY($1))", table.name))
            .bind(ids)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Moves each table's id generator past the copied ids, so that new rows do not collide
    /// with them.
    pub(crate) async fn advance_ids(&self, shown: &str) -> Result<(), StoreError> {
        for table in TABLES {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), GREATEST(
                   (SELECT COALESCE(MAX(id), 0) FROM {0}) + 1,
                   (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {0}_id_seq)), false)",
                table.name
            ))
            .execute(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        }
        Ok(())
    }
}
