//! The classifier: pure data in, pure data out.
//!
//! `raw text -> redact -> normalise -> detect language -> one RegexSet pass -> score`. All
//! patterns of the pack (gate, exclusions, every rule) live in one `RegexSet`, so a message is
//! scanned once however many rules there are.

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Serialize;

use crate::diagnose::Finding;
use crate::language::{self, Language};
use crate::normalize::normalise;
use crate::redact::{redact, Redacted};
use crate::rules::{Pack, Problem};

/// How much the runner-up category takes off the winner's confidence: two causes that fit
/// equally well mean we don't know which one it is.
const MARGIN_PENALTY: f64 = 0.5;

/// What a pattern of the set belongs to. Rules are numbered across the whole pack.
#[derive(Debug, Clone, Copy)]
enum Owner {
    GateRequire,
    GateStrong,
    Exclude(usize),
    /// Cancels the exclusion with this index.
    ExcludeUnless(usize),
    RuleAny(usize),
    RuleAll(usize),
    /// Holds the rule with this index back.
    RuleUnless(usize),
}

/// A rule flattened for scoring: its category, weight and how many `all` patterns it has.
#[derive(Debug, Clone)]
struct FlatRule {
    category: usize,
    rule: usize,
    weight: f64,
    all: u16,
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
    pub start: usize,
    pub end: usize,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FiredRule {
    pub category: String,
    pub rule: String,
    pub weight: f64,
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
    pub fired: Vec<FiredRule>,
    /// Rules (`category/rule`) that matched but were held back because the message rules
    /// their cause out.
    pub held_back: Vec<String>,
}

pub struct Classifier {
    pack: Pack,
    threshold: f64,
    set: RegexSet,
    /// The gate's `require` patterns alone: most chat is off-topic, and this small set lets it
    /// skip the full pass with the same outcome.
    topic: RegexSet,
    patterns: Vec<Regex>,
    owners: Vec<Owner>,
    flat: Vec<FlatRule>,
}

struct Scored {
    gate: Gate,
    scores: Vec<f64>,
    /// Indexes into `flat`.
    fired: Vec<usize>,
    /// Rules that matched but were held back by their `unless`; indexes into `flat`.
    held_back: Vec<usize>,
}

/// How every pack pattern is compiled: ASCII, on normalised text. Validation uses it too, so it
/// checks exactly what runs.
pub(crate) fn build_regex(p: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(p).unicode(false).size_limit(1 << 22).build()
}

impl Classifier {
    /// Compiles a pack. Patterns were validated when the pack loaded, so this only fails if the
    /// combined set is too big.
    pub fn new(pack: Pack) -> Result<Classifier, crate::rules::RulesError> {
        let mut sources = Vec::new();
        let mut owners = Vec::new();
        let mut add = |p: &String, o: Owner| {
            sources.push(p.clone());
            owners.push(o);
        };
        pack.gate_require.iter().for_each(|p| add(p, Owner::GateRequire));
        pack.gate_strong.iter().for_each(|p| add(p, Owner::GateStrong));
        for (i, e) in pack.excludes.iter().enumerate() {
            e.patterns.iter().for_each(|p| add(p, Owner::Exclude(i)));
            e.unless.iter().for_each(|p| add(p, Owner::ExcludeUnless(i)));
        }
        let mut flat = Vec::new();
        for (c, cat) in pack.categories.iter().enumerate() {
            for (r, rule) in cat.rules.iter().enumerate() {
                let k = flat.len();
                rule.any.iter().for_each(|p| add(p, Owner::RuleAny(k)));
                rule.all.iter().for_each(|p| add(p, Owner::RuleAll(k)));
                rule.unless.iter().for_each(|p| add(p, Owner::RuleUnless(k)));
                flat.push(FlatRule {
                    category: c,
                    rule: r,
                    weight: rule.weight,
                    all: rule.all.len() as u16,
                    name: format!("{}/{}", cat.id, rule.id),
                });
            }
        }
        let too_big = |e: regex::Error| crate::rules::RulesError::Invalid {
            first: Problem {
                file: pack.sources.join(", "),
                category: None,
                rule: None,
                message: format!("the patterns do not compile together: {e}"),
            },
            problems: vec![],
        };
        let set = RegexSetBuilder::new(&sources).unicode(false).size_limit(1 << 26).dfa_size_limit(1 << 26).build().map_err(too_big)?;
        let topic = RegexSetBuilder::new(&pack.gate_require).unicode(false).size_limit(1 << 26).build().map_err(too_big)?;
        let patterns = sources.iter().map(|p| build_regex(p)).collect::<Result<Vec<_>, _>>().map_err(too_big)?;
        let threshold = pack.threshold;
        Ok(Classifier { pack, threshold, set, topic, patterns, owners, flat })
    }

