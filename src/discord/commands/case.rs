//! `/triage case id:<...>`: one stored case, text masked.

use crate::discord::{Context, Error};

/// Show a stored case.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_MESSAGES", default_member_permissions = "MANAGE_MESSAGES")]
pub async fn case(ctx: Context<'_>, #[description = "Case id"] id: i64) -> Result<(), Error> {
    let reply = match ctx.data().pipeline.store().case(id).await? {
        Some(c) => {
            let text: String = c.text.chars().take(800).collect();
            format!(
                "**Case {}** ({} {}): `{}` at {:.2}, language {}, reply {}{}\n> {}",
                c.id,
                c.source.as_str(),
                c.source_id,
                c.category,
                c.confidence,
                c.language,
                c.reply_status.as_str(),
                c.suppressed_reason.map(|r| format!(" ({})", r.as_str())).unwrap_or_default(),
                text.replace('\n', "\n> ")
            )
        }
        None => format!("No case {id}."),
    };
    ctx.send(
        poise::CreateReply::default()
            .content(reply)
            .ephemeral(true)
            .allowed_mentions(poise::serenity_prelude::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}
