//! Slash commands, one per file, under `/triage`.

mod case;
mod correct;
mod explain;
mod stats;
mod wrong_answer;

pub use wrong_answer::wrong_answer;

use super::{Context, Error};

/// Support triage: statistics, explanations, cases and corrections.
#[poise::command(slash_command, subcommands("stats::stats", "explain::explain", "case::case", "correct::correct"), subcommand_required)]
pub async fn triage(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}
