//! `triage rules check`: validate a pack and run every example in it. `triage rules suggest`:
//! phrases the pack misses on reviewed cases. `triage rules coverage`: how much of a backlog
//! the pack would answer, without storing anything. `triage rules train`: the learned scorer,
//! from labelled corpora and the pack's own examples.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::classify::Classifier;
use crate::redact::rules::{self as secrets, SecretRules};
use crate::rules::{Pack, RulesError};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate a rule pack and run its examples (default: --rules, or the built-in pack).
    Check {
        /// A .toml file or a folder of them.
        path: Option<PathBuf>,
    },
    /// List the phrases that recur where the pack is silent or wrong on labelled cases, and that
    /// no concept covers yet: a starting point for the rule author, not a rule change.
    Suggest {
        /// Labelled JSON lines (`triage review export`, or a corpus file).
        file: PathBuf,
        /// Phrases per category.
        #[arg(long, default_value_t = 15)]
        top: usize,
        /// A phrase must occur in at least this many missed messages.
        #[arg(long, default_value_t = 2)]
        min: usize,
        #[arg(long)]
        json: bool,
    },
    /// Train the learned scorer from labelled corpora and the pack's own examples, and write it
    /// as `scorer.tsv` beside the pack. It is asked only when the rules answer with the generic
    /// checklist, and may then name a specific cause instead.
    Train {
        /// Labelled JSON lines (`id`, `text`, `expected`), as `triage eval` reads them.
        #[arg(required = true)]
        corpus: Vec<PathBuf>,
        /// Where to write it (default: scorer.tsv in the --rules folder, else rules/scorer.tsv).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The probability a specific cause needs to replace the generic answer.
        #[arg(long, default_value_t = crate::scorer::DEFAULT_THRESHOLD)]
        threshold: f64,
        /// Inverse regularisation strength (scikit-learn's C).
        #[arg(long, default_value_t = crate::scorer::DEFAULT_C)]
        c: f64,
        /// Keep n-grams found in at least this many messages.
        #[arg(long, default_value_t = crate::scorer::DEFAULT_MIN_DF)]
        min_df: usize,
        #[arg(long, default_value_t = crate::scorer::DEFAULT_ITERATIONS)]
        iterations: usize,
    },
    /// Run the pack over a helpdesk export (JSON lines with `text`) without storing anything:
    /// the share answered, held back below the threshold, silent but on topic, and off topic.
    Coverage {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Minimum confidence for an answer (default: the pack's threshold).
        #[arg(long)]
        threshold: Option<f64>,
    },
}

