//! Cases: insert (idempotent on source + source id), look up, and record reply delivery.

use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use rusqlite::OptionalExtension;
use sqlx::{Row, SqliteConnection};

use super::{Db, Store, StoreError};
use crate::diagnose::Finding;
use crate::language::Language;
use crate::respond::Suppression;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Discord,
    Ticket,
    Import,
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Discord => "discord",
            Source::Ticket => "ticket",
            Source::Import => "import",
            Source::Cli => "cli",
        }
    }

    /// `discord`, `ticket`, `import` or `cli`.
    pub fn from_name(s: &str) -> Option<Source> {
        [Source::Discord, Source::Ticket, Source::Import, Source::Cli].into_iter().find(|x| x.as_str() == s)
    }

    fn parse(s: &str) -> Source {
        Source::from_name(s).unwrap_or(Source::Cli)
    }
}

/// What an edit did to our reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyChange {
    /// Our reply now says this.
    Edited(String),
    /// Our reply was deleted: it no longer applied.
    Removed(Suppression),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    /// Decided to post; the adapter has not confirmed delivery yet.
    Pending,
    Sent,
    Failed,
    Suppressed,
}

impl ReplyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Pending => "pending",
            ReplyStatus::Sent => "sent",
            ReplyStatus::Failed => "failed",
            ReplyStatus::Suppressed => "suppressed",
        }
    }

    fn parse(s: &str) -> ReplyStatus {
        match s {
            "pending" => ReplyStatus::Pending,
            "sent" => ReplyStatus::Sent,
            "failed" => ReplyStatus::Failed,
            _ => ReplyStatus::Suppressed,
        }
    }
}

/// A case about to be stored. `text` must already be masked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NewCase {
    pub source: Source,
    pub source_id: String,
    pub guild_id: Option<String>,
    pub channel_id: Option<String>,
    pub thread_id: Option<String>,
    pub origin: Option<String>,
    pub author: Option<String>,
    pub account: Option<String>,
    pub received_at: i64,
    pub language: Language,
    pub category: String,
    pub confidence: f64,
    pub rules: Vec<String>,
    pub findings: Vec<Finding>,
    pub secrets_found: usize,
    pub escalate_to_sponsor: bool,
    pub recurring: bool,
    pub recurrence_escalation: bool,
    pub reply_text: Option<String>,
    pub reply_status: ReplyStatus,
    pub suppressed_reason: Option<Suppression>,
    pub text: String,
    /// On Discord, a message answered as part of a burst: the id of the burst's last message,
    /// whose case holds the answer.
    pub burst_of: Option<String>,
}

/// A stored case: what was inserted, plus its id and our reply's platform id. Serialises flat,
/// and reads through to the case's fields.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseRecord {
    pub id: i64,
    pub reply_ref: Option<String>,
    /// A helper who replied soon after our answer (`yield_to_humans`), and when.
    pub taken_over_by: Option<String>,
    pub taken_over_at: Option<i64>,
    #[serde(flatten)]
    pub case: NewCase,
}

impl std::ops::Deref for CaseRecord {
    type Target = NewCase;
    fn deref(&self) -> &NewCase {
        &self.case
    }
}

impl CaseRecord {
    /// The record as it is stored, built from what was just inserted.
    pub fn stored(id: i64, case: NewCase) -> CaseRecord {
        CaseRecord { id, reply_ref: None, taken_over_by: None, taken_over_at: None, case }
    }
}

pub(super) const COLUMNS: &str = "id, source, source_id, guild_id, channel_id, thread_id, origin, author, account, received_at, language, category, confidence, rules, findings, secrets_found, escalate_to_sponsor, recurring, recurrence_escalation, reply_text, reply_status, suppressed_reason, reply_ref, text, burst_of, taken_over_by, taken_over_at";

