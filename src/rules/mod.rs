//! Rule packs: loading, merging and validating the data files in `rules/`.
//!
//! A pack is concepts (lexicons of words and phrases) and rules that say which concepts occur
//! together, in the pattern language of [`pattern`]. Loading never panics on bad input. Every
//! problem found is collected with the file, category and rule it belongs to, so that `triage
//! rules check` can list them all at once.

mod model;
pub mod pattern;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{CategorySpec, ConceptSpec, ExcludeSpec, RuleFile, RuleSpec, Texts};
pub use pattern::{Item, Link, Pattern, Ref, Scope};

use crate::diagnose::FindingCode;

/// The pack shipped inside the binary, so `triage` runs on a fresh machine with no files around.
pub const EMBEDDED: &[(&str, &str)] = &[("rules/vtex-app-keys.toml", include_str!("../../rules/vtex-app-keys.toml"))];

/// The learned scorer that may sit beside a pack's files (see `crate::scorer`), and the one
/// built into the binary with the built-in pack.
pub const SCORER_FILE: &str = "scorer.tsv";
pub const EMBEDDED_SCORER: (&str, &str) = ("rules/scorer.tsv", include_str!("../../rules/scorer.tsv"));

/// The learned scorer of the pack at `path` (its folder's `scorer.tsv`; a pack given as one
/// file has none), or the built-in one. A damaged file is refused like a bad rule file.
pub fn load_scorer(path: Option<&Path>) -> Result<Option<(String, crate::scorer::Scorer)>, RulesError> {
    let (name, text) = match path {
        None => (EMBEDDED_SCORER.0.to_string(), std::borrow::Cow::Borrowed(EMBEDDED_SCORER.1)),
        Some(p) if p.is_dir() && p.join(SCORER_FILE).is_file() => {
            let file = p.join(SCORER_FILE);
            let text = read_text(&file, "write it again with `triage rules train`")?;
            (file.display().to_string(), std::borrow::Cow::Owned(text))
        }
        Some(_) => return Ok(None),
    };
    match crate::scorer::Scorer::parse(&text) {
        Ok(s) => Ok(Some((name, s))),
        Err(message) => {
            let problem = Problem { file: name, category: None, rule: None, message };
            Err(RulesError::Invalid { first: problem.clone(), problems: vec![problem] })
        }
    }
}

/// A data file of the pack as text; `fix` says how to mend one that is not UTF-8.
fn read_text(path: &Path, fix: &str) -> Result<String, RulesError> {
    let unreadable = |reason: String| RulesError::Unreadable { path: path.display().to_string(), reason };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| unreadable(format!("the file is not valid UTF-8; {fix}")))
}

/// The file of secret rules that may sit beside a pack's files. It is built into the binary and
/// a pack cannot replace it; `triage rules check` checks it.
pub const SECRETS_FILE: &str = "secrets.toml";

/// Message keys the responder uses; a pack must translate each of them.
pub const MESSAGE_KEYS: &[&str] = &[
    "findings_intro",
    "leaked_token",
    "leaked_secret",
    "leak_deleted",
    "leak_please_delete",
    "recurring",
    "staff_ping",
    "footer",
    "ticket_note",
    "ticket_note_handover",
    "ticket_recurring",
    "ticket_footer",
];

/// Message keys a pack may translate; the responder falls back to another key without them.
/// `leak_in_dm`: a leak in a direct message, where nothing can be deleted (else
/// `leak_please_delete`).
pub const OPTIONAL_MESSAGE_KEYS: &[&str] = &["leak_in_dm"];

/// One thing wrong with a rule pack, located as precisely as we can.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: String,
    pub category: Option<String>,
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(c) = &self.category {
            write!(f, ": category `{c}`")?;
        }
        if let Some(r) = &self.rule {
            write!(f, ", rule `{r}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A pack failed to load. Shown to users as one line; `triage rules check` lists all problems.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(
        "cannot read rules at {path}: {reason}. Pass an existing file or folder with --rules, or leave it out to use the built-in pack"
    )]
    Unreadable { path: String, reason: String },
    #[error("{first}{}", more_suffix(.problems.len()))]
    Invalid { first: Problem, problems: Vec<Problem> },
}

fn more_suffix(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more problems; run `triage rules check` to list them)", n - 1)
    } else {
        String::new()
    }
}

