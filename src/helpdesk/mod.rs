//! Helpdesk connectors: a helpdesk's webhook in, its REST API out. One file per helpdesk, each
//! with the same three parts: check the webhook's signature, read its payload into a ticket
//! message, and build the API calls that post a reply. Everything between goes through the one
//! pipeline; replies wait in the durable outbox (`outbox.rs`) until posted.

pub mod freshdesk;
pub mod outbox;
pub mod zammad;
pub mod zendesk;

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::config::{HelpdeskConfig, HelpdesksConfig};
use crate::respond::TicketStyle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Helpdesk {
    Zendesk,
    Freshdesk,
    Zammad,
}

impl Helpdesk {
    pub const ALL: [Helpdesk; 3] = [Helpdesk::Zendesk, Helpdesk::Freshdesk, Helpdesk::Zammad];

    pub fn as_str(self) -> &'static str {
        match self {
            Helpdesk::Zendesk => "zendesk",
            Helpdesk::Freshdesk => "freshdesk",
            Helpdesk::Zammad => "zammad",
        }
    }

    pub fn parse(s: &str) -> Option<Helpdesk> {
        Helpdesk::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The environment variables holding its API credential and its webhook secret.
    pub fn secret_vars(self) -> (&'static str, &'static str) {
        match self {
            Helpdesk::Zendesk => ("ZENDESK_API_TOKEN", "ZENDESK_WEBHOOK_SECRET"),
            Helpdesk::Freshdesk => ("FRESHDESK_API_KEY", "FRESHDESK_WEBHOOK_SECRET"),
            Helpdesk::Zammad => ("ZAMMAD_API_TOKEN", "ZAMMAD_WEBHOOK_SECRET"),
        }
    }

    /// A case's source id: unique per helpdesk and ticket, and per later comment of a ticket.
    pub fn source_id(self, ticket_id: &str, comment_id: Option<&str>) -> String {
        match comment_id {
            Some(c) => format!("{}:{ticket_id}:{c}", self.as_str()),
            None => format!("{}:{ticket_id}", self.as_str()),
        }
    }

    /// Where an agent opens a ticket, under the helpdesk's base URL.
    pub fn agent_url(self, base: &str, ticket_id: &str) -> String {
        let base = base.trim_end_matches('/');
        match self {
            Helpdesk::Zendesk => format!("{base}/agent/tickets/{ticket_id}"),
            Helpdesk::Freshdesk => format!("{base}/a/tickets/{ticket_id}"),
            Helpdesk::Zammad => format!("{base}/#ticket/zoom/{ticket_id}"),
        }
    }

    /// The thread a ticket's cases share.
    pub fn thread_id(self, ticket_id: &str) -> String {
        format!("{}:{ticket_id}", self.as_str())
    }
}

/// A customer's message, read from a webhook.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inbound {
    pub ticket_id: String,
    /// The comment or article, for a later message of a ticket; `None` for the ticket itself.
    pub comment_id: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub requester: Option<String>,
    pub organization: Option<String>,
    /// The ticket's locale (`pt-BR`, `es`), if the helpdesk sent one.
    pub locale: Option<String>,
}

/// What a webhook carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Message(Inbound),
    /// Nothing to answer: an agent's, an internal or our own comment.
    Ignored(&'static str),
}

/// Why a webhook was refused. Never quotes the secret or the signature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadPayload(String),
}

/// The helpdesk's secrets, from the environment. `Debug` never shows them.
#[derive(Clone)]
pub struct Secrets {
    pub api: String,
    pub webhook: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// Why a call failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    Retry { after: Option<Duration>, reason: String },
    Permanent(String),
}

/// A configured helpdesk: its settings, secrets and HTTP client.
#[derive(Debug)]
pub struct Connector {
    pub helpdesk: Helpdesk,
    pub config: HelpdeskConfig,
    secrets: Secrets,
    client: reqwest::Client,
}

