//! A message from a helper (the staff role or a `helper_roles` role). It is never a question for
//! the bot: it silences the bot where it answers (a thread, a held burst), and when it comes soon
//! after our answer it is recorded as a person taking over. Only a token in it is acted on.

use poise::serenity_prelude as serenity;

use crate::discord::{Data, Error};
use crate::respond::Suppression;
use crate::store::ReplyStatus;

pub async fn handle(ctx: &serenity::Context, msg: &serenity::Message, data: &Data, in_thread: bool) -> Result<(), Error> {
    if in_thread {
        data.mark_helped(msg.channel_id.get());
    }
    let replied_to = msg.message_reference.as_ref().and_then(|r| r.message_id);
    let mentioned: Vec<serenity::UserId> = msg.mentions.iter().map(|u| u.id).collect();
    data.bursts.mark_helped(msg.channel_id, replied_to, &mentioned);
    if let Err(e) = took_over(msg, data, replied_to, in_thread).await {
        tracing::warn!(error = %crate::error::one_line(&e), "could not record that a helper took over");
    }
    let text = super::message::full_text(&msg.content, &msg.attachments, data).await;
    let thread = in_thread.then_some(msg.channel_id);
    match super::message::part_of(msg, &text, data, thread, Some(Suppression::HumanHelping)) {
        Some(part) if part.classification.secrets_found > 0 => super::message::answer(ctx, data, vec![part], false).await,
        _ => Ok(()),
    }
}

/// Records a helper's answer to a case we answered within `yield_to_humans`: a reply to the
/// asker's message or to ours, or a message in the case's thread.
async fn took_over(msg: &serenity::Message, data: &Data, replied_to: Option<serenity::MessageId>, in_thread: bool) -> Result<(), Error> {
    let store = data.pipeline.store();
    let case = match replied_to {
        Some(id) => store.case_for_discord_message(&id.to_string()).await?,
        None if in_thread => store.answered_case_in_thread(&msg.channel_id.to_string()).await?,
        None => None,
    };
    let Some(case) = case else { return Ok(()) };
    let now = crate::pipeline::now();
    let helper = msg.author.id.to_string();
    let soon = now - case.received_at <= data.config.yield_to_humans.as_secs() as i64;
    if case.reply_status != ReplyStatus::Sent || !soon || case.author.as_deref() == Some(helper.as_str()) {
        return Ok(());
    }
    if store.record_takeover(case.id, &helper, now).await? {
        tracing::info!(case_id = case.id, category = %case.category, "a helper took over after our answer");
    }
    Ok(())
}
