//! The classifier: pure data in, pure data out.
//!
//! `raw text -> redact -> normalise -> words -> concept look-up -> patterns -> score`.
//!
//! Every word and phrase of every concept of the pack is in one index ([`Lexicon`]), looked up
//! once per word of the message: linear in the message, whatever the number of rules. It yields
//! the concept hits (which concept, at which words), and the rules' patterns are then evaluated
//! on that short list, never on the text again.

use serde::Serialize;

use crate::diagnose::Finding;
use crate::language::{self, Language};
use crate::lexicon::Lexicon;
use crate::normalize::normalise;
use crate::redact::{redact, Redacted};
use crate::rules::{Compiled, Link, Pack, Problem, Scope};
use crate::scorer::{Opinion, Scorer};
use crate::tokens::Tokens;

/// How much the runner-up category takes off the winner's confidence: two causes that fit
/// equally well mean we don't know which one it is.
const MARGIN_PENALTY: f64 = 0.5;

/// A rule flattened for scoring.
#[derive(Debug, Clone)]
struct FlatRule {
    category: usize,
    rule: usize,
    weight: f64,
    /// `category/rule`, built once rather than per message.
    name: String,
}

/// Why a message was or was not considered at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    Passed,
    /// Nothing in the message is about application keys or their authentication.
    OffTopic,
    /// About another kind of key, token or login.
    Excluded {
        rule: String,
    },
}

/// The rule name under which an answer of the learned scorer is listed: `category/learned-scorer`.
pub const LEARNED_RULE: &str = "learned-scorer";

/// The result of classifying one message. Holds the masked text only.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    /// `None` when no category applies (reported as `none`).
    pub category: Option<String>,
    pub confidence: f64,
    pub language: Language,
    pub escalate_to_sponsor: bool,
    pub secrets_found: usize,
    /// How many of the secrets are appTokens: a leaked one must be renewed by the Sponsor user.
    pub apptokens_found: usize,
    pub findings: Vec<Finding>,
    /// Rules that fired, as `category/rule`, strongest category first.
    pub rules: Vec<String>,
    #[serde(skip)]
    pub gate: Gate,
    #[serde(skip)]
    pub masked_text: String,
}

