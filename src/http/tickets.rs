//! `POST /v1/tickets`: a helpdesk posts a new ticket, we answer with the reply to post back.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, ApiJson, AppState};
use crate::language::Language;
use crate::pipeline::{Delivery, Incoming};
use crate::respond::Channel;
use crate::store::{CaseRecord, Source};

#[derive(Debug, Deserialize)]
pub struct Ticket {
    pub id: Value,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    #[serde(default)]
    pub requester: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Reply {
    /// The text to post on the ticket; `null` when nothing should be posted.
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_reason: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct TicketResponse {
    pub case_id: i64,
    pub category: String,
    pub confidence: f64,
    pub language: Language,
    pub escalate_to_sponsor: bool,
    pub recurring: bool,
    /// This id was delivered before; the answer is the first delivery's.
    pub duplicate: bool,
    pub reply: Reply,
}

impl TicketResponse {
    pub fn from_case(case: &CaseRecord, duplicate: bool) -> Self {
        let suppressed = case.suppressed_reason;
        TicketResponse {
            case_id: case.id,
            category: case.category.clone(),
            confidence: case.confidence,
            language: case.language,
            escalate_to_sponsor: case.escalate_to_sponsor,
            recurring: case.recurring,
            duplicate,
            reply: Reply {
                text: if suppressed.is_none() { case.reply_text.clone() } else { None },
                suppressed_reason: suppressed.map(|s| s.as_str()),
            },
        }
    }
}

fn ticket_id(v: &Value) -> Result<String, ApiError> {
    // The helpdesk connectors' cases share this source; their ids are theirs alone.
    if let Value::String(s) = v {
        if let Some(h) = crate::helpdesk::Helpdesk::ALL.into_iter().find(|h| s.starts_with(&format!("{}:", h.as_str()))) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "ids starting with `{}:` belong to the {} connector; send this ticket to /v1/webhooks/{}",
                    h.as_str(),
                    h.as_str(),
                    h.as_str()
                ),
            ));
        }
    }
    match v {
        Value::String(s) if !s.trim().is_empty() && s.len() <= 256 => Ok(s.clone()),
        // Only whole numbers that JSON parsers keep exactly: a bigger one (1e30, or 25 digits)
        // arrives as a float, and two different tickets could share one id.
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Value::Number(n) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`id` {n} is not a whole number that fits in 64 bits; send such ids as strings"),
        )),
        _ => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`id` must be a non-empty string (at most 256 bytes) or a number")),
    }
}

pub async fn create(State(state): State<AppState>, ApiJson(t): ApiJson<Ticket>) -> Result<(StatusCode, Json<TicketResponse>), ApiError> {
    let id = ticket_id(&t.id)?;
    let text = ticket_text(t.subject.as_deref(), t.body);
    crate::error::check_message(&text).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let reply_language = match t.language.as_deref() {
        Some(l) => Some(l.parse::<Language>().map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?),
        None => None,
    };
    let mut msg = Incoming::new(Source::Ticket, id, text);
    msg.author = t.requester;
    msg.account = t.account;
    msg.reply_language = reply_language;
    msg.origin = Some("helpdesk".into());
    let channel = Channel { now: crate::pipeline::now(), ..Channel::default() };
    let handled = state.pipeline.handle(msg, &channel, Delivery::Return).await?;
    if !handled.duplicate {
        state.metrics.record_case(&handled.case);
        tracing::info!(case_id = handled.case.id, category = %handled.case.category, "ticket triaged");
    }
    let status = if handled.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(TicketResponse::from_case(&handled.case, handled.duplicate))))
}

/// A ticket as one message: its subject, a blank line, then its body.
pub fn ticket_text(subject: Option<&str>, body: String) -> String {
    match subject.map(str::trim).filter(|s| !s.is_empty()) {
        Some(subject) => format!("{subject}\n\n{body}"),
        None => body,
    }
}
