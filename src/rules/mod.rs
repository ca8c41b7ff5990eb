//! Rule packs: loading, merging and validating the data files in `rules/`.
//!
//! Loading never panics on bad input. Every problem found is collected with the file, category
//! and rule it belongs to, so that `triage rules check` can list them all at once.

mod model;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{CategorySpec, ExcludeSpec, RuleFile, RuleSpec, Texts};

use crate::diagnose::FindingCode;

/// The pack shipped inside the binary, so `triage` runs on a fresh machine with no files around.
pub const EMBEDDED: &[(&str, &str)] = &[("rules/vtex-app-keys.toml", include_str!("../../rules/vtex-app-keys.toml"))];

/// The file of secret rules that may sit beside a pack's files. It is built into the binary and
/// a pack cannot replace it; `triage rules check` checks it.
pub const SECRETS_FILE: &str = "secrets.toml";

/// Message keys the responder uses; a pack must translate each of them.
pub const MESSAGE_KEYS: &[&str] =
    &["findings_intro", "leaked_token", "leaked_secret", "leak_deleted", "leak_please_delete", "recurring", "staff_ping", "footer"];

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

#[derive(Debug, Clone)]
pub struct Exclude {
    pub id: String,
    pub file: String,
    pub patterns: Vec<String>,
    pub even_if_named: bool,
    pub unless: Vec<String>,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub weight: f64,
    /// Patterns with concepts already expanded.
    pub any: Vec<String>,
    pub all: Vec<String>,
    pub unless: Vec<String>,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
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
}

/// A merged, validated pack with every concept expanded.
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    pub description: String,
    pub threshold: f64,
    pub sources: Vec<String>,
    pub gate_require: Vec<String>,
    pub gate_strong: Vec<String>,
    pub excludes: Vec<Exclude>,
    pub findings: BTreeMap<String, Texts>,
    pub messages: BTreeMap<String, Texts>,
    pub categories: Vec<Category>,
}

impl Pack {
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    pub fn message(&self, key: &str, language: crate::language::Language) -> &str {
        self.messages.get(key).map(|t| t.get(language)).unwrap_or("")
    }