pub fn run(global: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let path = match command {
        Command::Check { path } => path,
        Command::Suggest { file, top, min, json } => return suggest(global, &file, top, min, json),
        Command::Coverage { file, json, threshold } => return coverage(global, &file, json, threshold),
        Command::Train { corpus, out, threshold, c, min_df, iterations } => {
            let options = crate::scorer::TrainOptions { c, min_df, iterations, threshold };
            return train(global, &corpus, out, &options);
        }
    };
    let path = path.as_deref().or(global);
    let secrets_ok = check_secrets(path);
    let pack_ok = check_pack(path);
    Ok(if secrets_ok && pack_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The secret rules: the `secrets.toml` beside the pack when a folder holds one, else the
/// built-in file. Edits to it take effect once the binary is rebuilt; checking them first
/// tells the editor whether they hold.
fn check_secrets(path: Option<&Path>) -> bool {
    let beside = path.filter(|p| p.is_dir()).map(|p| p.join(crate::rules::SECRETS_FILE)).filter(|p| p.is_file());
    let (label, loaded) = match &beside {
        Some(file) => {
            let label = file.display().to_string();
            match std::fs::read_to_string(file) {
                Ok(text) => (label.clone(), SecretRules::parse(&label, &text)),
                Err(e) => {
                    eprintln!("error: cannot read {label}: {e}");
                    return false;
                }
            }
        }
        None => (format!("built-in {}", secrets::EMBEDDED.0), SecretRules::parse(secrets::EMBEDDED.0, secrets::EMBEDDED.1)),
    };
    let problems: Vec<String> = match loaded {
        Ok(rules) => {
            let problems = rules.check();
            if problems.is_empty() {
                println!("ok: {label}: {} secret rules, {} examples checked", rules.len(), rules.example_count());
                return true;
            }
            problems.iter().map(|p| p.to_string()).collect()
        }
        Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
    };
    for p in &problems {
        eprintln!("error: {p}");
    }
    eprintln!("{} problem(s) in {label}", problems.len());
    false
}

fn check_pack(path: Option<&Path>) -> bool {
    let label = path.map(|p| p.display().to_string()).unwrap_or_else(|| "built-in pack".into());
    // With its learned scorer, if it has one: the examples must hold with it asked.
    let loaded = Classifier::load(path);
    let problems = match loaded {
        Ok(classifier) => {
            let problems = classifier.check_examples();
            if problems.is_empty() {
                let pack = classifier.pack();
                let rules: usize = pack.categories.iter().map(|c| c.rules.len()).sum();
                let scorer = classifier
                    .scorer()
                    .map(|s| format!("; learned scorer: {} n-grams, threshold {}", s.ngram_count(), s.threshold))
                    .unwrap_or_default();
                println!(
                    "ok: {label}: {} categories, {rules} rules, {} exclusions, {} examples checked{scorer}",
                    pack.categories.len(),
                    pack.excludes.len(),
                    classifier.example_count()
                );
                return true;
            }
            problems.iter().map(|p| p.to_string()).collect()
        }
        Err(e @ RulesError::Unreadable { .. }) => vec![e.to_string()],
        Err(e) => e.problems(),
    };
    for p in &problems {
        eprintln!("error: {p}");
    }
    eprintln!("{} problem(s) in {label}", problems.len());
    false
}

fn train(
    rules: Option<&Path>,
    corpora: &[PathBuf],
    out: Option<PathBuf>,
    options: &crate::scorer::TrainOptions,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    if !(0.0..=1.0).contains(&options.threshold) {
        anyhow::bail!("--threshold must be between 0 and 1, not {}", options.threshold);
    }
    // The pack alone: a damaged scorer beside it is what this command replaces.
    let pack = Pack::load_or_embedded(rules)?;
    let out = match (out, rules) {
        (Some(o), _) => o,
        (None, Some(p)) if p.is_dir() => p.join(crate::rules::SCORER_FILE),
        (None, _) if Path::new("rules").is_dir() => Path::new("rules").join(crate::rules::SCORER_FILE),
        _ => anyhow::bail!("no rules folder here to write scorer.tsv into; pass --out FILE, or --rules FOLDER"),
    };
    let mut data = Vec::new();
    let mut sources = Vec::new();
    for path in corpora {
        let items = crate::cli::eval::read_corpus(path)?;
        for item in &items {
            if let Err(says) = pack.check_label(&item.expected) {
                anyhow::bail!("{}: message {}: label `{}` {says}", path.display(), item.id, item.expected);
            }
        }
        sources.push(format!("{} ({} messages)", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(), items.len()));
        data.extend(items.into_iter().map(|i| crate::scorer::Labelled { text: Classifier::learned_text(&i.text), label: i.expected }));
    }
    // The pack's own examples say what each cause looks like too; an exclusion's examples are
    // what no cause looks like.
    let mut examples = 0;
    for cat in &pack.categories {
        for ex in cat.rules.iter().flat_map(|r| &r.examples) {
            data.push(crate::scorer::Labelled { text: Classifier::learned_text(ex), label: cat.id.clone() });
            examples += 1;
        }
    }
    for ex in pack.excludes.iter().flat_map(|e| &e.examples) {
        data.push(crate::scorer::Labelled { text: Classifier::learned_text(ex), label: "none".into() });
        examples += 1;
    }
    let scorer = crate::scorer::Scorer::train(&data, options).map_err(|e| anyhow::anyhow!("cannot train the scorer: {e}"))?;
    let right = data
        .iter()
        .filter(|d| {
            let o = scorer.opinion(&d.text);
            let best = o.probabilities.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k);
            best.and_then(|k| scorer.classes.get(k)) == Some(&d.label)
        })
        .count();
    let about = format!(
        "The learned scorer of the rule pack `{}`.\n\
         Written by `triage rules train`; do not edit it by hand.\n\
         Trained on {} messages: {}, and {examples} examples of the pack.\n\
         C {}, n-grams in at least {} messages, {} iterations.",
        pack.name,
        data.len(),
        sources.join(", "),
        options.c,
        options.min_df,
        options.iterations
    );
    std::fs::write(&out, scorer.to_text(&about)).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {}: {} n-grams, {} classes, from {} messages ({} of them right on re-reading, {:.3}); threshold {}",
        out.display(),
        scorer.ngram_count(),
        scorer.classes.len(),
        data.len(),
        right,
        right as f64 / data.len().max(1) as f64,
        options.threshold
    );
    Ok(ExitCode::SUCCESS)
}

