//! The `triage` command line. One file per command; this one parses arguments and dispatches.

mod classify;
mod eval;
mod explain;
mod rules;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(name = "triage", version, about = "Answers appKey/appToken authentication questions before a human has to")]
pub struct Cli {
    /// Rule pack: a .toml file or a folder of them (default: the pack built into the binary).
    #[arg(long, global = true, env = "TRIAGE_RULES")]
    pub rules: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify one message (argument or stdin), or JSON lines with --jsonl.
    Classify(classify::Args),
    /// Show which rules fired for a message and what they matched.
    Explain(explain::Args),
    /// Work with rule packs.
    Rules {
        #[command(subcommand)]
        command: rules::Command,
    },
    /// Measure the classifier on a labelled corpus (JSON lines with id, text, expected, ...).
    Eval(eval::Args),
}

/// Runs the CLI and turns any error into one line on stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, "warn");
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::error::one_line(&e));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let rules = cli.rules.as_deref();
    match cli.command {
        Command::Classify(args) => classify::run(rules, args),
        Command::Explain(args) => explain::run(rules, args),
        Command::Rules { command } => rules::run(rules, command),
        Command::Eval(args) => eval::run(rules, args),
    }
}
