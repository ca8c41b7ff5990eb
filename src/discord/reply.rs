//! Posting a decision to Discord: split under the 2,000-character limit, as a reply to the
//! message, with mentions locked down.

use poise::serenity_prelude as serenity;

use crate::pipeline::Handled;
use crate::respond::split_message;
use crate::store::ReplyStatus;

use super::Data;

/// Discord's limit on message content.
pub const DISCORD_LIMIT: usize = 2000;

/// Where and how to answer.
pub struct Target {
    pub channel: serenity::ChannelId,
    /// Reply to this message (`None` when it was deleted: a reply to it would be refused).
    pub reference: Option<serenity::MessageId>,
    /// Mention this user when there is no message to reply to.
    pub author: serenity::UserId,
}

/// Nothing in a reply may ping @everyone, @here or a role, except the configured staff role
/// on a recurring case. Serenity's default would let the text ping anything it names.
fn allowed_mentions(data: &Data, handled: &Handled, target: &Target) -> serenity::CreateAllowedMentions {
    let mut allowed = serenity::CreateAllowedMentions::new().everyone(false).all_roles(false).all_users(false).replied_user(true);
    if target.reference.is_none() {
        allowed = allowed.users(vec![target.author]);
    }
    let staff = handled.decision.as_ref().is_some_and(|d| d.mention_staff);
    if let (true, Some(role)) = (staff, data.config.staff_role) {
        allowed = allowed.roles(vec![serenity::RoleId::new(role)]);
    }
    allowed
}

/// Posts the reply a fresh case decided on, and records how that went. Shadow mode and other
/// suppressions only log.
pub async fn deliver(http: &serenity::Http, data: &Data, handled: &Handled, target: Target) {
    let case = &handled.case;
    let Some(decision) = &handled.decision else { return };
    let Some(text) = decision.text.as_deref() else { return };
    if let Some(reason) = decision.suppressed {
        tracing::info!(case_id = case.id, category = %case.category, reason = reason.as_str(), would_reply = %text, "reply held back");
        return;
    }
    let mut text = text.to_string();
    if target.reference.is_none() {
        text = format!("<@{}> {text}", target.author);
    }
    let allowed = allowed_mentions(data, handled, &target);
    let mut first_id = None;
    for (i, chunk) in split_message(&text, DISCORD_LIMIT).into_iter().enumerate() {
        let mut message = serenity::CreateMessage::new().content(chunk).allowed_mentions(allowed.clone());
        if let (0, Some(reference)) = (i, target.reference) {
            message = message.reference_message((target.channel, reference));
        }
        match target.channel.send_message(http, message).await {
            Ok(sent) => {
                first_id.get_or_insert(sent.id);
            }
            Err(e) => {
                tracing::warn!(case_id = case.id, error = %e, "posting the reply failed; the case is kept");
                let _ = data.pipeline.store().set_reply_status(case.id, ReplyStatus::Failed, None).await;
                return;
            }
        }
    }
    let reply_ref = first_id.map(|id| id.to_string());
    if let Err(e) = data.pipeline.store().set_reply_status(case.id, ReplyStatus::Sent, reply_ref.as_deref()).await {
        tracing::warn!(case_id = case.id, error = %e, "could not record the sent reply");
    }
}

/// A leak is answered privately: a direct message to its author, so that the warning does not
/// point everyone at the token. Only if that fails (the author's DMs are closed) is it posted in
/// the channel, as `deliver` does.
pub async fn deliver_leak(http: &serenity::Http, data: &Data, handled: &Handled, target: Target) {
    let case = &handled.case;
    let Some(decision) = &handled.decision else { return };
    let Some(text) = decision.text.as_deref() else { return };
    if decision.suppressed.is_some() {
        return deliver(http, data, handled, target).await;
    }
    match direct_message(http, target.author, text).await {
        Ok(id) => {
            tracing::info!(case_id = case.id, "leak warning sent by direct message");
            let reply_ref = id.to_string();
            if let Err(e) = data.pipeline.store().set_reply_status(case.id, ReplyStatus::Sent, Some(&reply_ref)).await {
                tracing::warn!(case_id = case.id, error = %e, "could not record the sent reply");
            }
        }
        Err(e) => {
            tracing::info!(case_id = case.id, error = %e, "the author takes no direct messages; warning in the channel");
            deliver(http, data, handled, target).await;
        }
    }
}

pub(crate) async fn direct_message(http: &serenity::Http, to: serenity::UserId, text: &str) -> serenity::Result<serenity::MessageId> {
    let dm = to.create_dm_channel(http).await?;
    let none = serenity::CreateAllowedMentions::new().everyone(false).all_roles(false).all_users(false);
    let mut first = None;
    for chunk in split_message(text, DISCORD_LIMIT) {
        let sent = dm.send_message(http, serenity::CreateMessage::new().content(chunk).allowed_mentions(none.clone())).await?;
        first.get_or_insert(sent.id);
    }
    first.ok_or(serenity::Error::Other("an empty reply"))
}
