//! `triage classify`: one message, or JSON lines in and out with `--jsonl`.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::classify::{Classification, Classifier};
use crate::diagnose::Finding;
use crate::error::{check_message, utf8, MAX_MESSAGE_BYTES};
use crate::language::Language;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The message (default: read from stdin).
    pub text: Option<String>,
    /// Read JSON lines `{"id", "text"}` from stdin and write one JSON result per line.
    #[arg(long)]
    pub jsonl: bool,
    /// Print the single result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Minimum confidence for a category (default: the pack's threshold).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Reply language (default: the message's own).
    #[arg(long)]
    pub language: Option<Language>,
}

/// One line of `--jsonl` output. Never carries the message text.
#[derive(Debug, Serialize)]
pub struct JsonResult<'a> {
    pub id: &'a Value,
    pub category: &'a str,
    pub confidence: f64,
    pub language: Language,
    pub escalate_to_sponsor: bool,
    pub secrets_found: usize,
    pub rules: &'a [String],
    pub findings: &'a [Finding],
}

impl<'a> JsonResult<'a> {
    pub fn new(id: &'a Value, c: &'a Classification) -> Self {
        JsonResult {
            id,
            category: c.category_id(),
            confidence: c.confidence,
            language: c.language,
            escalate_to_sponsor: c.escalate_to_sponsor,
            secrets_found: c.secrets_found,
            rules: &c.rules,
            findings: &c.findings,
        }
    }
}

#[derive(Debug, Deserialize)]
struct InputLine {
    #[serde(default)]
    id: Value,
    text: String,
}

pub fn run(rules: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::load(rules)?.with_threshold(args.threshold);
    if args.jsonl {
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        classify_jsonl(&classifier, stdin, BufWriter::with_capacity(1 << 16, stdout.lock()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = match args.text {
        Some(t) if t != "-" => t,
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin().take(MAX_MESSAGE_BYTES as u64 + 1).read_to_end(&mut bytes).context("cannot read the message from stdin")?;
            utf8(bytes)?
        }
    };
    check_message(&text)?;
    let c = classifier.classify(&text);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&JsonResult::new(&Value::Null, &c))?);
        return Ok(ExitCode::SUCCESS);
    }
    let language = args.language.unwrap_or(c.language);
    println!("category:   {}", c.category_id());
    println!("confidence: {:.3} (threshold {:.2})", c.confidence, classifier.threshold());
    println!("language:   {}", c.language);
    println!("escalate:   {}", if c.escalate_to_sponsor { "yes, to the account's Sponsor user" } else { "no" });
    if c.secrets_found > 0 {
        println!("secrets:    {} masked", c.secrets_found);
    }
    let pack = classifier.pack();
    for f in &c.findings {
        println!("finding:    {}", crate::respond::finding_text(pack, f, language));
    }
    if let Some(cat) = c.category.as_deref().and_then(|id| pack.category(id)) {
        println!("\nremediation ({language}):\n{}", cat.remediation.get(language).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// Lines handed to a worker at once: enough that the hand-over costs nothing per line, few
/// enough that an interactive reader gets its answer at once (a batch also ends whenever no more
/// input is waiting).
const BATCH_LINES: usize = 1024;

/// Buffers handed back once used, for the next batch: a batch's input and output are each about
/// 150 KB, and a fresh one every 1,024 lines came as new pages from the system, which the kernel
/// zeroes first (14% of the time of `classify --jsonl`, measured with `perf record`). At most
/// [`Pool::KEEP`] are kept, so memory stays flat.
struct Pool(std::sync::Mutex<Vec<Vec<u8>>>);

impl Pool {
    const KEEP: usize = 32;

    fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.0.lock().ok().and_then(|mut p| p.pop());
        reused.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        if let Ok(mut p) = self.0.lock() {
            if p.len() < Self::KEEP {
                p.push(buf);
            }
        }
    }
}

/// One batch of input lines: each line's number and its bytes in `buf`, or why it was not kept.
struct Batch {
    seq: u64,
    buf: Vec<u8>,
    lines: Vec<(usize, Result<std::ops::Range<usize>, u64>)>,
    /// No more input was waiting after this batch: flush once it is written.
    flush: bool,
}

/// Streams JSON lines through the classifier. A bad line becomes an error line for that input
/// and the stream goes on; output order matches input order.
///
/// A reader thread cuts the input into batches; the workers (one per core) parse, classify and
/// serialise whole batches; this thread writes the results in input order. Memory stays flat:
/// at most a few batches are in flight.
pub fn classify_jsonl(classifier: &Classifier, input: impl Read + Send, mut out: impl Write) -> anyhow::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Batch>(workers * 2);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>, bool)>(workers * 2);
    let pool = Pool(std::sync::Mutex::new(Vec::new()));
    let pool = &pool;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let reader = scope.spawn(move || read_batches(input, work_tx, pool));
        for _ in 0..workers {
            let (rx, tx) = (&work_rx, done_tx.clone());
            scope.spawn(move || loop {
                let batch = match rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(batch) = batch else { return };
                let mut rendered = pool.take(batch.lines.len() * 160);
                render_lines(classifier, &batch.buf, &batch.lines, &mut rendered);
                pool.give(batch.buf);
                if tx.send((batch.seq, rendered, batch.flush)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        // Results arrive in any order; write them in input order.
        let mut pending = std::collections::BTreeMap::new();
        let mut next = 0u64;
        let mut written = Ok(());
        for (seq, bytes, flush) in done_rx {
            pending.insert(seq, (bytes, flush));
            while let Some((bytes, flush)) = pending.remove(&next) {
                next += 1;
                if written.is_ok() {
                    written = out.write_all(&bytes).and_then(|()| if flush { out.flush() } else { Ok(()) });
                }
                pool.give(bytes);
            }
            if written.is_err() {
                // Stop reading: the output has gone away.
                break;
            }
        }
        written.context("cannot write to stdout")?;
        match reader.join() {
            Ok(result) => result,
            Err(_) => anyhow::bail!("the input reader stopped unexpectedly"),
        }
    })?;
    out.flush().context("cannot write to stdout")?;
    Ok(())
}

fn read_batches(input: impl Read, work: std::sync::mpsc::SyncSender<Batch>, pool: &Pool) -> anyhow::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let (mut line_no, mut seq, mut done) = (0usize, 0u64, false);
    while !done {
        let mut batch = Batch { seq, buf: pool.take(1 << 17), lines: Vec::with_capacity(BATCH_LINES), flush: false };
        while batch.lines.len() < BATCH_LINES {
            let start = batch.buf.len();
            match super::append_line(&mut input, &mut batch.buf, super::MAX_LINE_BYTES).context("cannot read stdin")? {
                super::LineRead::End => {
                    done = true;
                    break;
                }
                super::LineRead::TooLong(n) => {
                    line_no += 1;
                    batch.lines.push((line_no, Err(n)));
                }
                super::LineRead::Line(_) => {
                    line_no += 1;
                    batch.lines.push((line_no, Ok(start..batch.buf.len())));
                }
            }
            if input.buffer().is_empty() {
                batch.flush = true;
                break;
            }
        }
        batch.flush |= done;
        if batch.lines.is_empty() && !done {
            continue;
        }
        if work.send(batch).is_err() {
            // The writer stopped: nothing more to do.
            return Ok(());
        }
        seq += 1;
    }
    Ok(())
}

