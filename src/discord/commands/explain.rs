//! `/triage explain text:<...>`: which rules fired, visible only to the caller.

use crate::discord::{Context, Error};

/// Show which rules fire for a message (only you see the answer).
#[poise::command(slash_command)]
pub async fn explain(ctx: Context<'_>, #[description = "The message to explain"] text: String) -> Result<(), Error> {
    let e = ctx.data().pipeline.classifier().explain(&text);
    let mut out = crate::cli::render_explanation(&e);
    if out.chars().count() > 1900 {
        out = out.chars().take(1900).collect::<String>() + "…";
    }
    ctx.send(poise::CreateReply::default().content(format!("```\n{out}\n```")).ephemeral(true)).await?;
    Ok(())
}
