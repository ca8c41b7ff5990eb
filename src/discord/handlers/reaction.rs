//! 👍/👎 on one of our replies is feedback on its case.

use poise::serenity_prelude as serenity;

use crate::discord::{Data, Error};

fn vote(reaction: &serenity::Reaction) -> Option<bool> {
    match &reaction.emoji {
        serenity::ReactionType::Unicode(s) if s.starts_with('👍') => Some(true),
        serenity::ReactionType::Unicode(s) if s.starts_with('👎') => Some(false),
        _ => None,
    }
}

async fn case_for(reaction: &serenity::Reaction, data: &Data) -> Result<Option<(i64, bool, String)>, Error> {
    let (Some(helpful), Some(user)) = (vote(reaction), reaction.user_id) else { return Ok(None) };
    if user == data.bot_id {
        return Ok(None);
    }
    let case = data.pipeline.store().case_by_reply_ref(&reaction.message_id.to_string()).await?;
    Ok(case.map(|id| (id, helpful, user.to_string())))
}

pub async fn added(reaction: &serenity::Reaction, data: &Data) -> Result<(), Error> {
    if let Some((case, helpful, voter)) = case_for(reaction, data).await? {
        data.pipeline.store().add_feedback(case, helpful, &voter, "discord", crate::pipeline::now()).await?;
        tracing::info!(case_id = case, helpful, "feedback by reaction");
    }
    Ok(())
}

pub async fn removed(reaction: &serenity::Reaction, data: &Data) -> Result<(), Error> {
    if let Some((case, helpful, voter)) = case_for(reaction, data).await? {
        data.pipeline.store().remove_feedback(case, helpful, &voter).await?;
    }
    Ok(())
}
