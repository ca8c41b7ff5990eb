//! Cases on PostgreSQL: look-ups and the updates after delivery, an edit or a takeover.

use sqlx::Row;

use super::super::cases::{from_row, ReplyChange, COLUMNS};
use super::super::{CaseRecord, ReplyStatus, Source, StoreError};
use super::{error, Postgres};

impl Postgres {
    async fn one_case(&self, shown: &str, sql: &str, bind: &[&str]) -> Result<Option<CaseRecord>, StoreError> {
        let mut q = sqlx::query(sql);
        for b in bind {
            q = q.bind(*b);
        }
        let row = q.fetch_optional(&self.pool).await.map_err(|e| error(shown, e))?;
        row.as_ref().map(from_row).transpose().map_err(|e| error(shown, e))
    }

    pub(crate) async fn case(&self, shown: &str, id: i64) -> Result<Option<CaseRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM cases WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        row.as_ref().map(from_row).transpose().map_err(|e| error(shown, e))
    }

    pub(crate) async fn case_by_source(&self, shown: &str, source: Source, source_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        self.one_case(shown, &format!("SELECT {COLUMNS} FROM cases WHERE source = $1 AND source_id = $2"), &[source.as_str(), source_id])
            .await
    }

    pub(crate) async fn case_by_reply_ref(&self, shown: &str, reply_ref: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM cases WHERE reply_ref = $1 LIMIT 1")
            .bind(reply_ref)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        Ok(row.map(|r| r.get::<i64, _>(0)))
    }

    pub(crate) async fn set_reply_status(
        &self,
        shown: &str,
        id: i64,
        status: ReplyStatus,
        reply_ref: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE cases SET reply_status = $2, reply_ref = COALESCE($3, reply_ref) WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .bind(reply_ref)
            .execute(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        Ok(())
    }

    pub(crate) async fn update_after_edit(
        &self,
        shown: &str,
        id: i64,
        c: &crate::classify::Classification,
        reply: Option<ReplyChange>,
    ) -> Result<(), StoreError> {
        let rules = serde_json::to_string(&c.rules).unwrap_or_else(|_| "[]".into());
        let findings = serde_json::to_string(&c.findings).unwrap_or_else(|_| "[]".into());
        let (reply_text, status, reason) = match &reply {
            Some(ReplyChange::Edited(text)) => (Some(text.as_str()), Some(ReplyStatus::Sent.as_str()), None),
            Some(ReplyChange::Removed(why)) => (None, Some(ReplyStatus::Suppressed.as_str()), Some(why.as_str())),
            None => (None, None, None),
        };
        sqlx::query(
            "UPDATE cases SET text = $2, secrets_found = $3, category = $4, confidence = $5, rules = $6, findings = $7,
               escalate_to_sponsor = $8, language = $9,
               reply_text = COALESCE($10, reply_text), reply_status = COALESCE($11, reply_status),
               suppressed_reason = CASE WHEN $11::text IS NULL THEN suppressed_reason ELSE $12 END
             WHERE id = $1",
        )
        .bind(id)
        .bind(&c.masked_text)
        .bind(c.secrets_found as i64)
        .bind(c.category_id())
        .bind(c.confidence)
        .bind(rules)
        .bind(findings)
        .bind(c.escalate_to_sponsor)
        .bind(c.language.code())
        .bind(reply_text)
        .bind(status)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(|e| error(shown, e))?;
        Ok(())
    }

    pub(crate) async fn case_for_discord_message(&self, shown: &str, message_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let case = self
            .one_case(
                shown,
                &format!(
                    "(SELECT {COLUMNS} FROM cases WHERE source = 'discord' AND source_id = $1)
                     UNION ALL (SELECT {COLUMNS} FROM cases WHERE reply_ref = $1) LIMIT 1"
                ),
                &[message_id],
            )
            .await?;
        match case.as_ref().and_then(|c| c.burst_of.as_deref()) {
            Some(last) => self.case_by_source(shown, Source::Discord, last).await,
            None => Ok(case),
        }
    }

    pub(crate) async fn answered_case_in_thread(&self, shown: &str, thread_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        self.one_case(
            shown,
            &format!(
                "SELECT {COLUMNS} FROM cases WHERE thread_id = $1 AND reply_status = 'sent' ORDER BY received_at DESC, id DESC LIMIT 1"
            ),
            &[thread_id],
        )
        .await
    }

    pub(crate) async fn record_takeover(&self, shown: &str, id: i64, by: &str, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE cases SET taken_over_by = $2, taken_over_at = $3 WHERE id = $1 AND taken_over_at IS NULL AND reply_status = 'sent'",
        )
        .bind(id)
        .bind(by)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(|e| error(shown, e))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn join_thread(&self, shown: &str, thread_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE cases SET thread_id = $1 WHERE source = 'discord' AND source_id = $1 AND thread_id IS NULL")
            .bind(thread_id)
            .execute(&self.pool)
            .await
            .map_err(|e| error(shown, e))?;
        Ok(())
    }

    pub(crate) async fn count_cases(&self, shown: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM cases").fetch_one(&self.pool).await.map_err(|e| error(shown, e))?;
        Ok(row.get(0))
    }
}
