//! `triage classify`: one message, or JSON lines in and out with `--jsonl`.

use std::io::{BufRead, BufWriter, Read, Write};
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
        classify_jsonl(&classifier, stdin.lock(), BufWriter::new(stdout.lock()))?;
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

/// Streams JSON lines through the classifier. A bad line becomes an error line for that input
/// and the stream goes on; output order matches input order.
pub fn classify_jsonl(classifier: &Classifier, mut input: impl BufRead, mut out: impl Write) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = input.read_until(b'\n', &mut buf).context("cannot read stdin")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = super::json_line(&buf, line_no as u64);
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(item) => {
                let c = classifier.classify(&item.text);
                serde_json::to_writer(&mut out, &JsonResult::new(&item.id, &c))?;
            }
            Err((id, error)) => {
                serde_json::to_writer(&mut out, &serde_json::json!({"id": id, "line": line_no, "error": error}))?;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write to stdout")?;
    Ok(())
}

fn parse_line(line: &[u8]) -> Result<InputLine, (Value, String)> {
    if line.len() > MAX_MESSAGE_BYTES * 2 {
        return Err((Value::Null, format!("line is {} bytes, over the {}-byte limit", line.len(), MAX_MESSAGE_BYTES * 2)));
    }
    let text = std::str::from_utf8(line).map_err(|e| (Value::Null, format!("not valid UTF-8 at byte {}", e.valid_up_to())))?;
    let value: Value = serde_json::from_str(text).map_err(|e| (Value::Null, format!("invalid JSON: {e}")))?;
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let item: InputLine = serde_json::from_value(value).map_err(|e| (id.clone(), format!("expected {{\"id\", \"text\"}}: {e}")))?;
    check_message(&item.text).map_err(|e| (id, e.to_string()))?;
    Ok(item)
}
