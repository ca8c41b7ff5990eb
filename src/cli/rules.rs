//! `triage rules check`: validate a pack and run every example in it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::classify::Classifier;
use crate::rules::{Pack, RulesError};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate a rule pack and run its examples (default: --rules, or the built-in pack).
    Check {
        /// A .toml file or a folder of them.
        path: Option<PathBuf>,
    },
}

pub fn run(global: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Check { path } = command;
    let path = path.as_deref().or(global);
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
                return Ok(ExitCode::SUCCESS);
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
    Ok(ExitCode::from(1))
}