/// The output lines for some input lines, added to `out`.
fn render_lines(classifier: &Classifier, buf: &[u8], lines: &[(usize, Result<std::ops::Range<usize>, u64>)], out: &mut Vec<u8>) {
    for (line_no, line) in lines {
        let parsed = match line {
            Ok(range) => {
                let line = super::json_line(&buf[range.clone()], *line_no as u64);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                parse_line(line)
            }
            Err(n) => Err((Value::Null, format!("line is {n} bytes, over the {}-byte limit", super::MAX_LINE_BYTES))),
        };
        // Writing to a Vec cannot fail.
        let _ = match parsed {
            Ok(item) => {
                let c = classifier.classify(&item.text);
                serde_json::to_writer(&mut *out, &JsonResult::new(&item.id, &c))
            }
            Err((id, error)) => {
                let error = crate::redact::mask_and_cap(&error, 300);
                serde_json::to_writer(&mut *out, &serde_json::json!({"id": id, "line": line_no, "error": error}))
            }
        };
        out.push(b'\n');
    }
}

fn parse_line(line: &[u8]) -> Result<InputLine, (Value, String)> {
    if line.len() > MAX_MESSAGE_BYTES * 2 {
        return Err((Value::Null, format!("line is {} bytes, over the {}-byte limit", line.len(), MAX_MESSAGE_BYTES * 2)));
    }
    let text = std::str::from_utf8(line).map_err(|e| (Value::Null, format!("not valid UTF-8 at byte {}", e.valid_up_to())))?;
    // Straight into the two fields wanted, skipping the rest: a whole `Value` per line cost as
    // much as a tenth of classifying it. A line that does not parse so is read again as a
    // `Value`, for the same error, with its id, as before.
    if let Ok(item) = serde_json::from_str::<InputLine>(text) {
        let id = item.id.clone();
        check_message(&item.text).map_err(|e| (id, e.to_string()))?;
        return Ok(item);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| (Value::Null, format!("invalid JSON: {e}")))?;
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let item: InputLine = serde_json::from_value(value).map_err(|e| (id.clone(), format!("expected {{\"id\", \"text\"}}: {e}")))?;
    check_message(&item.text).map_err(|e| (id, e.to_string()))?;
    Ok(item)
}
