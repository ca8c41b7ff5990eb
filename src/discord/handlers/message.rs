//! A message in a watched channel: triage it and maybe answer.

use poise::serenity_prelude as serenity;

use crate::discord::reply::{deliver, deliver_leak, Target};
use crate::discord::{Data, Error};
use crate::pipeline::{Delivery, Incoming};
use crate::respond::{Channel, Suppression};
use crate::store::Source;

/// Whether a message is ours to triage: a person's, in a watched channel, with text (its own or
/// a text attachment's).
pub fn wanted(msg: &serenity::Message, data: &Data, watched: bool) -> bool {
    let has_text = !msg.content.trim().is_empty() || msg.attachments.iter().any(crate::discord::attachments::is_text);
    watched && !msg.author.bot && msg.author.id != data.bot_id && msg.webhook_id.is_none() && has_text
}

/// A message's text with its text attachments' after it. A message is refused over the size
/// limit, but its attachments may be larger: they are read whole for leaks, and the stored text
/// is cut.
pub async fn full_text(content: &str, attachments: &[serenity::Attachment], data: &Data) -> String {
    let mut text = content.to_string();
    for file in data.attachments.read(attachments).await {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&file);
    }
    text
}

/// Deletes a message that leaks a secret, when allowed to; whether it is gone.
pub async fn remove_leak(http: &serenity::Http, channel: serenity::ChannelId, message: serenity::MessageId, data: &Data) -> bool {
    data.config.delete_leaks
        && channel
            .delete_message(http, message)
            .await
            .map_err(|e| tracing::info!(error = %e, "could not delete a message that leaks a secret"))
            .is_ok()
}

/// Keeps the stored (masked) text under the message size limit.
pub fn cut_for_storage(c: &mut crate::classify::Classification) {
    let limit = crate::error::MAX_MESSAGE_BYTES;
    if c.masked_text.len() > limit {
        let mut end = limit;
        while !c.masked_text.is_char_boundary(end) {
            end -= 1;
        }
        c.masked_text.truncate(end);
        c.masked_text.push_str("\n[… attachment text cut]");
    }
}

pub async fn handle(ctx: &serenity::Context, msg: &serenity::Message, data: &Data) -> Result<(), Error> {
    let followed = data.followed(msg.channel_id.get());
    let watched = data.config.channels.contains(&msg.channel_id.get()) || followed.is_some();
    if !wanted(msg, data, watched) {
        return Ok(());
    }
    let Some(thread) = followed else { return triage_message(ctx, msg, data, None, None).await };
    // Humans first: once a helper speaks in a thread, the thread is theirs. Only the thread's
    // poster is answered. A leak is still handled whoever posts it.
    let quiet = if data.is_helper(msg.member.as_deref()) {
        data.mark_helped(msg.channel_id.get());
        // A helper's answer is not a case; only a token in it is acted on.
        let text = full_text(&msg.content, &msg.attachments, data).await;
        if data.pipeline.analyse(&text).secrets_found == 0 {
            return Ok(());
        }
        return triage_text(ctx, msg, text, data, Some(msg.channel_id), Some(Suppression::HumanHelping)).await;
    } else if thread.quiet {
        Some(Suppression::QuietThread)
    } else if thread.helped {
        Some(Suppression::HumanHelping)
    } else if thread.owner.is_some_and(|o| o != msg.author.id.get()) {
        Some(Suppression::NotTheAsker)
    } else {
        None
    };
    triage_message(ctx, msg, data, Some(msg.channel_id), quiet).await
}

/// The pipeline for one Discord message; `thread` is set in threads, `quiet` when the answer
/// must be held back for people (a leak is still answered).
pub async fn triage_message(
    ctx: &serenity::Context,
    msg: &serenity::Message,
    data: &Data,
    thread: Option<serenity::ChannelId>,
    quiet: Option<Suppression>,
) -> Result<(), Error> {
    let text = full_text(&msg.content, &msg.attachments, data).await;
    triage_text(ctx, msg, text, data, thread, quiet).await
}

/// `triage_message` on a message whose text (attachments included) has been read already.
async fn triage_text(
    ctx: &serenity::Context,
    msg: &serenity::Message,
    text: String,
    data: &Data,
    thread: Option<serenity::ChannelId>,
    quiet: Option<Suppression>,
) -> Result<(), Error> {
    // Attachments may take a message past the size limit; its own text may not.
    if (crate::error::check_message(&msg.content).is_err() && msg.attachments.is_empty()) || text.trim().is_empty() {
        return Ok(());
    }
    let mut classification = data.pipeline.analyse(&text);
    cut_for_storage(&mut classification);
    // A leaked token is removed before anything else happens, when we are allowed to.
    let mut leak_deleted = None;
    if classification.secrets_found > 0 {
        leak_deleted = Some(remove_leak(&ctx.http, msg.channel_id, msg.id, data).await);
    }
    // The pipeline stores the classification's masked text, never this raw one.
    let mut incoming = Incoming::new(Source::Discord, msg.id.to_string(), text);
    incoming.guild_id = msg.guild_id.map(|g| g.to_string());
    incoming.channel_id = Some(msg.channel_id.to_string());
    incoming.thread_id = thread.map(|t| t.to_string());
    incoming.author = Some(msg.author.id.to_string());
    let channel = Channel { humans_first: quiet, ..data.channel(leak_deleted) };
    let handled = data.pipeline.record(incoming, classification, &channel, Delivery::Post).await?;
    if handled.duplicate {
        return Ok(());
    }
    data.metrics.record_case(&handled.case);
    tracing::info!(case_id = handled.case.id, category = %handled.case.category, confidence = handled.case.confidence, "message triaged");
    let target = Target { channel: msg.channel_id, reference: (leak_deleted != Some(true)).then_some(msg.id), author: msg.author.id };
    if leak_deleted.is_some() {
        deliver_leak(&ctx.http, data, &handled, target).await;
    } else {
        deliver(&ctx.http, data, &handled, target).await;
    }
    Ok(())
}