impl RulesError {
    pub fn from_problems(problems: Vec<Problem>) -> Option<Self> {
        let first = problems.first()?.clone();
        Some(RulesError::Invalid { first, problems })
    }

    pub fn problems(&self) -> Vec<String> {
        match self {
            RulesError::Unreadable { .. } => vec![self.to_string()],
            RulesError::Invalid { problems, .. } => problems.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// A pattern whose references are concept indexes into [`Pack::concepts`].
pub type Compiled = Pattern<usize>;

/// A lexicon, with its words normalised as messages are (lower case, no accents, apostrophes
/// dropped). A word that ends in `*` is a prefix.
#[derive(Debug, Clone)]
pub struct Concept {
    pub name: String,
    pub file: String,
    pub words: Vec<String>,
    /// Concepts (indexes) whose words this one has too.
    pub includes: Vec<usize>,
    /// Its words count in prose only, not in code.
    pub prose_only: bool,
    /// Its long words are also found with one slip: a letter left out, doubled or replaced, or two
    /// neighbours swapped.
    pub fuzzy: bool,
    /// Words written twice, the second time as `(second, first)`: the same entry once
    /// normalised (`nao` after `não`). Harmless when matching, so a pack with them still loads,
    /// but `triage rules check` reports them: each one makes the pack longer and says nothing.
    pub repeated: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Exclude {
    pub id: String,
    pub file: String,
    pub when: Vec<Compiled>,
    pub even_if_named: bool,
    pub unless: Vec<Compiled>,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub weight: f64,
    pub when: Vec<Compiled>,
    pub also: Vec<Compiled>,
    pub unless: Vec<Compiled>,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
    pub shadow: bool,
}

#[derive(Debug, Clone)]
pub struct Category {
    pub id: String,
    pub file: String,
    pub escalate_to_sponsor: bool,
    pub fallback: bool,
    pub finding_weight: f64,
    pub title: Texts,
    pub remediation: Texts,
    pub rules: Vec<Rule>,
    /// One of them must match for the learned scorer to name this cause alone (see
    /// `learned_when` in the pack file); empty: no such condition.
    pub learned_when: Vec<Compiled>,
    pub shadow: bool,
}

/// A merged, validated pack.
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    pub description: String,
    pub threshold: f64,
    pub sources: Vec<String>,
    /// Named concepts first, then one for each quoted phrase that a pattern uses.
    pub concepts: Vec<Concept>,
    pub gate_require: Vec<Compiled>,
    pub gate_strong: Vec<Compiled>,
    pub excludes: Vec<Exclude>,
    pub findings: BTreeMap<String, Texts>,
    pub messages: BTreeMap<String, Texts>,
    pub categories: Vec<Category>,
}

impl Pack {
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// Whether `label` is a category of the pack or `none`, the labels a person may set; if not,
    /// what to say after the label: "is not a category; use one of ..., or none".
    pub fn check_label(&self, label: &str) -> Result<(), String> {
        if label == "none" || self.category(label).is_some() {
            return Ok(());
        }
        let known: Vec<&str> = self.categories.iter().map(|c| c.id.as_str()).collect();
        Err(format!("is not a category; use one of {}, or none", known.join(", ")))
    }

    pub fn message(&self, key: &str, language: crate::language::Language) -> &str {
        self.messages.get(key).map(|t| t.get(language)).unwrap_or("")
    }

    /// Loads the pack built into the binary.
    pub fn embedded() -> Result<Pack, RulesError> {
        let files = EMBEDDED.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        Pack::from_sources(files)
    }

    /// The pack at `path`, or the built-in one.
    pub fn load_or_embedded(path: Option<&Path>) -> Result<Pack, RulesError> {
        match path {
            Some(p) => Pack::load(p),
            None => Pack::embedded(),
        }
    }

    /// Loads a pack from one `.toml` file or from every `.toml` file in a folder.
    pub fn load(path: &Path) -> Result<Pack, RulesError> {
        let unreadable = |reason: String| RulesError::Unreadable { path: path.display().to_string(), reason };
        let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
        let mut paths: Vec<PathBuf> = if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| unreadable(e.to_string()))?;
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                // Secret rules live beside the pack but are not part of it (see redact::rules).
                .filter(|p| p.file_name().is_none_or(|n| n != SECRETS_FILE))
                .collect()
        } else {
            vec![path.to_path_buf()]
        };
        paths.sort();
        if paths.is_empty() {
            return Err(unreadable("the folder holds no .toml files".into()));
        }
        let mut files = Vec::new();
        for p in paths {
            let text = read_text(&p, "save it as UTF-8")?;
            files.push((p.display().to_string(), text));
        }
        Pack::from_sources(files)
    }

    /// Parses, merges and validates rule files given as `(name, contents)`.
    pub fn from_sources(files: Vec<(String, String)>) -> Result<Pack, RulesError> {
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for (name, text) in &files {
            match toml::from_str::<RuleFile>(text) {
                Ok(f) => parsed.push((name.clone(), f)),
                Err(e) => problems.push(Problem { file: name.clone(), category: None, rule: None, message: one_line(&e.to_string()) }),
            }
        }
        if let Some(err) = RulesError::from_problems(std::mem::take(&mut problems)) {
            return Err(err);
        }
        let pack = merge(parsed, &mut problems);
        match (pack, RulesError::from_problems(problems)) {
            (_, Some(err)) => Err(err),
            (Some(pack), None) => Ok(pack),
            (None, None) => Err(RulesError::Unreadable { path: "rules".into(), reason: "no [pack] section".into() }),
        }
    }
}

/// TOML errors span several lines with a source excerpt; users get the gist on one line.
pub fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let head = lines.next().unwrap_or("invalid TOML").to_string();
    let reason = message.lines().last().map(str::trim).unwrap_or("");
    if reason.is_empty() || head.contains(reason) {
        head
    } else {
        format!("{} {}", head.trim_end_matches(':'), reason)
    }
}

