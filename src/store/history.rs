//! What earlier cases say about a new one: recurrence and cooldown. Runs on the writer
//! connection inside the write transaction, so cases stored earlier in the same transaction
//! count too.

use rusqlite::{params, Connection, OptionalExtension};

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

/// Earlier cases are counted up to this many: decisions only need to know whether the
/// escalation threshold is reached, and counting further would make each lookup grow with an
/// identity's history.
pub const PRIOR_CAP: u32 = 100;

/// The recurrence indexes begin with `received_at / WEEK` (see `migrations/0002`), so a lookup
/// probes each week its window touches.
const WEEK: i64 = 604_800;

/// Earlier cases of the query's category from the same author or account within `window`
/// seconds, counted up to `count_up_to` (at most [`PRIOR_CAP`]), and our last reply to them
/// about it within `cooldown` seconds (not looked up without a cooldown).
///
/// A caller that only needs to know whether there was any earlier case passes 1: the lookup
/// then stops at the first one it meets, starting from the newest week.
pub(crate) fn lookup(
    conn: &Connection,
    q: &HistoryQuery<'_>,
    window: i64,
    count_up_to: u32,
    cooldown: Option<i64>,
) -> rusqlite::Result<History> {
    if q.author.is_none() && q.account.is_none() {
        return Ok(History::default());
    }
    let since = q.at.saturating_sub(window.max(0));
    let cap = i64::from(count_up_to.min(PRIOR_CAP));
    let mut prior = 0;
    // Each run probes two weeks, newest first (a 7-day window spans at most two), so most
    // lookups are one statement, and the LIMIT ends it as soon as enough cases are found. In
    // each week, one index range per branch; a case from both the same author and the same
    // account is counted by the author branch only, which the account index tells by itself.
    let mut count = conn.prepare_cached(
        "SELECT COUNT(*) FROM (
           SELECT 1 FROM (VALUES (?1), (?2)) AS w CROSS JOIN cases
             WHERE received_at / 604800 = w.column1 AND author = ?3 AND category = ?5 AND received_at > ?6 AND received_at <= ?7 AND burst_of IS NULL
           UNION ALL
           SELECT 1 FROM (VALUES (?1), (?2)) AS w CROSS JOIN cases
             WHERE received_at / 604800 = w.column1 AND account = ?4 AND category = ?5 AND received_at > ?6 AND received_at <= ?7 AND burst_of IS NULL
               AND (?3 IS NULL OR author IS NOT ?3)
           LIMIT ?8)",
    )?;
    let (first, mut week) = (since / WEEK, q.at / WEEK);
    while week >= first && prior < cap {
        // A NULL week matches nothing: the window's first week, when it is alone in its pair.
        let earlier = (week > first).then_some(week - 1);
        prior +=
            count.query_row(params![week, earlier, q.author, q.account, q.category, since, q.at, cap - prior], |r| r.get::<_, i64>(0))?;
        week -= 2;
    }

    let prior_cases = u32::try_from(prior).unwrap_or(u32::MAX);
    let Some(cooldown) = cooldown else {
        return Ok(History { prior_cases, ..History::default() });
    };
    // Time and escalation flag of the last reply within the cooldown, packed into one integer.
    let mut last_reply = conn.prepare_cached(
        "SELECT MAX(v) FROM (
           SELECT * FROM (SELECT received_at * 2 + recurrence_escalation AS v FROM cases
             WHERE author = ?1 AND category = ?3 AND received_at > ?4 AND received_at <= ?5 AND reply_status IN ('sent', 'pending')
             ORDER BY received_at DESC LIMIT 1)
           UNION ALL
           SELECT * FROM (SELECT received_at * 2 + recurrence_escalation AS v FROM cases
             WHERE account = ?2 AND category = ?3 AND received_at > ?4 AND received_at <= ?5 AND reply_status IN ('sent', 'pending')
             ORDER BY received_at DESC LIMIT 1))",
    )?;
    let last: Option<i64> = last_reply
        .query_row(params![q.author, q.account, q.category, q.at.saturating_sub(cooldown.max(0)), q.at], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(History {
        prior_cases,
        last_reply_at: last.map(|v| v.div_euclid(2)),
        last_reply_escalated: last.is_some_and(|v| v.rem_euclid(2) == 1),
        answered_in_thread: false,
    })
}

/// Whether a reply about `category` was posted, or is on its way, on the thread (a helpdesk
/// ticket) before: a later comment of the same ticket is not answered twice.
pub(crate) fn answered_in_thread(conn: &Connection, thread_id: &str, category: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM cases WHERE thread_id = ?1 AND category = ?2 AND reply_status IN ('sent', 'pending'))",
    )?;
    stmt.query_row(params![thread_id, category], |r| r.get(0))
}