impl Classification {
    pub fn category_id(&self) -> &str {
        self.category.as_deref().unwrap_or("none")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Span {
    /// The concept that matched here (for a fired rule's spans).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub concept: String,
    pub start: usize,
    pub end: usize,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FiredRule {
    pub category: String,
    pub rule: String,
    pub weight: f64,
    /// The pattern of `when` that matched.
    pub pattern: String,
    /// What each concept of it matched, on the normalised text.
    pub spans: Vec<Span>,
}

/// Where a concept was found.
#[derive(Debug, Clone, Serialize)]
pub struct ConceptHits {
    pub concept: String,
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryScore {
    pub category: String,
    pub score: f64,
}

/// Why a message got its category: the rules that fired and what they matched.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub classification: Classification,
    pub gate: Gate,
    /// The normalised, masked text the patterns ran on; spans index into it.
    pub normalised_text: String,
    pub scores: Vec<CategoryScore>,
    /// Every concept found, with where.
    pub concepts: Vec<ConceptHits>,
    pub fired: Vec<FiredRule>,
    /// Rules (`category/rule`) that matched but were held back because the message rules
    /// their cause out.
    pub held_back: Vec<String>,
    /// What the learned scorer said, when it was asked: the message passed the gate and the
    /// rules answered with the generic checklist, or with nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<LearnedOpinion>,
}

/// The learned scorer's opinion on a message that passed the gate and that the rules answered
/// with the fallback, or left unanswered.
#[derive(Debug, Clone, Serialize)]
pub struct LearnedOpinion {
    /// Its most likely specific cause.
    pub category: String,
    pub probability: f64,
    /// The bar it had to reach: the scorer's threshold, or when the rules had no answer at all,
    /// [`SILENT_THRESHOLD`] (or the classifier's threshold, if that is higher).
    pub threshold: f64,
    /// Whether the rules had no answer (rather than the generic one).
    pub rules_silent: bool,
    /// Whether its cause is the answer (its probability reached the bar).
    pub used: bool,
    /// The n-grams of the message that pushed most toward `category`, with their share.
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub ngram: String,
    pub weight: f64,
}

pub struct Classifier {
    pack: Pack,
    threshold: f64,
    /// Every word and phrase of every concept, indexed for one look-up per word.
    lexicon: Lexicon,
    flat: Vec<FlatRule>,
    /// Per rule of `flat`, one bit per concept, end to end (`anchor_words` words a rule): the
    /// rule can only fire when the message has one of them, because each of its `when` patterns
    /// needs one of them (its rarest item's). Most rules are ruled out by this one test, and in
    /// one array the test for every rule reads a few cache lines, not a line per rule.
    anchors: Vec<u64>,
    anchor_words: usize,
    /// The learned scorer, and for each of its classes the pack's category (`None` for `none`).
    scorer: Option<(Scorer, Vec<Option<usize>>)>,
}

/// The learned scorer's reading of one message: its best specific cause.
struct Consulted {
    opinion: Opinion,
    class: usize,
    category: usize,
    probability: f64,
    bar: f64,
    silent: bool,
    used: bool,
}

/// The bar the learned scorer must reach to answer a message the rules left unanswered, after
/// the message passed the gate (it is about application keys or tokens, and no exclusion holds)
/// on the person's own words, not only on pasted configuration, and only for a cause whose
/// `learned_when` words the message has. The scorer's own threshold, if that is higher.
/// Measured held out (each probe batch scored with the pack and scorer from before it,
/// p26..p67, 1,262 messages, 436 off-topic): 0.8 answered no off-topic message more than the
/// rules alone (19); with `learned_when`, 0.7 answered none more either and raised accuracy
/// 0.916 -> 0.930 and escalation 0.941 -> 0.954 (`benches/untuned.py --learned-when`); 0.65
/// and below answered one more.
pub const SILENT_THRESHOLD: f64 = 0.7;

/// A concept found at words `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    first: u32,
    last: u32,
}

/// The concepts of one message: hits of concept `c` are `hits[spans[c].0..spans[c].1]`, in
/// order of position.
struct Found {
    hits: Vec<Hit>,
    /// One entry per concept of the pack, `(0, 0)` for those with no hit: a table taken from
    /// [`SPANS`] and given back on drop, all zero again.
    spans: Vec<(u32, u32)>,
    /// One bit per concept: whether it has any hit. Most patterns need a concept that the
    /// message lacks, and this tells so with one load.
    present: Vec<u64>,
}

thread_local! {
    /// The span table of [`Found`], kept all zero between messages: a message has hits of a few
    /// dozen of the pack's concepts and quoted phrases, over a thousand, and zeroing the whole
    /// table for each message cost more than finding its words.
    static SPANS: std::cell::RefCell<Vec<Vec<(u32, u32)>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An all-zero span table for `n` concepts.
fn zeroed_spans(n: usize) -> Vec<(u32, u32)> {
    let mut spans = SPANS.with_borrow_mut(Vec::pop).unwrap_or_default();
    if spans.len() != n {
        // First use on this thread, or a pack of another size.
        spans.clear();
        spans.resize(n, (0, 0));
    }
    spans
}

impl Drop for Found {
    fn drop(&mut self) {
        let mut spans = std::mem::take(&mut self.spans);
        for (w, bits) in self.present.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                if let Some(s) = spans.get_mut(w * 64 + bits.trailing_zeros() as usize) {
                    *s = (0, 0);
                }
                bits &= bits - 1;
            }
        }
        SPANS.with_borrow_mut(|pool| pool.push(spans));
    }
}

impl Found {
    fn has(&self, concept: usize) -> bool {
        self.present.get(concept / 64).is_some_and(|w| w >> (concept % 64) & 1 == 1)
    }

    fn of(&self, concept: usize) -> &[Hit] {
        match self.spans.get(concept) {
            Some(&(a, b)) => self.hits.get(a as usize..b as usize).unwrap_or_default(),
            None => &[],
        }
    }

    fn any(&self) -> bool {
        !self.hits.is_empty()
    }

    /// The same concepts with only the hits that `keep` keeps.
    fn only(&self, keep: impl Fn(Hit) -> bool) -> Found {
        let mut found = Found { hits: Vec::new(), spans: zeroed_spans(self.spans.len()), present: vec![0; self.present.len()] };
        for (w, bits) in self.present.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let c = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let start = found.hits.len() as u32;
                found.hits.extend(self.of(c).iter().copied().filter(|h| keep(*h)));
                let end = found.hits.len() as u32;
                // Only concepts with hits are set: the table is given back zeroed by `present`.
                if let (true, Some(span)) = (end > start, found.spans.get_mut(c)) {
                    *span = (start, end);
                    found.present[w] |= 1 << (c % 64);
                }
            }
        }
        found
    }

    /// Whether word `w` lies inside a hit of `concept`.
    fn covers(&self, concept: usize, w: u32) -> bool {
        let hits = self.of(concept);
        let i = hits.partition_point(|h| h.first <= w);
        hits[..i].iter().rev().take(4).any(|h| h.last >= w)
    }
}

