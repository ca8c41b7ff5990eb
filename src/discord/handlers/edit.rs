//! An edited message: scanned for leaks again, and our reply kept in step with what it now says.
//!
//! A message that was clean when posted and then edited to paste the headers is the common way a
//! token ends up in a channel. So every edit of a message we have seen, or of one in a watched
//! channel, is masked and classified again: a leak is deleted (or its author asked to delete it)
//! as for a new message, and the stored case takes the new masked text.
//!
//! What we answer follows the edit only within the cooldown window (older edits are scanned for
//! leaks and nothing else): our reply is edited to the new answer, or deleted when it no longer
//! applies. An edit never gets a second reply; a message we had not answered may get its first.

use poise::serenity_prelude as serenity;

use crate::discord::reply::{deliver, deliver_leak, Target};
use crate::discord::{Data, Error};
use crate::pipeline::{Delivery, Incoming};
use crate::respond::{self, Channel, History, Suppression};
use crate::store::{ReplyChange, ReplyStatus, Source};

pub async fn handle(ctx: &serenity::Context, event: &serenity::MessageUpdateEvent, data: &Data) -> Result<(), Error> {
    // Discord also sends updates for embeds it unfurled; those carry no content.
    let Some(content) = event.content.as_deref() else { return Ok(()) };
    let Some(author) = event.author.as_ref() else { return Ok(()) };
    if author.bot || author.id == data.bot_id || event.webhook_id.flatten().is_some() {
        return Ok(());
    }
    let store = data.pipeline.store();
    let case = store.case_by_source(Source::Discord, &event.id.to_string()).await?;
    if case.is_none() && !data.config.channels.contains(&event.channel_id.get()) {
        return Ok(());
    }
    let text = super::message::full_text(content, event.attachments.as_deref().unwrap_or_default(), data).await;
    if text.trim().is_empty() {
        return Ok(());
    }
    let mut c = data.pipeline.analyse(&text);
    super::message::cut_for_storage(&mut c);
    let leaked = c.secrets_found > 0;
    let mut leak_deleted = None;
    if leaked {
        let deleted = super::message::remove_leak(&ctx.http, event.channel_id, event.id, data).await;
        leak_deleted = Some(deleted);
        tracing::info!(message = %event.id, deleted, "an edit leaked a secret");
    }
    let channel = data.channel(leak_deleted);
    let now = channel.now;
    let target = Target { channel: event.channel_id, reference: (leak_deleted != Some(true)).then_some(event.id), author: author.id };

    let Some(case) = case else {
        // Edited before we ever saw it (posted while we were down): only a leak is acted on, as
        // a new message would be.
        if !leaked {
            return Ok(());
        }
        let mut incoming = Incoming::new(Source::Discord, event.id.to_string(), text);
        incoming.guild_id = event.guild_id.map(|g| g.to_string());
        incoming.channel_id = Some(event.channel_id.to_string());
        incoming.author = Some(author.id.to_string());
        let handled = data.pipeline.record(incoming, c, &channel, Delivery::Post).await?;
        if !handled.duplicate {
            data.metrics.record_case(&handled.case);
            deliver_leak(&ctx.http, data, &handled, target).await;
        }
        return Ok(());
    };

    let recent = now - case.received_at < data.pipeline.policy().cooldown_secs;
    let leak_is_new = leaked && case.secrets_found == 0;
    let answer_changed = c.category_id() != case.category || leak_is_new;
    if !answer_changed || (!recent && !leak_is_new) {
        store.update_after_edit(case.id, &c, None).await?;
        return Ok(());
    }
    // A reply to one message, edited: its history is the same as when it was first answered,
    // except that this message is no longer new to it.
    let pack = data.pipeline.classifier().pack();
    let mut decision = respond::decide(pack, &c, &History::default(), data.pipeline.policy(), &channel);
    // A leak is told to its author privately. Our public reply then changes only if the answer
    // itself did, and never mentions the leak.
    if leak_is_new && decision.posts() {
        let warning = decision.text.clone().unwrap_or_default();
        match crate::discord::reply::direct_message(&ctx.http, author.id, &warning).await {
            Ok(dm) => {
                tracing::info!(case_id = case.id, "leak warning for an edit sent by direct message");
                if case.reply_status != ReplyStatus::Sent {
                    // The DM is our first reply to this message.
                    store.set_reply_status(case.id, ReplyStatus::Sent, Some(&dm.to_string())).await?;
                }
                if c.category_id() == case.category {
                    store.update_after_edit(case.id, &c, None).await?;
                    return Ok(());
                }
                let mut public = c.clone();
                public.secrets_found = 0;
                public.apptokens_found = 0;
                let quiet = Channel { leak_deleted: None, ..channel.clone() };
                decision = respond::decide(pack, &public, &History::default(), data.pipeline.policy(), &quiet);
            }
            Err(e) => tracing::info!(case_id = case.id, error = %e, "the author takes no direct messages; the warning goes in our reply"),
        }
    }
    let ours = case.reply_ref.as_deref().and_then(|r| r.parse::<u64>().ok()).filter(|_| case.reply_status == ReplyStatus::Sent);
    match (ours, decision.posts()) {
        (Some(reply), true) => {
            let text = decision.text.clone().unwrap_or_default();
            let shown = if target.reference.is_none() { format!("<@{}> {text}", author.id) } else { text.clone() };
            let shown = respond::split_message(&shown, crate::discord::reply::DISCORD_LIMIT).into_iter().next().unwrap_or_default();
            let edit = serenity::EditMessage::new().content(shown);
            match event.channel_id.edit_message(&ctx.http, serenity::MessageId::new(reply), edit).await {
                Ok(_) => store.update_after_edit(case.id, &c, Some(ReplyChange::Edited(text))).await?,
                Err(e) => {
                    tracing::warn!(case_id = case.id, error = %e, "could not edit our reply after an edit");
                    store.update_after_edit(case.id, &c, None).await?;
                }
            }
        }
        (Some(reply), false) => {
            let why = decision.suppressed.unwrap_or(Suppression::NotSupport);
            if let Err(e) = event.channel_id.delete_message(&ctx.http, serenity::MessageId::new(reply)).await {
                tracing::warn!(case_id = case.id, error = %e, "could not delete our reply that no longer applies");
            }
            store.update_after_edit(case.id, &c, Some(ReplyChange::Removed(why))).await?;
        }
        (None, true) => {
            // Not answered before (off topic, or unsure): this is the first reply, not a second.
            store.update_after_edit(case.id, &c, None).await?;
            let handled = crate::pipeline::Handled { case: case.clone(), duplicate: false, decision: Some(decision) };
            if leaked {
                deliver_leak(&ctx.http, data, &handled, target).await;
            } else {
                deliver(&ctx.http, data, &handled, target).await;
            }
        }
        (None, false) => store.update_after_edit(case.id, &c, None).await?,
    }
    Ok(())
}