    /// Loads the pack at `path`, or the built-in one, and checks every example in it.
    pub fn load(path: Option<&std::path::Path>) -> Result<Classifier, crate::rules::RulesError> {
        let pack = match path {
            Some(p) => Pack::load(p)?,
            None => Pack::embedded()?,
        };
        let classifier = Classifier::new(pack)?;
        if let Some(err) = crate::rules::RulesError::from_problems(classifier.check_examples()) {
            return Err(err);
        }
        Ok(classifier)
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

    fn score(&self, normalised: &str, findings: usize) -> Scored {
        if findings == 0 && !self.topic.is_match(normalised.as_bytes()) {
            return Scored {
                gate: Gate::OffTopic,
                scores: vec![0.0; self.pack.categories.len()],
                fired: Vec::new(),
                held_back: Vec::new(),
            };
        }
        let matches = self.set.matches(normalised.as_bytes());
        let cats = &self.pack.categories;
        // Per rule: whether an `any` pattern matched, and how many `all` patterns matched.
        let mut any = vec![false; self.flat.len()];
        let mut all = vec![0u16; self.flat.len()];
        let mut held = vec![false; self.flat.len()];
        let (mut required, mut strong) = (false, false);
        let mut excluded = vec![false; self.pack.excludes.len()];
        let mut cancelled = vec![false; self.pack.excludes.len()];
        for i in matches.iter() {
            match self.owners[i] {
                Owner::GateRequire => required = true,
                Owner::GateStrong => strong = true,
                Owner::Exclude(e) => excluded[e] = true,
                Owner::ExcludeUnless(e) => cancelled[e] = true,
                Owner::RuleAny(k) => any[k] = true,
                Owner::RuleAll(k) => all[k] += 1,
                Owner::RuleUnless(k) => held[k] = true,
            }
        }
        let exclusion =
            self.pack.excludes.iter().enumerate().find(|(e, spec)| excluded[*e] && !cancelled[*e] && (!strong || spec.even_if_named));
        let gate = if !required && findings == 0 {
            Gate::OffTopic
        } else if let Some((_, spec)) = exclusion {
            Gate::Excluded { rule: spec.id.clone() }
        } else {
            Gate::Passed
        };
        let mut scores = vec![0.0; cats.len()];
        let mut fired = Vec::new();
        let mut held_back = Vec::new();
        if gate == Gate::Passed {
            let mut miss: Vec<f64> = cats.iter().map(|c| (1.0 - c.finding_weight).powi(findings as i32)).collect();
            for (k, rule) in self.flat.iter().enumerate() {
                if any[k] && all[k] == rule.all {
                    if held[k] {
                        held_back.push(k);
                        continue;
                    }
                    miss[rule.category] *= 1.0 - rule.weight;
                    fired.push(k);
                }
            }
            for (c, m) in miss.into_iter().enumerate() {
                scores[c] = 1.0 - m;
            }
        }
        Scored { gate, scores, fired, held_back }
    }

    /// Classifies one raw message. Secrets are masked before anything else looks at it.
    pub fn classify(&self, raw: &str) -> Classification {
        self.classify_redacted(redact(raw))
    }

    /// Classifies a message whose secrets are already masked by [`redact`].
    pub fn classify_redacted(&self, redacted: Redacted) -> Classification {
        let (_, language, scored) = self.prepare(&redacted);
        self.decide(redacted, language, &scored)
    }

    /// Normalises, detects the language and scores: the steps `classify` and `explain` share.
    fn prepare(&self, redacted: &Redacted) -> (String, Language, Scored) {
        let (normalised, hints) = normalise(crate::quoted::own_words(&redacted.text));
        let language = language::detect(&normalised, hints);
        let scored = self.score(&normalised, redacted.findings.len());
        (normalised, language, scored)
    }

    fn decide(&self, redacted: Redacted, language: Language, scored: &Scored) -> Classification {
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
        let chosen = match (specific, best_fallback) {
            (Some((b, conf)), _) if conf >= self.threshold => Some((b, conf)),
            (_, Some(f)) if scored.scores[f] >= self.threshold => Some((f, scored.scores[f])),
            _ => None,
        };
        let mut fired = scored.fired.clone();
        // Strongest category first; rules keep pack order within a category.
        fired.sort_by(|a, b| {
            let (ca, cb) = (self.flat[*a].category, self.flat[*b].category);
            scored.scores[cb].total_cmp(&scored.scores[ca]).then(ca.cmp(&cb)).then(a.cmp(b))
        });
        let rules = fired.iter().map(|k| self.flat[*k].name.clone()).collect();
        let (category, confidence, escalate) = match chosen {
            Some((c, conf)) => (Some(cats[c].id.clone()), conf, cats[c].escalate_to_sponsor),
            None => {
                let top =
                    specific.map(|(_, conf)| conf.max(0.0)).unwrap_or(0.0).max(best_fallback.map(|f| scored.scores[f]).unwrap_or(0.0));
                (None, 1.0 - top, false)
            }
        };
        Classification {
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
        }
    }

    /// Classifies and reports which rules fired and where they matched (on the masked,
    /// normalised text).
    pub fn explain(&self, raw: &str) -> Explanation {
        let redacted = redact(raw);
        let (normalised, language, scored) = self.prepare(&redacted);
        let mut fired = Vec::new();
        for k in &scored.fired {
            let flat = &self.flat[*k];
            let cat = &self.pack.categories[flat.category];
            let rule = &cat.rules[flat.rule];
            let mut spans = Vec::new();
            for (i, owner) in self.owners.iter().enumerate() {
                let mine = matches!(owner, Owner::RuleAny(o) | Owner::RuleAll(o) if o == k);
                if mine {
                    if let Some(m) = self.patterns[i].find(normalised.as_bytes()) {
                        spans.push(Span { start: m.start(), end: m.end(), text: normalised[m.start()..m.end()].to_string() });
                    }
                }
            }
            fired.push(FiredRule { category: cat.id.clone(), rule: rule.id.clone(), weight: rule.weight, spans });
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
        let classification = self.decide(redacted, language, &scored);
        Explanation { classification, gate, normalised_text: normalised, scores, fired, held_back }
    }

    /// Runs every example and counter-example in the pack. Empty means the pack is sound.
    pub fn check_examples(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
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

fn round3(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}
