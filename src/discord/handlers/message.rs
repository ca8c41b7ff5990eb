//! A message in a watched channel or thread: triage it and maybe answer, once per burst.

use poise::serenity_prelude as serenity;

use crate::discord::burst::{Held, Part};
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
    if msg.guild_id.is_none() {
        return super::direct::handle(ctx, msg, data).await;
    }
    let followed = data.followed(msg.channel_id.get());
    let watched = data.config.channels.contains(&msg.channel_id.get()) || followed.is_some();
    if !wanted(msg, data, watched) {
        return Ok(());
    }
    // Humans first: a helper's message is never a question for the bot. It silences the bot
    // where it answers, and only a token in it is acted on.
    if data.is_helper(msg.member.as_deref()) {
        return super::helper::handle(ctx, msg, data, followed.is_some()).await;
    }
    // In a thread, only its poster is answered, and not once a helper speaks there.
    let quiet = followed.and_then(|thread| {
        if thread.quiet {
            Some(Suppression::QuietThread)
        } else if thread.helped {
            Some(Suppression::HumanHelping)
        } else if thread.owner.is_some_and(|o| o != msg.author.id.get()) {
            Some(Suppression::NotTheAsker)
        } else {
            None
        }
    });
    let Some(part) = read(msg, data, followed.map(|_| msg.channel_id), quiet).await else { return Ok(()) };
    // A leak never waits for the rest of a burst.
    if part.classification.secrets_found > 0 {
        return answer(ctx, data, vec![part], false).await;
    }
    let window = data.config.debounce;
    match data.bursts.hold(part, window) {
        Held::AnswerNow(part) => answer(ctx, data, vec![part], false).await,
        Held::Complete(burst) => answer(ctx, data, burst.parts, burst.helped).await,
        Held::Wait(generation) => {
            let taken = data.bursts.wait_and_take(msg.channel_id, msg.author.id, generation, window).await;
            let result = match taken {
                Some(burst) => answer(ctx, data, burst.parts, burst.helped).await,
                // A later message of the burst answers it.
                None => Ok(()),
            };
            data.bursts.done();
            result
        }
    }
}

/// The pipeline for one Discord message, answered at once (a forum thread's first post): `thread`
/// is set in threads, `quiet` when the answer must be held back for people.
pub async fn triage_message(
    ctx: &serenity::Context,
    msg: &serenity::Message,
    data: &Data,
    thread: Option<serenity::ChannelId>,
    quiet: Option<Suppression>,
) -> Result<(), Error> {
    match read(msg, data, thread, quiet).await {
        Some(part) => answer(ctx, data, vec![part], false).await,
        None => Ok(()),
    }
}

/// Reads and classifies a message (its text attachments included); `None` when there is
/// nothing to triage. Only the masked text is kept.
pub async fn read(msg: &serenity::Message, data: &Data, thread: Option<serenity::ChannelId>, quiet: Option<Suppression>) -> Option<Part> {
    let text = full_text(&msg.content, &msg.attachments, data).await;
    part_of(msg, &text, data, thread, quiet)
}

/// `read` for a message whose text (attachments included) is read already.
pub fn part_of(
    msg: &serenity::Message,
    text: &str,
    data: &Data,
    thread: Option<serenity::ChannelId>,
    quiet: Option<Suppression>,
) -> Option<Part> {
    // Attachments may take a message past the size limit; its own text may not.
    if (crate::error::check_message(&msg.content).is_err() && msg.attachments.is_empty()) || text.trim().is_empty() {
        return None;
    }
    let mut classification = data.pipeline.analyse(text);
    cut_for_storage(&mut classification);
    Some(Part { message: msg.id, channel: msg.channel_id, guild: msg.guild_id, author: msg.author.id, thread, quiet, classification })
}

pub fn incoming(p: &Part, burst_of: Option<serenity::MessageId>) -> Incoming {
    // The pipeline stores the classification's masked text; this is the same text.
    let mut incoming = Incoming::new(Source::Discord, p.message.to_string(), p.classification.masked_text.clone());
    incoming.guild_id = p.guild.map(|g| g.to_string());
    incoming.channel_id = Some(p.channel.to_string());
    incoming.thread_id = p.thread.map(|t| t.to_string());
    incoming.author = Some(p.author.to_string());
    incoming.burst_of = burst_of.map(|m| m.to_string());
    incoming
}

/// Stores and answers a burst (most often of one message): every message is its own case, and
/// the answer, decided over the whole burst's text, replies to the last one. `helped`: a helper
/// answered it while it was held.
pub async fn answer(ctx: &serenity::Context, data: &Data, mut parts: Vec<Part>, helped: bool) -> Result<(), Error> {
    let Some(last) = parts.pop() else { return Ok(()) };
    let earlier = Channel { humans_first: Some(Suppression::InBurst), ..data.channel(None) };
    for part in &parts {
        let handled =
            data.pipeline.record(incoming(part, Some(last.message)), part.classification.clone(), &earlier, Delivery::Post).await?;
        if !handled.duplicate {
            data.metrics.record_case(&handled.case);
        }
    }
    let classification = if parts.is_empty() {
        last.classification.clone()
    } else {
        // Masked texts: a burst holds no leak (a leak is answered the moment it comes).
        let text = parts.iter().chain([&last]).map(|p| p.classification.masked_text.as_str()).collect::<Vec<_>>().join("\n");
        let mut c = data.pipeline.analyse(&text);
        cut_for_storage(&mut c);
        c
    };
    // A leaked token is removed before anything else happens, when we are allowed to.
    let mut leak_deleted = None;
    if classification.secrets_found > 0 {
        leak_deleted = Some(remove_leak(&ctx.http, last.channel, last.message, data).await);
    }
    // A helper may have spoken in the thread while the burst waited.
    let thread_helped = last.thread.and_then(|t| data.followed(t.get())).is_some_and(|t| t.helped);
    let quiet = if helped || thread_helped { Some(Suppression::HumanHelping) } else { last.quiet };
    let channel = Channel { humans_first: quiet, ..data.channel(leak_deleted) };
    let handled = data.pipeline.record(incoming(&last, None), classification, &channel, Delivery::Post).await?;
    if handled.duplicate {
        return Ok(());
    }
    data.metrics.record_case(&handled.case);
    tracing::info!(
        case_id = handled.case.id,
        category = %handled.case.category,
        confidence = handled.case.confidence,
        burst = parts.len() + 1,
        "message triaged"
    );
    let target = Target { channel: last.channel, reference: (leak_deleted != Some(true)).then_some(last.message), author: last.author };
    if leak_deleted.is_some() {
        deliver_leak(&ctx.http, data, &handled, target).await;
    } else {
        deliver(&ctx.http, data, &handled, target).await;
    }
    Ok(())
}
