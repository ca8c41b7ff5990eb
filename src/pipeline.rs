//! The one pipeline every adapter (Discord, HTTP tickets, bulk import, CLI) goes through:
//! message -> redact -> classify -> store -> reply decision.
//!
//! Classification is pure and runs outside any transaction; the history lookup, the decision
//! and the insert run in one transaction on the single writer connection, so a re-delivered
//! message is seen as a duplicate however the deliveries interleave.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::classify::{Classification, Classifier};
use crate::language::Language;
use crate::respond::{self, Channel, Decision, History, Policy, Suppression};
use crate::store::history::HistoryQuery;
use crate::store::{self, CaseRecord, NewCase, ReplyStatus, Source, Store, StoreError};

/// A message as an adapter hands it over.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub source: Source,
    pub source_id: String,
    pub guild_id: Option<String>,
    pub channel_id: Option<String>,
    pub thread_id: Option<String>,
    pub origin: Option<String>,
    pub author: Option<String>,
    pub account: Option<String>,
    /// Unix seconds; `None` means now.
    pub received_at: Option<i64>,
    pub text: String,
    /// Answer in this language (a ticket's declared language) instead of the detected one.
    pub reply_language: Option<Language>,
}

impl Incoming {
    pub fn new(source: Source, source_id: impl Into<String>, text: impl Into<String>) -> Incoming {
        Incoming {
            source,
            source_id: source_id.into(),
            guild_id: None,
            channel_id: None,
            thread_id: None,
            origin: None,
            author: None,
            account: None,
            received_at: None,
            text: text.into(),
            reply_language: None,
        }
    }
}

/// How the adapter delivers the reply, which decides the stored reply status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The adapter posts it and then reports `sent` or `failed` (Discord).
    Post,
    /// The reply travels back in the response (ticket webhook): sent once stored.
    Return,
    /// Never posted (backlog import).
    Never,
}

#[derive(Debug, Clone)]
pub struct Handled {
    pub case: CaseRecord,
    /// The source id was seen before; `case` is the first delivery's, nothing new was stored.
    pub duplicate: bool,
    /// The fresh decision; `None` for duplicates, whose decision is in `case`.
    pub decision: Option<Decision>,
}

