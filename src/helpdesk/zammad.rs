//! Zammad: a trigger's webhook in (its native `ticket` + `article` payload, signed with
//! `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`), `POST /api/v1/ticket_articles` out,
//! then `POST /api/v1/tags/add` for each tag.
//!
//! Only a customer's article is answered: internal ones, and those sent by an agent, the system
//! or the bot's own user (`bot_login`), are ignored.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

use super::{id_text, text, CallError, Connector, Inbound, Parsed, WebhookError};
use crate::store::outbox::Delivery;

pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    let unauthorized = |why: &str| WebhookError::Unauthorized(why.to_string());
    let header = headers.get("x-hub-signature").and_then(|v| v.to_str().ok()).ok_or_else(|| unauthorized("no X-Hub-Signature header"))?;
    let hex_sig = header.trim().strip_prefix("sha1=").ok_or_else(|| unauthorized("X-Hub-Signature must start with sha1="))?;
    let presented = hex::decode(hex_sig).map_err(|_| unauthorized("X-Hub-Signature is not hex"))?;
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|_| unauthorized("the signing secret is unusable"))?;
    mac.update(body);
    mac.verify_slice(&presented).map_err(|_| unauthorized("the signature does not match"))
}

/// The signature Zammad would send, for tests and benchmarks.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn parse(body: &[u8], bot_login: Option<&str>) -> Result<Parsed, WebhookError> {
    let v = super::json(body)?;
    let ticket = v
        .get("ticket")
        .ok_or_else(|| WebhookError::BadPayload("the payload has no `ticket`: use Zammad's default webhook payload".into()))?;
    let ticket_id = ticket.get("id").and_then(id_text).ok_or_else(|| WebhookError::BadPayload("`ticket.id` is missing".into()))?;
    let Some(article) = v.get("article").filter(|a| a.is_object()) else {
        return Ok(Parsed::Ignored("the trigger fired without an article"));
    };
    if article.get("internal").and_then(Value::as_bool).unwrap_or(false) {
        return Ok(Parsed::Ignored("the article is internal"));
    }
    let sender = text(article.get("sender")).unwrap_or_default();
    if !sender.eq_ignore_ascii_case("customer") {
        return Ok(Parsed::Ignored("the article is not from the customer"));
    }
    let author = text(article.pointer("/created_by/login")).or_else(|| text(article.get("created_by")));
    if bot_login.is_some_and(|bot| author.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(bot))) {
        return Ok(Parsed::Ignored("the article is ours"));
    }
    let article_id = article.get("id").and_then(id_text).ok_or_else(|| WebhookError::BadPayload("`article.id` is missing".into()))?;
    let raw = text(article.get("body")).unwrap_or_default();
    let html = text(article.get("content_type")).is_some_and(|t| t.contains("html"));
    let body = if html { super::html_to_text(&raw).trim().to_string() } else { raw };
    if body.is_empty() {
        return Ok(Parsed::Ignored("the article has no text"));
    }
    // The ticket's first article is the ticket itself: its re-deliveries are one case.
    let first = ticket.get("article_ids").and_then(Value::as_array).and_then(|ids| ids.first()).and_then(id_text);
    let is_first = first.as_deref() == Some(article_id.as_str()) || ticket.get("article_count").and_then(Value::as_u64) == Some(1);
    Ok(Parsed::Message(Inbound {
        ticket_id,
        comment_id: (!is_first).then_some(article_id),
        subject: if is_first { text(ticket.get("title")) } else { None },
        body,
        requester: text(ticket.pointer("/customer/id")).or_else(|| text(ticket.pointer("/customer/email"))),
        organization: text(ticket.pointer("/organization/name")).or_else(|| text(ticket.pointer("/customer/organization"))),
        locale: text(ticket.pointer("/customer/preferences/locale")),
    }))
}

pub async fn post_reply(c: &Connector, d: &Delivery) -> Result<Option<String>, CallError> {
    let id: u64 = d.ticket_id.parse().map_err(|_| CallError::Permanent("the ticket id is not a number".into()))?;
    let article = json!({
        "ticket_id": id,
        "body": d.body,
        "content_type": "text/html",
        "type": "note",
        "internal": !d.public,
    });
    let answer = c.send(reqwest::Method::POST, "/api/v1/ticket_articles", Some(article)).await?;
    Ok(answer.get("id").and_then(id_text))
}

/// Adding a tag the ticket already has is fine in Zammad, so a retry can add them all again.
pub async fn add_tags(c: &Connector, d: &Delivery) -> Result<(), CallError> {
    let id: u64 = d.ticket_id.parse().map_err(|_| CallError::Permanent("the ticket id is not a number".into()))?;
    for tag in &d.tags {
        c.send(reqwest::Method::POST, "/api/v1/tags/add", Some(json!({ "object": "Ticket", "o_id": id, "item": tag }))).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(sender: &str, internal: bool, login: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "ticket": { "id": 5, "title": "Keys", "article_ids": [10], "customer": { "id": 3, "email": "c@x.com" } },
            "article": { "id": 10, "sender": sender, "internal": internal, "body": "<p>appKey 401</p>", "content_type": "text/html",
                         "created_by": { "login": login } }
        }))
        .unwrap()
    }

    #[test]
    fn the_signature_is_an_hmac_sha1_of_the_body() {
        let body = payload("Customer", false, "c@x.com");
        let mut h = HeaderMap::new();
        h.insert("x-hub-signature", sign("k", &body).parse().unwrap());
        assert_eq!(verify("k", &h, &body), Ok(()));
        assert!(verify("other", &h, &body).is_err());
        assert!(verify("k", &h, b"{}").is_err());
    }

    #[test]
    fn only_a_customers_public_article_is_answered() {
        assert!(matches!(parse(&payload("Customer", false, "c@x.com"), Some("bot@x.com")).unwrap(), Parsed::Message(_)));
        assert!(matches!(parse(&payload("Agent", false, "a@x.com"), None).unwrap(), Parsed::Ignored(_)));
        assert!(matches!(parse(&payload("Customer", true, "c@x.com"), None).unwrap(), Parsed::Ignored(_)));
        assert!(matches!(parse(&payload("Customer", false, "bot@x.com"), Some("bot@x.com")).unwrap(), Parsed::Ignored(_)));
    }
}
