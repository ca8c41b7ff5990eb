//! `POST /v1/webhooks/{zendesk,freshdesk,zammad}`: a helpdesk's webhook, checked, triaged and
//! acknowledged once its case and its pending reply are committed. The reply is posted by the
//! outbox worker through the helpdesk's API, not returned here: helpdesks ignore the response.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::helpdesk::{Helpdesk, Parsed, WebhookError};
use crate::pipeline::{Delivery, Incoming};
use crate::respond::{Channel, Surface};
use crate::store::Source;

type Answer = Result<(StatusCode, Json<Value>), ApiError>;

pub async fn zendesk(state: State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    receive(Helpdesk::Zendesk, state, headers, body).await
}

pub async fn freshdesk(state: State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    receive(Helpdesk::Freshdesk, state, headers, body).await
}

pub async fn zammad(state: State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    receive(Helpdesk::Zammad, state, headers, body).await
}

async fn receive(helpdesk: Helpdesk, State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    let name = helpdesk.as_str();
    let Some(connector) = state.connectors.get(helpdesk).cloned() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("the {name} connector is off: add [helpdesk.{name}] to triage.toml")));
    };
    if let Err(e) = connector.verify(&headers, &body, crate::pipeline::now()) {
        state.metrics.webhook_rejections.get_or_create(&super::metrics::HelpdeskLabel { helpdesk: name.into() }).inc();
        // The reason names what was wrong, never the secret or the signature presented.
        tracing::warn!(helpdesk = name, reason = %e, "webhook refused");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()));
    }
    let inbound = match connector.parse(&body) {
        Ok(Parsed::Message(m)) => m,
        Ok(Parsed::Ignored(why)) => {
            tracing::debug!(helpdesk = name, why, "webhook ignored");
            return Ok((StatusCode::OK, Json(json!({ "ignored": why }))));
        }
        Err(WebhookError::BadPayload(why)) => {
            let status = if why.contains("not valid JSON") { StatusCode::BAD_REQUEST } else { StatusCode::UNPROCESSABLE_ENTITY };
            return Err(ApiError::new(status, why));
        }
        Err(WebhookError::Unauthorized(why)) => return Err(ApiError::new(StatusCode::UNAUTHORIZED, why)),
    };
    // The id goes into the API's URL path when we answer: digits only.
    if crate::helpdesk::path_id(&inbound.ticket_id).is_err() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`ticket_id` must be the helpdesk's numeric ticket id"));
    }
    let text = super::tickets::ticket_text(inbound.subject.as_deref(), inbound.body);
    crate::error::check_message(&text).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let mut msg = Incoming::new(Source::Ticket, helpdesk.source_id(&inbound.ticket_id, inbound.comment_id.as_deref()), text);
    msg.thread_id = Some(helpdesk.thread_id(&inbound.ticket_id));
    msg.origin = Some(name.to_string());
    msg.author = inbound.requester.map(|r| format!("{name}:{r}"));
    msg.account = inbound.organization.map(|o| format!("{name}:{o}"));
    // `pt-BR` or `es_419` answer in Portuguese or Spanish; a locale we do not write falls back
    // to the message's own language.
    msg.reply_language = inbound.locale.as_deref().and_then(|l| l.get(..2)).and_then(|l| l.parse().ok());
    msg.ticket = Some((helpdesk, inbound.ticket_id.clone()));
    let channel = Channel { now: crate::pipeline::now(), surface: Surface::Ticket(connector.style()), ..Channel::default() };
    let handled = state.pipeline.handle(msg, &channel, Delivery::Post).await?;
    if !handled.duplicate {
        state.metrics.record_case(&handled.case);
        tracing::info!(case_id = handled.case.id, helpdesk = name, category = %handled.case.category, "ticket triaged");
        state.outbox.wake();
    }
    let reply = match (&handled.decision, handled.case.suppressed_reason) {
        (_, Some(reason)) => json!({ "posted": false, "suppressed_reason": reason.as_str() }),
        (Some(d), None) => json!({ "posted": true, "public": d.public }),
        (None, None) => json!({ "posted": true }),
    };
    let status = if handled.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(json!({
            "case_id": handled.case.id,
            "category": handled.case.category,
            "confidence": handled.case.confidence,
            "duplicate": handled.duplicate,
            "reply": reply,
        })),
    ))
}
