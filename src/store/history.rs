//! What earlier stored cases say about new ones: recurrence and cooldown, for a whole batch in
//! one query. Cases earlier in the same batch are not stored yet; the pipeline adds them.

use sqlx::{Row, SqliteConnection};

use crate::respond::History;

/// One message whose history is wanted.
#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub author: Option<&'a str>,
    pub account: Option<&'a str>,
    pub category: &'a str,
    /// The message's own time; only cases at or before it count.
    pub at: i64,
}

#[derive(serde::Serialize)]
struct JsonQuery<'a> {
    author: Option<&'a str>,
    account: Option<&'a str>,
    category: &'a str,
    t: i64,
}

/// Earlier cases are counted up to this many: decisions only need to know whether the
/// escalation threshold is reached, and counting further would make each lookup grow with an
/// identity's history.
pub const PRIOR_CAP: u32 = 100;

/// For each query: earlier cases of its category from the same author or account within
/// `window` seconds (up to [`PRIOR_CAP`]), and our last reply to them about it within
/// `cooldown` seconds. One statement for the whole batch: the queries travel as one JSON
/// parameter.
pub async fn histories(
    conn: &mut SqliteConnection,
    queries: &[HistoryQuery<'_>],
    window: i64,
    cooldown: i64,
) -> Result<Vec<History>, sqlx::Error> {
    let mut out = vec![History::default(); queries.len()];
    if queries.iter().all(|q| q.author.is_none() && q.account.is_none()) {
        return Ok(out);
    }
    let rows: Vec<JsonQuery> =
        queries.iter().map(|q| JsonQuery { author: q.author, account: q.account, category: q.category, t: q.at }).collect();
    let json = serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // Author and account are looked up as two index-only branches: an OR across the two
    // columns would make SQLite fetch every matching table row. UNION on rowid counts a case
    // that matches both only once.
    let result = sqlx::query(
        "WITH m AS (SELECT q.key AS idx, q.value ->> '$.author' AS author, q.value ->> '$.account' AS account,
                           q.value ->> '$.category' AS category, q.value ->> '$.t' AS t FROM json_each(?1) AS q)
         SELECT m.idx,
           (SELECT COUNT(*) FROM (
              SELECT c.rowid FROM cases c WHERE c.author = m.author AND c.category = m.category AND c.received_at > m.t - ?2 AND c.received_at <= m.t
              UNION
              SELECT c.rowid FROM cases c WHERE c.account = m.account AND c.category = m.category AND c.received_at > m.t - ?2 AND c.received_at <= m.t
              LIMIT ?4)),
           -- Time and escalation flag of the last reply within the cooldown, packed into one
           -- integer; each branch stops at its newest match.
           (SELECT MAX(v) FROM (
              SELECT * FROM (SELECT c.received_at * 2 + c.recurrence_escalation AS v FROM cases c WHERE c.author = m.author AND c.category = m.category
                AND c.received_at > m.t - ?3 AND c.received_at <= m.t AND c.reply_status IN ('sent', 'pending') ORDER BY c.received_at DESC LIMIT 1)
              UNION ALL
              SELECT * FROM (SELECT c.received_at * 2 + c.recurrence_escalation AS v FROM cases c WHERE c.account = m.account AND c.category = m.category
                AND c.received_at > m.t - ?3 AND c.received_at <= m.t AND c.reply_status IN ('sent', 'pending') ORDER BY c.received_at DESC LIMIT 1)))
         FROM m WHERE m.author IS NOT NULL OR m.account IS NOT NULL",
    )
    .bind(json)
    .bind(window)
    .bind(cooldown)
    .bind(i64::from(PRIOR_CAP))
    .fetch_all(&mut *conn)
    .await?;
    for row in result {
        let idx: i64 = row.try_get(0)?;
        let prior: i64 = row.try_get(1)?;
        let last: Option<i64> = row.try_get(2)?;
        if let Some(slot) = usize::try_from(idx).ok().and_then(|i| out.get_mut(i)) {
            *slot = History {
                prior_cases: u32::try_from(prior).unwrap_or(u32::MAX),
                last_reply_at: last.map(|v| v.div_euclid(2)),
                last_reply_escalated: last.is_some_and(|v| v.rem_euclid(2) == 1),
            };
        }
    }
    Ok(out)
}
