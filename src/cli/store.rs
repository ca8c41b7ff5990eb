//! `triage store copy --from sqlite://triage.db --to postgres://…`: moves an installation from
//! its SQLite file to a PostgreSQL database (see `store/copy.rs`), then prints the count check.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use crate::store::copy::TableCopy;
use crate::store::{DatabaseLocation, Store, StoreOptions};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy every case, vote, outbox row and correction from a SQLite database into a
    /// PostgreSQL one, keeping their ids. Safe to run again: an interrupted copy goes on where
    /// it stopped, and a finished one copies nothing.
    Copy {
        /// The SQLite database: a path or sqlite://PATH.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE. Created
        /// tables and all; it should be new, or an earlier copy of the same source.
        #[arg(long)]
        to: String,
        /// Rows per statement (for tests of an interrupted copy).
        #[arg(long, default_value_t = crate::store::copy::CHUNK, hide = true)]
        chunk: i64,
    },
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Copy { from, to, chunk } = command;
    let from = DatabaseLocation::parse(&from);
    let to = DatabaseLocation::parse(&to);
    if !matches!(from, DatabaseLocation::Sqlite(_)) {
        anyhow::bail!("--from must be a SQLite database (a path or sqlite://PATH), not {from}");
    }
    if !matches!(to, DatabaseLocation::Postgres(_)) {
        anyhow::bail!("--to must be a PostgreSQL URL (postgres://…), not {to}");
    }
    if !from.exists() {
        anyhow::bail!("no database at {from}: check --from");
    }
    let source = Store::connect(&from, StoreOptions::default()).await?;
    let target = Store::connect(&to, StoreOptions::default()).await?;
    let bar = progress(source.copy_size().await?);
    let report = source.copy_into(&target, chunk, |n| bar.inc(n)).await;
    bar.finish_and_clear();
    let report = report?;
    print!("{}", render(&from, &to, &report));
    source.close().await;
    target.close().await;
    Ok(if report.iter().all(TableCopy::complete) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn progress(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The count check: per table, the source's rows, what this run copied, what was there from an
/// earlier run, and the target's rows; then whether every source row is in the target.
pub fn render(from: &DatabaseLocation, to: &DatabaseLocation, report: &[TableCopy]) -> String {
    let mut out = format!("copied {from} into {to}\n\n");
    out.push_str(&format!("{:<12} {:>10} {:>10} {:>14} {:>10}\n", "table", "source", "copied", "already there", "target"));
    for t in report {
        out.push_str(&format!("{:<12} {:>10} {:>10} {:>14} {:>10}\n", t.table, t.source, t.copied, t.already, t.target));
    }
    let missing: Vec<String> =
        report.iter().filter(|t| !t.complete()).map(|t| format!("{} of {} {}", t.source - t.found, t.source, t.table)).collect();
    if missing.is_empty() {
        out.push_str("\ncount check: every source row is in the target\n");
    } else {
        out.push_str(&format!(
            "\ncount check FAILED: not in the target: {} (rows added to the source during the copy? run it again)\n",
            missing.join(", ")
        ));
    }
    out
}