/// What a message's words say, ready for the patterns.
struct Seen<'a> {
    tokens: &'a Tokens,
    found: Found,
}

impl Seen<'_> {
    fn unit(&self, scope: Scope, word: u32) -> u32 {
        let w = &self.tokens.words[word as usize];
        match scope {
            Scope::Sentence => w.sentence,
            Scope::Clause => w.clause,
            Scope::Message | Scope::Window(_) => 0,
        }
    }

    /// Where `p` matches, as the hit chosen for each of its positive items; `None` if it doesn't.
    fn matches(&self, p: &Compiled) -> Option<Vec<(usize, Hit)>> {
        let mut chosen = Vec::with_capacity(p.positives);
        self.is_match(p, &mut chosen).then_some(chosen)
    }

    /// Whether `p` matches, with the hits it chose in `chosen` (a buffer the caller reuses).
    fn is_match(&self, p: &Compiled, chosen: &mut Vec<(usize, Hit)>) -> bool {
        let positives = &p.items[..p.positives];
        // Most patterns fail at once: some item has nothing in the message.
        if positives.iter().any(|it| !it.alts.iter().any(|c| self.found.has(*c))) {
            return false;
        }
        chosen.clear();
        self.search(p, positives, chosen)
    }

    fn search(&self, p: &Compiled, positives: &[crate::rules::Item<usize>], chosen: &mut Vec<(usize, Hit)>) -> bool {
        let i = chosen.len();
        if i == positives.len() {
            return self.complete(p, chosen);
        }
        let item = &positives[i];
        for &concept in &item.alts {
            for &h in self.found.of(concept) {
                if let Some(&(_, first)) = chosen.first() {
                    if self.unit(p.scope, h.first) != self.unit(p.scope, first.first) {
                        continue;
                    }
                }
                if let Some(&(_, prev)) = chosen.last() {
                    if !self.linked(&item.link, prev, h) {
                        continue;
                    }
                }
                chosen.push((concept, h));
                if self.search(p, positives, chosen) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }

    fn linked(&self, link: &Link<usize>, prev: Hit, h: Hit) -> bool {
        match link {
            Link::Free => true,
            Link::Then { max, between } => {
                if h.first <= prev.last {
                    return false;
                }
                let gap = h.first - prev.last - 1;
                if max.is_some_and(|m| gap > m) {
                    return false;
                }
                between.is_none_or(|b| (prev.last + 1..h.first).all(|w| self.found.covers(b, w)))
            }
            Link::Near(n) => {
                let gap = if h.first > prev.last {
                    h.first - prev.last - 1
                } else if prev.first > h.last {
                    prev.first - h.last - 1
                } else {
                    return false;
                };
                gap <= *n
            }
        }
    }

    /// The window and the absent items, once every positive item has a hit.
    fn complete(&self, p: &Compiled, chosen: &[(usize, Hit)]) -> bool {
        let first = chosen.iter().map(|(_, h)| h.first).min().unwrap_or(0);
        let last = chosen.iter().map(|(_, h)| h.last).max().unwrap_or(0);
        if let Scope::Window(n) = p.scope {
            if last - first + 1 > n {
                return false;
            }
        }
        // An absent item is looked for in the pattern's unit; a window's is its sentence.
        let scope = if let Scope::Window(_) = p.scope { Scope::Sentence } else { p.scope };
        let unit = self.unit(scope, first);
        for neg in &p.items[p.positives..] {
            for &c in neg.alts.iter().filter(|c| self.found.has(**c)) {
                if self.found.of(c).iter().any(|h| self.unit(scope, h.first) == unit) {
                    return false;
                }
            }
        }
        true
    }

    fn spans(&self, pack: &Pack, normalised: &str, chosen: &[(usize, Hit)]) -> Vec<Span> {
        chosen.iter().map(|(c, h)| self.span(normalised, *h, pack.concepts[*c].name.clone())).collect()
    }

    fn span(&self, normalised: &str, h: Hit, concept: String) -> Span {
        let words = &self.tokens.words;
        let (start, end) = (words[h.first as usize].start as usize, words[h.last as usize].end as usize);
        Span { concept, start, end, text: normalised.get(start..end).unwrap_or("").to_string() }
    }
}

struct Scored {
    gate: Gate,
    scores: Vec<f64>,
    /// Indexes into `flat`, with the `when` pattern that matched.
    fired: Vec<(usize, usize)>,
    /// Rules that matched but were held back by their `unless`; indexes into `flat`.
    held_back: Vec<usize>,
}

impl Classifier {
    /// Compiles a pack: one index for the words of all its concepts.
    pub fn new(pack: Pack) -> Result<Classifier, crate::rules::RulesError> {
        let lexicon = Lexicon::new(&pack);
        let sizes = concept_sizes(&pack);
        let mut flat = Vec::new();
        let mut all_anchors = Vec::new();
        let anchor_words = pack.concepts.len().div_ceil(64);
        for (c, cat) in pack.categories.iter().enumerate() {
            for (r, rule) in cat.rules.iter().enumerate() {
                all_anchors.extend(anchors(&rule.when, &sizes));
                flat.push(FlatRule { category: c, rule: r, weight: rule.weight, name: format!("{}/{}", cat.id, rule.id) });
            }
        }
        let threshold = pack.threshold;
        Ok(Classifier { pack, threshold, lexicon, flat, anchors: all_anchors, anchor_words, scorer: None })
    }

    /// Loads the pack at `path`, or the built-in one, with its learned scorer (`scorer.tsv` in
    /// the pack's folder, or the built-in one), if it has one. Its examples are not run here
    /// (that is `triage rules check`, the tests and CI): start-up stays fast.
    pub fn load(path: Option<&std::path::Path>) -> Result<Classifier, crate::rules::RulesError> {
        let pack = Pack::load_or_embedded(path)?;
        let scorer = crate::rules::load_scorer(path)?;
        Classifier::new(pack)?.with_scorer(scorer)
    }

    /// Adds a learned scorer, whose classes must be the pack's categories or `none`.
    pub fn with_scorer(mut self, scorer: Option<(String, Scorer)>) -> Result<Self, crate::rules::RulesError> {
        let Some((file, scorer)) = scorer else {
            self.scorer = None;
            return Ok(self);
        };
        let mut map = Vec::with_capacity(scorer.classes.len());
        let mut problems = Vec::new();
        for class in &scorer.classes {
            match self.pack.categories.iter().position(|c| c.id == *class) {
                Some(c) => map.push(Some(c)),
                None if class == "none" => map.push(None),
                None => problems.push(Problem {
                    file: file.clone(),
                    category: None,
                    rule: None,
                    message: format!("class `{class}` is not a category of the pack; retrain the scorer with `triage rules train`"),
                }),
            }
        }
        if let Some(e) = crate::rules::RulesError::from_problems(problems) {
            return Err(e);
        }
        self.scorer = Some((scorer, map));
        Ok(self)
    }

    pub fn scorer(&self) -> Option<&Scorer> {
        self.scorer.as_ref().map(|(s, _)| s)
    }

    /// The text the rules and the scorer read: masked, the author's own words, normalised.
    pub fn learned_text(raw: &str) -> String {
        normalise(redact(raw).own_words()).0
    }

    pub fn with_threshold(mut self, threshold: Option<f64>) -> Self {
        if let Some(t) = threshold {
            self.threshold = t.clamp(0.0, 1.0);
        }
        self
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    /// Finds every concept in the words: a look-up per word, then the hits bucketed by concept
    /// (a counting sort: they arrive in word order, which each bucket keeps). Only the concepts
    /// present get a bucket: a message has a score of the pack's hundred-odd concepts.
    fn find(&self, tokens: &Tokens) -> (Found, crate::lexicon::Votes) {
        let mut found: Vec<(u32, u32, u32)> = Vec::with_capacity(tokens.words.len() * 3);
        let votes = self.lexicon.find(tokens, &mut found);
        if !tokens.code.is_empty() {
            // `new VtexClient(...)` in a pasted snippet says nothing about a fresh key.
            let concepts = &self.pack.concepts;
            found.retain(|(c, first, _)| !(concepts.get(*c as usize).is_some_and(|c| c.prose_only) && tokens.in_code(*first as usize)));
        }
        let n = self.pack.concepts.len();
        // Per concept: its count, then its bucket's start and the next free place in it.
        let mut spans = zeroed_spans(n);
        let mut present = vec![0u64; n.div_ceil(64)];
        for (c, _, _) in &found {
            spans[*c as usize].1 += 1;
            present[*c as usize / 64] |= 1 << (c % 64);
        }
        let mut total = 0;
        for (w, bits) in present.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let c = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let count = spans[c].1;
                spans[c] = (total, total);
                total += count;
            }
        }
        let mut hits = vec![Hit { first: 0, last: 0 }; found.len()];
        for (c, first, last) in found {
            let at = &mut spans[c as usize].1;
            hits[*at as usize] = Hit { first, last };
            *at += 1;
        }
        (Found { hits, spans, present }, votes)
    }

    fn any_matches(seen: &Seen, patterns: &[Compiled], buf: &mut Vec<(usize, Hit)>) -> bool {
        patterns.iter().any(|p| seen.is_match(p, buf))
    }

    fn score(&self, seen: &Seen, findings: usize) -> Scored {
        let cats = &self.pack.categories;
        let nothing = |gate| Scored { gate, scores: vec![0.0; cats.len()], fired: Vec::new(), held_back: Vec::new() };
        if findings == 0 && !seen.found.any() {
            return nothing(Gate::OffTopic);
        }
        let buf = &mut Vec::with_capacity(8);
        let required = Self::any_matches(seen, &self.pack.gate_require, buf);
        if !required && findings == 0 {
            return nothing(Gate::OffTopic);
        }
        if let Some(e) = self.exclusion(seen, buf) {
            return nothing(Gate::Excluded { rule: e.id.clone() });
        }
        let mut miss: Vec<f64> = cats.iter().map(|c| (1.0 - c.finding_weight).powi(findings as i32)).collect();
        let mut fired = Vec::new();
        let mut held_back = Vec::new();
        let present = &seen.found.present;
        let anchors = self.anchors.chunks_exact(self.anchor_words.max(1));
        for (k, (flat, anchors)) in self.flat.iter().zip(anchors).enumerate() {
            if anchors.len() == present.len() && anchors.iter().zip(present).all(|(a, p)| a & p == 0) {
                continue;
            }
            let rule = &cats[flat.category].rules[flat.rule];
            let Some(at) = rule.when.iter().position(|p| seen.is_match(p, buf)) else { continue };
            if !rule.also.iter().all(|p| seen.is_match(p, buf)) {
                continue;
            }
            if Self::any_matches(seen, &rule.unless, buf) {
                held_back.push(k);
                continue;
            }
            miss[flat.category] *= 1.0 - flat.weight;
            fired.push((k, at));
        }
        let scores = miss.into_iter().map(|m| 1.0 - m).collect();
        Scored { gate: Gate::Passed, scores, fired, held_back }
    }

    /// Whether the gate passes on the message's prose alone, its concepts found in pasted code
    /// and configuration left out (the words [`crate::scorer::prose_words`] leaves out).
    fn gate_in_prose(&self, seen: &Seen, normalised: &str, buf: &mut Vec<(usize, Hit)>) -> bool {
        let base = normalised.as_ptr() as usize;
        let mut all_prose = true;
        let prose: Vec<(u32, u32)> = crate::scorer::words_read_as_prose(normalised)
            .filter_map(|(w, prose)| {
                all_prose &= prose;
                let start = w.as_ptr() as usize - base;
                prose.then_some((start as u32, (start + w.len()) as u32))
            })
            .collect();
        if all_prose {
            return true;
        }
        // Both in text order: a word is prose when it starts inside a prose chunk.
        let mut chunk = prose.iter().peekable();
        let in_prose: Vec<bool> = seen
            .tokens
            .words
            .iter()
            .map(|w| {
                while chunk.next_if(|c| c.1 <= w.start).is_some() {}
                chunk.peek().is_some_and(|c| c.0 <= w.start)
            })
            .collect();
        let found = seen.found.only(|h| (h.first..=h.last).all(|w| in_prose.get(w as usize).copied().unwrap_or(false)));
        let prose = Seen { tokens: seen.tokens, found };
        // The key named only in the paste does not override an exclusion either: "preciso gerar
        // uma chave pix nova" over pasted headers is about a payment key.
        Self::any_matches(&prose, &self.pack.gate_require, buf) && self.exclusion(&prose, buf).is_none()
    }

    /// The first exclusion that turns the message away, if any.
    fn exclusion(&self, seen: &Seen, buf: &mut Vec<(usize, Hit)>) -> Option<&crate::rules::Exclude> {
        let strong = Self::any_matches(seen, &self.pack.gate_strong, buf);
        self.pack
            .excludes
            .iter()
            .find(|e| (!strong || e.even_if_named) && Self::any_matches(seen, &e.when, buf) && !Self::any_matches(seen, &e.unless, buf))
    }

    /// Classifies one raw message. Secrets are masked before anything else looks at it.
    pub fn classify(&self, raw: &str) -> Classification {
        self.classify_redacted(redact(raw))
    }

    /// Classifies a message whose secrets are already masked by [`redact`].
    pub fn classify_redacted(&self, redacted: Redacted) -> Classification {
        let (normalised, language, tokens, found) = self.prepare(&redacted);
        let seen = Seen { found, tokens: &tokens };
        let scored = self.score(&seen, redacted.findings.len());
        self.decide(redacted, language, &scored, &seen, &normalised).0
    }

    /// Normalises, finds the words and their concepts, and tells the language from the same
    /// words: the steps `classify` and `explain` share.
    fn prepare(&self, redacted: &Redacted) -> (String, Language, Tokens, Found) {
        let (normalised, hints) = normalise(redacted.own_words());
        let tokens = Tokens::new(&normalised);
        let (found, votes) = self.find(&tokens);
        (normalised, language::decide(votes, hints), tokens, found)
    }

    /// The learned scorer's opinion, asked only when the message passed the gate and the rules
    /// could not tell the causes apart: their answer is the fallback category, or nothing. It
    /// may name a specific cause instead (past [`SILENT_THRESHOLD`] when the rules had nothing),
    /// but never one the message rules out; it never answers a message the gate or an exclusion
    /// turned away, and never changes a cause the rules found.
    fn consult(&self, scored: &Scored, chosen: Option<(usize, f64)>, seen: &Seen, findings: usize, normalised: &str) -> Option<Consulted> {
        let (scorer, map) = self.scorer.as_ref()?;
        if scored.gate != Gate::Passed {
            return None;
        }
        let silent = match chosen {
            Some((c, _)) if !self.pack.categories.get(c)?.fallback => return None,
            Some(_) => false,
            None => true,
        };
        let buf = &mut Vec::with_capacity(8);
        // Where no rule fired, the gate must pass on the person's own words: over a pasted
        // header block, "thanks, solved!" is not a question about keys.
        if silent && scored.fired.is_empty() && findings == 0 && !self.gate_in_prose(seen, normalised, buf) {
            return None;
        }
        // Alone, it names only a cause whose own words (`learned_when`) the message has.
        let stated: Vec<bool> = if silent {
            self.pack.categories.iter().map(|c| c.learned_when.is_empty() || Self::any_matches(seen, &c.learned_when, buf)).collect()
        } else {
            Vec::new()
        };
        let opinion = scorer.opinion(normalised);
        let (class, category, probability) = opinion
            .probabilities
            .iter()
            .enumerate()
            .filter_map(|(k, p)| {
                let category = map.get(k).copied().flatten()?;
                // A cause the message rules out (a rule of it held back by its `unless`) stays
                // ruled out: "no spaces in the appToken" is not a whitespace problem.
                let ruled_out = scored.held_back.iter().any(|r| self.flat[*r].category == category);
                let unstated = silent && !stated.get(category).copied().unwrap_or(false);
                (!self.pack.categories[category].fallback && !ruled_out && !unstated).then_some((k, category, *p))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2))?;
        // A confidence threshold raised by the user (`--threshold`, the config) holds for the
        // scorer's answers where the rules had none, as it does for the rules'.
        let bar = if silent { scorer.threshold.max(SILENT_THRESHOLD).max(self.threshold) } else { scorer.threshold };
        let used = probability >= bar;
        Some(Consulted { opinion, class, category, probability, bar, silent, used })
    }

    fn decide(
        &self,
        redacted: Redacted,
        language: Language,
        scored: &Scored,
        seen: &Seen,
        normalised: &str,
    ) -> (Classification, Option<Consulted>) {
        let cats = &self.pack.categories;
        let (mut best, mut second) = (None::<usize>, 0.0_f64);
        let mut best_fallback = None::<usize>;
        for (c, cat) in cats.iter().enumerate() {
            let s = scored.scores[c];
            if s <= 0.0 {
                continue;
            }
            if cat.fallback {
                if best_fallback.is_none_or(|b| s > scored.scores[b]) {
                    best_fallback = Some(c);
                }
            } else if best.is_none_or(|b| s > scored.scores[b]) {
                if let Some(b) = best {
                    second = second.max(scored.scores[b]);
                }
                best = Some(c);
            } else {
                second = second.max(s);
            }
        }
        let specific = best.map(|b| (b, scored.scores[b] - MARGIN_PENALTY * second));
        let mut chosen = match (specific, best_fallback) {
            (Some((b, conf)), _) if conf >= self.threshold => Some((b, conf)),
            (_, Some(f)) if scored.scores[f] >= self.threshold => Some((f, scored.scores[f])),
            _ => None,
        };
        let consulted = self.consult(scored, chosen, seen, redacted.findings.len(), normalised);
        let learned = consulted.as_ref().filter(|c| c.used).map(|c| (c.category, c.probability));
        if learned.is_some() {
            chosen = learned;
        }
        let mut fired: Vec<usize> = scored.fired.iter().map(|(k, _)| *k).collect();
        // Strongest category first; rules keep pack order within a category.
        fired.sort_by(|a, b| {
            let (ca, cb) = (self.flat[*a].category, self.flat[*b].category);
            scored.scores[cb].total_cmp(&scored.scores[ca]).then(ca.cmp(&cb)).then(a.cmp(b))
        });
        let mut rules: Vec<String> = fired.iter().map(|k| self.flat[*k].name.clone()).collect();
        if let Some((c, _)) = learned {
            rules.insert(0, format!("{}/{LEARNED_RULE}", cats[c].id));
        }
        let (category, confidence, escalate) = match chosen {
            Some((c, conf)) => (Some(cats[c].id.clone()), conf, cats[c].escalate_to_sponsor),
            None => {
                let top =
                    specific.map(|(_, conf)| conf.max(0.0)).unwrap_or(0.0).max(best_fallback.map(|f| scored.scores[f]).unwrap_or(0.0));
                (None, 1.0 - top, false)
            }
        };
        let classification = Classification {
            category,
            confidence: round3(confidence),
            language,
            // A leaked token must be renewed, and renewing is key editing: Sponsor work.
            escalate_to_sponsor: escalate || redacted.apptokens_found > 0,
            secrets_found: redacted.secrets_found,
            apptokens_found: redacted.apptokens_found,
            findings: redacted.findings,
            rules,
            gate: scored.gate.clone(),
            masked_text: redacted.text,
        };
        (classification, consulted)
    }

    /// Classifies and reports which rules fired, which concepts were found and where (on the
    /// masked, normalised text).
    pub fn explain(&self, raw: &str) -> Explanation {
        let redacted = redact(raw);
        let (normalised, language, tokens, found) = self.prepare(&redacted);
        let seen = Seen { found, tokens: &tokens };
        let scored = self.score(&seen, redacted.findings.len());
        let mut fired = Vec::new();
        for &(k, at) in &scored.fired {
            let flat = &self.flat[k];
            let cat = &self.pack.categories[flat.category];
            let rule = &cat.rules[flat.rule];
            let mut spans = Vec::new();
            if let Some(chosen) = seen.matches(&rule.when[at]) {
                spans.extend(seen.spans(&self.pack, &normalised, &chosen));
            }
            for p in &rule.also {
                if let Some(chosen) = seen.matches(p) {
                    spans.extend(seen.spans(&self.pack, &normalised, &chosen));
                }
            }
            fired.push(FiredRule {
                category: cat.id.clone(),
                rule: rule.id.clone(),
                weight: rule.weight,
                pattern: rule.when[at].source.clone(),
                spans,
            });
        }
        let mut concepts = Vec::new();
        for (c, concept) in self.pack.concepts.iter().enumerate() {
            let hits = seen.found.of(c);
            if !hits.is_empty() {
                let spans = hits.iter().map(|h| seen.span(&normalised, *h, String::new())).collect();
                concepts.push(ConceptHits { concept: concept.name.clone(), spans });
            }
        }
        let mut scores: Vec<CategoryScore> = self
            .pack
            .categories
            .iter()
            .zip(&scored.scores)
            .filter(|(_, s)| **s > 0.0)
            .map(|(c, s)| CategoryScore { category: c.id.clone(), score: round3(*s) })
            .collect();
        scores.sort_by(|a, b| b.score.total_cmp(&a.score));
        let gate = scored.gate.clone();
        let held_back = scored.held_back.iter().map(|k| self.flat[*k].name.clone()).collect();
        let (classification, consulted) = self.decide(redacted, language, &scored, &seen, &normalised);
        let learned = consulted.and_then(|c| {
            let (scorer, _) = self.scorer.as_ref()?;
            let evidence = scorer
                .evidence(&c.opinion, c.class, 8)
                .into_iter()
                .map(|(ngram, weight)| Evidence { ngram, weight: round3(weight) })
                .collect();
            Some(LearnedOpinion {
                category: self.pack.categories[c.category].id.clone(),
                probability: round3(c.probability),
                threshold: c.bar,
                rules_silent: c.silent,
                used: c.used,
                evidence,
            })
        });
        Explanation { classification, gate, normalised_text: normalised, scores, concepts, fired, held_back, learned }
    }

    /// Runs every example and counter-example in the pack, and lists the words a concept repeats
    /// (the same entry once normalised). Empty means the pack is sound.
    pub fn check_examples(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for c in &self.pack.concepts {
            for (again, first) in &c.repeated {
                problems.push(Problem {
                    file: c.file.clone(),
                    category: None,
                    rule: Some(format!("concept {}", c.name)),
                    message: format!(
                        "word `{again}` is `{first}` again once normalised (case, accents, hyphens and apostrophes are ignored): keep one"
                    ),
                });
            }
        }
        for cat in &self.pack.categories {
            for rule in &cat.rules {
                let problem = |message: String| Problem {
                    file: cat.file.clone(),
                    category: Some(cat.id.clone()),
                    rule: Some(rule.id.clone()),
                    message,
                };
                let me = format!("{}/{}", cat.id, rule.id);
                for ex in &rule.examples {
                    let got = self.classify(ex);
                    if !got.rules.contains(&me) {
                        problems.push(problem(format!("example {ex:?} does not fire this rule")));
                    } else if got.category.as_deref() != Some(&cat.id) {
                        problems.push(problem(format!(
                            "example {ex:?} classifies as `{}` ({:.2}), not this category",
                            got.category_id(),
                            got.confidence
                        )));
                    }
                }
                for ex in &rule.counter_examples {
                    let got = self.classify(ex);
                    if got.category.as_deref() == Some(&cat.id) {
                        problems.push(problem(format!("counter-example {ex:?} classifies as this category ({:.2})", got.confidence)));
                    }
                }
            }
        }
        for e in &self.pack.excludes {
            for ex in &e.examples {
                let got = self.classify(ex);
                let excluded = got.gate == Gate::Excluded { rule: e.id.clone() };
                if !excluded || got.category.is_some() {
                    problems.push(Problem {
                        file: e.file.clone(),
                        category: None,
                        rule: Some(e.id.clone()),
                        message: format!("example {ex:?} is not excluded by this rule (got `{}`)", got.category_id()),
                    });
                }
            }
            for ex in &e.counter_examples {
                if self.classify(ex).gate == (Gate::Excluded { rule: e.id.clone() }) {
                    problems.push(Problem {
                        file: e.file.clone(),
                        category: None,
                        rule: Some(e.id.clone()),
                        message: format!("counter-example {ex:?} is excluded by this rule"),
                    });
                }
            }
        }
        problems
    }

    /// Number of example and counter-example messages in the pack.
    pub fn example_count(&self) -> usize {
        let rules: usize = self.pack.categories.iter().flat_map(|c| &c.rules).map(|r| r.examples.len() + r.counter_examples.len()).sum();
        rules + self.pack.excludes.iter().map(|e| e.examples.len() + e.counter_examples.len()).sum::<usize>()
    }
}

