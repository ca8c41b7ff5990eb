//! Feedback on replies, on PostgreSQL.

use sqlx::Row;

use super::super::{FeedbackOutcome, StoreError};
use super::{error, Postgres};

impl Postgres {
    pub(crate) async fn add_feedback(
        &self,
        shown: &str,
        case_id: i64,
        helpful: bool,
        voter: &str,
        source: &str,
        now: i64,
    ) -> Result<FeedbackOutcome, StoreError> {
        // One statement: the vote is stored only if the case exists, and a second vote by the
        // same person replaces the first.
        let done = sqlx::query(
            "INSERT INTO feedback (case_id, helpful, voter, source, created_at)
             SELECT id, $2, $3, $4, $5 FROM cases WHERE id = $1
             ON CONFLICT (case_id, voter) DO UPDATE SET helpful = excluded.helpful, source = excluded.source, created_at = excluded.created_at",
        )
        .bind(case_id)
        .bind(helpful)
        .bind(voter)
        .bind(source)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| error(shown, e))?;
        Ok(if done.rows_affected() == 0 { FeedbackOutcome::UnknownCase } else { FeedbackOutcome::Recorded })
    }

    pub(crate) async fn remove_feedback(&self, shown: &str, case_id: i64, helpful: bool, voter: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM feedback WHERE case_id = $1 AND voter = $2 AND helpful = $3")
            .bind(case_id)
            .bind(voter)
            .bind(helpful)
            .execute(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        Ok(())
    }

    pub(crate) async fn feedback_counts(&self, shown: &str, case_id: i64) -> Result<(i64, i64), StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) FILTER (WHERE helpful), COUNT(*) FILTER (WHERE NOT helpful) FROM feedback WHERE case_id = $1")
                .bind(case_id)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| error(shown, e))?;
        Ok((row.get(0), row.get(1)))
    }
}
