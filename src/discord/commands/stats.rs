//! `/triage stats [days]`: the numbers `triage stats` prints, for members with Manage Server.

use std::time::Duration;

use crate::discord::{Context, Error};

/// Triage statistics for the last days (Manage Server only).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD", default_member_permissions = "MANAGE_GUILD")]
pub async fn stats(ctx: Context<'_>, #[description = "Days to cover (default 30)"] days: Option<u32>) -> Result<(), Error> {
    let days = days.unwrap_or(30).clamp(1, 365);
    // Discord drops an interaction not answered within 3 seconds, and a period of a large
    // store can take longer to add up: acknowledge first (privately), answer in a follow-up.
    ctx.defer_ephemeral().await?;
    let stats =
        crate::stats::compute(ctx.data().pipeline.store(), Duration::from_secs(u64::from(days) * 86_400), 5, crate::pipeline::now())
            .await?;
    let mut lines = vec![format!("**Triage, last {days} days**: {} cases, {} support cases", stats.total_cases, stats.support_cases)];
    for c in stats.by_category.iter().filter(|c| c.name != "none") {
        lines.push(format!("- `{}`: {} ({:.0}%)", c.name, c.cases, c.share * 100.0));
    }
    lines.push(format!(
        "Escalated to Sponsor {:.0}%, recurring {:.0}%, replies sent {}, held back {}",
        stats.escalated_to_sponsor_share * 100.0,
        stats.recurring_share * 100.0,
        stats.replies.sent,
        stats.replies.suppressed
    ));
    ctx.send(poise::CreateReply::default().content(lines.join("\n")).ephemeral(true)).await?;
    Ok(())
}
