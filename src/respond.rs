//! The reply decision: a pure function of the classification, the case history and the policy.
//!
//! Every word of a reply comes from the rule pack (remediation, findings and `[messages]`), so
//! support leads can edit wording without touching code.

use serde::{Deserialize, Serialize};

use crate::classify::Classification;
use crate::diagnose::Finding;
use crate::language::Language;
use crate::rules::Pack;

/// How eager the bot is to answer. Defaults suit a busy public channel: answer only when sure,
/// never twice in a row, and hand repeat cases to people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Minimum confidence to post. Cases under it are stored but get no reply.
    pub reply_threshold: f64,
    /// Seconds during which the same author gets no second reply for the same category.
    pub cooldown_secs: i64,
    /// Seconds over which earlier cases of the same author/account and category count.
    pub recurrence_window_secs: i64,
    /// The case number (within the window) from which the reply suggests a human ticket
    /// instead of repeating the remediation.
    pub escalate_after: u32,
    /// Decide and record, but post nothing.
    pub shadow: bool,
    /// Reply in this language instead of the message's own.
    pub reply_language: Option<Language>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            reply_threshold: 0.6,
            cooldown_secs: 3600,
            recurrence_window_secs: 7 * 24 * 3600,
            escalate_after: 3,
            shadow: false,
            reply_language: None,
        }
    }
}

/// What the store knows about earlier cases like this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// Earlier cases of the same category from the same author (or account) in the window.
    pub prior_cases: u32,
    /// When the bot last posted to this author about this category (Unix seconds).
    pub last_reply_at: Option<i64>,
    /// Whether that last reply was already the recurrence escalation.
    pub last_reply_escalated: bool,
    /// We already answered this category on the same ticket (a later comment of one ticket).
    pub answered_in_thread: bool,
}

/// Where a reply is posted, which decides how it is written and who sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Surface {
    /// A chat channel (Discord) or the generic ticket API: Markdown, with the feedback footer.
    #[default]
    Chat,
    /// A helpdesk ticket: HTML, as a public reply or an internal note.
    Ticket(TicketStyle),
}

/// When a helpdesk reply may go to the customer; otherwise it is an internal note for an agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketStyle {
    /// At or above it the reply is public; `None`: always an internal note.
    pub public_min_confidence: Option<f64>,
    /// Only these categories may be public (empty: any).
    pub public_categories: Vec<String>,
}

/// Facts about the delivery channel that change the wording.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    pub surface: Surface,
    pub now: i64,
    /// `Some(true)` when the adapter deleted a message that leaked a token, `Some(false)` when it
    /// could not, `None` where deleting makes no sense (tickets, imports).
    pub leak_deleted: Option<bool>,
    /// How to address staff on a recurring case, e.g. `<@&123>` on Discord.
    pub staff_mention: Option<String>,
    /// An imported backlog: the decision is recorded, but nothing is composed or posted.
    pub backlog: bool,
    /// Stay silent, for this reason: a person already helps, or this is not the asker's thread.
    pub humans_first: Option<Suppression>,
    /// A direct message to the bot: nobody else saw it, and nothing can be deleted there.
    pub direct: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// Not an appKey/appToken case: stay silent.
    NotSupport,
    BelowThreshold,
    Cooldown,
    ShadowMode,
    /// Imported from a backlog: recorded, never posted.
    Backlog,
    /// The message was deleted before we could answer (Discord only).
    Deleted,
    /// A later comment on a ticket we already answered for this category.
    AlreadyAnswered,
    /// A person with a helper role is already answering in the thread.
    HumanHelping,
    /// A message in someone else's thread: only the thread's original poster is answered.
    NotTheAsker,
    /// The thread carries one of the `quiet_threads` tags.
    QuietThread,
    /// One of several messages sent in a quick burst: the burst is answered once, on its last
    /// message.
    InBurst,
    /// The answer rests on rules (or a category) marked `shadow = true` in the pack: watched on
    /// live traffic before they may speak.
    ShadowRule,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::NotSupport => "not_support",
            Suppression::BelowThreshold => "below_threshold",
            Suppression::Cooldown => "cooldown",
            Suppression::ShadowMode => "shadow_mode",
            Suppression::Backlog => "backlog",
            Suppression::Deleted => "deleted",
            Suppression::AlreadyAnswered => "already_answered",
            Suppression::HumanHelping => "human_helping",
            Suppression::NotTheAsker => "not_the_asker",
            Suppression::QuietThread => "quiet_thread",
            Suppression::InBurst => "in_burst",
            Suppression::ShadowRule => "shadow_rule",
        }
    }

    /// Every reason, in the order they are listed to people.
    pub const ALL: [Suppression; 12] = [
        Suppression::NotSupport,
        Suppression::BelowThreshold,
        Suppression::Cooldown,
        Suppression::ShadowMode,
        Suppression::ShadowRule,
        Suppression::Backlog,
        Suppression::Deleted,
        Suppression::AlreadyAnswered,
        Suppression::HumanHelping,
        Suppression::NotTheAsker,
        Suppression::QuietThread,
        Suppression::InBurst,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Suppression::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// What the bot says (or would say, when suppressed after composing, as in shadow mode).
    pub text: Option<String>,
    /// Why nothing is posted; `None` means post `text`.
    pub suppressed: Option<Suppression>,
    pub language: Language,
    pub recurring: bool,
    /// This reply hands the case to people instead of repeating the remediation.
    pub recurrence_escalation: bool,
    pub escalate_to_sponsor: bool,
    /// The reply pings the staff role.
    pub mention_staff: bool,
    /// On a helpdesk: the customer sees it (otherwise it is an internal note).
    pub public: bool,
    /// On a helpdesk: tags to add to the ticket.
    pub tags: Vec<String>,
}

