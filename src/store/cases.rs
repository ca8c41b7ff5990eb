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

/// Cases per multi-row INSERT: the statement's set-up (a cursor on the table and on each index)
/// is paid once for all of them. 23 parameters a row stays far under SQLite's limit of 32,766.
pub(crate) const INSERT_CHUNK: usize = 64;

const INSERT_COLUMNS: &str =
    "INSERT INTO cases (source, source_id, guild_id, channel_id, thread_id, origin, author, account, received_at, \
    language, category, confidence, rules, findings, secrets_found, escalate_to_sponsor, recurring, recurrence_escalation, reply_text, \
    reply_status, suppressed_reason, text, burst_of) VALUES ";
const PER_ROW: usize = 23;

/// The two INSERT statements: a full chunk of rows, and one row for whatever is left over.
static INSERT_SQL: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
    let row = format!("({})", vec!["?"; PER_ROW].join(", "));
    let sql = |rows: usize| {
        format!(
            "{INSERT_COLUMNS}{} ON CONFLICT (source, source_id) DO NOTHING RETURNING source_id, id",
            vec![row.as_str(); rows].join(", ")
        )
    };
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
            // RETURNING gives no order; pair the ids back up by source id (unique in `rows`).
            let mut returned = HashMap::with_capacity(rows.len());
            let mut out = stmt.raw_query();
            while let Some(row) = out.next()? {
                returned.insert(row.get::<_, String>(0)?, row.get::<_, i64>(1)?);
            }
            for c in rows {
                ids.push(returned.get(&c.source_id).copied());
            }
        }
    }
    Ok(ids)
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
