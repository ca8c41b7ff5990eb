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
        data.follow(thread.id.get(), thread.owner_id.map(|o| o.get()), false);
        data.pipeline.store().join_thread(&thread.id.to_string()).await?;
        return Ok(());
    }
    if !in_forum {
        return Ok(());
    }
    let quiet = has_quiet_tag(ctx, thread, data).await;
    data.follow(thread.id.get(), thread.owner_id.map(|o| o.get()), quiet);
    if quiet {
        return Ok(());
    }
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

/// A forum thread changed: a `quiet_threads` tag ("Solved", "Needs human") added or removed.
pub async fn updated(ctx: &serenity::Context, thread: &serenity::GuildChannel, data: &Data) -> Result<(), Error> {
    if data.followed(thread.id.get()).is_none() {
        return Ok(());
    }
    let quiet = has_quiet_tag(ctx, thread, data).await;
    data.follow(thread.id.get(), thread.owner_id.map(|o| o.get()), quiet);
    Ok(())
}

/// Whether the thread carries a tag named in `quiet_threads`. Tag names live on the forum, read
/// from the cache or, failing that, once from Discord.
async fn has_quiet_tag(ctx: &serenity::Context, thread: &serenity::GuildChannel, data: &Data) -> bool {
    if thread.applied_tags.is_empty() || data.config.quiet_threads.is_empty() {
        return false;
    }
    let Some(forum) = thread.parent_id else { return false };
    let cached = thread.guild_id.to_guild_cached(&ctx.cache).and_then(|g| g.channels.get(&forum).map(|c| c.available_tags.clone()));
    let tags = match cached {
        Some(tags) => tags,
        None => match forum.to_channel(&ctx.http).await.map(|c| c.guild()) {
            Ok(Some(c)) => c.available_tags,
            _ => return false,
        },
    };
    tags.iter()
        .filter(|t| thread.applied_tags.contains(&t.id))
        .any(|t| data.config.quiet_threads.iter().any(|q| q.eq_ignore_ascii_case(t.name.trim())))
}
