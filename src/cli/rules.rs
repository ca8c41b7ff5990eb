//! `triage rules check`: validate a pack and run every example in it.

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
}

pub fn run(global: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Check { path } = command;
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
