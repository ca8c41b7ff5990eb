//! The raw aggregates behind `triage stats`, `/v1/stats`, the dashboard and `/triage stats`.

use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopRecurring {
    pub who: String,
    pub cases: i64,
    pub categories: i64,
}

/// Counts straight from SQL; `crate::stats` turns them into the report.
#[derive(Debug, Clone, Default)]
pub struct StatsRows {
    pub total: i64,
    pub by_category: Vec<(String, i64)>,
    pub by_language: Vec<(String, i64)>,
    /// (day `YYYY-MM-DD`, category, cases)
    pub by_day: Vec<(String, String, i64)>,
    pub escalated: i64,
    pub recurring: i64,
    pub recurrence_escalations: i64,
    pub secrets_masked: i64,
    /// (reply_status, suppressed_reason, cases)
    pub replies: Vec<(String, Option<String>, i64)>,
    pub top_authors: Vec<TopRecurring>,
    pub top_accounts: Vec<TopRecurring>,
    /// (category, helpful, not helpful)
    pub feedback: Vec<(String, i64, i64)>,
}

impl Store {
    /// Aggregates cases received at or after `since` (Unix seconds).
    pub async fn stats_rows(&self, since: i64, top: i64) -> Result<StatsRows, StoreError> {
        let e = |e| self.err(e);
        let mut conn = self.read.acquire().await.map_err(e)?;
        let mut rows = StatsRows::default();
        for r in
            sqlx::query("SELECT category, COUNT(*) FROM cases WHERE received_at >= ?1 GROUP BY category ORDER BY COUNT(*) DESC, category")
                .bind(since)
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?
        {
            rows.by_category.push((r.get(0), r.get(1)));
        }
        rows.total = rows.by_category.iter().map(|(_, n)| n).sum();
        for r in
            sqlx::query("SELECT language, COUNT(*) FROM cases WHERE received_at >= ?1 GROUP BY language ORDER BY COUNT(*) DESC, language")
                .bind(since)
                .fetch_all(&mut *conn)
                .await
                .map_err(e)?
        {
            rows.by_language.push((r.get(0), r.get(1)));
        }
        for r in sqlx::query(
            "SELECT strftime('%Y-%m-%d', received_at, 'unixepoch') AS day, category, COUNT(*) FROM cases
             WHERE received_at >= ?1 GROUP BY day, category ORDER BY day, category",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await
        .map_err(e)?
        {
            rows.by_day.push((r.get(0), r.get(1), r.get(2)));
        }
        let r = sqlx::query(
            "SELECT COALESCE(SUM(escalate_to_sponsor), 0), COALESCE(SUM(recurring), 0), COALESCE(SUM(recurrence_escalation), 0), COALESCE(SUM(secrets_found), 0)
             FROM cases WHERE received_at >= ?1",
        )
        .bind(since)
        .fetch_one(&mut *conn)
        .await
        .map_err(e)?;
        (rows.escalated, rows.recurring, rows.recurrence_escalations, rows.secrets_masked) = (r.get(0), r.get(1), r.get(2), r.get(3));
        for r in sqlx::query(
            "SELECT reply_status, suppressed_reason, COUNT(*) FROM cases WHERE received_at >= ?1
             GROUP BY reply_status, suppressed_reason ORDER BY reply_status, suppressed_reason",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await
        .map_err(e)?
        {
            rows.replies.push((r.get(0), r.get(1), r.get(2)));
        }
        for (column, target) in [("author", &mut rows.top_authors), ("account", &mut rows.top_accounts)] {
            // Only trusted column names are interpolated here.
            let sql = format!(
                "SELECT {column}, COUNT(*) AS n, COUNT(DISTINCT category) FROM cases
                 WHERE received_at >= ?1 AND recurring = 1 AND {column} IS NOT NULL
                 GROUP BY {column} ORDER BY n DESC, {column} LIMIT ?2"
            );
            for r in sqlx::query(&sql).bind(since).bind(top).fetch_all(&mut *conn).await.map_err(e)? {
                target.push(TopRecurring { who: r.get(0), cases: r.get(1), categories: r.get(2) });
            }
        }
        for r in sqlx::query(
            "SELECT c.category, COALESCE(SUM(f.helpful), 0), COALESCE(SUM(1 - f.helpful), 0)
             FROM feedback f JOIN cases c ON c.id = f.case_id
             WHERE c.received_at >= ?1 GROUP BY c.category ORDER BY c.category",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await
        .map_err(e)?
        {
            rows.feedback.push((r.get(0), r.get(1), r.get(2)));
        }
        Ok(rows)
    }
}
