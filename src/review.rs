//! Pure helpers for the people who keep a rule pack right: where the pack is silent or wrong on
//! reviewed cases, in words no concept covers yet (`triage rules suggest`), and how much of a
//! backlog it would answer (`triage rules coverage`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::classify::{Classifier, Gate};
use crate::eval::LabelledMessage;

/// A phrase that recurs where the pack missed, and that no concept knows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    pub phrase: String,
    /// Missed messages of the category that contain it.
    pub messages: usize,
    /// Of all the messages given.
    pub share_missed: f64,
    pub share_all: f64,
    /// Ids of up to three of those messages.
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestions {
    pub messages: usize,
    /// Messages the pack gets wrong or is silent on, per expected category.
    pub missed: BTreeMap<String, usize>,
    pub per_category: BTreeMap<String, Vec<Suggestion>>,
}

/// The words of a message as the rules read them (normalised: lower case, no accents), with
/// masked secrets left out.
fn words(text: &str) -> Vec<String> {
    let (normalised, _) = crate::normalize::normalise(text);
    let mut out: Vec<String> = Vec::new();
    let mut skip_next = false;
    for w in normalised.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        // `[masked:apptoken]` reads `masked apptoken`: neither word is the customer's.
        if w == "masked" {
            skip_next = true;
            continue;
        }
        if std::mem::take(&mut skip_next) {
            continue;
        }
        out.push(w.to_string());
    }
    out
}

/// Each distinct phrase of one to three words in a message.
fn phrases(words: &[String]) -> HashSet<String> {
    let mut out = HashSet::new();
    for n in 1..=3 {
        for w in words.windows(n) {
            // A lone short word ("de", "my") says nothing a rule author can use.
            if n == 1 && w[0].chars().count() < 4 {
                continue;
            }
            if w.iter().all(|x| x.chars().all(|c| c.is_ascii_digit())) {
                continue;
            }
            out.insert(w.join(" "));
        }
    }
    out
}

/// Phrases that recur in the messages the pack gets wrong or is silent on, per expected
/// category: at least `min_messages` of them, at least twice as common there as in the other
/// messages, and matched by no concept of the pack. Longest first among equals, and a phrase
/// inside a chosen one with the same count is left out.
pub fn suggest(classifier: &Classifier, items: &[LabelledMessage], per_category: usize, min_messages: usize) -> Suggestions {
    let mut all: HashMap<String, usize> = HashMap::new();
    let mut missed_in: BTreeMap<String, Vec<(&LabelledMessage, HashSet<String>)>> = BTreeMap::new();
    for item in items {
        let got = classifier.classify(&item.text);
        let found = phrases(&words(&got.masked_text));
        for p in &found {
            *all.entry(p.clone()).or_default() += 1;
        }
        if got.category_id() != item.expected {
            missed_in.entry(item.expected.clone()).or_default().push((item, found));
        }
    }
    let n_all = items.len().max(1) as f64;
    let mut covered_cache: HashMap<String, bool> = HashMap::new();
    let mut per = BTreeMap::new();
    for (category, missed) in &missed_in {
        let mut count: HashMap<&str, Vec<&str>> = HashMap::new();
        for (item, found) in missed {
            for p in found {
                count.entry(p.as_str()).or_default().push(item.id.as_str());
            }
        }
        let n_missed = missed.len() as f64;
        let mut candidates: Vec<(&str, Vec<&str>)> = count
            .into_iter()
            .filter(|(p, ids)| {
                // Twice as common here as in every other message: words everyone uses drop out.
                let rest = all.get(*p).copied().unwrap_or(0).saturating_sub(ids.len()) as f64;
                let n_rest = (n_all - n_missed).max(1.0);
                ids.len() >= min_messages && ids.len() as f64 / n_missed >= 2.0 * rest / n_rest
            })
            .collect();
        candidates.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(b.0.split(' ').count().cmp(&a.0.split(' ').count())).then(a.0.cmp(b.0)));
        let mut chosen: Vec<Suggestion> = Vec::new();
        for (phrase, ids) in candidates {
            if chosen.len() >= per_category {
                break;
            }
            let inside_chosen =
                chosen.iter().any(|c| c.messages == ids.len() && format!(" {} ", c.phrase).contains(&format!(" {phrase} ")));
            if inside_chosen {
                continue;
            }
            let covered = *covered_cache.entry(phrase.to_string()).or_insert_with(|| !classifier.explain(phrase).concepts.is_empty());
            if covered {
                continue;
            }
            let mut examples: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            examples.sort();
            examples.dedup();
            examples.truncate(3);
            chosen.push(Suggestion {
                phrase: phrase.to_string(),
                messages: ids.len(),
                share_missed: ids.len() as f64 / n_missed,
                share_all: *all.get(phrase).unwrap_or(&0) as f64 / n_all,
                examples,
            });
        }
        per.insert(category.clone(), chosen);
    }
    Suggestions { messages: items.len(), missed: missed_in.iter().map(|(k, v)| (k.clone(), v.len())).collect(), per_category: per }
}

