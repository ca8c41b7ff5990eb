//! Rule health: per rule, the cases it fired on in a period, how often their reply was held
//! back, and how often it was right, as reviewers labelled the cases and as 👍/👎 said.

use sqlx::Row;

use super::select::Arg;
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
        // The latest label of each case, and its votes, joined once per case.
        let base = "WITH labels AS (
               SELECT k.case_id, k.category FROM corrections k
               WHERE k.id = (SELECT k2.id FROM corrections k2 WHERE k2.case_id = k.case_id ORDER BY k2.created_at DESC, k2.id DESC LIMIT 1)),
             votes AS (SELECT case_id, COUNT(*) FILTER (WHERE helpful) AS up, COUNT(*) FILTER (WHERE NOT helpful) AS down
                       FROM feedback GROUP BY case_id)";
        let counts = |category: &str| {
            format!(
                "COUNT(*),
                 COUNT(*) FILTER (WHERE c.reply_status = 'suppressed'),
                 COUNT(l.category),
                 COUNT(*) FILTER (WHERE l.category = {category}),
                 CAST(COALESCE(SUM(CASE WHEN l.category IS NULL THEN COALESCE(v.up, 0) ELSE 0 END), 0) AS BIGINT),
                 CAST(COALESCE(SUM(CASE WHEN l.category IS NULL THEN COALESCE(v.down, 0) ELSE 0 END), 0) AS BIGINT)"
            )
        };
        // The list of rules that fired is JSON text: each backend has its own way to open it.
        let (rules, rule_category) = match self.backend() {
            "postgres" => ("CROSS JOIN LATERAL jsonb_array_elements_text(c.rules::jsonb) AS r(value)", "split_part(r.value, '/', 1)"),
            _ => ("JOIN json_each(c.rules) r", "substr(r.value, 1, instr(r.value, '/') - 1)"),
        };
        let per_rule = format!(
            "{base}
             SELECT r.value, {}
             FROM cases c {rules}
             LEFT JOIN labels l ON l.case_id = c.id LEFT JOIN votes v ON v.case_id = c.id
             WHERE c.received_at >= $1 AND c.rules != '[]'
             GROUP BY r.value ORDER BY COUNT(*) DESC, r.value",
            counts(rule_category)
        );
        let per_category = format!(
            "{base}
             SELECT c.category, {}
             FROM cases c LEFT JOIN labels l ON l.case_id = c.id LEFT JOIN votes v ON v.case_id = c.id
             WHERE c.received_at >= $1 AND c.category != 'none'
             GROUP BY c.category ORDER BY COUNT(*) DESC, c.category",
            counts("c.category")
        );
        let args = [Arg::Int(since)];
        Ok((
            self.select(&per_rule, &args, counts_from_row, counts_from_row).await?,
            self.select(&per_category, &args, counts_from_row, counts_from_row).await?,
        ))
    }
}

fn counts_from_row<R>(r: &R) -> Result<RuleCounts, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RuleCounts {
        name: r.try_get(0)?,
        fired: r.try_get(1)?,
        held_back: r.try_get(2)?,
        reviewed: r.try_get(3)?,
        reviewed_right: r.try_get(4)?,
        votes_up: r.try_get(5)?,
        votes_down: r.try_get(6)?,
    })
}