    /// Loads the pack built into the binary.
    pub fn embedded() -> Result<Pack, RulesError> {
        let files = EMBEDDED.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        Pack::from_sources(files)
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
            let bytes = std::fs::read(&p).map_err(|e| RulesError::Unreadable { path: p.display().to_string(), reason: e.to_string() })?;
            let text = String::from_utf8(bytes).map_err(|_| RulesError::Unreadable {
                path: p.display().to_string(),
                reason: "the file is not valid UTF-8; save it as UTF-8".into(),
            })?;
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

fn merge(files: Vec<(String, RuleFile)>, problems: &mut Vec<Problem>) -> Option<Pack> {
    let mut ctx = Ctx { problems };
    let mut meta = None;
    let mut concepts: HashMap<String, (String, String)> = HashMap::new();
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
            if let Some((other, _)) = concepts.insert(k.clone(), (file.clone(), v)) {
                ctx.push(&file, None, None, format!("concept `{k}` is also defined in {other}"));
            }
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

    let concept_map: HashMap<String, String> = concepts.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
    let expand = |file: &str, cat: Option<&str>, rule: Option<&str>, pattern: &str, ctx: &mut Ctx| -> String {
        match expand_concepts(pattern, &concept_map) {
            Ok(p) => {
                if let Err(e) = crate::classify::build_regex(&p) {
                    ctx.push(file, cat, rule, format!("pattern `{pattern}` is not a valid regex: {}", one_line(&e.to_string())));
                }
                p
            }
            Err(e) => {
                ctx.push(file, cat, rule, format!("pattern `{pattern}`: {e}"));
                String::new()
            }
        }
    };
    // Concepts themselves must expand and compile, even if no rule uses them yet.
    for (name, (file, pattern)) in &concepts {
        let _ = expand(file, None, Some(&format!("concept {name}")), pattern, &mut ctx);
    }

    let gate_require = gate_require.into_iter().map(|(f, p)| expand(&f, None, Some("gate.require"), &p, &mut ctx)).collect();
    let gate_strong = gate_strong.into_iter().map(|(f, p)| expand(&f, None, Some("gate.strong"), &p, &mut ctx)).collect();
    let mut seen_excludes = HashSet::new();
    let mut excludes = Vec::new();
    for (file, e) in excludes_raw {
        if !seen_excludes.insert(e.id.clone()) {
            ctx.push(&file, None, Some(&e.id), "duplicate gate.exclude id");
        }
        if e.patterns.is_empty() {
            ctx.push(&file, None, Some(&e.id), "gate.exclude has no patterns");
        }
        let patterns = e.patterns.iter().map(|p| expand(&file, None, Some(&e.id), p, &mut ctx)).collect();
        let unless = e.unless.iter().map(|p| expand(&file, None, Some(&e.id), p, &mut ctx)).collect();
        excludes.push(Exclude {
            id: e.id,
            file,
            patterns,
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
        if !MESSAGE_KEYS.contains(&k.as_str()) {
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
            if r.any.is_empty() {
                ctx.push(&file, cat, rule, "`any` is empty, so the rule can never fire");
            }
            let any = r.any.iter().map(|p| expand(&file, cat, rule, p, &mut ctx)).collect();
            let all = r.all.iter().map(|p| expand(&file, cat, rule, p, &mut ctx)).collect();
            let unless = r.unless.iter().map(|p| expand(&file, cat, rule, p, &mut ctx)).collect();
            rules.push(Rule { id: r.id, weight: r.weight, any, all, unless, examples: r.examples, counter_examples: r.counter_examples });
        }
        categories.push(Category {
            id: c.id,
            file: file.clone(),
            escalate_to_sponsor: c.escalate_to_sponsor,
            fallback: c.fallback,
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
        gate_require,
        gate_strong,
        excludes,
        findings: findings.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        messages: messages.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        categories,
    })
}

fn check_texts(ctx: &mut Ctx, file: &str, category: Option<&str>, what: &str, texts: &Texts) {
    for language in crate::language::Language::ALL {
        if texts.get(language).trim().is_empty() {
            ctx.push(file, category, None, format!("{what} has an empty `{language}` translation"));
        }
    }
}

/// Replaces `{name}` with `(?:concept)`, recursively. Regex repetitions like `{0,40}` are left
/// alone because concept names must start with a letter.
pub fn expand_concepts(pattern: &str, concepts: &HashMap<String, String>) -> Result<String, String> {
    fn go(p: &str, concepts: &HashMap<String, String>, stack: &mut Vec<String>) -> Result<String, String> {
        let mut out = String::with_capacity(p.len());
        let mut rest = p;
        while let Some(start) = rest.find('{') {
            let (before, after) = rest.split_at(start);
            out.push_str(before);
            let name_len = after[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len() - 1);
            let name = &after[1..1 + name_len];
            let closes = after[1 + name_len..].starts_with('}');
            let escaped = before.ends_with('\\');
            if closes && !name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphabetic()) && !escaped {
                let body = concepts.get(name).ok_or_else(|| format!("unknown concept `{{{name}}}`"))?;
                if stack.iter().any(|s| s == name) {
                    return Err(format!("concept `{name}` refers to itself ({} -> {name})", stack.join(" -> ")));
                }
                stack.push(name.to_string());
                let inner = go(body, concepts, stack)?;
                stack.pop();
                out.push_str("(?:");
                out.push_str(&inner);
                out.push(')');
                rest = &after[2 + name_len..];
            } else {
                out.push('{');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }
    go(pattern, concepts, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concepts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn concepts_expand_recursively_and_leave_repetitions_alone() {
        let c = concepts(&[("key", "keys?|{tok}"), ("tok", "tokens?")]);
        assert_eq!(expand_concepts(r"\b{key}[^.]{0,40}x{2}", &c).unwrap(), r"\b(?:keys?|(?:tokens?))[^.]{0,40}x{2}");
    }

    #[test]
    fn unknown_and_self_referencing_concepts_are_reported() {
        let c = concepts(&[("a", "{b}"), ("b", "{a}")]);
        assert!(expand_concepts("{nope}", &c).unwrap_err().contains("unknown concept `{nope}`"));
        assert!(expand_concepts("{a}", &c).unwrap_err().contains("refers to itself"));
    }

    #[test]
    fn the_embedded_pack_loads_without_problems() {
        let pack = Pack::embedded().expect("embedded pack is valid");
        assert!(pack.category("apptoken-lost").is_some());
    }
}