/// How a pack would handle a set of messages, in four parts that add up to all of them.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Coverage {
    pub messages: usize,
    /// A category at or above the threshold: it would be answered.
    pub answered: usize,
    /// A category below the threshold: held back.
    pub below_threshold: usize,
    /// About application keys, but no category: silent.
    pub silent_on_topic: usize,
    /// Not about application keys (or about another kind of key or login).
    pub off_topic: usize,
}

impl Coverage {
    fn add(&mut self, part: Part) {
        self.messages += 1;
        match part {
            Part::Answered => self.answered += 1,
            Part::BelowThreshold => self.below_threshold += 1,
            Part::SilentOnTopic => self.silent_on_topic += 1,
            Part::OffTopic => self.off_topic += 1,
        }
    }

    pub fn share(&self, n: usize) -> f64 {
        if self.messages == 0 {
            0.0
        } else {
            n as f64 / self.messages as f64
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Answered,
    BelowThreshold,
    SilentOnTopic,
    OffTopic,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CoverageReport {
    pub threshold: f64,
    pub total: Coverage,
    pub per_language: BTreeMap<String, Coverage>,
    /// Per category the pack gave: answered and below the threshold.
    pub per_category: BTreeMap<String, Coverage>,
}

impl CoverageReport {
    pub fn new(threshold: f64) -> CoverageReport {
        CoverageReport { threshold, ..CoverageReport::default() }
    }

    /// Counts one classified message.
    pub fn add(&mut self, c: &crate::classify::Classification) {
        let part = match (&c.category, &c.gate) {
            (Some(_), _) if c.confidence >= self.threshold => Part::Answered,
            (Some(_), _) => Part::BelowThreshold,
            (None, Gate::Passed) => Part::SilentOnTopic,
            (None, _) => Part::OffTopic,
        };
        self.total.add(part);
        self.per_language.entry(c.language.code().to_string()).or_default().add(part);
        if c.category.is_some() {
            self.per_category.entry(c.category_id().to_string()).or_default().add(part);
        }
    }
}

/// Runs the pack over messages without storing anything.
pub fn coverage<'a>(classifier: &Classifier, texts: impl IntoIterator<Item = &'a str>) -> CoverageReport {
    let mut r = CoverageReport::new(classifier.threshold());
    for text in texts {
        r.add(&classifier.classify(text));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(id: &str, text: &str, expected: &str) -> LabelledMessage {
        LabelledMessage { id: id.into(), text: text.into(), expected: expected.into(), escalate: None, lang: None, secrets: Vec::new() }
    }

    #[test]
    fn a_phrase_that_recurs_in_missed_messages_and_no_concept_knows_is_suggested() {
        let classifier = Classifier::load(None).expect("pack");
        let mut items = vec![
            labelled("m1", "the zorblat widget ate my appToken, can VTEX help?", "apptoken-lost"),
            labelled("m2", "zorblat widget again: the appToken is gone", "apptoken-lost"),
            labelled("m3", "after the zorblat widget update we have no appToken", "apptoken-lost"),
        ];
        for i in 0..6 {
            items.push(labelled(&format!("n{i}"), "Good morning, how do I add a banner to the home page?", "none"));
        }
        let s = suggest(&classifier, &items, 5, 2);
        let phrases: Vec<&str> =
            s.per_category.get("apptoken-lost").map(|v| v.iter().map(|x| x.phrase.as_str()).collect()).unwrap_or_default();
        assert!(phrases.contains(&"zorblat widget"), "{phrases:?}");
        assert!(!phrases.iter().any(|p| p.contains("apptoken")), "a word a concept knows is not suggested: {phrases:?}");
    }

    #[test]
    fn coverage_parts_add_up_to_every_message() {
        let classifier = Classifier::load(None).expect("pack");
        let texts = [
            "I made a new app key an hour ago and all my requests get 403. Does the key need a role?",
            "Good morning folks, how do I add a banner to the home page?",
            "my appkey",
        ];
        let r = coverage(&classifier, texts);
        let t = &r.total;
        assert_eq!(t.messages, 3);
        assert_eq!(t.answered + t.below_threshold + t.silent_on_topic + t.off_topic, 3);
        assert_eq!(t.answered, 1);
        assert!(t.off_topic >= 1);
        assert_eq!(r.per_category.values().map(|c| c.messages).sum::<usize>(), t.answered + t.below_threshold);
    }
}
