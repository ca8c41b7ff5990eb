//! The case browser's queries: cases filtered and listed newest first, a page at a time.
//!
//! Pages are keyset pages: a page ends with the id to continue `before`, so page 1,000 costs what
//! page 1 costs, and cases stored meanwhile never shift a page. Free text is searched in the
//! FTS5 index of the masked text (`migrations/0007`), so a secret's original text is never found.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::cases::{from_row, COLUMNS};
use super::{CaseRecord, ReplyStatus, Source, Store, StoreError};
use crate::language::Language;
use crate::respond::Suppression;

/// What happened to a case's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(ReplyStatus),
    /// Held back for this reason.
    Suppressed(Suppression),
}

impl Outcome {
    /// `sent`, `pending`, `failed`, `suppressed`, or a suppression reason (`cooldown`, ...).
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "sent" => Some(Outcome::Status(ReplyStatus::Sent)),
            "pending" => Some(Outcome::Status(ReplyStatus::Pending)),
            "failed" => Some(Outcome::Status(ReplyStatus::Failed)),
            "suppressed" => Some(Outcome::Status(ReplyStatus::Suppressed)),
            other => Suppression::parse(other).map(Outcome::Suppressed),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Status(s) => s.as_str(),
            Outcome::Suppressed(r) => r.as_str(),
        }
    }
}

/// Votes a case must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    Helpful,
    NotHelpful,
    /// Any vote at all.
    Any,
}

/// Which cases to list. Every field narrows; the default lists everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseFilter {
    pub category: Option<String>,
    pub source: Option<Source>,
    pub language: Option<Language>,
    pub outcome: Option<Outcome>,
    pub min_confidence: Option<f64>,
    pub max_confidence: Option<f64>,
    pub feedback: Option<Vote>,
    pub recurring: Option<bool>,
    /// Has a person's correction (or has none).
    pub corrected: Option<bool>,
    /// Received at or after (Unix seconds).
    pub since: Option<i64>,
    /// Received before (Unix seconds).
    pub until: Option<i64>,
    pub author: Option<String>,
    pub account: Option<String>,
    /// Words that must all occur in the masked text.
    pub text: Option<String>,
    /// A category other than `none` (or `none`).
    pub support: Option<bool>,
    /// The Sponsor user must act.
    pub sponsor: Option<bool>,
    /// A secret was masked in it.
    pub secrets: Option<bool>,
}

/// One page of cases, newest first.
#[derive(Debug, Clone)]
pub struct CasePage {
    pub cases: Vec<CaseRecord>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// Largest page.
pub const MAX_PAGE: u32 = 200;

/// The FTS5 query for free text: every word, quoted so that nothing in it is FTS syntax, all of
/// them required. `None` when the text has no word.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("text : \"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" AND "))
}

/// `fts_query`, and the category too when there is one: the index finds both at once.
fn fts_query_in(text: &str, category: Option<&str>) -> Option<String> {
    let words = fts_query(text)?;
    Some(match category {
        Some(c) => format!("{words} AND category : \"{}\"", c.replace('"', "\"\"")),
        None => words,
    })
}

/// Indexes the text of every case stored since the last call, inside the caller's write
/// transaction: the cases are searchable from the moment they are committed.
pub(crate) fn index_new_cases(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO cases_fts (rowid, text, category) SELECT id, text, category FROM cases WHERE id > (SELECT last_id FROM cases_fts_done)",
    )?
    .execute([])?;
    conn.prepare_cached("UPDATE cases_fts_done SET last_id = (SELECT COALESCE(MAX(id), last_id) FROM cases)")?.execute([])?;
    Ok(())
}

/// The case columns, each with a table alias (`c.id, c.source, ...`), for queries that join.
pub(super) fn prefixed(prefix: &str) -> String {
    COLUMNS.split(", ").map(|c| format!("{prefix}.{c}")).collect::<Vec<_>>().join(", ")
}