struct Ctx<'a> {
    problems: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    fn push(&mut self, file: &str, category: Option<&str>, rule: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_string(),
            category: category.map(str::to_string),
            rule: rule.map(str::to_string),
            message: message.into(),
        });
    }
}

/// A lexicon entry as messages are normalised, keeping a final `*`.
pub fn normalise_word(word: &str) -> Option<String> {
    let (body, prefix) = match word.trim().strip_suffix('*') {
        Some(b) => (b, true),
        None => (word.trim(), false),
    };
    let (normalised, _) = crate::normalize::normalise(body);
    let tokens = crate::tokens::Tokens::new(&normalised);
    let joined = tokens.stream.trim().to_string();
    if joined.is_empty() {
        return None;
    }
    Some(if prefix { format!("{joined}*") } else { joined })
}

/// Concepts by name, and the anonymous ones made for quoted phrases.
struct Lexicon {
    concepts: Vec<Concept>,
    by_name: HashMap<String, usize>,
}

impl Lexicon {
    /// Resolves a reference, making a concept for a quoted phrase the first time it is seen.
    fn resolve(&mut self, r: Ref, file: &str) -> Result<usize, String> {
        match r {
            Ref::Concept(name) => self.by_name.get(&name).copied().ok_or_else(|| format!("unknown concept `{name}`")),
            Ref::Literal(text) => {
                let key = format!("'{text}'");
                if let Some(i) = self.by_name.get(&key) {
                    return Ok(*i);
                }
                let word = normalise_word(&text).ok_or_else(|| format!("'{text}' has no letters or digits"))?;
                self.concepts.push(Concept {
                    name: key.clone(),
                    file: file.to_string(),
                    words: vec![word],
                    includes: vec![],
                    prose_only: false,
                    fuzzy: false,
                    repeated: vec![],
                });
                self.by_name.insert(key, self.concepts.len() - 1);
                Ok(self.concepts.len() - 1)
            }
        }
    }
}

