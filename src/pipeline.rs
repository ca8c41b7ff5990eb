//! The one pipeline every adapter (Discord, HTTP tickets, bulk import, CLI) goes through:
//! message -> redact -> classify -> store -> reply decision.
//!
//! Classification is pure and runs outside any transaction; the history lookup, the decision
//! and the insert run in one write transaction (see `store/write.rs` for how each backend keeps
//! concurrent writers apart), so a re-delivered message is seen as a duplicate however the
//! deliveries interleave, and on however many processes.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::classify::{Classification, Classifier};
use crate::language::Language;
use crate::respond::{self, Channel, Decision, History, Policy};
use crate::store::history::HistoryQuery;
use crate::store::write::CaseWriter;
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
    /// A helpdesk ticket: the reply goes to the outbox, to be posted through its API.
    pub ticket: Option<(crate::helpdesk::Helpdesk, String)>,
    /// A Discord message answered with a later one of the same burst: that one's id.
    pub burst_of: Option<String>,
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
            ticket: None,
            burst_of: None,
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
    core: Arc<Core>,
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
        let core = Arc::new(Core { classifier, store, policy });
        tokio::spawn(core.clone().write_loop(rx));
        Pipeline { core, writer }
    }

    pub fn classifier(&self) -> &Classifier {
        &self.core.classifier
    }

    pub fn store(&self) -> &Store {
        &self.core.store
    }

    pub fn policy(&self) -> &Policy {
        &self.core.policy
    }

    /// Pure: masks and classifies. Adapters that must act on a leak before storing (Discord
    /// deletes the message) call this first, then [`Pipeline::record`].
    pub fn analyse(&self, text: &str) -> Classification {
        self.core.classifier.classify(text)
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
        let gone = || StoreError::Query { path: self.store().path().to_string(), reason: "the database writer has stopped".into() };
        self.writer.send((job, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Stores many classified messages in one transaction (bulk import). Duplicates, in the
    /// store or within the batch, are skipped and counted.
    pub async fn record_batch(&self, items: Vec<(Incoming, Classification)>, delivery: Delivery) -> Result<BatchOutcome, StoreError> {
        let channel = Channel { now: now(), ..Channel::default() };
        let jobs: Vec<Job> =
            items.into_iter().map(|(msg, classification)| Job { msg, classification, channel: channel.clone(), delivery }).collect();
        let mut outcome = BatchOutcome::default();
        for written in self.core.write(jobs, true).await? {
            match written {
                Written::New(h) => {
                    outcome.inserted += 1;
                    outcome.secrets_masked += h.case.secrets_found as u64;
                }
                Written::Duplicate(_) => outcome.duplicates += 1,
            }
        }
        Ok(outcome)
    }
}

/// What one message did to the store.
enum Written {
    New(Box<Handled>),
    /// Its source id was stored before (or earlier in the same transaction), as this case.
    Duplicate(i64),
}

/// What the writer task and batch imports share.
struct Core {
    classifier: Arc<Classifier>,
    store: Store,
    policy: Policy,
}

impl Core {
    async fn write_loop(self: Arc<Self>, mut rx: tokio::sync::mpsc::Receiver<(Job, Reply)>) {
        let mut buf = Vec::with_capacity(GROUP_COMMIT);
        while rx.recv_many(&mut buf, GROUP_COMMIT).await > 0 {
            let (jobs, replies): (Vec<Job>, Vec<Reply>) = std::mem::take(&mut buf).into_iter().unzip();
            match self.commit_group(jobs).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
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
    async fn commit_group(self: &Arc<Self>, jobs: Vec<Job>) -> Result<Vec<Result<Handled, StoreError>>, StoreError> {
        let written = self.write(jobs, false).await?;
        let mut out = Vec::with_capacity(written.len());
        for w in written {
            out.push(match w {
                Written::New(h) => Ok(*h),
                Written::Duplicate(id) => match self.store.case(id).await {
                    Ok(Some(case)) => Ok(Handled { case, duplicate: true, decision: None }),
                    Ok(None) => Err(StoreError::Query { path: self.store.path().to_string(), reason: format!("case {id} is gone") }),
                    Err(e) => Err(e),
                },
            });
        }
        Ok(out)
    }

    /// One write transaction for `jobs`, taken before anything is read so that no other
    /// writer can slip in between the duplicate check and the insert. `expect_new`: see
    /// [`Core::record_all`].
    async fn write(self: &Arc<Self>, jobs: Vec<Job>, expect_new: bool) -> Result<Vec<Written>, StoreError> {
        let core = self.clone();
        self.store
            .write_cases(move |w| {
                if w.needs_locks() {
                    w.lock(&lock_keys(&jobs))?;
                }
                core.record_all(w, &jobs, expect_new)
            })
            .await
    }

    /// The shared core of every write, inside the caller's write transaction. A message whose
    /// source id is stored, or came earlier in `jobs`, is a duplicate; any other has its
    /// history looked up, its reply decided and its case inserted. Returns one entry per job.
    ///
    /// With `expect_new` (a bulk import), chunks skip the duplicate check and let the insert
    /// find stored source ids instead; a chunk where it finds any is undone and redone with
    /// checks, and checks stay on until a chunk has no duplicates. A first import then never
    /// pays for the check, and a re-run (all duplicates) redoes one chunk per batch.
    fn record_all(&self, w: &mut dyn CaseWriter, jobs: &[Job], expect_new: bool) -> Result<Vec<Written>, StoreError> {
        let mut written = Vec::with_capacity(jobs.len());
        let mut check = !expect_new;
        for chunk in jobs.chunks(w.chunk_size()) {
            if !check {
                w.begin_chunk()?;
                match self.record_chunk(w, chunk, false)? {
                    Chunk::Written(done) => {
                        w.end_chunk(None)?;
                        written.extend(done);
                        continue;
                    }
                    Chunk::MetStored { inserted } => w.end_chunk(Some(&inserted))?,
                }
            }
            let Chunk::Written(done) = self.record_chunk(w, chunk, true)? else {
                return Err(w.impossible("a checked chunk met a stored case"));
            };
            check = !expect_new || done.iter().any(|w| matches!(w, Written::Duplicate(_)));
            written.extend(done);
        }
        Ok(written)
    }

    /// Up to one multi-row INSERT's worth. Its cases are not in the store until the insert, so
    /// what earlier ones in the chunk say about later ones is added from memory.
    ///
    /// Without `check`, source ids are not looked up first. If the insert then finds one
    /// stored, the history of the chunk's later cases may have counted that case twice (once
    /// stored, once from memory), so this stops there, for the caller to undo the chunk.
    fn record_chunk(&self, w: &mut dyn CaseWriter, jobs: &[Job], check: bool) -> Result<Chunk, StoreError> {
        enum Slot {
            Stored(i64),
            /// The n-th new case of this chunk.
            New(usize),
            /// A repeat of the n-th new case of this chunk.
            Repeat(usize),
        }
        // What the store says, asked for the whole chunk at once (one round trip each on
        // PostgreSQL): which source ids are stored, then the history of every new message.
        let stored = if check {
            let keys: Vec<(Source, &str)> = jobs.iter().map(|j| (j.msg.source, j.msg.source_id.as_str())).collect();
            w.stored_ids(&keys)?
        } else {
            vec![None; jobs.len()]
        };
        let mut seen = std::collections::HashSet::with_capacity(jobs.len());
        let first_of_id: Vec<bool> =
            jobs.iter().zip(&stored).map(|(j, s)| s.is_none() && seen.insert((j.msg.source, j.msg.source_id.as_str()))).collect();
        let backlog = |d: &Delivery| *d == Delivery::Never;
        let at_of = |j: &Job| j.msg.received_at.unwrap_or(j.channel.now);
        // The history each message would need: only one with a category has any.
        let queries: Vec<Option<HistoryQuery<'_>>> = jobs
            .iter()
            .map(|j| {
                let category = j.classification.category.as_deref()?;
                Some(HistoryQuery { author: j.msg.author.as_deref(), account: j.msg.account.as_deref(), category, at: at_of(j) })
            })
            .collect();
        // A backlog is never answered, so when we last answered does not matter, and its
        // decision only records whether the case recurs, not how often. A chunk mixes the
        // two only in tests, so each kind gets its own look-up.
        let mut looked_up: Vec<Option<History>> = vec![None; jobs.len()];
        for kind_is_backlog in [true, false] {
            let wanted: Vec<usize> = (0..jobs.len())
                .filter(|&i| first_of_id[i] && backlog(&jobs[i].delivery) == kind_is_backlog && queries[i].is_some())
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let asked: Vec<HistoryQuery<'_>> = wanted.iter().filter_map(|&i| queries[i].clone()).collect();
            let cooldown = (!kind_is_backlog).then_some(self.policy.cooldown_secs);
            let count_up_to = if kind_is_backlog { 1 } else { store::history::PRIOR_CAP };
            let found = w.histories(&asked, self.policy.recurrence_window_secs, count_up_to, cooldown)?;
            if found.len() != wanted.len() {
                return Err(w.impossible("the history look-up answered for a different number of messages"));
            }
            for (i, h) in wanted.into_iter().zip(found) {
                looked_up[i] = Some(h);
            }
        }

        let mut slots = Vec::with_capacity(jobs.len());
        let mut fresh: Vec<NewCase> = Vec::with_capacity(jobs.len());
        let mut decisions = Vec::with_capacity(jobs.len());
        let mut tickets = Vec::with_capacity(jobs.len());
        for (i, Job { msg, classification: c, channel, delivery }) in jobs.iter().enumerate() {
            if let Some(id) = stored[i] {
                slots.push(Slot::Stored(id));
                continue;
            }
            if !first_of_id[i] {
                let n = fresh.iter().position(|f| f.source == msg.source && f.source_id == msg.source_id);
                slots.push(Slot::Repeat(n.ok_or_else(|| w.impossible("a repeated source id has no first case"))?));
                continue;
            }
            let mut channel = channel.clone();
            channel.backlog = backlog(delivery);
            let at = at_of(&jobs[i]);
            let history = match (&queries[i], looked_up[i].take()) {
                (Some(query), Some(mut h)) => {
                    let category = query.category;
                    add_chunk_history(&mut h, &fresh, query, self.policy.recurrence_window_secs);
                    // A later message of a ticket or a thread is a follow-up, not a new question.
                    if let Some(thread) = msg.thread_id.as_deref() {
                        let replied = |e: &&NewCase| matches!(e.reply_status, ReplyStatus::Sent | ReplyStatus::Pending);
                        h.answered_in_thread =
                            fresh.iter().filter(replied).any(|e| e.thread_id.as_deref() == Some(thread) && e.category == category)
                                || w.answered_in_thread(thread, category)?;
                    }
                    h
                }
                _ => History::default(),
            };
            let mut policy = self.policy.clone();
            policy.reply_language = msg.reply_language.or(policy.reply_language);
            channel.now = at;
            let decision = respond::decide(self.classifier.pack(), c, &history, &policy, &channel);
            slots.push(Slot::New(fresh.len()));
            fresh.push(new_case(msg, c, at, &decision, *delivery));
            tickets.push(match (&msg.ticket, &decision.text) {
                (Some((helpdesk, ticket_id)), Some(body)) if decision.posts() => Some(store::outbox::NewDelivery {
                    helpdesk: *helpdesk,
                    ticket_id: ticket_id.clone(),
                    public: decision.public,
                    body: body.clone(),
                    tags: decision.tags.clone(),
                }),
                _ => None,
            });
            decisions.push(decision);
        }
        let inserted = w.insert_cases(&fresh)?;
        if !check && inserted.contains(&None) {
            return Ok(Chunk::MetStored { inserted: inserted.into_iter().flatten().collect() });
        }
        let mut ids = Vec::with_capacity(fresh.len());
        for (case, id) in fresh.iter().zip(inserted) {
            match id {
                Some(id) => ids.push(id),
                None => return Err(w.impossible(&format!("case {} appeared between its duplicate check and its insert", case.source_id))),
            }
        }
        // The reply is on its way from the moment the case is: same transaction.
        let now_ms = crate::helpdesk::outbox::now_ms();
        for (id, ticket) in ids.iter().zip(&tickets) {
            if let Some(delivery) = ticket {
                w.insert_delivery(*id, delivery, now_ms)?;
            }
        }
        let mut handled: Vec<Option<Handled>> = fresh
            .into_iter()
            .zip(&ids)
            .zip(decisions)
            .map(|((case, id), decision)| Some(Handled { case: CaseRecord::stored(*id, case), duplicate: false, decision: Some(decision) }))
            .collect();
        let mut written = Vec::with_capacity(slots.len());
        for slot in slots {
            written.push(match slot {
                Slot::Stored(id) => Written::Duplicate(id),
                Slot::New(n) => Written::New(Box::new(handled[n].take().ok_or_else(|| w.impossible("a new case was answered twice"))?)),
                Slot::Repeat(n) => Written::Duplicate(ids[n]),
            });
        }
        Ok(Chunk::Written(written))
    }
}

/// What [`Core::record_chunk`] did.
enum Chunk {
    /// Every message of the chunk, stored or found a duplicate.
    Written(Vec<Written>),
    /// An unchecked chunk met a stored source id and stopped, after inserting these cases.
    MetStored { inserted: Vec<i64> },
}

/// What a group's transaction locks on a backend with several writers (see `store/write.rs`):
/// each source id, so that two processes never both insert it, and each identity and thread the
/// group's decisions read the history of, so that two processes never decide on the same
/// history at once.
fn lock_keys(jobs: &[Job]) -> Vec<String> {
    let mut keys = Vec::with_capacity(jobs.len() * 3);
    for Job { msg, classification: c, .. } in jobs {
        keys.push(format!("source\u{1f}{}\u{1f}{}", msg.source.as_str(), msg.source_id));
        if let Some(category) = c.category.as_deref() {
            for (kind, who) in [("author", &msg.author), ("account", &msg.account), ("thread", &msg.thread_id)] {
                if let Some(who) = who {
                    keys.push(format!("{kind}\u{1f}{who}\u{1f}{category}"));
                }
            }
        }
    }
    keys
}

/// Adds what earlier cases of the same chunk (not inserted yet) say about this query.
fn add_chunk_history(h: &mut History, earlier: &[NewCase], q: &HistoryQuery<'_>, window: i64) {
    let same = |a: &Option<String>, b: Option<&str>| b.is_some() && a.as_deref() == b;
    for e in earlier.iter().filter(|e| e.category == q.category && e.received_at <= q.at && e.burst_of.is_none()) {
        if !(same(&e.author, q.author) || same(&e.account, q.account)) {
            continue;
        }
        if e.received_at > q.at - window {
            h.prior_cases = h.prior_cases.saturating_add(1);
        }
        let replied = matches!(e.reply_status, ReplyStatus::Sent | ReplyStatus::Pending);
        if replied && h.last_reply_at.is_none_or(|last| e.received_at >= last) {
            h.last_reply_at = Some(e.received_at);
            h.last_reply_escalated = e.recurrence_escalation;
        }
    }
}

fn new_case(msg: &Incoming, c: &Classification, received_at: i64, decision: &Decision, delivery: Delivery) -> NewCase {
    let reply_status = match (decision.posts(), delivery) {
        (false, _) => ReplyStatus::Suppressed,
        (true, Delivery::Post) => ReplyStatus::Pending,
        (true, _) => ReplyStatus::Sent,
    };
    NewCase {
        source: msg.source,
        source_id: msg.source_id.clone(),
        guild_id: msg.guild_id.clone(),
        channel_id: msg.channel_id.clone(),
        thread_id: msg.thread_id.clone(),
        origin: msg.origin.clone(),
        author: msg.author.clone(),
        account: msg.account.clone(),
        received_at,
        language: c.language,
        category: c.category_id().to_string(),
        confidence: c.confidence,
        rules: c.rules.clone(),
        findings: c.findings.clone(),
        secrets_found: c.secrets_found,
        escalate_to_sponsor: c.escalate_to_sponsor,
        recurring: decision.recurring,
        recurrence_escalation: decision.recurrence_escalation && decision.posts(),
        reply_text: decision.text.clone(),
        reply_status,
        suppressed_reason: decision.suppressed,
        text: c.masked_text.clone(),
        burst_of: msg.burst_of.clone(),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub inserted: u64,
    pub duplicates: u64,
    pub secrets_masked: u64,
}