fn suggest(rules: Option<&Path>, file: &Path, top: usize, min: usize, json: bool) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::load(rules)?;
    let items = crate::cli::eval::read_corpus(file)?;
    let s = crate::review::suggest(&classifier, &items, top, min.max(1));
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} labelled messages; the pack is silent or wrong on {}.", s.messages, s.missed.values().sum::<usize>());
    for (category, phrases) in &s.per_category {
        println!("\n{category}: {} missed", s.missed.get(category).copied().unwrap_or(0));
        if phrases.is_empty() {
            println!("  (no phrase recurs that a concept does not already cover)");
        }
        for p in phrases {
            println!(
                "  {:<32} {:>4} missed ({:>3.0}% of them, {:>3.0}% of all)  e.g. {}",
                p.phrase,
                p.messages,
                p.share_missed * 100.0,
                p.share_all * 100.0,
                p.examples.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn coverage(rules: Option<&Path>, file: &Path, json: bool, threshold: Option<f64>) -> anyhow::Result<ExitCode> {
    use crate::cli::{json_line, read_line, LineRead, MAX_LINE_BYTES};
    let classifier = Classifier::load(rules)?.with_threshold(threshold);
    let mut input = std::io::BufReader::new(crate::cli::import::open_export(file)?);
    let mut r = crate::review::CoverageReport::new(classifier.threshold());
    let (mut buf, mut line_no, mut bad) = (Vec::new(), 0u64, 0usize);
    // Line by line, as `import` reads an export: memory stays flat however long the file or a
    // line is.
    loop {
        line_no += 1;
        let skipped =
            match read_line(&mut input, &mut buf, MAX_LINE_BYTES).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))? {
                LineRead::End => break,
                LineRead::TooLong(n) => Some(format!("line is {n} bytes, over the {MAX_LINE_BYTES}-byte limit")),
                LineRead::Line(_) => {
                    let line = json_line(&buf, line_no);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match crate::cli::import::parse_line(line) {
                        Ok(msg) => {
                            r.add(&classifier.classify(&msg.text));
                            None
                        }
                        Err(e) => Some(e),
                    }
                }
            };
        if let Some(e) = skipped {
            bad += 1;
            if bad <= 20 {
                eprintln!("{}:{line_no}: skipped: {e}", file.display());
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let row = |name: &str, c: &crate::review::Coverage| {
        format!(
            "{:<26} {:>8} {:>9.1}% {:>9.1}% {:>9.1}% {:>9.1}%\n",
            name,
            c.messages,
            c.share(c.answered) * 100.0,
            c.share(c.below_threshold) * 100.0,
            c.share(c.silent_on_topic) * 100.0,
            c.share(c.off_topic) * 100.0
        )
    };
    let head = format!("{:<26} {:>8} {:>10} {:>10} {:>10} {:>10}\n", "", "messages", "answered", "below thr", "silent", "off topic");
    let mut out = format!("threshold {:.2}; {} lines skipped\n\n{head}", r.threshold, bad);
    out.push_str(&row("all", &r.total));
    for (lang, c) in &r.per_language {
        out.push_str(&row(&format!("language {lang}"), c));
    }
    out.push_str(&format!("\n{:<26} {:>8} {:>10} {:>10}\n", "category", "messages", "answered", "below thr"));
    for (cat, c) in &r.per_category {
        out.push_str(&format!(
            "{:<26} {:>8} {:>9.1}% {:>9.1}%\n",
            cat,
            c.messages,
            c.share(c.answered) * 100.0,
            c.share(c.below_threshold) * 100.0
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
