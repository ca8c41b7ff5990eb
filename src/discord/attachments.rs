//! Text attachments read with their message. Discord turns a paste over its length limit into a
//! `message.txt`, and people attach curl commands, logs and `.env` files: their text is triaged
//! as part of the message, and a token in one is a leak like any other.
//!
//! Only text files are read, only up to `attachment_max_kb`, only from Discord's attachment hosts
//! (or the configured proxy), without following redirects and with a timeout. The file itself is
//! never stored or logged: only the masked text of the message it belongs to is.

use std::time::Duration;

use poise::serenity_prelude as serenity;

use crate::config::DiscordConfig;

const TIMEOUT: Duration = Duration::from_secs(5);

/// File name endings read as text when Discord gives no content type.
const TEXT_ENDINGS: &[&str] = &[
    ".txt", ".log", ".json", ".env", ".sh", ".bash", ".py", ".js", ".ts", ".mjs", ".cjs", ".rb", ".php", ".java", ".cs", ".go", ".rs",
    ".yml", ".yaml", ".toml", ".ini", ".cfg", ".conf", ".xml", ".csv", ".md", ".http", ".curl", ".har", ".sql",
];

pub struct Reader {
    client: reqwest::Client,
    max_bytes: u64,
    hosts: Vec<String>,
}

impl Reader {
    pub fn new(config: &DiscordConfig) -> anyhow::Result<Reader> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the attachment client: {e}"))?;
        let mut hosts = config.attachment_hosts.clone();
        if let Some(proxy) = config.proxy_url.as_deref().and_then(|p| reqwest::Url::parse(p).ok()) {
            hosts.extend(proxy.host_str().map(|h| match proxy.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_string(),
            }));
        }
        Ok(Reader { client, max_bytes: config.attachment_max_kb.saturating_mul(1024), hosts })
    }

    /// The text of each attachment worth reading, in order.
    pub async fn read(&self, attachments: &[serenity::Attachment]) -> Vec<String> {
        let mut out = Vec::new();
        for a in attachments {
            if !is_text(a) || u64::from(a.size) > self.max_bytes {
                continue;
            }
            if !self.allowed(&a.url) {
                tracing::info!(file = %a.filename, "an attachment from another host is not read");
                continue;
            }
            match self.fetch(&a.url).await {
                Ok(text) => out.push(text),
                Err(why) => tracing::info!(file = %a.filename, %why, "an attachment could not be read"),
            }
        }
        out
    }

    fn allowed(&self, url: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(url) else { return false };
        let Some(host) = url.host_str() else { return false };
        let with_port = url.port().map(|p| format!("{host}:{p}"));
        matches!(url.scheme(), "https" | "http")
            && self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host) || with_port.as_deref().is_some_and(|wp| h.eq_ignore_ascii_case(wp)))
    }

    /// Downloads at most `max_bytes`; a file that turns out longer, or is not UTF-8, is skipped.
    async fn fetch(&self, url: &str) -> Result<String, String> {
        let mut response = self.client.get(url).send().await.map_err(|e| format!("download failed: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("the host answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("download failed: {}", e.without_url()))? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > self.max_bytes {
                return Err("the file is larger than it said".into());
            }
        }
        String::from_utf8(body).map_err(|_| "the file is not UTF-8 text".into())
    }
}

pub fn is_text(a: &serenity::Attachment) -> bool {
    let name = a.filename.to_ascii_lowercase();
    let by_type = a.content_type.as_deref().is_some_and(|t| {
        let t = t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        t.starts_with("text/")
            || matches!(t.as_str(), "application/json" | "application/x-sh" | "application/javascript" | "application/xml")
    });
    by_type || TEXT_ENDINGS.iter().any(|e| name.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_discords_hosts_and_the_proxy_are_fetched_from() {
        let config = DiscordConfig { proxy_url: Some("http://127.0.0.1:3000".into()), ..DiscordConfig::default() };
        let reader = Reader::new(&config).unwrap();
        assert!(reader.allowed("https://cdn.discordapp.com/attachments/1/2/message.txt"));
        assert!(reader.allowed("http://127.0.0.1:3000/attachments/1/message.txt"));
        for url in [
            "http://127.0.0.1:8080/v1/stats",
            "http://169.254.169.254/latest/meta-data",
            "https://evil.example/x.txt",
            "file:///etc/passwd",
        ] {
            assert!(!reader.allowed(url), "{url}");
        }
    }
}