#[derive(Clone)]
pub struct Pipeline {
    classifier: Arc<Classifier>,
    store: Store,
    policy: Policy,
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Pipeline {
    pub fn new(classifier: Arc<Classifier>, store: Store, policy: Policy) -> Pipeline {
        Pipeline { classifier, store, policy }
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Pure: masks and classifies. Adapters that must act on a leak before storing (Discord
    /// deletes the message) call this first, then [`Pipeline::record`].
    pub fn analyse(&self, text: &str) -> Classification {
        self.classifier.classify(text)
    }

    /// The whole pipeline for one message.
    pub async fn handle(&self, msg: Incoming, channel: &Channel, delivery: Delivery) -> Result<Handled, StoreError> {
        let c = self.analyse(&msg.text);
        self.record(msg, c, channel, delivery).await
    }

    /// Stores a classified message and decides the reply, idempotently on its source id.
    pub async fn record(&self, msg: Incoming, c: Classification, channel: &Channel, delivery: Delivery) -> Result<Handled, StoreError> {
        let (source, source_id) = (msg.source, msg.source_id.clone());
        let mut tx = self.store.begin().await?;
        let result = async {
            let mut handled = self.record_on(&mut tx, vec![(msg, c)], channel, delivery).await?;
            match handled.pop() {
                Some(h) => Ok(h),
                // A duplicate: answer with the first delivery's case.
                None => {
                    let case = store::cases::find_by_source(&mut tx, source, &source_id).await?.ok_or(sqlx::Error::RowNotFound)?;
                    Ok(Handled { case, duplicate: true, decision: None })
                }
            }
        }
        .await
        .map_err(|e: sqlx::Error| self.store.err(e))?;
        tx.commit().await.map_err(|e| self.store.err(e))?;
        Ok(result)
    }

    /// Stores many classified messages in one transaction (bulk import). Duplicates, in the
    /// store or within the batch, are skipped and counted.
    pub async fn record_batch(&self, items: Vec<(Incoming, Classification)>, delivery: Delivery) -> Result<BatchOutcome, StoreError> {
        let total = items.len() as u64;
        let channel = Channel { now: now(), ..Channel::default() };
        let mut tx = self.store.begin().await?;
        let handled = self.record_on(&mut tx, items, &channel, delivery).await.map_err(|e| self.store.err(e))?;
        tx.commit().await.map_err(|e| self.store.err(e))?;
        let inserted = handled.len() as u64;
        Ok(BatchOutcome { inserted, duplicates: total - inserted, secrets_masked: handled.iter().map(|h| h.case.secrets_found as u64).sum() })
    }

    /// The shared core of `record` and `record_batch`: returns the newly stored cases, in input
    /// order. Duplicates are left out.
    async fn record_on(
        &self,
        conn: &mut sqlx::SqliteConnection,
        items: Vec<(Incoming, Classification)>,
        channel: &Channel,
        delivery: Delivery,
    ) -> Result<Vec<Handled>, sqlx::Error> {
        // Drop ids seen earlier in this batch or already stored.
        let source = match items.first() {
            Some((m, _)) => m.source,
            None => return Ok(Vec::new()),
        };
        let ids: Vec<&str> = items.iter().map(|(m, _)| m.source_id.as_str()).collect();
        let stored = store::cases::existing(conn, source, &ids).await?;
        let mut seen = HashSet::with_capacity(items.len());
        let fresh: Vec<(Incoming, Classification)> = items
            .into_iter()
            .filter(|(m, _)| m.source == source && !stored.contains(&m.source_id) && seen.insert(m.source_id.clone()))
            .collect();

        let times: Vec<i64> = fresh.iter().map(|(m, _)| m.received_at.unwrap_or(channel.now)).collect();
        let queries: Vec<HistoryQuery> = fresh
            .iter()
            .zip(&times)
            .filter_map(|((m, c), t)| {
                c.category.as_deref().map(|category| HistoryQuery { author: m.author.as_deref(), account: m.account.as_deref(), category, at: *t })
            })
            .collect();
        let window = self.policy.recurrence_window_secs;
        let mut stored_history = store::history::histories(conn, &queries, window).await?.into_iter();

        let mut new_cases = Vec::with_capacity(fresh.len());
        let mut decisions = Vec::with_capacity(fresh.len());
        for (i, (msg, c)) in fresh.into_iter().enumerate() {
            let at = times[i];
            let history = match c.category.as_deref() {
                Some(category) => {
                    let mut h = stored_history.next().unwrap_or_default();
                    add_batch_history(&mut h, &new_cases, &msg, category, at, window);
                    h
                }
                None => History::default(),
            };
            let mut policy = self.policy.clone();
            policy.reply_language = msg.reply_language.or(policy.reply_language);
            let msg_channel = Channel { now: at, ..channel.clone() };
            let mut decision = respond::decide(self.classifier.pack(), &c, &history, &policy, &msg_channel);
            if delivery == Delivery::Never {
                // A backlog is history: nothing is posted, and storing a would-be reply for
                // every imported case would only bloat the database.
                if decision.suppressed.is_none() {
                    decision.suppressed = Some(Suppression::Backlog);
                }
                decision.mention_staff = false;
                decision.text = None;
            }
            new_cases.push(new_case(msg, c, at, &decision, delivery));
            decisions.push(decision);
        }
        let ids: HashMap<String, i64> = store::cases::insert_many(conn, &new_cases).await?.into_iter().collect();
        let mut out = Vec::with_capacity(new_cases.len());
        for (case, decision) in new_cases.into_iter().zip(decisions) {
            // Every row was checked absent on this connection inside this transaction, so each
            // has an id; a missing one means a concurrent writer, and that case is its answer.
            if let Some(id) = ids.get(&case.source_id) {
                out.push(Handled { case: CaseRecord::stored(*id, case), duplicate: false, decision: Some(decision) });
            }
        }
        Ok(out)
    }
}

/// Adds what earlier messages of the same batch (not yet stored) say about this one.
fn add_batch_history(h: &mut History, earlier: &[NewCase], msg: &Incoming, category: &str, at: i64, window: i64) {
    let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
    for e in earlier.iter().filter(|e| e.category == category && e.received_at <= at) {
        if !(same(&e.author, &msg.author) || same(&e.account, &msg.account)) {
            continue;
        }
        if e.received_at > at - window {
            h.prior_cases += 1;
        }
        let replied = matches!(e.reply_status, ReplyStatus::Sent | ReplyStatus::Pending);
        if replied && h.last_reply_at.is_none_or(|last| e.received_at >= last) {
            h.last_reply_at = Some(e.received_at);
            h.last_reply_escalated = e.recurrence_escalation;
        }
    }
}

fn new_case(msg: Incoming, c: Classification, received_at: i64, decision: &Decision, delivery: Delivery) -> NewCase {
    let reply_status = match (decision.posts(), delivery) {
        (false, _) => ReplyStatus::Suppressed,
        (true, Delivery::Post) => ReplyStatus::Pending,
        (true, _) => ReplyStatus::Sent,
    };
    NewCase {
        source: msg.source,
        source_id: msg.source_id,
        guild_id: msg.guild_id,
        channel_id: msg.channel_id,
        thread_id: msg.thread_id,
        origin: msg.origin,
        author: msg.author,
        account: msg.account,
        received_at,
        language: c.language,
        category: c.category_id().to_string(),
        confidence: c.confidence,
        rules: c.rules,
        findings: c.findings,
        secrets_found: c.secrets_found,
        escalate_to_sponsor: c.escalate_to_sponsor,
        recurring: decision.recurring,
        recurrence_escalation: decision.recurrence_escalation && decision.posts(),
        reply_text: decision.text.clone(),
        reply_status,
        suppressed_reason: decision.suppressed,
        text: c.masked_text,
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub inserted: u64,
    pub duplicates: u64,
    pub secrets_masked: u64,
}