/// A case from a row of either backend (SQLite's 0/1 flags and PostgreSQL's booleans both
/// decode as `bool`).
pub(super) fn from_row<R>(row: &R) -> Result<CaseRecord, sqlx::Error>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let rules: String = row.try_get("rules")?;
    let findings: String = row.try_get("findings")?;
    let language: String = row.try_get("language")?;
    let reason: Option<String> = row.try_get("suppressed_reason")?;
    Ok(CaseRecord {
        id: row.try_get("id")?,
        reply_ref: row.try_get("reply_ref")?,
        taken_over_by: row.try_get("taken_over_by")?,
        taken_over_at: row.try_get("taken_over_at")?,
        case: NewCase {
            source: Source::parse(&row.try_get::<String, _>("source")?),
            source_id: row.try_get("source_id")?,
            guild_id: row.try_get("guild_id")?,
            channel_id: row.try_get("channel_id")?,
            thread_id: row.try_get("thread_id")?,
            origin: row.try_get("origin")?,
            author: row.try_get("author")?,
            account: row.try_get("account")?,
            received_at: row.try_get("received_at")?,
            language: language.parse().unwrap_or(Language::En),
            category: row.try_get("category")?,
            confidence: row.try_get("confidence")?,
            rules: serde_json::from_str(&rules).unwrap_or_default(),
            findings: serde_json::from_str(&findings).unwrap_or_default(),
            secrets_found: usize::try_from(row.try_get::<i64, _>("secrets_found")?).unwrap_or(0),
            escalate_to_sponsor: row.try_get("escalate_to_sponsor")?,
            recurring: row.try_get("recurring")?,
            recurrence_escalation: row.try_get("recurrence_escalation")?,
            reply_text: row.try_get("reply_text")?,
            reply_status: ReplyStatus::parse(&row.try_get::<String, _>("reply_status")?),
            suppressed_reason: reason.as_deref().and_then(Suppression::parse),
            text: row.try_get("text")?,
            burst_of: row.try_get("burst_of")?,
        },
    })
}

/// The id of the case stored for this source id, if any. On the writer connection, so it sees
/// cases inserted earlier in the same transaction.
pub(crate) fn stored_id(conn: &rusqlite::Connection, source: Source, source_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM cases WHERE source = ?1 AND source_id = ?2")?
        .query_row(rusqlite::params![source.as_str(), source_id], |r| r.get(0))
        .optional()
}

/// Source ids per look-up statement in [`stored_ids`]: the IN list probes the unique index once
/// per id, inside one statement run instead of one per message.
const LOOKUP_CHUNK: usize = 64;

static LOOKUP_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT source_id, id FROM cases WHERE source = ?1 AND source_id IN ({})", vec!["?"; LOOKUP_CHUNK].join(", "))
});

/// [`stored_id`] of each key, in order, in one statement per 64 ids of a source: how a checked
/// chunk (a group of live messages, a re-run import) asks which of its ids are stored.
pub(crate) fn stored_ids(conn: &rusqlite::Connection, keys: &[(Source, &str)]) -> rusqlite::Result<Vec<Option<i64>>> {
    let mut ids = vec![None; keys.len()];
    let mut by_source: HashMap<Source, Vec<usize>> = HashMap::new();
    for (i, (source, _)) in keys.iter().enumerate() {
        by_source.entry(*source).or_default().push(i);
    }
    for (source, at) in by_source {
        for part in at.chunks(LOOKUP_CHUNK) {
            if part.len() < LOOKUP_CHUNK {
                for &i in part {
                    ids[i] = stored_id(conn, source, keys[i].1)?;
                }
                continue;
            }
            let mut stmt = conn.prepare_cached(&LOOKUP_SQL)?;
            stmt.raw_bind_parameter(1, source.as_str())?;
            for (n, &i) in part.iter().enumerate() {
                stmt.raw_bind_parameter(n + 2, keys[i].1)?;
            }
            let mut found = HashMap::new();
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next()? {
                found.insert(row.get::<_, String>(0)?, row.get::<_, i64>(1)?);
            }
            for &i in part {
                ids[i] = found.get(keys[i].1).copied();
            }
        }
    }
    Ok(ids)
}

