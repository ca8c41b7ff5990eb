//! `triage import`: bulk-ingest a helpdesk export (JSON lines) into the case store.
//!
//! Reading, parsing and classifying run on one thread, the database on another, joined by a
//! bounded channel of batches: memory stays flat however large the file. Each batch is one
//! transaction and every insert is idempotent on the line's `id`, so a run killed at any point
//! and started again ends with exactly one case per input id.

use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;

use crate::classify::{Classification, Classifier};
use crate::error::MAX_MESSAGE_BYTES;
use crate::pipeline::{BatchOutcome, Delivery, Incoming, Pipeline};
use crate::store::Source;

/// Messages per transaction: large enough that committing costs little per message, small
/// enough that a killed run redoes little.
pub const DEFAULT_BATCH: usize = 10_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON lines with `id` and `text`, and optionally `author`, `account`, `channel`, `created_at`.
    pub file: PathBuf,
    /// Messages per transaction.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
    /// Print bad lines beyond the first 20 too.
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Debug, Deserialize)]
struct Line {
    id: Value,
    text: String,
    #[serde(default)]
    author: Option<Value>,
    #[serde(default)]
    account: Option<Value>,
    #[serde(default)]
    channel: Option<Value>,
    #[serde(default)]
    created_at: Option<Value>,
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        // A float id (1e30, or more digits than 64 bits hold) is not kept exactly: two lines
        // could become one case.
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// 9999-12-31T23:59:59Z. A larger number is nearly always milliseconds (JavaScript's
/// `Date.now()`), which would otherwise be stored as a date tens of thousands of years away.
const LAST_SECOND: i64 = 253_402_300_799;

fn timestamp(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => match n.as_i64() {
            None => Err(format!("created_at {n} is not whole Unix seconds")),
            Some(t) if t < 0 => Err(format!("created_at {t} is before 1970")),
            Some(t) if t > LAST_SECOND => Err(format!("created_at {t} is after the year 9999: give Unix seconds, not milliseconds")),
            Some(t) => Ok(t),
        },
        // humantime cannot represent times before 1970 and calls them unparsable.
        Value::String(s) if s.get(..4).and_then(|y| y.parse::<u32>().ok()).is_some_and(|y| y < 1970) => {
            Err(format!("created_at `{s}` is before 1970"))
        }
        Value::String(s) => humantime::parse_rfc3339_weak(s)
            .map_err(|_| format!("created_at `{s}` is not RFC 3339 (2026-11-28T10:00:00Z) or Unix seconds"))
            .and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).map_err(|_| format!("created_at `{s}` is before 1970"))
            }),
        other => Err(format!("created_at {other} is not a timestamp")),
    }
}

/// Parses one export line into an incoming message; the error says what is wrong with it, with
/// any secret it quotes masked.
pub fn parse_line(line: &[u8]) -> Result<Incoming, String> {
    parse_line_unmasked(line).map_err(|e| crate::redact::mask_and_cap(&e, 300))
}

fn parse_line_unmasked(line: &[u8]) -> Result<Incoming, String> {
    if line.len() > 2 * MAX_MESSAGE_BYTES {
        return Err(format!("line is {} bytes, over the {}-byte limit", line.len(), 2 * MAX_MESSAGE_BYTES));
    }
    let text = std::str::from_utf8(line).map_err(|e| format!("not valid UTF-8 at byte {}", e.valid_up_to()))?;
    let l: Line = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            format!("expected an object with `id` and `text`: {e}")
        } else {
            format!("invalid JSON: {e}")
        }
    })?;
    let id =
        id_string(&l.id).ok_or("`id` must be a non-empty string or a whole number that fits in 64 bits (send bigger ids as strings)")?;
    crate::error::check_message(&l.text).map_err(|e| e.to_string())?;
    let mut msg = Incoming::new(Source::Import, id, l.text);
    msg.author = l.author.as_ref().and_then(id_string);
    msg.account = l.account.as_ref().and_then(id_string);
    msg.channel_id = l.channel.as_ref().and_then(id_string);
    msg.received_at = l.created_at.as_ref().map(timestamp).transpose()?;
    Ok(msg)
}

struct BadLine {
    line: u64,
    reason: String,
}

/// Where import progress goes; a terminal gets a bar, anything else nothing until the summary.
fn progress(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({per_sec}, {msg})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub lines: u64,
    /// Transactions committed.
    pub batches: u64,
    pub inserted: u64,
    pub duplicates: u64,
    pub bad_lines: u64,
    pub secrets_masked: u64,
}

/// Opens the export, or says why not. Called before the store is opened, so that a typo in the
/// file name does not leave an empty database behind.
pub fn open_export(file: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        anyhow::bail!("{} is a folder, not a JSON lines file", file.display());
    }
    Ok(f)
}

