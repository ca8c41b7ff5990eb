//! Zendesk: a trigger's webhook in (signed), `PUT /api/v2/tickets/{id}.json` out.
//!
//! The signature is base64 HMAC-SHA256, keyed with the webhook's signing secret, of the
//! `X-Zendesk-Webhook-Signature-Timestamp` header followed by the raw body. A timestamp more than
//! five minutes from now is refused, so that a captured request cannot be replayed.
//!
//! The body is the JSON the admin pastes into the trigger (see the README); the fields:
//! `ticket_id`, `event` (`created` or `updated`), `subject`, `comment`, `comment_id` (optional),
//! `author_role` (`{{current_user.role}}`), `requester_id`, `requester_email`, `organization`,
//! `locale`.

use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{id_text, text, CallError, Connector, Inbound, Parsed, WebhookError};
use crate::store::outbox::Delivery;

/// How far a signature's timestamp may be from now, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), WebhookError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let unauthorized = |why: &str| WebhookError::Unauthorized(why.to_string());
    let signature = header("x-zendesk-webhook-signature").ok_or_else(|| unauthorized("no X-Zendesk-Webhook-Signature header"))?;
    let timestamp =
        header("x-zendesk-webhook-signature-timestamp").ok_or_else(|| unauthorized("no X-Zendesk-Webhook-Signature-Timestamp header"))?;
    let at = chrono::DateTime::parse_from_rfc3339(timestamp)
        .map_err(|_| unauthorized("the signature timestamp is not an RFC 3339 time"))?
        .timestamp();
    if (now - at).abs() > MAX_SKEW_SECS {
        return Err(unauthorized("the signature timestamp is more than 5 minutes from now (a replay, or a clock to fix)"));
    }
    let presented = base64::engine::general_purpose::STANDARD.decode(signature).map_err(|_| unauthorized("the signature is not base64"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| unauthorized("the signing secret is unusable"))?;
    mac.update(timestamp.as_bytes());
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&presented).map_err(|_| unauthorized("the signature does not match"))
}

/// The signature Zendesk would send, for tests and benchmarks.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn parse(body: &[u8]) -> Result<Parsed, WebhookError> {
    let v = super::json(body)?;
    let ticket_id = v.get("ticket_id").and_then(id_text).ok_or_else(|| {
        WebhookError::BadPayload("`ticket_id` is missing: the trigger's body must have \"ticket_id\": \"{{ticket.id}}\"".into())
    })?;
    // Agents' and admins' comments are answered by people, not by us.
    if let Some(role) = text(v.get("author_role")) {
        if !role.eq_ignore_ascii_case("end-user") && !role.eq_ignore_ascii_case("end_user") {
            return Ok(Parsed::Ignored("the comment is by an agent"));
        }
    }
    let comment = text(v.get("comment")).unwrap_or_default();
    if comment.is_empty() {
        return Ok(Parsed::Ignored("the ticket has no comment text"));
    }
    let updated = text(v.get("event")).is_some_and(|e| e.eq_ignore_ascii_case("updated"));
    // A later comment is a message of its own. Without its id, its text names it, so that a
    // re-delivery of the same comment is still recognised.
    let comment_id = updated.then(|| {
        v.get("comment_id").and_then(id_text).unwrap_or_else(|| {
            let digest = Sha256::digest(comment.as_bytes());
            format!("h{}", hex::encode(&digest[..8]))
        })
    });
    Ok(Parsed::Message(Inbound {
        ticket_id,
        comment_id,
        subject: if updated { None } else { text(v.get("subject")) },
        body: comment,
        requester: text(v.get("requester_id")).or_else(|| text(v.get("requester_email"))),
        organization: text(v.get("organization")),
        locale: text(v.get("locale")),
    }))
}

/// One `PUT` posts the comment and adds the tags.
pub async fn post_reply(c: &Connector, d: &Delivery) -> Result<Option<String>, CallError> {
    let body = json!({
        "ticket": {
            "comment": { "html_body": d.body, "public": d.public },
            "additional_tags": d.tags,
        }
    });
    let answer = c.send(reqwest::Method::PUT, &format!("/api/v2/tickets/{}.json", super::path_id(&d.ticket_id)?), Some(body)).await?;
    // The audit lists the comment it created; its id is the comment's.
    let events = answer.pointer("/audit/events").and_then(Value::as_array);
    let comment = events.and_then(|e| e.iter().find(|e| e.get("type").and_then(Value::as_str) == Some("Comment")));
    Ok(comment.and_then(|e| e.get("id")).or_else(|| answer.pointer("/audit/id")).and_then(id_text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(sig: &str, ts: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-zendesk-webhook-signature", sig.parse().unwrap());
        h.insert("x-zendesk-webhook-signature-timestamp", ts.parse().unwrap());
        h
    }

    #[test]
    fn a_signature_over_the_timestamp_and_body_is_accepted_and_any_change_is_not() {
        let ts = "2026-12-02T10:00:00Z";
        let now = chrono::DateTime::parse_from_rfc3339(ts).unwrap().timestamp();
        let body = br#"{"ticket_id":"1"}"#;
        let sig = sign("s3cret", ts, body);
        assert_eq!(verify("s3cret", &headers(&sig, ts), body, now + 10), Ok(()));
        assert!(verify("s3cret", &headers(&sig, ts), br#"{"ticket_id":"2"}"#, now).is_err());
        assert!(verify("other", &headers(&sig, ts), body, now).is_err());
        assert!(verify("s3cret", &headers(&sig, "2026-12-02T10:00:01Z"), body, now).is_err());
        let stale = verify("s3cret", &headers(&sig, ts), body, now + MAX_SKEW_SECS + 1).unwrap_err();
        assert!(stale.to_string().contains("5 minutes"), "{stale}");
    }

    #[test]
    fn agents_comments_are_ignored_and_a_later_comment_is_its_own_message() {
        let agent = parse(br#"{"ticket_id":"7","comment":"done","author_role":"Agent"}"#).unwrap();
        assert!(matches!(agent, Parsed::Ignored(_)));
        let Parsed::Message(first) = parse(br#"{"ticket_id":7,"event":"created","comment":"403 again","subject":"Keys"}"#).unwrap() else {
            panic!("a customer's ticket must be read")
        };
        assert_eq!((first.ticket_id.as_str(), first.comment_id.as_deref()), ("7", None));
        let Parsed::Message(later) = parse(br#"{"ticket_id":"7","event":"updated","comment":"still 403"}"#).unwrap() else {
            panic!("a customer's comment must be read")
        };
        assert!(later.comment_id.is_some() && later.subject.is_none(), "{later:?}");
    }
}
