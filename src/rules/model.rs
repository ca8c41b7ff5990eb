//! The on-disk shape of a rule pack. Every struct rejects unknown fields, so a typo in a rule
//! file is an error instead of a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::language::Language;

/// One text in each supported language. All three are required: a missing translation is a
/// load error, not a reply in the wrong language.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub en: String,
    pub pt: String,
    pub es: String,
}

impl Texts {
    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::En => &self.en,
            Language::Pt => &self.pt,
            Language::Es => &self.es,
        }
    }
}

/// One rule file. A pack may be split across several files in a folder; their sections merge.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub pack: Option<PackMeta>,
    #[serde(default)]
    pub concepts: BTreeMap<String, ConceptSpec>,
    /// Named lists of patterns that several rules share: a rule's `when`, `also` or `unless`
    /// names one as `@name`, and it stands for all of its patterns.
    #[serde(default)]
    pub patterns: BTreeMap<String, Vec<String>>,
    pub gate: Option<GateSpec>,
    #[serde(default)]
    pub findings: BTreeMap<String, Texts>,
    #[serde(default)]
    pub messages: BTreeMap<String, Texts>,
    #[serde(default, rename = "category")]
    pub categories: Vec<CategorySpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackMeta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Confidence below which a message is classified `none`.
    pub threshold: f64,
}

/// A concept: an idea, as the words and short phrases that say it in en/pt/es, with their
/// inflections and common misspellings. A word ending in `*` matches every word it begins
/// (`vincul*`: vinculada, vinculei, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptSpec {
    #[serde(default)]
    pub words: Vec<String>,
    /// Other concepts whose words this one has too.
    #[serde(default)]
    pub include: Vec<String>,
    /// Found in prose only, not inside code (a Markdown fence or `inline code`): in
    /// `new VtexClient(...)`, "new" is an operator, not a fresh key.
    #[serde(default)]
    pub prose_only: bool,
    /// Also found misspelt by one slip: a letter left out, doubled or replaced (not the first),
    /// or two neighbours swapped (`aptoken`, `apptokken`, `sponsar`, `sposnor`), in words of
    /// six letters or more: for the few nouns people mistype most, so that each slip need not
    /// be listed.
    #[serde(default)]
    pub fuzzy: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// Patterns; at least one must match for any category to answer.
    pub require: Vec<String>,
    /// An explicit mention of an application key or token; overrides `exclude`.
    #[serde(default)]
    pub strong: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<ExcludeSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludeSpec {
    pub id: String,
    /// Patterns; any of them excludes the message.
    pub when: Vec<String>,
    /// Applies even when an application key or token is named explicitly (`gate.strong`).
    #[serde(default)]
    pub even_if_named: bool,
    /// Patterns that cancel this exclusion for a message, e.g. a question still being asked.
    #[serde(default)]
    pub unless: Vec<String>,
    /// Messages that must come out `none` because of this exclusion.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Messages this exclusion must leave alone.
    #[serde(default)]
    pub counter_examples: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySpec {
    pub id: String,
    /// The fix needs key editing, which only the account's Sponsor user may do.
    pub escalate_to_sponsor: bool,
    /// Answers only when no specific category does.
    #[serde(default)]
    pub fallback: bool,
    /// Weight given to each finding of the credential diagnosis.
    #[serde(default)]
    pub finding_weight: f64,
    pub title: Texts,
    pub remediation: Texts,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
    /// Patterns (anywhere in the message unless they name a scope), one of which must match for
    /// the learned scorer to name this cause where no rule did: the words of the cause itself
    /// (a lost token's "lost", "see it again"), so that a question that only names keys ("is
    /// there a maximum number of app keys?") is not answered with a cause it never states.
    /// Empty: the scorer may name it on the message's other words alone.
    #[serde(default)]
    pub learned_when: Vec<String>,
    /// Decide and record, but hold every reply back (`shadow_rule`): a new category is watched
    /// on live traffic before it speaks.
    #[serde(default)]
    pub shadow: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub weight: f64,
    /// Patterns, each in one sentence unless it names another scope; the rule fires when any
    /// of them matches.
    pub when: Vec<String>,
    /// Patterns that must all match too, anywhere in the message unless they name a scope.
    #[serde(default)]
    pub also: Vec<String>,
    /// Patterns that hold the rule back: the person says this cause is already ruled out
    /// ("there are no spaces", "I already checked the case").
    #[serde(default)]
    pub unless: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub counter_examples: Vec<String>,
    /// Decide and record, but hold back a reply that rests on this rule alone (`shadow_rule`).
    #[serde(default)]
    pub shadow: bool,
}