impl Connector {
    pub fn new(helpdesk: Helpdesk, config: HelpdeskConfig, secrets: Secrets) -> anyhow::Result<Connector> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("triage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for {}: {e}", helpdesk.as_str()))?;
        Ok(Connector { helpdesk, config, secrets, client })
    }

    /// Checks that the webhook comes from the helpdesk. `now` is Unix seconds.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), WebhookError> {
        match self.helpdesk {
            Helpdesk::Zendesk => zendesk::verify(&self.secrets.webhook, headers, body, now),
            Helpdesk::Freshdesk => freshdesk::verify(&self.secrets.webhook, headers),
            Helpdesk::Zammad => zammad::verify(&self.secrets.webhook, headers, body),
        }
    }

    pub fn parse(&self, body: &[u8]) -> Result<Parsed, WebhookError> {
        match self.helpdesk {
            Helpdesk::Zendesk => zendesk::parse(body),
            Helpdesk::Freshdesk => freshdesk::parse(body),
            Helpdesk::Zammad => zammad::parse(body, self.config.bot_login.as_deref()),
        }
    }

    pub fn style(&self) -> TicketStyle {
        TicketStyle { public_min_confidence: self.config.public_min_confidence, public_categories: self.config.public_categories.clone() }
    }

    /// Posts the reply (a comment, reply, note or article); the helpdesk's id of it, if known.
    pub async fn post_reply(&self, d: &crate::store::outbox::Delivery) -> Result<Option<String>, CallError> {
        match self.helpdesk {
            Helpdesk::Zendesk => zendesk::post_reply(self, d).await,
            Helpdesk::Freshdesk => freshdesk::post_reply(self, d).await,
            Helpdesk::Zammad => zammad::post_reply(self, d).await,
        }
    }

    /// Whether tags are a call of their own after the reply (Zendesk sends them with it).
    pub fn tags_separately(&self) -> bool {
        self.helpdesk != Helpdesk::Zendesk
    }

    /// Adds the reply's tags to the ticket, where the reply did not carry them already.
    pub async fn add_tags(&self, d: &crate::store::outbox::Delivery) -> Result<(), CallError> {
        match self.helpdesk {
            Helpdesk::Zendesk => Ok(()),
            Helpdesk::Freshdesk => freshdesk::add_tags(self, d).await,
            Helpdesk::Zammad => zammad::add_tags(self, d).await,
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.helpdesk {
            Helpdesk::Zendesk => {
                let email = self.config.email.as_deref().unwrap_or_default();
                request.basic_auth(format!("{email}/token"), Some(&self.secrets.api))
            }
            // Freshdesk takes the API key as the user name, with any password.
            Helpdesk::Freshdesk => request.basic_auth(&self.secrets.api, Some("X")),
            Helpdesk::Zammad => request.header("Authorization", format!("Token token={}", self.secrets.api)),
        }
    }

    /// Makes one call; on success, the JSON the helpdesk answered.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, CallError> {
        let url = format!("{}{path}", self.config.url.trim_end_matches('/'));
        let mut request = self.authorize(self.client.request(method, &url));
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            // reqwest's errors name the URL, never the credentials, which travel in headers.
            Err(e) if e.is_timeout() => return Err(CallError::Retry { after: None, reason: format!("{path} timed out") }),
            Err(e) => return Err(CallError::Retry { after: None, reason: format!("{path} could not be reached: {}", root_cause(&e)) }),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response.json::<serde_json::Value>().await.unwrap_or(serde_json::Value::Null));
        }
        let after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let reason = format!("{path} answered {status}");
        if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
            Err(CallError::Retry { after, reason })
        } else {
            Err(CallError::Permanent(reason))
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The configured helpdesks.
#[derive(Debug, Clone, Default)]
pub struct Connectors(Vec<Arc<Connector>>);

impl Connectors {
    /// From the config and the environment: a configured helpdesk whose secrets are missing is
    /// an error that names the variable.
    pub fn from_env(config: &HelpdesksConfig) -> anyhow::Result<Connectors> {
        let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut all = Vec::new();
        for (helpdesk, c) in
            [(Helpdesk::Zendesk, &config.zendesk), (Helpdesk::Freshdesk, &config.freshdesk), (Helpdesk::Zammad, &config.zammad)]
        {
            let Some(c) = c else { continue };
            let (api_var, webhook_var) = helpdesk.secret_vars();
            let missing = |var: &str| {
                anyhow::anyhow!("[helpdesk.{}] is configured but {var} is not set; export it, or remove the section", helpdesk.as_str())
            };
            let api = env(api_var).ok_or_else(|| missing(api_var))?;
            let webhook = env(webhook_var).ok_or_else(|| missing(webhook_var))?;
            all.push(Arc::new(Connector::new(helpdesk, c.clone(), Secrets { api, webhook })?));
        }
        Ok(Connectors(all))
    }

    pub fn with(connectors: Vec<Connector>) -> Connectors {
        Connectors(connectors.into_iter().map(Arc::new).collect())
    }

    pub fn get(&self, helpdesk: Helpdesk) -> Option<&Arc<Connector>> {
        self.0.iter().find(|c| c.helpdesk == helpdesk)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Connector>> {
        self.0.iter()
    }
}

/// A ticket id as it goes into a URL path: digits only, so that no id can change the path.
pub(crate) fn path_id(id: &str) -> Result<&str, CallError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(CallError::Permanent(format!("ticket id `{}` is not a number", crate::redact::mask_and_cap(id, 40))))
    }
}

/// Compares a presented secret with the expected one in constant time.
pub(crate) fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
}

/// A JSON value as an id: strings as they are, whole numbers as their digits.
pub(crate) fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.trim().is_empty() && s.len() <= 128 => Some(s.trim().to_string()),
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON value as optional text: empty strings, and placeholders the helpdesk left unfilled
/// (`{{ticket.organization.name}}`), are none.
pub(crate) fn text(v: Option<&serde_json::Value>) -> Option<String> {
    let s = match v? {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty() && !s.starts_with("{{")).then_some(s)
}

pub(crate) fn json(body: &[u8]) -> Result<serde_json::Value, WebhookError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    serde_json::from_slice(body).map_err(|e| WebhookError::BadPayload(format!("the webhook body is not valid JSON: {e}")))
}

/// HTML bodies (Zammad articles, Freshdesk descriptions) as the text a person reads.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim_start_matches('/').to_ascii_lowercase();
        let name = tag.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("");
        if matches!(name, "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "pre" | "blockquote") {
            out.push('\n');
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_bodies_read_as_text_with_their_line_breaks() {
        let text = html_to_text("<div>My appKey gets 403</div><div>X-VTEX-API-AppToken: &lt;token&gt;<br>thanks</div>");
        assert_eq!(text.trim(), "My appKey gets 403\n\nX-VTEX-API-AppToken: <token>\nthanks");
    }

    #[test]
    fn unfilled_placeholders_are_no_value() {
        assert_eq!(text(Some(&serde_json::json!("{{ticket.organization.name}}"))), None);
        assert_eq!(text(Some(&serde_json::json!("  "))), None);
        assert_eq!(text(Some(&serde_json::json!("Acme"))), Some("Acme".into()));
    }
}
