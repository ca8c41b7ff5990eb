//! The helpdesk outbox on PostgreSQL, where several processes run a delivery worker each.
//!
//! Claiming is one statement: the due rows are picked with `FOR UPDATE SKIP LOCKED`, so two
//! workers looking at once never pick the same row (the second skips what the first has
//! locked), and the claim moves each row's `next_attempt_at` one lease ahead, so that once the
//! claim commits no other worker sees the row as due. The worker then records what the attempt
//! came to (sent, failed, or a retry time), which ends the lease. A process that dies with rows
//! claimed leaves them pending: they are due again when the lease runs out, and another
//! process posts them.

use sqlx::Row;

use super::super::outbox::{delivery_from_row, failed_from_row, Delivery, FailedDelivery, OutboxDepth, Outcome, CLAIM_LEASE_MS};
use super::super::StoreError;
use super::{error, Postgres};

impl Postgres {
    /// Claims up to `limit` due deliveries for `CLAIM_LEASE_MS` (see the module doc).
    pub(crate) async fn claim_deliveries(&self, shown: &str, now_ms: i64, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $2
             WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1
                          ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, case_id, helpdesk, ticket_id, public, body, tags, step, attempts, created_at, remote_id",
        )
        .bind(now_ms)
        .bind(now_ms.saturating_add(CLAIM_LEASE_MS))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| error(shown, e))?;
        let rows: Vec<Option<Delivery>> = rows.iter().map(delivery_from_row).collect::<Result<_, _>>().map_err(|e| error(shown, e))?;
        let mut out: Vec<Delivery> = rows.into_iter().flatten().collect();
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    pub(crate) async fn next_delivery_due(&self, shown: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| error(shown, e))
    }

    pub(crate) async fn delivery_step_done(&self, shown: &str, id: i64, step: i64, remote_id: Option<String>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET step = $2, remote_id = COALESCE($3, remote_id) WHERE id = $1")
            .bind(id)
            .bind(step)
            .bind(remote_id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| error(shown, e))
    }

    /// What attempts came to, in one transaction, with each case's reply status.
    pub(crate) async fn record_deliveries(&self, shown: &str, outcomes: Vec<Outcome>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| error(shown, e))?;
        for o in &outcomes {
            let q = match o {
                Outcome::Sent { id, remote_id, at_ms } => sqlx::query(
                    "WITH done AS (
                       UPDATE outbox SET state = 'sent', done_at = $2, attempts = attempts + 1, remote_id = COALESCE($3, remote_id)
                       WHERE id = $1 RETURNING case_id, remote_id)
                     UPDATE cases SET reply_status = 'sent', reply_ref = COALESCE(done.remote_id, cases.reply_ref)
                     FROM done WHERE cases.id = done.case_id",
                )
                .bind(id)
                .bind(at_ms)
                .bind(remote_id),
                Outcome::Retry { id, next_ms, error } => {
                    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1")
                        .bind(id)
                        .bind(next_ms)
                        .bind(error)
                }
                Outcome::Failed { id, at_ms, error } => sqlx::query(
                    "WITH done AS (
                       UPDATE outbox SET state = 'failed', done_at = $2, attempts = attempts + 1, last_error = $3
                       WHERE id = $1 RETURNING case_id)
                     UPDATE cases SET reply_status = 'failed' FROM done WHERE cases.id = done.case_id",
                )
                .bind(id)
                .bind(at_ms)
                .bind(error),
            };
            q.execute(&mut *tx).await.map_err(|e| error(shown, e))?;
        }
        tx.commit().await.map_err(|e| error(shown, e))
    }

    pub(crate) async fn outbox_depth(&self, shown: &str) -> Result<OutboxDepth, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        Ok(OutboxDepth { pending: row.get("n"), oldest_created_at_ms: row.get("oldest") })
    }

    pub(crate) async fn failed_deliveries(&self, shown: &str, limit: i64) -> Result<Vec<FailedDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, helpdesk, ticket_id, attempts, done_at, COALESCE(last_error, '') AS last_error FROM outbox
             WHERE state = 'failed' ORDER BY done_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| error(shown, e))?;
        rows.iter().map(failed_from_row).collect::<Result<_, _>>().map_err(|e| error(shown, e))
    }
}
