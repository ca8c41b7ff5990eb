//! `triage rules check`: validate a pack and run every example in it. `triage rules suggest`:
//! phrases the pack misses on reviewed cases. `triage rules coverage`: how much of a backlog
//! the pack would answer, without storing anything.

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
    let loaded = match path {
        Some(p) => Pack::load(p),
        None => Pack::embedded(),
    }
    .and_then(Classifier::new);
    let problems = match loaded {
        Ok(classifier) => {
            let problems = classifier.check_examples();
            if problems.is_empty() {
                let pack = classifier.pack();
                let rules: usize = pack.categories.iter().map(|c| c.rules.len()).sum();
                println!(
                    "ok: {label}: {} categories, {rules} rules, {} exclusions, {} examples checked",
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
