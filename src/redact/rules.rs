//! Secret rules as data: `rules/secrets.toml`, in the style of gitleaks' rules and rule tests.
//!
//! Each rule is a regex compiled on its own, so that its literal prefilter works, and it runs only
//! when one of its keywords is in the text: one pass of one Aho-Corasick automaton finds every
//! keyword of every rule.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::Deserialize;

use crate::rules::Problem;

/// The secret rules built into the binary.
pub const EMBEDDED: (&str, &str) = ("rules/secrets.toml", include_str!("../../rules/secrets.toml"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    #[serde(rename = "secret")]
    secrets: Vec<SecretSpec>,
    apptoken: AppTokenCases,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSpec {
    id: String,
    description: String,
    #[serde(default)]
    keywords: Vec<String>,
    regex: String,
    #[serde(default)]
    group: usize,
    /// A rule without keywords runs only on text with a run of at least this many characters
    /// from [A-Za-z0-9+/_=-]: a cheap look that spares most messages the regex.
    #[serde(default)]
    min_run: usize,
    #[serde(default)]
    entropy: f64,
    #[serde(default)]
    require: Vec<CharClass>,
    #[serde(default)]
    allow: Vec<String>,
    examples: Vec<String>,
    #[serde(default)]
    non_examples: Vec<String>,
}

/// The appToken detector's cases (it is code, see `letters.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppTokenCases {
    pub examples: Vec<String>,
    #[serde(default)]
    pub non_examples: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum CharClass {
    Letter,
    Digit,
    Upper,
    Lower,
    Symbol,
}

impl CharClass {
    fn in_(self, s: &str) -> bool {
        s.chars().any(|c| match self {
            CharClass::Letter => c.is_alphabetic(),
            CharClass::Digit => c.is_ascii_digit(),
            CharClass::Upper => c.is_uppercase(),
            CharClass::Lower => c.is_lowercase(),
            CharClass::Symbol => !c.is_alphanumeric() && !c.is_whitespace(),
        })
    }
}

struct Rule {
    id: String,
    regex: Regex,
    group: usize,
    min_run: usize,
    entropy: f64,
    require: Vec<CharClass>,
    allow: Vec<Regex>,
    examples: Vec<String>,
    non_examples: Vec<String>,
}

/// The compiled rules.
pub struct SecretRules {
    file: String,
    rules: Vec<Rule>,
    keywords: AhoCorasick,
    /// The keywords, lower case, in the automaton's order: the shared keyword pass
    /// ([`super::keywords`]) is built from them.
    patterns: Vec<String>,
    /// For each keyword, the rule it belongs to.
    keyword_rule: Vec<usize>,
    /// Rules without keywords: they run on every message.
    always: Vec<usize>,
    pub apptoken: AppTokenCases,
}

impl SecretRules {
    /// Parses and compiles a secrets file. Every problem is reported, with the rule it is in.
    pub fn parse(file: &str, text: &str) -> Result<SecretRules, Vec<Problem>> {
        let problem = |rule: Option<&str>, message: String| Problem {
            file: file.to_string(),
            category: None,
            rule: rule.map(|r| format!("secret {r}")),
            message,
        };
        let spec: SecretsFile = toml::from_str(text).map_err(|e| vec![problem(None, crate::rules::one_line(&e.to_string()))])?;
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        let mut patterns = Vec::new();
        let mut keyword_rule = Vec::new();
        let mut always = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in spec.secrets {
            let id = s.id.clone();
            if !seen.insert(id.clone()) {
                problems.push(problem(Some(&id), "duplicate secret rule id".into()));
            }
            if s.description.trim().is_empty() {
                problems.push(problem(Some(&id), "description is empty".into()));
            }
            if s.examples.is_empty() {
                problems.push(problem(Some(&id), "no examples: every rule needs a string it must mask".into()));
            }
            let regex = match Regex::new(&s.regex) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(problem(Some(&id), format!("regex is not valid: {}", crate::rules::one_line(&e.to_string()))));
                    continue;
                }
            };
            if s.group >= regex.captures_len() {
                problems.push(problem(Some(&id), format!("group {} does not exist in the regex", s.group)));
            }
            let mut allow = Vec::new();
            for a in &s.allow {
                match Regex::new(a) {
                    Ok(r) => allow.push(r),
                    Err(e) => {
                        problems.push(problem(Some(&id), format!("allow `{a}` is not valid: {}", crate::rules::one_line(&e.to_string()))))
                    }
                }
            }
            let index = rules.len();
            if s.keywords.is_empty() {
                always.push(index);
            }
            for k in &s.keywords {
                if k.trim().is_empty() {
                    problems.push(problem(Some(&id), "an empty keyword would match every message".into()));
                }
                patterns.push(k.to_ascii_lowercase());
                keyword_rule.push(index);
            }
            if s.keywords.is_empty() && s.min_run == 0 {
                problems.push(problem(Some(&id), "a rule without keywords needs `min_run`, or it runs its regex on every message".into()));
            }
            rules.push(Rule {
                id,
                regex,
                group: s.group,
                min_run: s.min_run,
                entropy: s.entropy,
                require: s.require,
                allow,
                examples: s.examples,
                non_examples: s.non_examples,
            });
        }
        let keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&patterns)
            .map_err(|e| vec![problem(None, format!("the keywords do not compile together: {e}"))])?;
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(SecretRules { file: file.to_string(), rules, keywords, patterns, keyword_rule, always, apptoken: spec.apptoken })
    }

    /// The rules built into the binary. They are tested with the code, so they always compile;
    /// should that ever fail, masking keeps appTokens and the diagnosis' spans, and the
    /// start-up check ([`super::check_builtin`]) refuses to run.
    pub fn builtin() -> Option<&'static SecretRules> {
        static RULES: OnceLock<Option<SecretRules>> = OnceLock::new();
        RULES.get_or_init(|| SecretRules::parse(EMBEDDED.0, EMBEDDED.1).ok()).as_ref()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The keywords, lower case: a keyword's index here is the one [`Self::find_surveyed`] is
    /// given.
    pub fn keywords(&self) -> &[String] {
        &self.patterns
    }

    /// Byte ranges of every secret the rules find in `raw`.
    pub fn find(&self, raw: &str, out: &mut Vec<Range<usize>>) {
        // Every occurrence, overlapping ones too: a rule runs whenever a keyword of its occurs.
        let found: Vec<usize> = match self.keywords.try_find_overlapping_iter(raw) {
            Ok(it) => it.map(|m| m.pattern().as_usize()).collect(),
            // Not reached (the automaton is built for overlapping search); if it were, every
            // rule runs.
            Err(_) => (0..self.patterns.len()).collect(),
        };
        self.find_surveyed(raw, found, out);
    }

    /// [`Self::find`], given the indexes of the keywords that occur in `raw` (by the shared
    /// keyword pass).
    pub fn find_surveyed(&self, raw: &str, found: impl IntoIterator<Item = usize>, out: &mut Vec<Range<usize>>) {
        let wanted = self.wanted(raw, found);
        for (rule, _) in self.rules.iter().zip(&wanted).filter(|(_, w)| **w) {
            rule.find(raw, out);
        }
    }

    /// Which rules must run on `raw`: a keyword of theirs occurs in it, or it holds a run as long
    /// as they need.
    fn wanted(&self, raw: &str, found: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut wanted = vec![false; self.rules.len()];
        for i in &self.always {
            wanted[*i] = super::has_run(raw.as_bytes(), self.rules[*i].min_run, |c| IN_RUN[c as usize]);
        }
        for k in found {
            if let Some(r) = self.keyword_rule.get(k) {
                wanted[*r] = true;
            }
        }
        wanted
    }

    /// Runs every example and non-example. Empty means the rules are sound.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let problem = |rule: &str, message: String| Problem {
            file: self.file.clone(),
            category: None,
            rule: Some(format!("secret {rule}")),
            message,
        };
        for rule in &self.rules {
            for ex in &rule.examples {
                let mut found = Vec::new();
                rule.find(ex, &mut found);
                if found.is_empty() {
                    problems.push(problem(&rule.id, format!("example {ex:?} is not found by this rule")));
                    continue;
                }
                let masked = super::redact(ex).text;
                for r in found {
                    if masked.contains(&ex[r.clone()]) {
                        problems.push(problem(&rule.id, format!("example {ex:?}: `{}` survives masking", &ex[r])));
                    }
                }
            }
            for ex in &rule.non_examples {
                let mut found = Vec::new();
                rule.find(ex, &mut found);
                if let Some(r) = found.first() {
                    problems.push(problem(&rule.id, format!("non-example {ex:?}: `{}` is taken for a secret", &ex[r.clone()])));
                }
            }
        }
        let token = example_token();
        for ex in &self.apptoken.examples {
            let raw = expand_token(ex, &token);
            let r = super::redact(&raw);
            if r.apptokens_found == 0 {
                problems.push(problem("apptoken", format!("example {ex:?} is not masked as an appToken")));
            }
            if let Some(w) = token_fragment_in(&r.text, &token) {
                problems.push(problem("apptoken", format!("example {ex:?}: `{w}`, 24 letters of the token, survives masking")));
            }
        }
        for ex in &self.apptoken.non_examples {
            let r = super::redact(ex);
            if r.secrets_found > 0 || r.text != *ex {
                problems.push(problem("apptoken", format!("non-example {ex:?} has something masked: {:?}", r.text)));
            }
        }
        problems
    }

    pub fn example_count(&self) -> usize {
        self.rules.iter().map(|r| r.examples.len() + r.non_examples.len()).sum::<usize>()
            + self.apptoken.examples.len()
            + self.apptoken.non_examples.len()
    }
}

