//! `/triage correct case:<id> category:<…> [delete_reply]`: a moderator sets the right category.
//! The label is stored apart from the classifier's output, with who set it and when. For the
//! staff role only.

use poise::serenity_prelude as serenity;

use crate::discord::{Context, Data, Error};

/// Set the right category for a case (staff only).
#[poise::command(slash_command, guild_only)]
pub async fn correct(
    ctx: Context<'_>,
    #[description = "Case id"] case: i64,
    #[description = "The right category, or none"] category: String,
    #[description = "Also delete our reply"] delete_reply: Option<bool>,
) -> Result<(), Error> {
    let answer = if !is_staff(ctx).await {
        NOT_STAFF.to_string()
    } else {
        record(ctx.data(), ctx.http(), ctx.author().id, case, category.trim(), delete_reply.unwrap_or(false)).await?
    };
    ctx.send(poise::CreateReply::default().content(answer).ephemeral(true).allowed_mentions(serenity::CreateAllowedMentions::new()))
        .await?;
    Ok(())
}

pub const NOT_STAFF: &str = "Only members with the staff role can correct a case (set `discord.staff_role`).";

/// Whether the invoker has the staff role.
pub async fn is_staff(ctx: Context<'_>) -> bool {
    match ctx.data().config.staff_role {
        Some(role) => ctx.author_member().await.is_some_and(|m| m.roles.iter().any(|r| r.get() == role)),
        None => false,
    }
}

/// Stores `by`'s label for case `id` and, when asked, deletes our reply; what to tell them.
pub async fn record(
    data: &Data,
    http: &serenity::Http,
    by: serenity::UserId,
    id: i64,
    category: &str,
    delete_reply: bool,
) -> Result<String, Error> {
    if let Err(why) = data.pipeline.classifier().pack().check_label(category) {
        return Ok(format!("`{category}` {why}."));
    }
    let store = data.pipeline.store();
    let Some(case) = store.case(id).await? else { return Ok(format!("No case {id}.")) };
    store.add_correction(id, category, &by.to_string(), "discord", crate::pipeline::now()).await?;
    tracing::info!(case_id = id, from = %case.category, to = category, "case corrected");
    let mut answer = format!("Recorded: case {id} is `{category}` (triage said `{}`).", case.category);
    if delete_reply {
        let ours = case.reply_ref.as_deref().and_then(|r| r.parse::<u64>().ok());
        let channel = case.channel_id.as_deref().and_then(|c| c.parse::<u64>().ok());
        let target = case.thread_id.as_deref().and_then(|t| t.parse::<u64>().ok()).or(channel);
        match (ours, target) {
            (Some(reply), Some(channel)) => {
                match serenity::ChannelId::new(channel).delete_message(http, serenity::MessageId::new(reply)).await {
                    Ok(()) => answer.push_str(" Our reply was deleted."),
                    Err(e) => answer.push_str(&format!(" Our reply could not be deleted: {e}.")),
                }
            }
            _ => answer.push_str(" There was no reply of ours to delete."),
        }
    }
    Ok(answer)
}