/// Cases per multi-row INSERT: the statement's set-up (a cursor on the table and on each index)
/// is paid once for all of them. 23 parameters a row stays far under SQLite's limit of 32,766.
pub(crate) const INSERT_CHUNK: usize = 64;

// `OR FAIL`: a failing row leaves the rows before it in place instead of undoing the whole
// statement, so SQLite keeps no statement journal (a copy of every page the statement is about
// to change; with the savepoint it stood in for, 6% of an import's writer work). Nothing is half-stored by it: every caller runs in
// a write transaction that rolls back on any error.
const INSERT_COLUMNS: &str =
    "INSERT OR FAIL INTO cases (source, source_id, guild_id, channel_id, thread_id, origin, author, account, received_at, \
    language, category, confidence, rules, findings, secrets_found, escalate_to_sponsor, recurring, recurrence_escalation, reply_text, \
    reply_status, suppressed_reason, text, burst_of) VALUES ";
const PER_ROW: usize = 23;

/// The two INSERT statements: a full chunk of rows, and one row for whatever is left over.
static INSERT_SQL: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
    let row = format!("({})", vec!["?"; PER_ROW].join(", "));
    let sql = |rows: usize| format!("{INSERT_COLUMNS}{} ON CONFLICT (source, source_id) DO NOTHING", vec![row.as_str(); rows].join(", "));
    [sql(INSERT_CHUNK), sql(1)]
});

/// Inserts cases and returns their ids, in order; `None` for a case whose source id was already
/// stored, which is left as it was. Source ids must not repeat within `cases`.
pub(crate) fn insert_many(conn: &rusqlite::Connection, cases: &[NewCase]) -> rusqlite::Result<Vec<Option<i64>>> {
    let mut ids = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(INSERT_CHUNK) {
        // Full chunks share one prepared statement, the rest go one row at a time through the
        // other: two statements in all, whatever the batch sizes.
        let (per_statement, sql) = if chunk.len() == INSERT_CHUNK { (INSERT_CHUNK, &INSERT_SQL[0]) } else { (1, &INSERT_SQL[1]) };
        for rows in chunk.chunks(per_statement) {
            let mut stmt = conn.prepare_cached(sql)?;
            for (i, c) in rows.iter().enumerate() {
                bind_case(&mut stmt, i * PER_ROW, c)?;
            }
            let inserted = stmt.raw_execute()?;
            ids.extend(new_ids(conn, rows, inserted)?);
        }
    }
    Ok(ids)
}

/// The ids of `rows`, just inserted by one statement that stored `inserted` of them.
///
/// SQLite gives a new row the largest id in the table plus one, so the rows of one statement
/// get consecutive ids, in order, ending at `last_insert_rowid`: asking for them back
/// (`RETURNING`) cost 8% of an import's writer time. When every row was inserted, the first id
/// is checked, so that a surprise (SQLite picks ids at random once the largest integer is
/// taken) costs look-ups, not wrong ids. When a row with a stored source id was skipped, each
/// id is looked up, and one older than the first new id was stored before: that rests on ids
/// still being handed out in order, and is not checked (a store that has used up the largest
/// integer would get wrong answers here).
fn new_ids(conn: &rusqlite::Connection, rows: &[NewCase], inserted: usize) -> rusqlite::Result<Vec<Option<i64>>> {
    let Some(head) = rows.first() else { return Ok(Vec::new()) };
    let first = conn.last_insert_rowid().saturating_sub(i64::try_from(inserted).unwrap_or(i64::MAX) - 1);
    let look_up = |c: &NewCase| stored_id(conn, c.source, &c.source_id);
    if inserted == rows.len() {
        if look_up(head)? == Some(first) {
            return Ok((first..).take(rows.len()).map(Some).collect());
        }
        return rows.iter().map(look_up).collect();
    }
    rows.iter().map(|c| Ok(look_up(c)?.filter(|id| inserted > 0 && *id >= first))).collect()
}

