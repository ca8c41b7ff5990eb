//! A direct message to the bot. Nobody else sees it, and the bot cannot delete it: a leaked
//! token gets the renewal advice, which is the only fix once a token has left its owner's hands.
//! Questions are answered as in a channel while `direct_messages` is on.

use poise::serenity_prelude as serenity;

use crate::discord::reply::{deliver, Target};
use crate::discord::{Data, Error};
use crate::pipeline::Delivery;
use crate::respond::Channel;

pub async fn handle(ctx: &serenity::Context, msg: &serenity::Message, data: &Data) -> Result<(), Error> {
    if !super::message::wanted(msg, data, true) {
        return Ok(());
    }
    let Some(part) = super::message::read(msg, data, None, None).await else { return Ok(()) };
    let leaked = part.classification.secrets_found > 0;
    if !leaked && !data.config.direct_messages {
        return Ok(());
    }
    let channel = Channel { direct: true, staff_mention: None, ..data.channel(leaked.then_some(false)) };
    let incoming = super::message::incoming(&part, None);
    let handled = data.pipeline.record(incoming, part.classification, &channel, Delivery::Post).await?;
    if handled.duplicate {
        return Ok(());
    }
    data.metrics.record_case(&handled.case);
    tracing::info!(case_id = handled.case.id, category = %handled.case.category, leaked, "direct message triaged");
    deliver(&ctx.http, data, &handled, Target { channel: msg.channel_id, reference: Some(msg.id), author: msg.author.id }).await;
    Ok(())
}