/// Runs an import to completion. `on_bad` sees each bad line.
pub async fn import_file(
    pipeline: &Pipeline,
    classifier: Arc<Classifier>,
    file: PathBuf,
    batch: usize,
    mut on_bad: impl FnMut(u64, &str),
) -> anyhow::Result<ImportSummary> {
    let f = open_export(&file)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(size);
    let batch = batch.clamp(1, 100_000);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<(Incoming, Classification)>, Vec<BadLine>, u64, u64)>(1);
    let shown = file.display().to_string();
    // Named, so that profiles and `top -H` tell it from the database writer.
    let reader = std::thread::Builder::new()
        .name("triage-import".into())
        .spawn(move || -> anyhow::Result<()> {
            let mut input = BufReader::with_capacity(1 << 20, f);
            let mut buf = Vec::with_capacity(4096);
            let (mut items, mut bad) = (Vec::with_capacity(batch), Vec::new());
            let (mut line_no, mut read) = (0u64, 0u64);
            loop {
                let n =
                    match super::read_line(&mut input, &mut buf, super::MAX_LINE_BYTES).with_context(|| format!("cannot read {shown}"))? {
                        super::LineRead::End => break,
                        super::LineRead::TooLong(n) => {
                            line_no += 1;
                            read += n;
                            let reason = format!("line is {n} bytes, over the {}-byte limit", super::MAX_LINE_BYTES);
                            bad.push(BadLine { line: line_no, reason });
                            continue;
                        }
                        super::LineRead::Line(n) => n,
                    };
                line_no += 1;
                read += n as u64;
                let line = super::json_line(&buf, line_no);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match parse_line(line) {
                    Ok(msg) => {
                        let c = classifier.classify(&msg.text);
                        items.push((msg, c));
                    }
                    Err(reason) => bad.push(BadLine { line: line_no, reason }),
                }
                if items.len() >= batch && tx.blocking_send((std::mem::take(&mut items), std::mem::take(&mut bad), line_no, read)).is_err()
                {
                    return Ok(());
                }
            }
            let _ = tx.blocking_send((items, bad, line_no, read));
            Ok(())
        })
        .context("cannot start the import reader thread")?;
    let mut summary = ImportSummary::default();
    while let Some((items, bad, line_no, read)) = rx.recv().await {
        for b in bad {
            summary.bad_lines += 1;
            on_bad(b.line, &b.reason);
        }
        if !items.is_empty() {
            let outcome = pipeline.record_batch(items, Delivery::Never).await.map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "stopped after {} batches ({} new cases) were committed; fix the cause and run the same command again: it carries on where it stopped",
                    summary.batches, summary.inserted
                ))
            })?;
            let BatchOutcome { inserted, duplicates, secrets_masked } = outcome;
            summary.batches += 1;
            summary.inserted += inserted;
            summary.duplicates += duplicates;
            summary.secrets_masked += secrets_masked;
        }
        summary.lines = line_no;
        bar.set_position(read);
        bar.set_message(format!("{} new, {} present", summary.inserted, summary.duplicates));
    }
    bar.finish_and_clear();
    match reader.join() {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("the import reader stopped unexpectedly"),
    }
    Ok(summary)
}

pub async fn run(pipeline: Pipeline, classifier: Arc<Classifier>, args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut shown = 0;
    let verbose = args.verbose;
    let file = args.file.display().to_string();
    let summary = import_file(&pipeline, classifier, args.file, args.batch, |line, reason| {
        shown += 1;
        if shown <= 20 || verbose {
            eprintln!("{file}:{line}: skipped: {reason}");
        }
    })
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let accepted = summary.inserted + summary.duplicates;
    eprintln!(
        "imported {} new cases, {} already present, {} bad lines skipped, {} secrets masked; {:.1}s ({:.0} messages/s)",
        summary.inserted,
        summary.duplicates,
        summary.bad_lines,
        summary.secrets_masked,
        secs,
        accepted as f64 / secs.max(1e-9)
    );
    if summary.bad_lines > 20 && !verbose {
        eprintln!("({} more bad lines not shown; pass --verbose to list them all)", summary.bad_lines - 20);
    }
    Ok(if summary.bad_lines > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created_at(v: &str) -> Result<Option<i64>, String> {
        parse_line(format!(r#"{{"id": 1, "text": "appKey 401", "created_at": {v}}}"#).as_bytes()).map(|m| m.received_at)
    }

    #[test]
    fn created_at_takes_unix_seconds_or_rfc3339() {
        assert_eq!(created_at("1764324000"), Ok(Some(1_764_324_000)));
        assert_eq!(created_at(r#""2025-11-28T10:00:00Z""#), Ok(Some(1_764_324_000)));
        assert_eq!(created_at("0"), Ok(Some(0)));
    }

    #[test]
    fn created_at_before_1970_or_in_milliseconds_is_a_line_error_that_says_so() {
        assert!(created_at("-86400").unwrap_err().contains("before 1970"));
        assert!(created_at(r#""1969-12-31T00:00:00Z""#).unwrap_err().contains("before 1970"));
        assert!(created_at("1764324000000").unwrap_err().contains("not milliseconds"));
        assert!(created_at("1.5").unwrap_err().contains("whole Unix seconds"));
    }
}
