//! The `triage` command line. One file per command; this one parses arguments and dispatches.

mod classify;
pub use classify::classify_jsonl;
pub mod eval;
pub mod explain;
pub use explain::render as render_explanation;
pub mod import;
mod review;
mod rules;
mod serve;
mod stats;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::classify::Classifier;
use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::store::{DatabaseLocation, Store};

use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(name = "triage", version, about = "Answers appKey/appToken authentication questions before a human has to")]
pub struct Cli {
    /// Rule pack: a .toml file or a folder of them (default: the pack built into the binary).
    #[arg(long, global = true, env = "TRIAGE_RULES")]
    pub rules: Option<PathBuf>,
    /// Configuration file (also TRIAGE_CONFIG); without one, built-in defaults.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Database: a SQLite file or sqlite://PATH, or a postgres:// URL (also DATABASE_URL; default ./triage.db).
    #[arg(long, global = true)]
    pub database: Option<String>,
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
    /// Import a helpdesk export (JSON lines) into the case store; safe to re-run.
    Import(import::Args),
    /// Statistics over stored cases.
    Stats(stats::Args),
    /// The cases people labelled.
    Review {
        #[command(subcommand)]
        command: review::Command,
    },
    /// Run the HTTP API, dashboard and (with DISCORD_TOKEN) the Discord bot.
    Serve(serve::Args),
    /// The database itself: copy a SQLite installation into PostgreSQL.
    Store {
        #[command(subcommand)]
        command: store::Command,
    },
}

/// Runs the CLI and turns any error into one line on stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        end_quietly_on_closed_stdout();
    }
    let level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    telemetry::init(cli.log_format, level);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::error::one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// Rust starts every program with SIGPIPE ignored, so `triage stats | head -3` panics ("failed
/// printing to stdout: Broken pipe") on its next write after `head` exits. With the default
/// action restored, the process ends silently instead, as other Unix tools do. `serve` keeps
/// SIGPIPE ignored: a client hanging up must be an error on its socket, not the end of the
/// server. An import ended this way resumes like any interrupted import.
fn end_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: called at start-up, before any thread is spawned; SIG_DFL is a valid action for
    // SIGPIPE and no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    let rules = cli.rules.as_deref().or(config.rules.as_deref());
    match cli.command {
        Command::Classify(args) => classify::run(rules, args),
        Command::Explain(args) => explain::run(rules, args),
        Command::Rules { command } => rules::run(rules, command),
        Command::Eval(args) => eval::run(rules, args),
        Command::Import(args) => runtime()?.block_on(async {
            import::open_export(&args.file)?;
            let classifier = Arc::new(Classifier::load(rules)?.with_threshold(config.threshold));
            let store = open_store(cli.database.as_deref(), &config).await?;
            let pipeline = Pipeline::new(classifier.clone(), store.clone(), config.policy());
            let code = import::run(pipeline, classifier, args).await;
            store.close().await;
            code
        }),
        Command::Serve(args) => runtime()?.block_on(serve::run(config.clone(), rules, cli.database.as_deref(), args)),
        Command::Stats(args) => runtime()?.block_on(async {
            let store = existing_store(cli.database.as_deref(), &config).await?;
            stats::run(&store, args).await
        }),
        Command::Store { command } => runtime()?.block_on(store::run(command)),
        Command::Review { command } => runtime()?.block_on(async {
            let store = existing_store(cli.database.as_deref(), &config).await?;
            review::run(&store, command).await
        }),
    }
}

/// A store that must exist already: reading a mistyped --database must not quietly create an
/// empty one and report zero cases.
async fn existing_store(flag: Option<&str>, config: &Config) -> anyhow::Result<Store> {
    let location = DatabaseLocation::resolve(flag, config.database.as_deref());
    if !location.exists() {
        anyhow::bail!("no database at {location}: check --database or DATABASE_URL, or create one with `triage import` or `triage serve`");
    }
    Ok(Store::connect(&location, crate::store::StoreOptions::default()).await?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

pub async fn open_store(flag: Option<&str>, config: &Config) -> anyhow::Result<Store> {
    let location = DatabaseLocation::resolve(flag, config.database.as_deref());
    Ok(Store::connect(&location, crate::store::StoreOptions { max_mb: config.database_max_mb }).await?)
}

/// The JSON of line `line_no` (from 1) of a JSON lines file: without its `\n` or `\r\n`, and on
/// the first line without the byte-order mark that Windows tools (Excel, PowerShell) often write.
pub(crate) fn json_line(mut line: &[u8], line_no: u64) -> &[u8] {
    if line_no == 1 {
        line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    }
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    line
}

/// Longest JSON line `import` and `classify --jsonl` take: a message at its limit, with room for
/// JSON escapes and the other fields.
pub(crate) const MAX_LINE_BYTES: usize = 2 * crate::error::MAX_MESSAGE_BYTES;

/// What [`read_line`] found.
pub(crate) enum LineRead {
    /// A line of this many bytes (its `\n` included) is in the buffer.
    Line(usize),
    /// A line of this many bytes was over the limit: it was read past, not kept.
    TooLong(u64),
    End,
}

/// Reads one line into `buf`, holding at most `max` bytes of it: a longer line (or a stream with
/// no line breaks at all, such as /dev/zero) is skipped in pieces, so memory stays flat.
pub(crate) fn read_line(input: &mut impl std::io::BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<LineRead> {
    buf.clear();
    append_line(input, buf, max)
}

/// [`read_line`], appending to `buf` (whose earlier contents stay) instead of replacing it.
pub(crate) fn append_line(input: &mut impl std::io::BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<LineRead> {
    let start = buf.len();
    let (mut total, mut over) = (0u64, false);
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !over && buf.len() - start + take > max {
            over = true;
            buf.truncate(start);
        }
        if !over {
            buf.extend_from_slice(&chunk[..take]);
        }
        total += take as u64;
        input.consume(take);
        if done {
            break;
        }
    }
    Ok(match (total, over) {
        (0, _) => LineRead::End,
        (n, true) => LineRead::TooLong(n),
        (n, false) => LineRead::Line(n as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_skipped_without_being_held() {
        let mut input = std::io::BufReader::with_capacity(16, &b"short\n0123456789abcdef0123456789\nnext\nlast"[..]);
        let mut buf = Vec::new();
        assert!(matches!(read_line(&mut input, &mut buf, 10).unwrap(), LineRead::Line(6)));
        assert!(matches!(read_line(&mut input, &mut buf, 10).unwrap(), LineRead::TooLong(27)));
        assert!(buf.is_empty() && buf.capacity() <= 64, "the long line was held: {}", buf.capacity());
        assert!(matches!(read_line(&mut input, &mut buf, 10).unwrap(), LineRead::Line(5)));
        assert_eq!(buf, b"next\n");
        assert!(matches!(read_line(&mut input, &mut buf, 10).unwrap(), LineRead::Line(4)));
        assert!(matches!(read_line(&mut input, &mut buf, 10).unwrap(), LineRead::End));
    }
}