fn bind_case(stmt: &mut rusqlite::Statement<'_>, base: usize, c: &NewCase) -> rusqlite::Result<()> {
    let json = |v: Result<String, serde_json::Error>| v.map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)));
    let values: [&dyn rusqlite::ToSql; PER_ROW] = [
        &c.source.as_str(),
        &c.source_id,
        &c.guild_id,
        &c.channel_id,
        &c.thread_id,
        &c.origin,
        &c.author,
        &c.account,
        &c.received_at,
        &c.language.code(),
        &c.category,
        &c.confidence,
        &json(serde_json::to_string(&c.rules))?,
        &json(serde_json::to_string(&c.findings))?,
        &(c.secrets_found as i64),
        &c.escalate_to_sponsor,
        &c.recurring,
        &c.recurrence_escalation,
        &c.reply_text,
        &c.reply_status.as_str(),
        &c.suppressed_reason.map(Suppression::as_str),
        &c.text,
        &c.burst_of,
    ];
    for (i, v) in values.into_iter().enumerate() {
        stmt.raw_bind_parameter(base + i + 1, v)?;
    }
    Ok(())
}

pub async fn find_by_source(conn: &mut SqliteConnection, source: Source, source_id: &str) -> Result<Option<CaseRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM cases WHERE source = ?1 AND source_id = ?2"))
        .bind(source.as_str())
        .bind(source_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get_on(conn: &mut SqliteConnection, id: i64) -> Result<Option<CaseRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM cases WHERE id = ?1")).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(from_row).transpose()
}

