//! The raw aggregates behind `triage stats`, `/v1/stats`, the dashboard and `/triage stats`.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Db, Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopRecurring {
    pub who: String,
    pub cases: i64,
    pub categories: i64,
}

/// Counts straight from SQL; `crate::stats` turns them into the report.
#[derive(Debug, Clone, Default, PartialEq)]
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

/// One group of the statistics scan: cases of one day, category, language and reply outcome.
#[derive(Debug, Clone, Default)]
pub(super) struct Group {
    pub day: String,
    pub category: String,
    pub language: String,
    pub status: String,
    pub reason: Option<String>,
    pub cases: i64,
    pub escalated: i64,
    pub recurring: i64,
    pub recurrence_escalations: i64,
    pub secrets: i64,
    pub taken_over: i64,
}

impl Group {
    /// A group from a row of either backend's scan: day, category, language, status, reason,
    /// then the six counts, in that order.
    pub(super) fn from_row<'r, R>(r: &'r R) -> Result<Group, sqlx::Error>
    where
        R: Row,
        usize: sqlx::ColumnIndex<R>,
        String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Group {
            day: r.try_get(0)?,
            category: r.try_get(1)?,
            language: r.try_get(2)?,
            status: r.try_get(3)?,
            reason: r.try_get(4)?,
            cases: r.try_get(5)?,
            escalated: r.try_get(6)?,
            recurring: r.try_get(7)?,
            recurrence_escalations: r.try_get(8)?,
            secrets: r.try_get(9)?,
            taken_over: r.try_get(10)?,
        })
    }
}

/// The report's rows from the groups (each backend's SQL makes them), the top lists and the
/// feedback per category.
pub(super) fn assemble(
    groups: Vec<Group>,
    top_authors: Vec<TopRecurring>,
    top_accounts: Vec<TopRecurring>,
    feedback: Vec<(String, i64, i64)>,
) -> StatsRows {
    let mut rows = StatsRows { top_authors, top_accounts, feedback, ..StatsRows::default() };
    // Grouped finely enough to add up to each breakdown here: at most days x categories x
    // languages x reply outcomes groups, however many cases there are.
    let mut by_category = BTreeMap::<String, i64>::new();
    let mut by_language = BTreeMap::<String, i64>::new();
    let mut by_day = BTreeMap::<(String, String), i64>::new();
    let mut replies = BTreeMap::<(String, Option<String>), i64>::new();
    let mut taken_over = BTreeMap::<String, i64>::new();
    for g in groups {
        let n = g.cases;
        rows.total += n;
        if g.taken_over > 0 {
            *taken_over.entry(g.category.clone()).or_default() += g.taken_over;
        }
        *by_category.entry(g.category.clone()).or_default() += n;
        *by_language.entry(g.language).or_default() += n;
        *by_day.entry((g.day, g.category)).or_default() += n;
        *replies.entry((g.status, g.reason)).or_default() += n;
        rows.escalated += g.escalated;
        rows.recurring += g.recurring;
        rows.recurrence_escalations += g.recurrence_escalations;
        rows.secrets_masked += g.secrets;
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
    rows
}

impl Store {
    /// Aggregates cases received at or after `since` (Unix seconds).
    pub async fn stats_rows(&self, since: i64, top: i64) -> Result<StatsRows, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.stats_rows(&self.path, since, top).await,
        };
        let e = |e| self.err(e);
        let mut conn = db.read.acquire().await.map_err(e)?;
        let mut groups = Vec::new();
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
            groups.push(Group::from_row(&r).map_err(e)?);
        }
        let (mut top_authors, mut top_accounts) = (Vec::new(), Vec::new());
        for (column, target) in [("author", &mut top_authors), ("account", &mut top_accounts)] {
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
        let mut feedback = Vec::new();
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
            feedback.push((r.get(0), r.get(1), r.get(2)));
        }
        Ok(assemble(groups, top_authors, top_accounts, feedback))
    }
}
