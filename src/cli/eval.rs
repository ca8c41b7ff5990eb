//! `triage eval`: precision, recall and F1 on a labelled corpus.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::classify::Classifier;
use crate::eval::{evaluate, EvalReport, LabelledMessage};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Corpus in JSON lines: id, text, expected, and optionally escalate, lang, secrets.
    pub corpus: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Minimum confidence for a category (default: the pack's threshold).
    #[arg(long)]
    pub threshold: Option<f64>,
}

/// A labelled corpus: one `{id, text, expected, ...}` per line.
pub fn read_corpus(path: &Path) -> anyhow::Result<Vec<LabelledMessage>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open corpus {}", path.display()))?;
    let mut items = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: cannot read line (is it UTF-8?)", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let item: LabelledMessage = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a corpus line {{id, text, expected}}", path.display(), i + 1))?;
        items.push(item);
    }
    Ok(items)
}

pub fn run(rules: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::load(rules)?.with_threshold(args.threshold);
    let items = read_corpus(&args.corpus)?;
    let report = evaluate(&classifier, &items);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn render(r: &EvalReport) -> String {
    let mut out = format!("{:<24} {:>7} {:>9} {:>9} {:>7} {:>7}\n", "category", "support", "predicted", "precision", "recall", "f1");
    for (cat, m) in &r.per_category {
        out.push_str(&format!("{:<24} {:>7} {:>9} {:>9.3} {:>7.3} {:>7.3}\n", cat, m.support, m.predicted, m.precision, m.recall, m.f1));
    }
    out.push('\n');
    out.push_str(&format!("messages                 {}\n", r.messages));
    out.push_str(&format!("accuracy                 {:.3}\n", r.accuracy));
    out.push_str(&format!("macro-F1 (categories)    {:.3}\n", r.macro_f1));
    out.push_str(&format!("none false-positive rate {:.3}\n", r.none_false_positive_rate));
    match r.escalation_accuracy {
        Some(a) => out.push_str(&format!("escalation accuracy      {a:.3} ({} labelled)\n", r.escalation_labelled)),
        None => out.push_str("escalation accuracy      - (no message labels it)\n"),
    }
    out.push_str(&format!(
        "secrets                  {} messages, {} detected, {} leaked\n",
        r.messages_with_secrets, r.secrets_detected, r.secrets_leaked
    ));
    for (lang, l) in &r.per_language {
        out.push_str(&format!("language {:<15} {} messages, accuracy {:.3}, macro-F1 {:.3}\n", lang, l.messages, l.accuracy, l.macro_f1));
    }
    if !r.misses.is_empty() {
        out.push_str("\nmisclassified:\n");
        for m in &r.misses {
            out.push_str(&format!("  {:<8} expected {:<24} got {:<24} ({:.2})\n", m.id, m.expected, m.got, m.confidence));
        }
    }
    out
}
