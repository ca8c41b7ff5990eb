//! `triage review export --since 30d > reviewed.jsonl`: the cases people labelled, in the corpus
//! format that `triage eval` reads (`id`, `text`, `expected`, ...; the text masked).

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use crate::stats::parse_period;
use crate::store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the labelled cases as JSON lines (the corpus format of `triage eval`).
    Export {
        /// Labels set in this period, e.g. 30d, 12h.
        #[arg(long, default_value = "30d", value_parser = parse_period)]
        since: std::time::Duration,
    },
}

/// One corpus line: what `triage eval` needs, and what the reviewer and triage said.
#[derive(Serialize)]
struct Line<'a> {
    id: String,
    text: &'a str,
    expected: &'a str,
    /// Whether the Sponsor user must act is not decided by a label alone.
    escalate: Option<bool>,
    lang: &'static str,
    secrets: [&'a str; 0],
    /// What triage decided, and how sure it was.
    triaged: &'a str,
    confidence: f64,
    source: &'static str,
    labelled_by: &'a str,
    labelled_at: i64,
}

pub async fn run(store: &Store, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Export { since } = command;
    let from = crate::pipeline::now().saturating_sub(since.as_secs() as i64);
    let reviewed = store.reviewed_since(from).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for r in &reviewed {
        let line = Line {
            id: format!("case-{}", r.case.id),
            text: &r.case.text,
            expected: &r.label,
            escalate: None,
            lang: r.case.language.code(),
            secrets: [],
            triaged: &r.case.category,
            confidence: r.case.confidence,
            source: r.case.source.as_str(),
            labelled_by: &r.labelled_by,
            labelled_at: r.labelled_at,
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!("{} labelled case(s)", reviewed.len());
    Ok(ExitCode::SUCCESS)
}