impl Decision {
    pub fn posts(&self) -> bool {
        self.suppressed.is_none() && self.text.is_some()
    }
}

pub fn decide(pack: &Pack, c: &Classification, history: &History, policy: &Policy, channel: &Channel) -> Decision {
    let language = policy.reply_language.unwrap_or(c.language);
    let leaked = c.secrets_found > 0;
    let recurring = c.category.is_some() && history.prior_cases > 0;
    let recurrence_escalation = c.category.is_some() && history.prior_cases + 1 >= policy.escalate_after.max(1);
    let mention_staff = recurrence_escalation && channel.staff_mention.is_some();
    let mut decision = Decision {
        text: None,
        suppressed: None,
        language,
        recurring,
        recurrence_escalation,
        escalate_to_sponsor: c.escalate_to_sponsor,
        mention_staff,
        public: false,
        tags: Vec::new(),
    };
    if c.category.is_none() && !leaked {
        decision.suppressed = Some(Suppression::NotSupport);
        decision.recurrence_escalation = false;
        return decision;
    }
    if channel.backlog {
        // What the message itself says (below threshold) is kept; the live bot's state
        // (cooldown, shadow mode) has nothing to do with a backlog.
        let below = c.category.is_some() && c.confidence < policy.reply_threshold;
        decision.suppressed = Some(if below { Suppression::BelowThreshold } else { Suppression::Backlog });
        decision.recurrence_escalation = false;
        decision.mention_staff = false;
        return decision;
    }
    let reply = compose(pack, c, language, recurrence_escalation, history.prior_cases + 1, policy, channel);
    decision.text = Some(match &channel.surface {
        Surface::Chat => crate::render::chat(pack, &reply),
        Surface::Ticket(style) => {
            decision.public = style.public_min_confidence.is_some_and(|min| c.confidence >= min)
                && (style.public_categories.is_empty() || c.category.as_ref().is_some_and(|id| style.public_categories.contains(id)))
                // A case that keeps coming back goes to a person, never to the customer again.
                && !recurrence_escalation;
            decision.tags = ticket_tags(c, recurrence_escalation);
            crate::render::ticket_html(pack, &reply, decision.public)
        }
    });
    // A leaked token is always answered: the warning protects the account.
    if let (false, Some(why)) = (leaked, channel.humans_first) {
        decision.suppressed = Some(why);
    } else if !leaked && history.answered_in_thread {
        decision.suppressed = Some(Suppression::AlreadyAnswered);
    } else if !leaked {
        if c.category.is_some() && c.confidence < policy.reply_threshold {
            decision.suppressed = Some(Suppression::BelowThreshold);
        } else if let Some(last) = history.last_reply_at {
            let cooling = channel.now - last < policy.cooldown_secs;
            // The hand-over to people says something new, so it may follow a remediation.
            if cooling && (!recurrence_escalation || history.last_reply_escalated) {
                decision.suppressed = Some(Suppression::Cooldown);
            }
        }
    }
    if decision.suppressed.is_none() && policy.shadow {
        decision.suppressed = Some(Suppression::ShadowMode);
    }
    if decision.suppressed.is_none() && !leaked && rests_on_shadow(pack, c) {
        decision.suppressed = Some(Suppression::ShadowRule);
    }
    if decision.suppressed.is_some() {
        decision.mention_staff = false;
    }
    decision
}

/// Whether the category is in shadow, or every rule of it that fired is: without them it
/// would not have been answered. A shadow rule firing beside a rule that speaks holds nothing.
fn rests_on_shadow(pack: &Pack, c: &Classification) -> bool {
    let Some(category) = c.category.as_deref().and_then(|id| pack.category(id)) else { return false };
    if category.shadow {
        return true;
    }
    let prefix = format!("{}/", category.id);
    let mut fired = c.rules.iter().filter_map(|r| r.strip_prefix(&prefix)).peekable();
    fired.peek().is_some() && fired.all(|id| category.rules.iter().any(|r| r.id == id && r.shadow))
}

pub fn finding_text(pack: &Pack, f: &Finding, language: Language) -> String {
    let template = pack.findings.get(f.code.as_str()).map(|t| t.get(language)).unwrap_or(f.code.as_str());
    template.replace("{field}", f.field.as_str()).replace("{detail}", &f.detail)
}

