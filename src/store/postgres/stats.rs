//! The statistics scan on PostgreSQL: the same groups as SQLite's, so every process of a
//! deployment reads the same numbers from the one database.

use sqlx::Row;

use super::super::stats::{assemble, Group};
use super::super::{StatsRows, StoreError, TopRecurring};
use super::{error, Postgres};

impl Postgres {
    pub(crate) async fn stats_rows(&self, shown: &str, since: i64, top: i64) -> Result<StatsRows, StoreError> {
        let e = |e| error(shown, e);
        let mut conn = self.pool.acquire().await.map_err(e)?;
        let mut groups = Vec::new();
        // SUM of BIGINT is NUMERIC in PostgreSQL: cast back.
        for r in sqlx::query(
            "SELECT to_char(to_timestamp((received_at / 86400) * 86400) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), category, language,
                    reply_status, suppressed_reason, COUNT(*),
                    COUNT(*) FILTER (WHERE escalate_to_sponsor), COUNT(*) FILTER (WHERE recurring),
                    COUNT(*) FILTER (WHERE recurrence_escalation), SUM(secrets_found)::bigint,
                    COUNT(*) FILTER (WHERE taken_over_at IS NOT NULL)
             FROM cases WHERE received_at >= $1
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
                 WHERE received_at >= $1 AND recurring AND {column} IS NOT NULL
                 GROUP BY {column} ORDER BY n DESC, {column} LIMIT $2"
            );
            for r in sqlx::query(&sql).bind(since).bind(top).fetch_all(&mut *conn).await.map_err(e)? {
                target.push(TopRecurring { who: r.get(0), cases: r.get(1), categories: r.get(2) });
            }
        }
        let mut feedback = Vec::new();
        for r in sqlx::query(
            "SELECT c.category, COUNT(*) FILTER (WHERE f.helpful), COUNT(*) FILTER (WHERE NOT f.helpful)
             FROM feedback f JOIN cases c ON c.id = f.case_id
             WHERE c.received_at >= $1 GROUP BY c.category ORDER BY c.category",
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