/// How many words each concept has, those of the concepts it includes counted too: the fewer,
/// the rarer the concept in messages, as a rule of thumb.
fn concept_sizes(pack: &Pack) -> Vec<usize> {
    fn size(pack: &Pack, c: usize, memo: &mut [Option<usize>], depth: usize) -> usize {
        if let Some(n) = memo[c] {
            return n;
        }
        // A pack with a cycle is refused when it loads; the depth limit only keeps this total.
        let included: usize = if depth > 64 { 0 } else { pack.concepts[c].includes.iter().map(|d| size(pack, *d, memo, depth + 1)).sum() };
        let n = pack.concepts[c].words.len() + included;
        memo[c] = Some(n);
        n
    }
    let mut memo = vec![None; pack.concepts.len()];
    (0..pack.concepts.len()).map(|c| size(pack, c, &mut memo, 0)).collect()
}

/// The concepts of which a message needs one for any of `patterns` to match: each pattern's
/// rarest positive item's alternatives. Empty (every bit set) when a pattern has no positive
/// item, so that the rule is always tried.
fn anchors(patterns: &[Compiled], sizes: &[usize]) -> Vec<u64> {
    let mut bits = vec![0u64; sizes.len().div_ceil(64)];
    for p in patterns {
        let rarest =
            p.items[..p.positives].iter().min_by_key(|it| it.alts.iter().map(|c| sizes.get(*c).copied().unwrap_or(0)).sum::<usize>());
        let Some(item) = rarest else {
            bits.iter_mut().for_each(|b| *b = u64::MAX);
            continue;
        };
        for &c in &item.alts {
            if let Some(b) = bits.get_mut(c / 64) {
                *b |= 1 << (c % 64);
            }
        }
    }
    bits
}

fn round3(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}