/// A reply before it is written for a surface: every text comes from the pack, in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub language: Language,
    /// The leak warning, already worded for the channel (deleted, or please delete).
    pub leak: Option<String>,
    /// The category's title.
    pub title: Option<String>,
    /// The remediation, or the hand-over to people on a recurring case (Markdown).
    pub body: Option<String>,
    /// The body is the hand-over to people.
    pub handover: bool,
    /// What the diagnosis found, one line each.
    pub findings: Vec<String>,
    pub category: String,
    pub confidence: f64,
}

fn compose(
    pack: &Pack,
    c: &Classification,
    language: Language,
    escalation: bool,
    case_number: u32,
    policy: &Policy,
    channel: &Channel,
) -> Reply {
    let on_ticket = matches!(channel.surface, Surface::Ticket(_));
    let leak = (c.secrets_found > 0).then(|| {
        let key = if c.apptokens_found > 0 { "leaked_token" } else { "leaked_secret" };
        let leak = pack.message(key, language).to_string();
        match channel.leak_deleted {
            Some(true) => format!("{leak} {}", pack.message("leak_deleted", language)),
            // `leak_in_dm` came after packs were written: a pack without it says "please delete".
            Some(false) if channel.direct && !pack.message("leak_in_dm", language).is_empty() => {
                format!("{leak} {}", pack.message("leak_in_dm", language))
            }
            Some(false) => format!("{leak} {}", pack.message("leak_please_delete", language)),
            None => leak,
        }
    });
    let mut reply = Reply {
        language,
        leak,
        title: None,
        body: None,
        handover: false,
        findings: Vec::new(),
        category: c.category_id().to_string(),
        confidence: c.confidence,
    };
    if let Some(cat) = c.category.as_deref().and_then(|id| pack.category(id)) {
        reply.title = Some(cat.title.get(language).to_string());
        if escalation {
            let days = (policy.recurrence_window_secs / 86_400).max(1).to_string();
            // On a ticket the customer already asked a person: the note asks an agent to take it.
            let key = if on_ticket { "ticket_recurring" } else { "recurring" };
            let mut text = pack
                .message(key, language)
                .replace("{count}", &count_text(case_number))
                .replace("{category}", &cat.id)
                .replace("{days}", &days);
            if let Some(staff) = &channel.staff_mention {
                text = format!("{text}\n{}", pack.message("staff_ping", language).replace("{staff}", staff));
            }
            reply.body = Some(text);
            reply.handover = true;
        } else {
            reply.body = Some(cat.remediation.get(language).trim_end().to_string());
            reply.findings = c.findings.iter().map(|f| finding_text(pack, f, language)).collect();
        }
    }
    reply
}

/// Tags a helpdesk ticket gets: the category, and whether the Sponsor user must act.
fn ticket_tags(c: &Classification, handover: bool) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(id) = c.category.as_deref() {
        tags.push(format!("triage_{}", id.replace('-', "_")));
    }
    if c.escalate_to_sponsor {
        tags.push("triage_sponsor".into());
    }
    if c.secrets_found > 0 {
        tags.push("triage_leaked_secret".into());
    }
    if handover {
        tags.push("triage_recurring".into());
    }
    tags
}

/// The case number as shown; history is counted only up to a cap.
fn count_text(case_number: u32) -> String {
    let cap = crate::store::history::PRIOR_CAP;
    if case_number > cap {
        format!("{cap}+")
    } else {
        case_number.to_string()
    }
}

/// Splits a reply into chunks of at most `limit` characters, at paragraph, then line, then
/// word boundaries, so that a long remediation survives a chat platform's message limit.
pub fn split_message(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(16);
    let mut chunks = Vec::new();
    let mut current = String::new();
    let push_piece = |piece: &str, sep: &str, current: &mut String, chunks: &mut Vec<String>| {
        let needed = current.chars().count() + if current.is_empty() { 0 } else { sep.chars().count() } + piece.chars().count();
        if needed <= limit {
            if !current.is_empty() {
                current.push_str(sep);
            }
            current.push_str(piece);
        } else {
            if !current.is_empty() {
                chunks.push(std::mem::take(current));
            }
            current.push_str(piece);
        }
    };
    for para in text.split("\n\n") {
        if para.chars().count() <= limit {
            push_piece(para, "\n\n", &mut current, &mut chunks);
            continue;
        }
        for line in para.split('\n') {
            if line.chars().count() <= limit {
                push_piece(line, "\n", &mut current, &mut chunks);
                continue;
            }
            for word in line.split(' ') {
                let mut w = word.to_string();
                while w.chars().count() > limit {
                    let head: String = w.chars().take(limit).collect();
                    w = w.chars().skip(limit).collect();
                    push_piece(&head, " ", &mut current, &mut chunks);
                }
                push_piece(&w, " ", &mut current, &mut chunks);
            }
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}
