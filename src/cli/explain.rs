//! `triage explain`: which rules fired for a message and what they matched.

use std::path::Path;
use std::process::ExitCode;

use crate::classify::{Classifier, Gate};
use crate::error::check_message;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The message to explain.
    pub text: String,
    /// Print the explanation as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(rules: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    check_message(&args.text)?;
    let classifier = Classifier::load(rules)?;
    let e = classifier.explain(&args.text);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&e));
    Ok(ExitCode::SUCCESS)
}

pub fn render(e: &crate::classify::Explanation) -> String {
    let c = &e.classification;
    let mut out = String::new();
    out.push_str(&format!("category:   {} (confidence {:.3}, language {})\n", c.category_id(), c.confidence, c.language));
    out.push_str(&format!("normalised: {}\n", e.normalised_text));
    match &e.gate {
        Gate::Passed => {}
        Gate::OffTopic => out.push_str("gate:       not about application keys or tokens, so no category may answer\n"),
        Gate::Excluded { rule } => out.push_str(&format!("gate:       excluded by `{rule}` (another kind of key, token or login)\n")),
    }
    for s in &e.scores {
        out.push_str(&format!("score:      {:<24} {:.3}\n", s.category, s.score));
    }
    for c in &e.concepts {
        let spans: Vec<String> = c.spans.iter().map(|s| format!("{:?} @{}..{}", s.text, s.start, s.end)).collect();
        out.push_str(&format!("concept:    {:<22} {}\n", c.concept, spans.join(", ")));
    }
    for f in &e.fired {
        let spans: Vec<String> = f.spans.iter().map(|s| format!("{}={:?} @{}..{}", s.concept, s.text, s.start, s.end)).collect();
        out.push_str(&format!(
            "rule:       {}/{} (weight {:.2}) `{}` matched {}\n",
            f.category,
            f.rule,
            f.weight,
            f.pattern,
            spans.join(", ")
        ));
    }
    if let Some(l) = &e.learned {
        let evidence: Vec<String> = l.evidence.iter().map(|x| format!("{:?} {:+.3}", x.ngram, x.weight)).collect();
        let verdict = match (l.used, l.rules_silent) {
            (true, false) => "used: it names the cause the rules could not tell",
            (true, true) => "used: the rules found no cause; it clears the bar, and the message has the words of this cause",
            (false, false) => "below its threshold: the rules' answer stands",
            (false, true) => "below the bar for a message the rules left unanswered: no answer",
        };
        out.push_str(&format!(
            "learned:    {} {:.3} (threshold {:.2}; {verdict}) from {}\n",
            l.category,
            l.probability,
            l.threshold,
            evidence.join(", ")
        ));
    }
    for name in &e.held_back {
        out.push_str(&format!("held back:  {name} (the message rules its cause out)\n"));
    }
    for f in &c.findings {
        out.push_str(&format!(
            "finding:    {} in {}{}\n",
            f.code.as_str(),
            f.field.as_str(),
            if f.detail.is_empty() { String::new() } else { format!(": {}", f.detail) }
        ));
    }
    if c.secrets_found > 0 {
        out.push_str(&format!("secrets:    {} masked before matching\n", c.secrets_found));
    }
    out
}