fn merge(files: Vec<(String, RuleFile)>, problems: &mut Vec<Problem>) -> Option<Pack> {
    let mut ctx = Ctx { problems };
    let mut meta = None;
    let mut concept_specs: Vec<(String, String, ConceptSpec)> = Vec::new();
    let mut pattern_lists: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut gate_require = Vec::new();
    let mut gate_strong = Vec::new();
    let mut excludes_raw = Vec::new();
    let mut findings = BTreeMap::new();
    let mut messages = BTreeMap::new();
    let mut categories_raw = Vec::new();
    let sources: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let gate_file = sources.first().cloned().unwrap_or_default();

    for (file, f) in files {
        if let Some(p) = f.pack {
            if meta.is_some() {
                ctx.push(&file, None, None, "a second [pack] section; a pack has exactly one");
            }
            meta = Some((file.clone(), p));
        }
        for (k, v) in f.concepts {
            if let Some((other, _, _)) = concept_specs.iter().find(|(_, n, _)| *n == k) {
                ctx.push(&file, None, None, format!("concept `{k}` is also defined in {other}"));
                continue;
            }
            concept_specs.push((file.clone(), k, v));
        }
        for (k, v) in f.patterns {
            if v.is_empty() {
                ctx.push(&file, None, None, format!("pattern list `{k}` is empty: give it patterns, or remove it"));
            }
            if let Some((other, _)) = pattern_lists.get(&k) {
                ctx.push(&file, None, None, format!("pattern list `{k}` is also defined in {other}"));
                continue;
            }
            pattern_lists.insert(k, (file.clone(), v));
        }
        if let Some(g) = f.gate {
            gate_require.extend(g.require.into_iter().map(|p| (file.clone(), p)));
            gate_strong.extend(g.strong.into_iter().map(|p| (file.clone(), p)));
            excludes_raw.extend(g.exclude.into_iter().map(|e| (file.clone(), e)));
        }
        for (k, v) in f.findings {
            findings.insert(k, (file.clone(), v));
        }
        for (k, v) in f.messages {
            messages.insert(k, (file.clone(), v));
        }
        categories_raw.extend(f.categories.into_iter().map(|c| (file.clone(), c)));
    }

    let Some((meta_file, meta)) = meta else {
        ctx.push(&gate_file, None, None, "no [pack] section with name and threshold");
        return None;
    };
    if !(0.0..=1.0).contains(&meta.threshold) {
        ctx.push(&meta_file, None, None, format!("threshold {} is outside 0..1", meta.threshold));
    }
    if gate_require.is_empty() {
        ctx.push(&meta_file, None, None, "[gate] require is missing: without a topic gate every message could get an answer");
    }

    let mut lexicon = concepts(&concept_specs, &mut ctx);
    // Each pattern, or each pattern of a named list (`@name`), compiled; problems go to `ctx`.
    let mut compile = |file: &str, cat: Option<&str>, rule: Option<&str>, srcs: &[String], scope: Scope, ctx: &mut Ctx| -> Vec<Compiled> {
        let mut out = Vec::with_capacity(srcs.len());
        for src in srcs {
            let expanded: &[String] = match src.strip_prefix('@') {
                None => std::slice::from_ref(src),
                Some(name) => match pattern_lists.get(name) {
                    Some((_, list)) => list,
                    None => {
                        ctx.push(file, cat, rule, format!("unknown pattern list `@{name}`: define it under [patterns]"));
                        continue;
                    }
                },
            };
            for p in expanded {
                if p.starts_with('@') {
                    ctx.push(file, cat, rule, format!("pattern list `{src}` names another list, `{p}`: lists hold patterns only"));
                    continue;
                }
                match pattern::parse(p, scope).and_then(|p| p.map(|r| lexicon.resolve(r, file))) {
                    Ok(c) => out.push(c),
                    Err(e) => ctx.push(file, cat, rule, format!("pattern `{p}`: {e}")),
                }
            }
        }
        out
    };
    let gate_require = gate_require
        .iter()
        .flat_map(|(f, p)| compile(f, None, Some("gate.require"), std::slice::from_ref(p), Scope::Sentence, &mut ctx))
        .collect();
    let gate_strong = gate_strong
        .iter()
        .flat_map(|(f, p)| compile(f, None, Some("gate.strong"), std::slice::from_ref(p), Scope::Sentence, &mut ctx))
        .collect();
    let mut seen_excludes = HashSet::new();
    let mut excludes = Vec::new();
    for (file, e) in excludes_raw {
        if !seen_excludes.insert(e.id.clone()) {
            ctx.push(&file, None, Some(&e.id), "duplicate gate.exclude id");
        }
        if e.when.is_empty() {
            ctx.push(&file, None, Some(&e.id), "gate.exclude has no `when` patterns");
        }
        let when = compile(&file, None, Some(&e.id), &e.when, Scope::Sentence, &mut ctx);
        let unless = compile(&file, None, Some(&e.id), &e.unless, Scope::Message, &mut ctx);
        excludes.push(Exclude {
            id: e.id,
            file,
            when,
            even_if_named: e.even_if_named,
            unless,
            examples: e.examples,
            counter_examples: e.counter_examples,
        });
    }

    for code in FindingCode::ALL {
        if !findings.contains_key(code.as_str()) {
            ctx.push(&meta_file, None, None, format!("[findings] has no text for `{}`", code.as_str()));
        }
    }
    for (k, (file, texts)) in &findings {
        if FindingCode::parse(k).is_none() {
            ctx.push(file, None, None, format!("[findings] `{k}` is not a finding the diagnosis reports"));
        }
        check_texts(&mut ctx, file, None, &format!("findings.{k}"), texts);
    }
    for key in MESSAGE_KEYS {
        if !messages.contains_key(*key) {
            ctx.push(&meta_file, None, None, format!("[messages] has no text for `{key}`"));
        }
    }
    for (k, (file, texts)) in &messages {
        if !MESSAGE_KEYS.contains(&k.as_str()) && !OPTIONAL_MESSAGE_KEYS.contains(&k.as_str()) {
            ctx.push(file, None, None, format!("[messages] `{k}` is not used by the responder"));
        }
        check_texts(&mut ctx, file, None, &format!("messages.{k}"), texts);
    }

    let mut seen_categories = HashSet::new();
    let mut categories = Vec::new();
    for (file, c) in categories_raw {
        let cat = Some(c.id.as_str());
        if c.id == "none" {
            ctx.push(&file, cat, None, "`none` is reserved for messages no category answers");
        }
        if !seen_categories.insert(c.id.clone()) {
            ctx.push(&file, cat, None, "duplicate category id");
        }
        if !(0.0..1.0).contains(&c.finding_weight) {
            ctx.push(&file, cat, None, format!("finding_weight {} is outside 0..1", c.finding_weight));
        }
        if c.rules.is_empty() && c.finding_weight == 0.0 {
            ctx.push(&file, cat, None, "category has no rules, so nothing can ever select it");
        }
        check_texts(&mut ctx, &file, cat, "title", &c.title);
        check_texts(&mut ctx, &file, cat, "remediation", &c.remediation);
        let mut seen_rules = HashSet::new();
        let mut rules = Vec::new();
        for r in c.rules {
            let rule = Some(r.id.as_str());
            if !seen_rules.insert(r.id.clone()) {
                ctx.push(&file, cat, rule, "duplicate rule id in this category");
            }
            if !(r.weight > 0.0 && r.weight < 1.0) {
                ctx.push(&file, cat, rule, format!("weight {} must be above 0 and below 1", r.weight));
            }
            if r.when.is_empty() {
                ctx.push(&file, cat, rule, "`when` is empty, so the rule can never fire");
            }
            let when = compile(&file, cat, rule, &r.when, Scope::Sentence, &mut ctx);
            let also = compile(&file, cat, rule, &r.also, Scope::Message, &mut ctx);
            let unless = compile(&file, cat, rule, &r.unless, Scope::Sentence, &mut ctx);
            rules.push(Rule {
                id: r.id,
                weight: r.weight,
                when,
                also,
                unless,
                examples: r.examples,
                counter_examples: r.counter_examples,
                shadow: r.shadow,
            });
        }
        let learned_when = compile(&file, cat, None, &c.learned_when, Scope::Message, &mut ctx);
        categories.push(Category {
            learned_when,
            id: c.id,
            file: file.clone(),
            escalate_to_sponsor: c.escalate_to_sponsor,
            fallback: c.fallback,
            shadow: c.shadow,
            finding_weight: c.finding_weight,
            title: c.title,
            remediation: c.remediation,
            rules,
        });
    }
    if categories.is_empty() {
        ctx.push(&meta_file, None, None, "the pack defines no [[category]]");
    }

    Some(Pack {
        name: meta.name,
        description: meta.description,
        threshold: meta.threshold,
        sources,
        concepts: lexicon.concepts,
        gate_require,
        gate_strong,
        excludes,
        findings: findings.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        messages: messages.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        categories,
    })
}

