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

/// One message on its way into the store.
#[derive(Debug, Clone)]
pub struct Job {
    pub msg: Incoming,
    pub classification: Classification,
    pub channel: Channel,
    pub delivery: Delivery,
}

type Reply = tokio::sync::oneshot::Sender<Result<Handled, StoreError>>;

/// Most messages one group commit takes.
const GROUP_COMMIT: usize = 512;

#[derive(Clone)]
pub struct Pipeline {
    classifier: Arc<Classifier>,
    store: Store,
    policy: Policy,
    /// Single messages (tickets, Discord) go to one writer task that commits whatever is
    /// queued together: one transaction per burst instead of one per message.
    writer: tokio::sync::mpsc::Sender<(Job, Reply)>,
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Pipeline {
    /// Must be called inside a Tokio runtime: it starts the writer task.
    pub fn new(classifier: Arc<Classifier>, store: Store, policy: Policy) -> Pipeline {
        let (writer, rx) = tokio::sync::mpsc::channel(4 * GROUP_COMMIT);
        let core = Core { classifier: classifier.clone(), store: store.clone(), policy: policy.clone() };
        tokio::spawn(core.write_loop(rx));
        Pipeline { classifier, store, policy, writer }
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job { msg, classification: c, channel: channel.clone(), delivery };
        let gone = || StoreError::Query { path: self.store.path().to_string(), reason: "the database writer has stopped".into() };
        self.writer.send((job, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Stores many classified messages in one transaction (bulk import). Duplicates, in the
    /// store or within the batch, are skipped and counted.
    pub async fn record_batch(&self, items: Vec<(Incoming, Classification)>, delivery: Delivery) -> Result<BatchOutcome, StoreError> {
        let total = items.len() as u64;
        let channel = Channel { now: now(), ..Channel::default() };
        let jobs = items.into_iter().map(|(msg, classification)| Job { msg, classification, channel: channel.clone(), delivery }).collect();
        let core = Core { classifier: self.classifier.clone(), store: self.store.clone(), policy: self.policy.clone() };
        let mut tx = self.store.begin().await?;
        let handled = core.record_on(&mut tx, jobs).await.map_err(|e| self.store.err(e))?;
        tx.commit().await.map_err(|e| self.store.err(e))?;
        let fresh: Vec<&Handled> = handled.iter().flatten().collect();
        Ok(BatchOutcome {
            inserted: fresh.len() as u64,
            duplicates: total - fresh.len() as u64,
            secrets_masked: fresh.iter().map(|h| h.case.secrets_found as u64).sum(),
        })
    }
}

/// What the writer task and batch imports share.
struct Core {
    classifier: Arc<Classifier>,
    store: Store,
    policy: Policy,
}

impl Core {
    async fn write_loop(self, mut rx: tokio::sync::mpsc::Receiver<(Job, Reply)>) {
        let mut buf = Vec::with_capacity(GROUP_COMMIT);
        while rx.recv_many(&mut buf, GROUP_COMMIT).await > 0 {
            let (jobs, replies): (Vec<Job>, Vec<Reply>) = std::mem::take(&mut buf).into_iter().unzip();
            let keys: Vec<(Source, String)> = jobs.iter().map(|j| (j.msg.source, j.msg.source_id.clone())).collect();
            match self.commit_group(jobs, &keys).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// One transaction for a group; duplicates answer with the stored (first) case.
    async fn commit_group(&self, jobs: Vec<Job>, keys: &[(Source, String)]) -> Result<Vec<Handled>, StoreError> {
        let err = |e| self.store.err(e);
        let mut tx = self.store.begin().await?;
        let handled = self.record_on(&mut tx, jobs).await.map_err(err)?;
        let mut out = Vec::with_capacity(handled.len());
        for (h, (source, id)) in handled.into_iter().zip(keys) {
            match h {
                Some(h) => out.push(h),
                None => {
                    let case = store::cases::find_by_source(&mut tx, *source, id)
                        .await
                        .map_err(err)?
                        .ok_or(sqlx::Error::RowNotFound)
                        .map_err(err)?;
                    out.push(Handled { case, duplicate: true, decision: None });
                }
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(out)
    }

    /// The shared core of every write: stores the new messages and decides their replies.
    /// Returns one entry per job, in order: `None` for a duplicate (stored before, or earlier in
    /// the same group).
    async fn record_on(&self, conn: &mut sqlx::SqliteConnection, jobs: Vec<Job>) -> Result<Vec<Option<Handled>>, sqlx::Error> {
        let mut stored: HashSet<(Source, String)> = HashSet::new();
        for source in [Source::Discord, Source::Ticket, Source::Import, Source::Cli] {
            let ids: Vec<&str> = jobs.iter().filter(|j| j.msg.source == source).map(|j| j.msg.source_id.as_str()).collect();
            if !ids.is_empty() {
                stored.extend(store::cases::existing(conn, source, &ids).await?.into_iter().map(|id| (source, id)));
            }
        }
        let mut seen = HashSet::with_capacity(jobs.len());
        let fresh: Vec<bool> = jobs
            .iter()
            .map(|j| {
                let key = (j.msg.source, j.msg.source_id.clone());
                !stored.contains(&key) && seen.insert(key)
            })
            .collect();

        let times: Vec<i64> = jobs.iter().map(|j| j.msg.received_at.unwrap_or(j.channel.now)).collect();
        let queries: Vec<HistoryQuery> = jobs
            .iter()
            .zip(&times)
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .filter_map(|((j, t), _)| {
                j.classification.category.as_deref().map(|category| HistoryQuery {
                    author: j.msg.author.as_deref(),
                    account: j.msg.account.as_deref(),
                    category,
                    at: *t,
                })
            })
            .collect();
        let window = self.policy.recurrence_window_secs;
        let mut stored_history = store::history::histories(conn, &queries, window, self.policy.cooldown_secs).await?.into_iter();

        let mut new_cases: Vec<NewCase> = Vec::with_capacity(jobs.len());
        let mut decisions = Vec::with_capacity(jobs.len());
        let mut slots = Vec::with_capacity(jobs.len());
        for ((job, at), is_fresh) in jobs.into_iter().zip(times).zip(fresh) {
            if !is_fresh {
                slots.push(None);
                continue;
            }
            let Job { msg, classification: c, channel, delivery } = job;
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
            let msg_channel = Channel { now: at, ..channel };
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
            slots.push(Some(new_cases.len()));
            new_cases.push(new_case(msg, c, at, &decision, delivery));
            decisions.push(decision);
        }
        let ids: HashMap<(Source, String), i64> = store::cases::insert_many(conn, &new_cases).await?.into_iter().collect();
        let mut built: Vec<Option<Handled>> = new_cases
            .into_iter()
            .zip(decisions)
            .map(|(case, decision)| {
                // Every row was checked absent inside this transaction on the one writer
                // connection, so each has an id.
                ids.get(&(case.source, case.source_id.clone())).map(|id| Handled {
                    case: CaseRecord::stored(*id, case),
                    duplicate: false,
                    decision: Some(decision),
                })
            })
            .collect();
        Ok(slots.into_iter().map(|slot| slot.and_then(|i| built[i].take())).collect())
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