impl Store {
    pub async fn case(&self, id: i64) -> Result<Option<CaseRecord>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.case(&self.path, id).await,
        };
        let mut conn = db.read.acquire().await.map_err(|e| self.err(e))?;
        get_on(&mut conn, id).await.map_err(|e| self.err(e))
    }

    pub async fn case_by_source(&self, source: Source, source_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.case_by_source(&self.path, source, source_id).await,
        };
        let mut conn = db.read.acquire().await.map_err(|e| self.err(e))?;
        find_by_source(&mut conn, source, source_id).await.map_err(|e| self.err(e))
    }

    /// The case our reply (a platform message id) answered, for feedback by reaction.
    pub async fn case_by_reply_ref(&self, reply_ref: &str) -> Result<Option<i64>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.case_by_reply_ref(&self.path, reply_ref).await,
        };
        let row = sqlx::query("SELECT id FROM cases WHERE reply_ref = ?1")
            .bind(reply_ref)
            .fetch_optional(&db.read)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get::<i64, _>(0)))
    }

    /// Records how delivery of a reply went.
    pub async fn set_reply_status(&self, id: i64, status: ReplyStatus, reply_ref: Option<&str>) -> Result<(), StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.set_reply_status(&self.path, id, status, reply_ref).await,
        };
        sqlx::query("UPDATE cases SET reply_status = ?2, reply_ref = COALESCE(?3, reply_ref) WHERE id = ?1")
            .bind(id)
            .bind(status.as_str())
            .bind(reply_ref)
            .execute(&db.write)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A message was edited: the case takes the new masked text and classification, and the
    /// change to our reply, if any.
    pub async fn update_after_edit(
        &self,
        id: i64,
        c: &crate::classify::Classification,
        reply: Option<ReplyChange>,
    ) -> Result<(), StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.update_after_edit(&self.path, id, c, reply).await,
        };
        let rules = serde_json::to_string(&c.rules).unwrap_or_else(|_| "[]".into());
        let findings = serde_json::to_string(&c.findings).unwrap_or_else(|_| "[]".into());
        let (reply_text, status, reason) = match &reply {
            Some(ReplyChange::Edited(text)) => (Some(text.as_str()), Some(ReplyStatus::Sent.as_str()), None),
            Some(ReplyChange::Removed(why)) => (None, Some(ReplyStatus::Suppressed.as_str()), Some(why.as_str())),
            None => (None, None, None),
        };
        sqlx::query(
            "UPDATE cases SET text = ?2, secrets_found = ?3, category = ?4, confidence = ?5, rules = ?6, findings = ?7,
               escalate_to_sponsor = ?8, language = ?9,
               reply_text = COALESCE(?10, reply_text), reply_status = COALESCE(?11, reply_status),
               suppressed_reason = CASE WHEN ?11 IS NULL THEN suppressed_reason ELSE ?12 END
             WHERE id = ?1",
        )
        .bind(id)
        .bind(&c.masked_text)
        .bind(c.secrets_found as i64)
        .bind(c.category_id())
        .bind(c.confidence)
        .bind(rules)
        .bind(findings)
        .bind(c.escalate_to_sponsor)
        .bind(c.language.code())
        .bind(reply_text)
        .bind(status)
        .bind(reason)
        .execute(&db.write)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The case a Discord message belongs to, as the one that holds the answer: the message's
    /// own case, or the case our reply (that message) answered; for an earlier message of a
    /// burst, the burst's last message's case.
    pub async fn case_for_discord_message(&self, message_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.case_for_discord_message(&self.path, message_id).await,
        };
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cases WHERE source = 'discord' AND source_id = ?1
             UNION ALL SELECT {COLUMNS} FROM cases WHERE reply_ref = ?1 LIMIT 1"
        ))
        .bind(message_id)
        .fetch_optional(&db.read)
        .await
        .map_err(|e| self.err(e))?;
        let case = row.as_ref().map(from_row).transpose().map_err(|e| self.err(e))?;
        match case.as_ref().and_then(|c| c.burst_of.as_deref()) {
            Some(last) => self.case_by_source(Source::Discord, last).await,
            None => Ok(case),
        }
    }

    /// The latest case of a thread that we answered.
    pub async fn answered_case_in_thread(&self, thread_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.answered_case_in_thread(&self.path, thread_id).await,
        };
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cases WHERE thread_id = ?1 AND reply_status = 'sent' ORDER BY received_at DESC, id DESC LIMIT 1"
        ))
        .bind(thread_id)
        .fetch_optional(&db.read)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref().map(from_row).transpose().map_err(|e| self.err(e))
    }

    /// A person took over a case we answered: kept once, for the first helper. Whether this
    /// call recorded it.
    pub async fn record_takeover(&self, id: i64, by: &str, at: i64) -> Result<bool, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.record_takeover(&self.path, id, by, at).await,
        };
        let done = sqlx::query(
            "UPDATE cases SET taken_over_by = ?2, taken_over_at = ?3 WHERE id = ?1 AND taken_over_at IS NULL AND reply_status = 'sent'",
        )
        .bind(id)
        .bind(by)
        .bind(at)
        .execute(&db.write)
        .await
        .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// A thread was started from a message: that message's case is the thread's first.
    pub async fn join_thread(&self, thread_id: &str) -> Result<(), StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.join_thread(&self.path, thread_id).await,
        };
        sqlx::query("UPDATE cases SET thread_id = ?1 WHERE source = 'discord' AND source_id = ?1 AND thread_id IS NULL")
            .bind(thread_id)
            .execute(&db.write)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub async fn count_cases(&self) -> Result<i64, StoreError> {
        let db = match &self.db {
            Db::Sqlite(db) => db,
            Db::Postgres(pg) => return pg.count_cases(&self.path).await,
        };
        let row = sqlx::query("SELECT COUNT(*) FROM cases").fetch_one(&db.read).await.map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with the real schema, as the migrations make it.
    fn schema() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<_> = std::fs::read_dir(dir).expect("the migrations").map(|e| e.expect("a migration").path()).collect();
        files.sort();
        for f in files {
            conn.execute_batch(&std::fs::read_to_string(&f).expect("a readable migration")).expect("a migration that runs");
        }
        conn
    }

    fn case(i: usize) -> NewCase {
        NewCase {
            source: Source::Import,
            source_id: format!("n-{i}"),
            guild_id: None,
            channel_id: None,
            thread_id: None,
            origin: None,
            author: Some(format!("author-{}", i % 3)),
            account: None,
            received_at: 1_700_000_000 + i as i64,
            language: Language::En,
            category: "none".into(),
            confidence: 1.0,
            rules: Vec::new(),
            findings: Vec::new(),
            secrets_found: 0,
            escalate_to_sponsor: false,
            recurring: false,
            recurrence_escalation: false,
            reply_text: None,
            reply_status: ReplyStatus::Suppressed,
            suppressed_reason: None,
            text: format!("message {i}"),
            burst_of: None,
        }
    }

    /// What `insert_many` said of each case must be what the table says.
    fn assert_ids_match_the_table(conn: &rusqlite::Connection, cases: &[NewCase], ids: &[Option<i64>], stored_before: &[usize]) {
        assert_eq!(ids.len(), cases.len());
        for (i, (c, id)) in cases.iter().zip(ids).enumerate() {
            let in_table = stored_id(conn, c.source, &c.source_id).expect("a look-up");
            if stored_before.contains(&i) {
                assert_eq!(*id, None, "{} was stored before", c.source_id);
            } else {
                assert!(id.is_some(), "{} is new", c.source_id);
                assert_eq!(*id, in_table, "{}", c.source_id);
            }
        }
    }

    #[test]
    fn a_full_chunk_and_the_rows_after_it_get_the_ids_the_table_gave_them() {
        let conn = schema();
        let cases: Vec<_> = (0..INSERT_CHUNK + 5).map(case).collect();
        let ids = insert_many(&conn, &cases).expect("an insert");
        assert_ids_match_the_table(&conn, &cases, &ids, &[]);
    }

    #[test]
    fn cases_whose_source_id_is_stored_get_no_id_and_the_others_their_own() {
        let conn = schema();
        let cases: Vec<_> = (0..INSERT_CHUNK).map(case).collect();
        insert_many(&conn, &[cases[3].clone(), cases[40].clone()]).expect("a first insert");
        let ids = insert_many(&conn, &cases).expect("an insert");
        assert_ids_match_the_table(&conn, &cases, &ids, &[3, 40]);
    }

    #[test]
    fn ids_stay_right_once_the_largest_id_is_taken_and_sqlite_picks_them_at_random() {
        let conn = schema();
        insert_many(&conn, &[case(0)]).expect("a first insert");
        conn.execute("UPDATE cases SET id = 9223372036854775807", []).expect("the largest id");
        let cases: Vec<_> = (1..=INSERT_CHUNK).map(case).collect();
        let ids = insert_many(&conn, &cases).expect("an insert");
        assert_ids_match_the_table(&conn, &cases, &ids, &[]);
    }

    #[test]
    fn a_chunk_of_source_ids_is_looked_up_in_order_with_the_stored_ones_found() {
        let conn = schema();
        let stored: Vec<_> = (0..200).step_by(3).map(case).collect();
        insert_many(&conn, &stored).expect("an insert");
        let wanted: Vec<String> = (0..200).rev().map(|i| format!("n-{i}")).collect();
        let keys: Vec<(Source, &str)> = wanted.iter().map(|id| (Source::Import, id.as_str())).collect();
        let found = stored_ids(&conn, &keys).expect("a look-up");
        for ((_, id), got) in keys.iter().zip(found) {
            assert_eq!(got, stored_id(&conn, Source::Import, id).expect("a look-up"), "{id}");
        }
    }
}