/// Builds the named concepts: normalised words, resolved includes, and no cycles or empty ones.
fn concepts(specs: &[(String, String, ConceptSpec)], ctx: &mut Ctx) -> Lexicon {
    let by_name: HashMap<String, usize> = specs.iter().enumerate().map(|(i, (_, n, _))| (n.clone(), i)).collect();
    let mut concepts = Vec::with_capacity(specs.len());
    for (file, name, spec) in specs {
        let rule = format!("concept {name}");
        if !(name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            ctx.push(file, None, Some(&rule), "a concept name is lower-case letters, digits and _, starting with a letter");
        }
        if spec.words.is_empty() && spec.include.is_empty() {
            ctx.push(file, None, Some(&rule), "the concept is empty: give it words, or include another concept");
        }
        let mut words = Vec::with_capacity(spec.words.len());
        let mut first_spelling: HashMap<String, &str> = HashMap::new();
        let mut repeated = Vec::new();
        for w in &spec.words {
            match normalise_word(w) {
                Some(n) if n == "*" || n.starts_with('*') => ctx.push(file, None, Some(&rule), format!("word `{w}` is only a wildcard")),
                Some(n) => match first_spelling.get(&n) {
                    Some(first) => repeated.push((w.clone(), first.to_string())),
                    None => {
                        first_spelling.insert(n.clone(), w);
                        words.push(n);
                    }
                },
                None => ctx.push(file, None, Some(&rule), format!("word `{w}` has no letters or digits")),
            }
        }
        let mut includes = Vec::new();
        for inc in &spec.include {
            match by_name.get(inc) {
                Some(i) => {
                    // Its words reach this concept through the include: in code too, unless this
                    // one is prose-only as well.
                    if specs[*i].2.prose_only && !spec.prose_only {
                        ctx.push(
                            file,
                            None,
                            Some(&rule),
                            format!("includes prose-only concept `{inc}`: mark this one `prose_only = true` too"),
                        );
                    }
                    includes.push(*i);
                }
                None => ctx.push(file, None, Some(&rule), format!("includes unknown concept `{inc}`")),
            }
        }
        concepts.push(Concept {
            name: name.clone(),
            file: file.clone(),
            words,
            includes,
            prose_only: spec.prose_only,
            fuzzy: spec.fuzzy,
            repeated,
        });
    }
    // A cycle would make a concept its own part: report each one once, where it starts.
    let mut reported = HashSet::new();
    for start in 0..concepts.len() {
        let mut path = vec![start];
        if let Some(cycle) = find_cycle(&concepts, &mut path) {
            let mut key = cycle.clone();
            key.sort_unstable();
            if reported.insert(key) {
                let names: Vec<&str> = cycle.iter().chain(cycle.first()).map(|i| concepts[*i].name.as_str()).collect();
                let c = &concepts[cycle[0]];
                ctx.push(
                    &c.file,
                    None,
                    Some(&format!("concept {}", c.name)),
                    format!("the concept includes itself: {}", names.join(" -> ")),
                );
            }
        }
    }
    Lexicon { concepts, by_name }
}