impl Rule {
    fn find(&self, raw: &str, out: &mut Vec<Range<usize>>) {
        for caps in self.regex.captures_iter(raw) {
            let Some(m) = caps.get(self.group) else { continue };
            let v = m.as_str();
            if v.is_empty() || self.allow.iter().any(|a| a.is_match(v)) {
                continue;
            }
            if !self.require.iter().all(|c| c.in_(v)) || entropy(v) < self.entropy {
                continue;
            }
            out.push(m.range());
        }
    }
}

/// Letters, digits and the symbols of base64 and tokens: what a rule's `min_run` counts.
const IN_RUN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'=' | b'-');
        b += 1;
    }
    t
};

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts.values().map(|&k| k as f64 / n as f64).map(|p| -p * p.log2()).sum()
}

/// The token the `[apptoken]` cases are checked with: 128 letters, fixed, with no 24 letters
/// that could be mistaken for anything else.
pub fn example_token() -> String {
    // A linear congruential sequence: the same letters on every run, and random-looking.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..128)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            char::from(b'A' + ((x >> 33) % 26) as u8)
        })
        .collect()
}

/// Replaces `{T}`, `{t}` and `{T:a..b}` with the token, its lower case and a slice of it.
pub fn expand_token(template: &str, token: &str) -> String {
    let mut out = String::with_capacity(template.len() + token.len());
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let close = tail.find('}');
        let inner = close.map(|c| &tail[1..c]);
        let slice = |spec: &str| -> Option<String> {
            let (a, b) = spec.split_once("..")?;
            let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
            token.get(a..b.min(token.len())).map(str::to_string)
        };
        let value = match inner {
            Some("T") => Some(token.to_string()),
            Some("t") => Some(token.to_ascii_lowercase()),
            Some(s) if s.starts_with("T:") => slice(&s[2..]),
            _ => None,
        };
        match (value, close) {
            (Some(v), Some(c)) => {
                out.push_str(&v);
                rest = &tail[c + 1..];
            }
            _ => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A 24-letter piece of `token` that is still in `text`, comparing letters only and ignoring
/// case, so that a piece with separators, markup or a case change in it is found too.
pub fn token_fragment_in(text: &str, token: &str) -> Option<String> {
    let folded: String = text
        .chars()
        .filter_map(|c| match c {
            '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => char::from_u32(c as u32 - 0xFF21 + 'A' as u32),
            c if c.is_ascii_alphabetic() => Some(c),
            _ => None,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let token = token.to_ascii_uppercase();
    (0..=token.len().saturating_sub(24)).map(|i| &token[i..i + 24]).find(|w| folded.contains(*w)).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_that_overlap_in_a_text_still_run_every_rule_they_belong_to_in_the_shared_pass() {
        let rules = SecretRules::builtin().expect("built-in rules");
        let keywords: Vec<String> = EMBEDDED
            .1
            .lines()
            .filter(|l| l.starts_with("keywords"))
            .flat_map(|l| l.split('"').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>())
            .collect();
        assert!(keywords.len() > 20, "keywords read from the rule file: {keywords:?}");
        // Every pair glued and overlapped by every amount they allow, in both cases: the
        // rules run must include every rule that an overlapping search finds a keyword of.
        let mut texts = Vec::new();
        for a in &keywords {
            for b in &keywords {
                for cut in 0..a.len().min(b.len()) {
                    if a.is_char_boundary(a.len() - cut) && b.get(..cut) == a.get(a.len() - cut..) {
                        texts.push(format!("x {a}{} y", &b[cut..]));
                    }
                }
                texts.push(format!("{a}{b}"));
            }
        }
        // The shared pass holds the diagnosis' and the reply markers' keywords too: none of them
        // may hide a secret keyword from it.
        let shared = super::super::keywords::builtin().expect("the shared keyword pass builds");
        for text in texts.iter().flat_map(|t| [t.clone(), t.to_ascii_uppercase()]) {
            let wanted = rules.wanted(&text, shared.survey(&text).secret_keywords());
            for m in rules.keywords.find_overlapping_iter(&text) {
                let r = rules.keyword_rule[m.pattern().as_usize()];
                assert!(wanted[r], "{text:?}: rule `{}` is not run ({:?})", rules.rules[r].id, &text[m.range()]);
            }
        }
    }

    #[test]
    fn the_built_in_secret_rules_compile_and_every_example_holds() {
        let rules = SecretRules::parse(EMBEDDED.0, EMBEDDED.1).unwrap_or_else(|p| panic!("{p:?}"));
        let problems = rules.check();
        assert!(problems.is_empty(), "{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"));
    }

    #[test]
    fn a_bad_secret_rule_is_reported_with_its_id() {
        let text = "[[secret]]\nid = \"x\"\ndescription = \"d\"\nregex = \"(unclosed\"\nexamples = [\"a\"]\n[apptoken]\nexamples = []\n";
        let problems = SecretRules::parse("s.toml", text).err().unwrap_or_default();
        assert!(problems[0].to_string().contains("secret x") && problems[0].to_string().contains("not valid"), "{problems:?}");
        let unknown =
            "[[secret]]\nid = \"x\"\ndescription = \"d\"\nregex = \"a\"\nexamples = [\"a\"]\nkeyword = []\n[apptoken]\nexamples = []\n";
        assert!(SecretRules::parse("s.toml", unknown).err().unwrap_or_default()[0].message.contains("keyword"));
    }

    #[test]
    fn token_templates_expand() {
        let t = example_token();
        assert_eq!(t.len(), 128);
        assert_eq!(expand_token("a {T:0..4}-{T:4..8} {x}", &t), format!("a {}-{} {{x}}", &t[..4], &t[4..8]));
        assert!(token_fragment_in(&format!("x {} y", &t[10..40].to_lowercase()), &t).is_some());
        let other = if t.as_bytes()[23] == b'Q' { "R" } else { "Q" };
        assert!(token_fragment_in(&format!("{} {other}", &t[..23]), &t).is_none());
    }
}
