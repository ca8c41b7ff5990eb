//! Evaluation of the classifier against a labelled corpus (the format of
//! `shared/corpus/dev.jsonl`). Pure: takes parsed items, returns a report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classify::Classifier;

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledMessage {
    pub id: String,
    pub text: String,
    pub expected: String,
    #[serde(default)]
    pub escalate: Option<bool>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassMetrics {
    pub support: usize,
    pub predicted: usize,
    pub true_positives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub id: String,
    pub expected: String,
    pub got: String,
    pub confidence: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LanguageReport {
    pub messages: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub messages: usize,
    pub accuracy: f64,
    /// Mean F1 over the categories (not `none`) present in the corpus.
    pub macro_f1: f64,
    /// Share of `none` messages given a category: wrong auto-replies in waiting.
    pub none_false_positive_rate: f64,
    pub per_category: BTreeMap<String, ClassMetrics>,
    pub per_language: BTreeMap<String, LanguageReport>,
    /// Agreement on `escalate_to_sponsor` where the corpus decides it; `None` (JSON `null`) when
    /// no message decides it, rather than a misleading 0.
    pub escalation_accuracy: Option<f64>,
    pub escalation_labelled: usize,
    /// How many of those it got right: the count behind the ratio, so that pooled figures add
    /// counts instead of rounding ratios back into them.
    pub escalation_right: usize,
    /// Messages with planted secrets, and how many of those secrets survived masking (must be 0).
    pub messages_with_secrets: usize,
    pub secrets_detected: usize,
    pub secrets_leaked: usize,
    pub misses: Vec<Miss>,
}

struct Outcome<'a> {
    item: &'a LabelledMessage,
    got: String,
}

fn metrics(outcomes: &[Outcome]) -> (BTreeMap<String, ClassMetrics>, f64, f64) {
    let mut per: BTreeMap<String, ClassMetrics> = BTreeMap::new();
    for o in outcomes {
        per.entry(o.item.expected.clone()).or_default().support += 1;
        per.entry(o.got.clone()).or_default().predicted += 1;
        if o.got == o.item.expected {
            per.entry(o.got.clone()).or_default().true_positives += 1;
        }
    }
    for m in per.values_mut() {
        m.precision = ratio(m.true_positives, m.predicted);
        m.recall = ratio(m.true_positives, m.support);
        m.f1 = if m.precision + m.recall > 0.0 { 2.0 * m.precision * m.recall / (m.precision + m.recall) } else { 0.0 };
    }
    let scored: Vec<f64> = per.iter().filter(|(k, m)| k.as_str() != "none" && m.support > 0).map(|(_, m)| m.f1).collect();
    let macro_f1 = if scored.is_empty() { 0.0 } else { scored.iter().sum::<f64>() / scored.len() as f64 };
    let accuracy = ratio(outcomes.iter().filter(|o| o.got == o.item.expected).count(), outcomes.len());
    (per, macro_f1, accuracy)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub fn evaluate(classifier: &Classifier, items: &[LabelledMessage]) -> EvalReport {
    let mut outcomes = Vec::with_capacity(items.len());
    let (mut esc_ok, mut esc_n) = (0, 0);
    let (mut with_secrets, mut detected, mut leaked) = (0, 0, 0);
    let mut misses = Vec::new();
    for item in items {
        let c = classifier.classify(&item.text);
        let got = c.category_id().to_string();
        if let Some(e) = item.escalate {
            esc_n += 1;
            esc_ok += usize::from(e == c.escalate_to_sponsor);
        }
        if !item.secrets.is_empty() {
            with_secrets += 1;
            detected += c.secrets_found.min(item.secrets.len());
            leaked += item.secrets.iter().filter(|s| c.masked_text.contains(s.as_str())).count();
        }
        if got != item.expected {
            misses.push(Miss { id: item.id.clone(), expected: item.expected.clone(), got: got.clone(), confidence: c.confidence });
        }
        outcomes.push(Outcome { item, got });
    }
    let (per_category, macro_f1, accuracy) = metrics(&outcomes);
    let none = per_category.get("none");
    let none_fp = none.map(|m| ratio(m.support - m.true_positives, m.support)).unwrap_or(0.0);
    let mut langs: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    for o in outcomes {
        langs.entry(o.item.lang.clone().unwrap_or_else(|| "?".into())).or_default().push(o);
    }
    let per_language = langs
        .into_iter()
        .map(|(l, os)| {
            let (_, f1, acc) = metrics(&os);
            (l, LanguageReport { messages: os.len(), accuracy: acc, macro_f1: f1 })
        })
        .collect();
    EvalReport {
        messages: items.len(),
        accuracy,
        macro_f1,
        none_false_positive_rate: none_fp,
        per_category,
        per_language,
        escalation_accuracy: (esc_n > 0).then(|| ratio(esc_ok, esc_n)),
        escalation_labelled: esc_n,
        escalation_right: esc_ok,
        messages_with_secrets: with_secrets,
        secrets_detected: detected,
        secrets_leaked: leaked,
        misses,
    }
}
