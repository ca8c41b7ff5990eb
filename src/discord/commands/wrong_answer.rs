//! "Triage: wrong answer", a message context-menu command for the staff role: on our reply, or on
//! the message we answered, it asks for the right category with a menu, records it as
//! `/triage correct` does, and deletes our reply.

use std::time::Duration;

use poise::serenity_prelude as serenity;

use super::correct::{is_staff, record, NOT_STAFF};
use crate::discord::{Context, Error};

/// How long the menu waits for a choice.
const CHOOSE_WITHIN: Duration = Duration::from_secs(120);
/// Discord's limit on a menu's options.
const MENU_MAX: usize = 25;

#[poise::command(context_menu_command = "Triage: wrong answer", guild_only)]
pub async fn wrong_answer(ctx: Context<'_>, msg: serenity::Message) -> Result<(), Error> {
    let private =
        |text: String| poise::CreateReply::default().content(text).ephemeral(true).allowed_mentions(serenity::CreateAllowedMentions::new());
    if !is_staff(ctx).await {
        ctx.send(private(NOT_STAFF.into())).await?;
        return Ok(());
    }
    // Our reply names the case it answered; a person's message is its own case, or its burst's.
    let Some(case) = ctx.data().pipeline.store().case_for_discord_message(&msg.id.to_string()).await? else {
        ctx.send(private("That message is not one triage answered, nor one of its replies.".into())).await?;
        return Ok(());
    };
    let pack = ctx.data().pipeline.classifier().pack();
    let mut options: Vec<serenity::CreateSelectMenuOption> = pack
        .categories
        .iter()
        .filter(|c| c.id != case.category)
        .take(MENU_MAX - 1)
        .map(|c| serenity::CreateSelectMenuOption::new(truncate(c.title.get(case.language), 100), c.id.clone()))
        .collect();
    if case.category != "none" {
        options.push(serenity::CreateSelectMenuOption::new("Not an appKey/appToken question (none)", "none"));
    }
    let custom_id = format!("triage-wrong-{}", ctx.id());
    let menu =
        serenity::CreateSelectMenu::new(&custom_id, serenity::CreateSelectMenuKind::String { options }).placeholder("The right category");
    let question = format!("Case {}: triage said `{}`. What is the right category? Our reply will be deleted.", case.id, case.category);
    let asked = ctx.send(private(question).components(vec![serenity::CreateActionRow::SelectMenu(menu)])).await?;
    let choice = serenity::ComponentInteractionCollector::new(ctx.serenity_context())
        .author_id(ctx.author().id)
        .custom_ids(vec![custom_id])
        .timeout(CHOOSE_WITHIN)
        .await;
    let Some(choice) = choice else {
        asked.edit(ctx, private("No category was chosen: nothing was recorded.".into()).components(Vec::new())).await?;
        return Ok(());
    };
    let category = match &choice.data.kind {
        serenity::ComponentInteractionDataKind::StringSelect { values } => values.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let answer = record(ctx.data(), ctx.http(), ctx.author().id, case.id, &category, true).await?;
    let update = serenity::CreateInteractionResponseMessage::new().content(answer).components(Vec::new());
    choice.create_response(ctx.http(), serenity::CreateInteractionResponse::UpdateMessage(update)).await?;
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