/// A cycle reachable from the last concept of `path`, as the concepts on it.
fn find_cycle(concepts: &[Concept], path: &mut Vec<usize>) -> Option<Vec<usize>> {
    let last = *path.last()?;
    for &next in &concepts[last].includes {
        if let Some(at) = path.iter().position(|p| *p == next) {
            return Some(path[at..].to_vec());
        }
        if path.len() < concepts.len() {
            path.push(next);
            if let Some(c) = find_cycle(concepts, path) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

fn check_texts(ctx: &mut Ctx, file: &str, category: Option<&str>, what: &str, texts: &Texts) {
    for language in crate::language::Language::ALL {
        if texts.get(language).trim().is_empty() {
            ctx.push(file, category, None, format!("{what} has an empty `{language}` translation"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = include_str!("../../tests/data/minimal_pack.toml");

    fn load(extra: &str) -> Result<Pack, RulesError> {
        Pack::from_sources(vec![("pack.toml".into(), format!("{MINIMAL}\n{extra}"))])
    }

    #[test]
    fn the_embedded_pack_loads_without_problems() {
        let pack = Pack::embedded().expect("embedded pack is valid");
        assert!(pack.category("apptoken-lost").is_some());
    }

    #[test]
    fn words_are_normalised_as_messages_are() {
        assert_eq!(normalise_word("Não anotei").as_deref(), Some("nao anotei"));
        assert_eq!(normalise_word("didn't copy").as_deref(), Some("didnt copy"));
        assert_eq!(normalise_word("vincul*").as_deref(), Some("vincul*"));
        assert_eq!(normalise_word("X-VTEX-API-AppKey").as_deref(), Some("x vtex api appkey"));
        assert_eq!(normalise_word(" -- "), None);
    }

    #[test]
    fn a_concept_cycle_an_unknown_concept_or_an_empty_lexicon_is_a_one_line_error_naming_file_and_rule() {
        let cases = [
            ("[concepts.a]\ninclude = [\"b\"]\n[concepts.b]\ninclude = [\"a\"]\n", "concept a", "includes itself: a -> b -> a"),
            ("[concepts.empty]\nwords = []\n", "concept empty", "the concept is empty"),
            ("[concepts.c]\ninclude = [\"nope\"]\n", "concept c", "includes unknown concept `nope`"),
            (
                "[concepts.p]\nprose_only = true\nwords = [\"new\"]\n[concepts.q]\ninclude = [\"p\"]\n",
                "concept q",
                "includes prose-only concept `p`",
            ),
        ];
        for (extra, rule, says) in cases {
            let err = load(extra).unwrap_err().to_string();
            assert!(err.contains("pack.toml") && err.contains(rule) && err.contains(says), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let err = load("")
            .and(Pack::from_sources(vec![("pack.toml".into(), MINIMAL.replace("when = [\"lost token\"]", "when = [\"lost tokne\"]"))]));
        let err = err.unwrap_err().to_string();
        assert!(err.contains("category `lost`, rule `lost-token`") && err.contains("unknown concept `tokne`"), "{err}");
    }

    #[test]
    fn a_word_repeated_once_normalised_still_loads_and_rules_check_names_it() {
        let pack = load("[concepts.denial]\nwords = [\"não\", \"never\", \"nao\", \"NÃO\"]\n")
            .expect("a repeated word is no reason to refuse a pack");
        let denial = pack.concepts.iter().find(|c| c.name == "denial").expect("the concept");
        assert_eq!(denial.words, ["nao", "never"], "each entry once");
        let said: Vec<String> = crate::Classifier::new(pack).expect("compiles").check_examples().iter().map(|p| p.to_string()).collect();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].starts_with("pack.toml, rule `concept denial`: word `nao` is `não` again"), "{said:?}");
        assert!(said[1].contains("word `NÃO` is `não` again"), "{said:?}");
        assert!(said.iter().all(|s| !s.contains('\n')), "one line each: {said:?}");
        let clean = load("[concepts.denial]\nwords = [\"não\", \"never\"]\n").expect("loads");
        assert!(crate::Classifier::new(clean).expect("compiles").check_examples().is_empty());
    }

    fn with_list(when: &str, lists: &str) -> Result<Pack, RulesError> {
        let text = MINIMAL.replace("when = [\"lost token\"]", &format!("when = [{when}]"));
        Pack::from_sources(vec![("pack.toml".into(), format!("{text}\n[patterns]\n{lists}"))])
    }

    #[test]
    fn a_named_pattern_list_stands_for_its_patterns_wherever_a_rule_names_it() {
        let pack = with_list("\"@losing\"", "losing = [\"token >3 lost\", \"lost token\"]").expect("pack with a list loads");
        let rule = &pack.category("lost").expect("category").rules[0];
        assert_eq!(rule.when.len(), 2, "both patterns of the list");
        let c = crate::Classifier::new(pack).expect("classifier");
        assert_eq!(c.classify("I lost the token").category.as_deref(), Some("lost"));
        assert_eq!(c.classify("the token, I lost it").category.as_deref(), Some("lost"));
        assert_eq!(c.classify("the token works").category, None);
    }

    #[test]
    fn an_unknown_empty_or_nested_pattern_list_is_a_one_line_error_naming_where_it_is() {
        let cases = [
            (with_list("\"@nope\"", "losing = [\"lost token\"]"), "unknown pattern list `@nope`"),
            (with_list("\"@a\"", "a = [\"@b\"]\nb = [\"lost token\"]"), "names another list, `@b`"),
        ];
        for (loaded, says) in cases {
            let err = loaded.unwrap_err().to_string();
            assert!(err.contains("pack.toml") && err.contains("rule `lost-token`") && err.contains(says), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let err = with_list("\"lost token\"", "empty = []").unwrap_err().to_string();
        assert!(err.contains("pack.toml") && err.contains("pattern list `empty` is empty"), "{err}");
    }
}
