//! Slash commands, one per file, under `/triage`.

mod case;
mod explain;
mod stats;

use super::{Context, Error};

/// Support triage: statistics, explanations and cases.
#[poise::command(slash_command, subcommands("stats::stats", "explain::explain", "case::case"), subcommand_required)]
pub async fn triage(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}
