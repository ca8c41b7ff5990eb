//! A new thread in a watched forum channel is a ticket: its first post is triaged and answered
//! in the thread. Threads in watched text channels are followed too: their messages are triaged
//! as they come (see `message.rs`).

use poise::serenity_prelude as serenity;

use crate::discord::{Data, Error};

pub async fn handle(ctx: &serenity::Context, thread: &serenity::GuildChannel, data: &Data) -> Result<(), Error> {
    let in_forum = thread.parent_id.is_some_and(|p| data.config.forums.contains(&p.get()));
    let in_channel = data.config.threads && thread.parent_id.is_some_and(|p| data.config.channels.contains(&p.get()));
    if in_channel {
        // Its messages arrive as messages of the thread; a thread started from a message shares
        // that message's id, and its case becomes the thread's.
        data.follow(thread.id.get(), thread.owner_id.map(|o| o.get()));
        data.pipeline.store().join_thread(&thread.id.to_string()).await?;
        return Ok(());
    }
    if !in_forum {
        return Ok(());
    }
    data.follow(thread.id.get(), thread.owner_id.map(|o| o.get()));
    // A forum post's starter message has the thread's own id.
    let starter = serenity::MessageId::new(thread.id.get());
    let msg = match thread.id.message(&ctx.http, starter).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(thread = %thread.id, error = %e, "could not read the first post of a forum thread");
            return Ok(());
        }
    };
    if !super::message::wanted(&msg, data, true) {
        return Ok(());
    }
    super::message::triage_message(ctx, &msg, data, Some(thread.id), None).await
}
