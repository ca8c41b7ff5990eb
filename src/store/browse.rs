//! The case browser's queries: cases filtered and listed newest first, a page at a time.
//!
//! Pages are keyset pages: a page ends with the id to continue `before`, so page 1,000 costs what
//! page 1 costs, and cases stored meanwhile never shift a page. Free text is searched in the
//! FTS5 index of the masked text (`migrations/0007`), so a secret's original text is never found.

use sqlx::{Postgres, QueryBuilder, Row, Sqlite};

use super::cases::{from_row, COLUMNS};
use super::{CaseRecord, Db, ReplyStatus, Source, Store, StoreError};
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
    let words: Vec<String> = search_words(text).map(|w| format!("text : \"{}\"", w.replace('"', "\"\""))).collect();
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

/// The WHERE terms of a filter, after a first term, on table alias `c`, for either backend:
/// `yes` and `no` are its flag literals (SQLite's `1` and `0`, PostgreSQL's `TRUE` and
/// `FALSE`), written as literals so that SQLite's partial indexes on flags apply.
fn push_filter<'a, DB>(q: &mut QueryBuilder<'a, DB>, f: &CaseFilter, [yes, no]: [&str; 2])
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'static str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
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
            q.push(format!(" AND EXISTS (SELECT 1 FROM feedback v WHERE v.case_id = c.id AND v.helpful = {yes})"));
        }
        Some(Vote::NotHelpful) => {
            q.push(format!(" AND EXISTS (SELECT 1 FROM feedback v WHERE v.case_id = c.id AND v.helpful = {no})"));
        }
        Some(Vote::Any) => {
            q.push(" AND EXISTS (SELECT 1 FROM feedback v WHERE v.case_id = c.id)");
        }
        None => {}
    }
    match f.recurring {
        // A literal, so that the partial index of recurring cases applies.
        Some(true) => {
            q.push(format!(" AND c.recurring = {yes}"));
        }
        Some(false) => {
            q.push(format!(" AND c.recurring = {no}"));
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
        let e = |e| self.err(e);
        let mut cases = match &self.db {
            Db::Sqlite(db) => {
                let text = filter.text.as_deref().and_then(|t| fts_query_in(t, filter.category.as_deref()));
                let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {} FROM ", prefixed("c")));
                // With words to find, the index of the masked text leads, newest first, and
                // each hit is checked against the other filters until the page is full.
                let id = if let Some(text) = text {
                    q.push("cases_fts JOIN cases c ON c.id = cases_fts.rowid WHERE cases_fts MATCH ").push_bind(text);
                    "cases_fts.rowid"
                } else {
                    q.push("cases c WHERE 1 = 1");
                    "c.id"
                };
                push_filter(&mut q, filter, ["1", "0"]);
                page_end(&mut q, id, before, limit);
                q.build().fetch_all(&db.read).await.map_err(e)?.iter().map(from_row).collect::<Result<Vec<_>, _>>()
            }
            Db::Postgres(pg) => {
                let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {} FROM cases c WHERE 1 = 1", prefixed("c")));
                // Every word, as a whole word of the masked text in any case. There is no index
                // of the text here: one would halve the speed of every insert, and a search
                // reads cases newest first only until its page is full (about 0.5 s per 200,000
                // cases read for a word found nowhere).
                for word in search_words(filter.text.as_deref().unwrap_or("")) {
                    q.push(" AND c.text ~* ").push_bind(format!("\\m{word}\\M"));
                }
                push_filter(&mut q, filter, ["TRUE", "FALSE"]);
                page_end(&mut q, "c.id", before, limit);
                q.build().fetch_all(&pg.pool).await.map_err(e)?.iter().map(from_row).collect::<Result<Vec<_>, _>>()
            }
        }
        .map_err(e)?;
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
        // The ids are numbers from our own pages: written into the statement, they need no
        // list-binding syntax, which the two backends do not share.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT c.id,
               (SELECT COUNT(*) FROM feedback v WHERE v.case_id = c.id AND v.helpful),
               (SELECT COUNT(*) FROM feedback v WHERE v.case_id = c.id AND NOT v.helpful),
               (SELECT k.category FROM corrections k WHERE k.case_id = c.id ORDER BY k.created_at DESC, k.id DESC LIMIT 1)
             FROM cases c WHERE c.id IN ({list})"
        );
        self.select(&sql, &[], marks_from_row, marks_from_row).await
    }
}

/// The end of a page query: ids below `before`, newest first, one more than the page so that
/// the caller knows whether another page follows.
fn page_end<'a, DB>(q: &mut QueryBuilder<'a, DB>, id: &str, before: Option<i64>, limit: u32)
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(before) = before {
        q.push(format!(" AND {id} < ")).push_bind(before);
    }
    q.push(format!(" ORDER BY {id} DESC LIMIT ")).push_bind(i64::from(limit) + 1);
}

/// The words of a free-text filter, on either backend: runs of letters and digits (at most 16),
/// which need no escaping in a regular expression.
fn search_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(16)
}

fn marks_from_row<R>(r: &R) -> Result<(i64, i64, i64, Option<String>), sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
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
    fn postgres_search_words_are_letters_and_digits_only_so_they_are_plain_in_a_regex() {
        assert_eq!(search_words("sticky-note (a.*b) não 42").collect::<Vec<_>>(), ["sticky", "note", "a", "b", "não", "42"]);
        assert_eq!(search_words(" .* ").count(), 0);
    }

    #[test]
    fn outcomes_parse_statuses_and_suppression_reasons() {
        assert_eq!(Outcome::parse("failed"), Some(Outcome::Status(ReplyStatus::Failed)));
        assert_eq!(Outcome::parse("cooldown"), Some(Outcome::Suppressed(Suppression::Cooldown)));
        assert_eq!(Outcome::parse("later"), None);
    }
}
