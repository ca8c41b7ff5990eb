//! Corrections: the category a person says a case should have had.

use sqlx::Row;

use super::{Store, StoreError};

/// The latest correction of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    pub category: String,
    pub corrected_by: String,
    pub source: String,
    pub created_at: i64,
}

impl Store {
    /// Records a correction; `false` when there is no such case.
    pub async fn add_correction(&self, case_id: i64, category: &str, by: &str, source: &str, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO corrections (case_id, category, corrected_by, source, created_at)
             SELECT id, ?2, ?3, ?4, ?5 FROM cases WHERE id = ?1",
        )
        .bind(case_id)
        .bind(category)
        .bind(by)
        .bind(source)
        .bind(at)
        .execute(&self.sqlite("corrections")?.write)
        .await
        .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn latest_correction(&self, case_id: i64) -> Result<Option<Correction>, StoreError> {
        let row = sqlx::query(
            "SELECT category, corrected_by, source, created_at FROM corrections WHERE case_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(case_id)
        .fetch_optional(&self.sqlite("corrections")?.read)
        .await
        .map_err(|e| self.err(e))?;
        Ok(row.map(|r| Correction {
            category: r.get("category"),
            corrected_by: r.get("corrected_by"),
            source: r.get("source"),
            created_at: r.get("created_at"),
        }))
    }
}
