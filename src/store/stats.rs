//! The raw aggregates behind `triage stats`, `/v1/stats`, the dashboard and `/triage stats`.

use std::collections::BTreeMap;

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
    /// (category, answered cases a helper took over within `yield_to_humans`)
    pub taken_over: Vec<(String, i64)>,
}

impl Store {
    /// Aggregates cases received at or after `since` (Unix seconds).
    pub async fn stats_rows(&self, since: i64, top: i64) -> Result<StatsRows, StoreError> {
        let e = |e| self.err(e);
        let mut conn = self.read.acquire().await.map_err(e)?;
        let mut rows = StatsRows::default();
        // Everything but the top lists in one pass over the range, grouped finely enough to add
        // up to each breakdown here: at most days x categories x languages x reply outcomes
        // groups, however many cases there are.
        let mut by_category = BTreeMap::<String, i64>::new();
        let mut by_language = BTreeMap::<String, i64>::new();
        let mut by_day = BTreeMap::<(String, String), i64>::new();
        let mut replies = BTreeMap::<(String, Option<String>), i64>::new();
        let mut taken_over = BTreeMap::<String, i64>::new();
        for r in sqlx::query(
            "SELECT strftime('%Y-%m-%d', (received_at / 86400) * 86400, 'unixepoch'), category, language, reply_status, suppressed_reason,
                    COUNT(*), SUM(escalate_to_sponsor), SUM(recurring), SUM(recurrence_escalation), SUM(secrets_found),
                    SUM(taken_over_at IS NOT NULL)
             FROM cases WHERE received_at >= ?1
             GROUP BY received_at / 86400, category, language, reply_status, suppressed_reason",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await
        .map_err(e)?
        {
            let (day, category, language): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            let (status, reason): (String, Option<String>) = (r.get(3), r.get(4));
            let n: i64 = r.get(5);
            rows.total += n;
            let took: i64 = r.get(10);
            if took > 0 {
                *taken_over.entry(category.clone()).or_default() += took;
            }
            *by_category.entry(category.clone()).or_default() += n;
            *by_language.entry(language).or_default() += n;
            *by_day.entry((day, category)).or_default() += n;
            *replies.entry((status, reason)).or_default() += n;
            rows.escalated += r.get::<i64, _>(6);
            rows.recurring += r.get::<i64, _>(7);
            rows.recurrence_escalations += r.get::<i64, _>(8);
            rows.secrets_masked += r.get::<i64, _>(9);
        }
        // Largest first, then by name.
        let ranked = |m: BTreeMap<String, i64>| {
            let mut v: Vec<(String, i64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        rows.by_category = ranked(by_category);
        rows.taken_over = ranked(taken_over);
        rows.by_language = ranked(by_language);
        rows.by_day = by_day.into_iter().map(|((day, category), n)| (day, category, n)).collect();
        rows.replies = replies.into_iter().map(|((status, reason), n)| (status, reason, n)).collect();
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
