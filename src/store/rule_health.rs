//! Rule health: per rule, the cases it fired on in a period, how often their reply was held
//! back, and how often it was right, as reviewers labelled the cases and as 👍/👎 said.

use sqlx::Row;

use super::{Store, StoreError};

/// The raw counts of one rule (`category/rule`) or of one category (`category`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleCounts {
    pub name: String,
    /// Cases it fired on.
    pub fired: i64,
    /// Of those, cases whose reply was held back (any reason).
    pub held_back: i64,
    /// Cases a person labelled, and how many of them have the rule's category.
    pub reviewed: i64,
    pub reviewed_right: i64,
    /// 👍 and 👎 on replies to its cases that nobody labelled.
    pub votes_up: i64,
    pub votes_down: i64,
}

use serde::Serialize;

impl Store {
    /// Counts per rule that fired on cases received since `since`, and per category of the
    /// cases (what the classifier decided).
    pub async fn rule_counts(&self, since: i64) -> Result<(Vec<RuleCounts>, Vec<RuleCounts>), StoreError> {
        let e = |e| self.err(e);
        // The latest label of each case, and its votes, joined once per case; `json_each` opens
        // the list of rules that fired.
        let base = "WITH labels AS (
               SELECT k.case_id, k.category FROM corrections k
               WHERE k.id = (SELECT k2.id FROM corrections k2 WHERE k2.case_id = k.case_id ORDER BY k2.created_at DESC, k2.id DESC LIMIT 1)),
             votes AS (SELECT case_id, SUM(helpful) AS up, SUM(1 - helpful) AS down FROM feedback GROUP BY case_id)";
        let per_rule = sqlx::query(&format!(
            "{base}
             SELECT r.value,
                    COUNT(*),
                    SUM(c.reply_status = 'suppressed'),
                    SUM(l.category IS NOT NULL),
                    SUM(l.category = substr(r.value, 1, instr(r.value, '/') - 1)),
                    SUM(CASE WHEN l.category IS NULL THEN COALESCE(v.up, 0) ELSE 0 END),
                    SUM(CASE WHEN l.category IS NULL THEN COALESCE(v.down, 0) ELSE 0 END)
             FROM cases c JOIN json_each(c.rules) r
             LEFT JOIN labels l ON l.case_id = c.id LEFT JOIN votes v ON v.case_id = c.id
             WHERE c.received_at >= ?1 AND c.rules != '[]'
             GROUP BY r.value ORDER BY COUNT(*) DESC, r.value"
        ))
        .bind(since)
        .fetch_all(&self.sqlite("rule health")?.read)
        .await
        .map_err(e)?;
        let per_category = sqlx::query(&format!(
            "{base}
             SELECT c.category,
                    COUNT(*),
                    SUM(c.reply_status = 'suppressed'),
                    SUM(l.category IS NOT NULL),
                    SUM(l.category = c.category),
                    SUM(CASE WHEN l.category IS NULL THEN COALESCE(v.up, 0) ELSE 0 END),
                    SUM(CASE WHEN l.category IS NULL THEN COALESCE(v.down, 0) ELSE 0 END)
             FROM cases c LEFT JOIN labels l ON l.case_id = c.id LEFT JOIN votes v ON v.case_id = c.id
             WHERE c.received_at >= ?1 AND c.category != 'none'
             GROUP BY c.category ORDER BY COUNT(*) DESC, c.category"
        ))
        .bind(since)
        .fetch_all(&self.sqlite("rule health")?.read)
        .await
        .map_err(e)?;
        let read = |rows: Vec<sqlx::sqlite::SqliteRow>| -> Vec<RuleCounts> {
            rows.iter()
                .map(|r| RuleCounts {
                    name: r.get(0),
                    fired: r.get(1),
                    held_back: r.get::<Option<i64>, _>(2).unwrap_or(0),
                    reviewed: r.get::<Option<i64>, _>(3).unwrap_or(0),
                    reviewed_right: r.get::<Option<i64>, _>(4).unwrap_or(0),
                    votes_up: r.get::<Option<i64>, _>(5).unwrap_or(0),
                    votes_down: r.get::<Option<i64>, _>(6).unwrap_or(0),
                })
                .collect()
        };
        Ok((read(per_rule), read(per_category)))
    }
}
