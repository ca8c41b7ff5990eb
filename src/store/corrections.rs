//! Corrections: the category a person says a case should have had.

use sqlx::Row;

use super::select::Arg;
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
        let sql = "INSERT INTO corrections (case_id, category, corrected_by, source, created_at)
                   SELECT id, $2, $3, $4, $5 FROM cases WHERE id = $1";
        let args = [Arg::Int(case_id), Arg::Text(category.into()), Arg::Text(by.into()), Arg::Text(source.into()), Arg::Int(at)];
        Ok(self.execute(sql, &args).await? == 1)
    }

    pub async fn latest_correction(&self, case_id: i64) -> Result<Option<Correction>, StoreError> {
        let sql = "SELECT category, corrected_by, source, created_at FROM corrections WHERE case_id = $1
                   ORDER BY created_at DESC, id DESC LIMIT 1";
        let rows = self.select(sql, &[Arg::Int(case_id)], correction_from_row, correction_from_row).await?;
        Ok(rows.into_iter().next())
    }
}

fn correction_from_row<R>(r: &R) -> Result<Correction, sqlx::Error>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Correction {
        category: r.try_get("category")?,
        corrected_by: r.try_get("corrected_by")?,
        source: r.try_get("source")?,
        created_at: r.try_get("created_at")?,
    })
}
