//! Feedback on replies: was it helpful, and from whom.

use sqlx::Row;

use super::{Db, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackOutcome {
    Recorded,
    UnknownCase,
}

impl Store {
    /// Records a vote; a second vote by the same person on the same case replaces the first.
    pub async fn add_feedback(
        &self,
        case_id: i64,
        helpful: bool,
        voter: &str,
        source: &str,
        now: i64,
    ) -> Result<FeedbackOutcome, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.add_feedback(&self.path, case_id, helpful, voter, source, now).await,
        };
        let exists =
            sqlx::query("SELECT 1 FROM cases WHERE id = ?1").bind(case_id).fetch_optional(&db.write).await.map_err(|e| self.err(e))?;
        if exists.is_none() {
            return Ok(FeedbackOutcome::UnknownCase);
        }
        sqlx::query(
            "INSERT INTO feedback (case_id, helpful, voter, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (case_id, voter) DO UPDATE SET helpful = excluded.helpful, source = excluded.source, created_at = excluded.created_at",
        )
        .bind(case_id)
        .bind(helpful)
        .bind(voter)
        .bind(source)
        .bind(now)
        .execute(&db.write)
        .await
        .map_err(|e| self.err(e))?;
        Ok(FeedbackOutcome::Recorded)
    }

    /// Withdraws a vote (a removed reaction), only if it is still the vote given.
    pub async fn remove_feedback(&self, case_id: i64, helpful: bool, voter: &str) -> Result<(), StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.remove_feedback(&self.path, case_id, helpful, voter).await,
        };
        sqlx::query("DELETE FROM feedback WHERE case_id = ?1 AND voter = ?2 AND helpful = ?3")
            .bind(case_id)
            .bind(voter)
            .bind(helpful)
            .execute(&db.write)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// (helpful, not helpful) votes on a case.
    pub async fn feedback_counts(&self, case_id: i64) -> Result<(i64, i64), StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.feedback_counts(&self.path, case_id).await,
        };
        let row = sqlx::query("SELECT COALESCE(SUM(helpful), 0), COALESCE(SUM(1 - helpful), 0) FROM feedback WHERE case_id = ?1")
            .bind(case_id)
            .fetch_one(&db.read)
            .await
            .map_err(|e| self.err(e))?;
        Ok((row.get(0), row.get(1)))
    }
}
