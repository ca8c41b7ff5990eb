//! Gateway event handlers, one per file.

mod direct;
mod edit;
mod helper;
mod message;
mod reaction;
mod thread;

use poise::serenity_prelude as serenity;

use super::{Data, Error};

pub async fn dispatch(ctx: &serenity::Context, event: &serenity::FullEvent, data: &Data) -> Result<(), Error> {
    match event {
        serenity::FullEvent::Message { new_message } => message::handle(ctx, new_message, data).await,
        serenity::FullEvent::MessageUpdate { event, .. } => edit::handle(ctx, event, data).await,
        serenity::FullEvent::ThreadCreate { thread } => thread::handle(ctx, thread, data).await,
        serenity::FullEvent::ThreadUpdate { new, .. } => thread::updated(ctx, new, data).await,
        serenity::FullEvent::ReactionAdd { add_reaction } => reaction::added(add_reaction, data).await,
        serenity::FullEvent::ReactionRemove { removed_reaction } => reaction::removed(removed_reaction, data).await,
        _ => Ok(()),
    }
}