/// The WHERE terms of a filter, after a first term, on table alias `c`.
fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, f: &CaseFilter) {
    if let Some(v) = &f.category {
        q.push(" AND c.category = ").push_bind(v.clone());
    }
    if let Some(v) = f.source {
        q.push(" AND c.source = ").push_bind(v.as_str());
    }
    if let Some(v) = f.language {
        q.push(" AND c.language = ").push_bind(v.code());
    }
    match f.outcome {
        Some(Outcome::Status(s)) => {
            q.push(" AND c.reply_status = ").push_bind(s.as_str());
        }
        Some(Outcome::Suppressed(r)) => {
            q.push(" AND c.reply_status = 'suppressed' AND c.suppressed_reason = ").push_bind(r.as_str());
        }
        None => {}
    }
    if let Some(v) = f.min_confidence {
        q.push(" AND c.confidence >= ").push_bind(v);
    }
    if let Some(v) = f.max_confidence {
        q.push(" AND c.confidence <= ").push_bind(v);
    }
    match f.feedback {
        Some(Vote::Helpful) => {
            q.push(" AND EXISTS (SELECT 1 FROM feedback v WHERE v.case_id = c.id AND v.helpful = 1)");
        }
        Some(Vote::NotHelpful) => {
            q.push(" AND EXISTS (SELECT 1 FROM feedback v WHERE v.case_id = c.id AND v.helpful = 0)");
        }
        Some(Vote::Any) => {
            q.push(" AND EXISTS (SELECT 1 FROM feedback v WHERE v.case_id = c.id)");
        }
        None => {}
    }
    match f.recurring {
        // A literal, so that the partial index of recurring cases applies.
        Some(true) => {
            q.push(" AND c.recurring = 1");
        }
        Some(false) => {
            q.push(" AND c.recurring = 0");
        }
        None => {}
    }
    match f.corrected {
        Some(true) => {
            q.push(" AND EXISTS (SELECT 1 FROM corrections k WHERE k.case_id = c.id)");
        }
        Some(false) => {
            q.push(" AND NOT EXISTS (SELECT 1 FROM corrections k WHERE k.case_id = c.id)");
        }
        None => {}
    }
    if let Some(v) = f.since {
        q.push(" AND c.received_at >= ").push_bind(v);
    }
    if let Some(v) = f.until {
        q.push(" AND c.received_at < ").push_bind(v);
    }
    match f.support {
        Some(true) => {
            q.push(" AND c.category != 'none'");
        }
        Some(false) => {
            q.push(" AND c.category = 'none'");
        }
        None => {}
    }
    if let Some(v) = f.sponsor {
        q.push(" AND c.escalate_to_sponsor = ").push_bind(v);
    }
    match f.secrets {
        Some(true) => {
            q.push(" AND c.secrets_found > 0");
        }
        Some(false) => {
            q.push(" AND c.secrets_found = 0");
        }
        None => {}
    }
    if let Some(v) = &f.author {
        q.push(" AND c.author = ").push_bind(v.clone());
    }
    if let Some(v) = &f.account {
        q.push(" AND c.account = ").push_bind(v.clone());
    }
}

impl Store {
    /// Up to `limit` cases matching `filter` with ids below `before`, newest first.
    pub async fn browse(&self, filter: &CaseFilter, before: Option<i64>, limit: u32) -> Result<CasePage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let text = filter.text.as_deref().and_then(|t| fts_query_in(t, filter.category.as_deref()));
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {} FROM ", prefixed("c")));
        // With words to find, the index of the masked text leads, newest first, and each hit is
        // checked against the other filters until the page is full.
        let id = if let Some(text) = text {
            q.push("cases_fts JOIN cases c ON c.id = cases_fts.rowid WHERE cases_fts MATCH ").push_bind(text);
            "cases_fts.rowid"
        } else {
            q.push("cases c WHERE 1 = 1");
            "c.id"
        };
        push_filter(&mut q, filter);
        if let Some(before) = before {
            q.push(format!(" AND {id} < ")).push_bind(before);
        }
        q.push(format!(" ORDER BY {id} DESC LIMIT ")).push_bind(i64::from(limit) + 1);
        let rows = q.build().fetch_all(&self.sqlite("the case browser")?.read).await.map_err(|e| self.err(e))?;
        let mut cases = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))?;
        let next_before = if cases.len() > limit as usize {
            cases.truncate(limit as usize);
            cases.last().map(|c| c.id)
        } else {
            None
        };
        Ok(CasePage { cases, next_before })
    }

    /// Votes on a case as (helpful, not helpful), and its latest correction, for many cases.
    pub async fn review_marks(&self, ids: &[i64]) -> Result<Vec<(i64, i64, i64, Option<String>)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT c.id,
               (SELECT COUNT(*) FROM feedback v WHERE v.case_id = c.id AND v.helpful = 1),
               (SELECT COUNT(*) FROM feedback v WHERE v.case_id = c.id AND v.helpful = 0),
               (SELECT k.category FROM corrections k WHERE k.case_id = c.id ORDER BY k.created_at DESC, k.id DESC LIMIT 1)
             FROM cases c WHERE c.id IN (",
        );
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push(")");
        let rows = q.build().fetch_all(&self.sqlite("the case browser")?.read).await.map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_quoted_words_so_nothing_in_it_is_search_syntax() {
        assert_eq!(fts_query("lost token").as_deref(), Some("text : \"lost\" AND text : \"token\""));
        assert_eq!(fts_query("OR \"x\" -y*").as_deref(), Some("text : \"OR\" AND text : \"x\" AND text : \"y\""));
        assert_eq!(fts_query("não").as_deref(), Some("text : \"não\""));
        assert_eq!(fts_query(" -- ** "), None);
        assert_eq!(fts_query_in("lost", Some("apptoken-lost")).as_deref(), Some("text : \"lost\" AND category : \"apptoken-lost\""));
    }

    #[test]
    fn outcomes_parse_statuses_and_suppression_reasons() {
        assert_eq!(Outcome::parse("failed"), Some(Outcome::Status(ReplyStatus::Failed)));
        assert_eq!(Outcome::parse("cooldown"), Some(Outcome::Suppressed(Suppression::Cooldown)));
        assert_eq!(Outcome::parse("later"), None);
    }
}
