//! Freshdesk: an automation's webhook in, `POST /api/v2/tickets/{id}/reply` (public) or
//! `/notes` (private) out, then the tags.
//!
//! Freshdesk signs nothing, so the automation sends a shared secret in a header that the admin
//! adds to it: `X-Triage-Webhook-Secret: <FRESHDESK_WEBHOOK_SECRET>`. The body is the JSON the
//! admin pastes (see the README): `ticket_id`, `event` (`created` or `updated`), `subject`,
//! `description`, `comment` (later comments), `comment_id` (optional), `author_role`,
//! `requester_id`, `requester_email`, `company`, `locale`.

use axum::http::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{id_text, same_secret, text, CallError, Connector, Inbound, Parsed, WebhookError};
use crate::store::outbox::Delivery;

pub const SECRET_HEADER: &str = "x-triage-webhook-secret";

pub fn verify(secret: &str, headers: &HeaderMap) -> Result<(), WebhookError> {
    let presented = headers
        .get(SECRET_HEADER)
        .ok_or_else(|| WebhookError::Unauthorized("no X-Triage-Webhook-Secret header: add it to the automation's webhook".into()))?;
    if same_secret(presented.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized("the X-Triage-Webhook-Secret header does not match FRESHDESK_WEBHOOK_SECRET".into()))
    }
}

pub fn parse(body: &[u8]) -> Result<Parsed, WebhookError> {
    let v = super::json(body)?;
    let ticket_id = v.get("ticket_id").and_then(id_text).ok_or_else(|| {
        WebhookError::BadPayload("`ticket_id` is missing: the automation's body must have \"ticket_id\": \"{{ticket.id}}\"".into())
    })?;
    if let Some(role) = text(v.get("author_role")) {
        if role.eq_ignore_ascii_case("agent") || role.eq_ignore_ascii_case("admin") {
            return Ok(Parsed::Ignored("the comment is by an agent"));
        }
    }
    let updated = text(v.get("event")).is_some_and(|e| e.eq_ignore_ascii_case("updated"));
    let raw = if updated { text(v.get("comment")) } else { text(v.get("description")).or_else(|| text(v.get("comment"))) };
    // Freshdesk fills `{{ticket.description}}` with HTML.
    let body = raw.map(|b| super::html_to_text(&b).trim().to_string()).unwrap_or_default();
    if body.is_empty() {
        return Ok(Parsed::Ignored("the ticket has no text"));
    }
    let comment_id = updated.then(|| {
        v.get("comment_id").and_then(id_text).unwrap_or_else(|| format!("h{}", hex::encode(&Sha256::digest(body.as_bytes())[..8])))
    });
    Ok(Parsed::Message(Inbound {
        ticket_id,
        comment_id,
        subject: if updated { None } else { text(v.get("subject")) },
        body,
        requester: text(v.get("requester_id")).or_else(|| text(v.get("requester_email"))),
        organization: text(v.get("company")),
        locale: text(v.get("locale")),
    }))
}

pub async fn post_reply(c: &Connector, d: &Delivery) -> Result<Option<String>, CallError> {
    let id = super::path_id(&d.ticket_id)?;
    let answer = if d.public {
        c.send(reqwest::Method::POST, &format!("/api/v2/tickets/{id}/reply"), Some(json!({ "body": d.body }))).await?
    } else {
        c.send(reqwest::Method::POST, &format!("/api/v2/tickets/{id}/notes"), Some(json!({ "body": d.body, "private": true }))).await?
    };
    Ok(answer.get("id").and_then(id_text))
}

/// Freshdesk's update replaces a ticket's tags, so the current ones are read and kept.
pub async fn add_tags(c: &Connector, d: &Delivery) -> Result<(), CallError> {
    if d.tags.is_empty() {
        return Ok(());
    }
    let id = super::path_id(&d.ticket_id)?;
    let ticket = c.send(reqwest::Method::GET, &format!("/api/v2/tickets/{id}"), None).await?;
    let mut tags: Vec<String> = ticket
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let before = tags.len();
    for t in &d.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    if tags.len() == before {
        return Ok(());
    }
    c.send(reqwest::Method::PUT, &format!("/api/v2/tickets/{id}"), Some(json!({ "tags": tags }))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_secret_header_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(verify("abc", &h).is_err());
        h.insert(SECRET_HEADER, "abd".parse().unwrap());
        assert!(verify("abc", &h).is_err());
        h.insert(SECRET_HEADER, "abc".parse().unwrap());
        assert_eq!(verify("abc", &h), Ok(()));
    }

    #[test]
    fn a_description_in_html_is_read_as_text() {
        let Parsed::Message(m) =
            parse(br#"{"ticket_id":"12","subject":"401","description":"<div>My appKey gets 401</div><div>thanks</div>"}"#).unwrap()
        else {
            panic!("a ticket must be read")
        };
        assert_eq!(m.body, "My appKey gets 401\n\nthanks");
    }
}
