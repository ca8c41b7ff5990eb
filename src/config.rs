//! `triage.toml`: found by `--config PATH` or `TRIAGE_CONFIG`. Every table rejects unknown keys,
//! so a typo is an error at start-up rather than a setting silently ignored. Tokens never live
//! here: `DISCORD_TOKEN` and `TRIAGE_API_TOKEN` come from the environment only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::language::Language;
use crate::respond::Policy;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// SQLite file (overridden by `--database` and `DATABASE_URL`).
    pub database: Option<String>,
    /// Largest the database may grow, in MiB (default: no limit). Past it, new cases are refused
    /// as on a full disk, and `/readyz` says so.
    pub database_max_mb: Option<u64>,
    /// Rule pack file or folder (default: the built-in pack).
    pub rules: Option<PathBuf>,
    /// Minimum confidence for a category (default: the pack's threshold).
    pub threshold: Option<f64>,
    pub reply: ReplyConfig,
    pub recurrence: RecurrenceConfig,
    pub http: HttpConfig,
    pub discord: DiscordConfig,
    /// Helpdesk connectors; each one is on when its table is present.
    pub helpdesk: HelpdesksConfig,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HelpdesksConfig {
    pub zendesk: Option<HelpdeskConfig>,
    pub freshdesk: Option<HelpdeskConfig>,
    pub zammad: Option<HelpdeskConfig>,
}

/// One helpdesk. Its secrets come from the environment only (see `helpdesk::Secrets`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HelpdeskConfig {
    /// The API base, e.g. `https://acme.zendesk.com`.
    pub url: String,
    /// Zendesk: the agent the API token belongs to.
    pub email: Option<String>,
    /// At or above it the reply is public; without it, replies are internal notes.
    pub public_min_confidence: Option<f64>,
    /// Only these categories may be public (default: any).
    #[serde(default)]
    pub public_categories: Vec<String>,
    /// A reply not posted within this time is given up, and its case marked failed.
    #[serde(default = "give_up_after", deserialize_with = "duration")]
    pub give_up_after: Duration,
    /// Time one API call may take.
    #[serde(default = "api_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Zammad: the login of the API token's user, whose articles are ours and never answered.
    pub bot_login: Option<String>,
}

fn give_up_after() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn api_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReplyConfig {
    /// Minimum confidence to post a reply.
    pub threshold: f64,
    /// No second reply to the same author about the same category within this time.
    #[serde(deserialize_with = "duration")]
    pub cooldown: Duration,
    /// Decide and record, post nothing.
    pub shadow: bool,
    /// Always answer in this language (en, pt, es) instead of the message's own.
    pub language: Option<Language>,
}

impl Default for ReplyConfig {
    fn default() -> Self {
        let p = Policy::default();
        ReplyConfig { threshold: p.reply_threshold, cooldown: Duration::from_secs(p.cooldown_secs as u64), shadow: false, language: None }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecurrenceConfig {
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    /// From this case number within the window, suggest a ticket and ping staff.
    pub escalate_after: u32,
}

impl Default for RecurrenceConfig {
    fn default() -> Self {
        let p = Policy::default();
        RecurrenceConfig { window: Duration::from_secs(p.recurrence_window_secs as u64), escalate_after: p.escalate_after }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Overridden by `--listen` and `TRIAGE_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Open connections in all, about 35 KB of memory each. At the cap, a new connection replaces
    /// the oldest one never answered; when all have been answered, it gets a 503. Also kept under
    /// the process's file-descriptor limit.
    pub max_connections: usize,
    /// Open connections from one client address (0: no cap). Behind a reverse proxy every
    /// connection comes from the proxy: raise this there, or set 0 and let the proxy cap clients.
    pub max_connections_per_client: usize,
    /// Time a client has to send a request's headers.
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// Time a request may take, its body included; slower ones get 408.
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// A connection with no request and no traffic for this long is closed.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Failed logins or bearer tokens one client may try per minute; more get 429.
    pub auth_failures_per_minute: u32,
    /// Mark the session cookie `Secure`. Also done for any login that arrives with
    /// `X-Forwarded-Proto: https` (a TLS-terminating proxy in front).
    pub secure_cookies: bool,
    /// This process's name among replicas: the `replica` label of every metric, and in
    /// `/readyz`. Overridden by `TRIAGE_INSTANCE`; the host name and port when unset.
    pub instance: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: None,
            max_body_bytes: 64 * 1024,
            max_connections: 4096,
            max_connections_per_client: 64,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            auth_failures_per_minute: 10,
            secure_cookies: false,
            instance: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Text channels whose messages are triaged.
    pub channels: Vec<u64>,
    /// Forum channels whose new threads are tickets.
    pub forums: Vec<u64>,
    /// Role pinged when a case keeps coming back.
    pub staff_role: Option<u64>,
    /// Delete messages that leak an appToken (needs Manage Messages).
    pub delete_leaks: bool,
    /// Follow threads started in watched text channels: the first message is triaged, later
    /// ones are follow-ups of the same case.
    pub threads: bool,
    /// Roles (besides `staff_role`) whose members help: once one of them posts in a thread, the
    /// bot stays silent there.
    pub helper_roles: Vec<u64>,
    /// Forum tags that silence the bot in a thread (matched without regard to case).
    pub quiet_threads: Vec<String>,
    /// REST proxy base URL (twilight-http-proxy, nirn-proxy); the gateway URL is fetched through it.
    pub proxy_url: Option<String>,
    /// Text attachments (`message.txt`, logs, `.env`) up to this size are read with the message.
    pub attachment_max_kb: u64,
    /// Hosts attachments are downloaded from (the proxy's host is added). Anything else is not
    /// fetched: a message cannot make the bot call an address of its choosing.
    pub attachment_hosts: Vec<String>,
    /// Messages from one person in one place, each within this long of the last, are a burst,
    /// answered once over all of them, on the last. `0s` answers every message at once.
    #[serde(deserialize_with = "duration")]
    pub debounce: Duration,
    /// A helper who replies within this long after our answer is recorded as taking over.
    #[serde(deserialize_with = "duration")]
    pub yield_to_humans: Duration,
    /// Answer direct messages to the bot (a leak in one is always answered).
    pub direct_messages: bool,
    /// The shards this process runs, `"0-1/4"`; all of them when unset (see `discord/shards.rs`).
    pub shards: Option<crate::discord::ShardRange>,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            channels: Vec::new(),
            forums: Vec::new(),
            staff_role: None,
            delete_leaks: true,
            threads: true,
            helper_roles: Vec::new(),
            quiet_threads: vec!["Solved".into(), "Needs human".into()],
            proxy_url: None,
            attachment_max_kb: 256,
            attachment_hosts: vec!["cdn.discordapp.com".into(), "media.discordapp.net".into()],
            debounce: Duration::from_secs(8),
            yield_to_humans: Duration::from_secs(600),
            direct_messages: true,
            shards: None,
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| serde::de::Error::custom(format!("`{s}` is not a duration like 30m, 1h or 7d: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} not found; create it (the README has a complete example) or leave out --config/TRIAGE_CONFIG")]
    Missing(String),
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl Config {
    /// Loads the file named by `--config` or `TRIAGE_CONFIG`; without either, the defaults.
    pub fn load(flag: Option<&Path>) -> Result<Config, ConfigError> {
        let env = std::env::var_os("TRIAGE_CONFIG").map(PathBuf::from);
        match flag.map(Path::to_path_buf).or(env) {
            Some(path) => Config::from_file(&path),
            None => Ok(Config::default()),
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ConfigError::Missing(shown.clone()),
            _ => ConfigError::Unreadable { path: shown.clone(), reason: e.to_string() },
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Invalid { path: shown.clone(), reason: "not valid UTF-8".into() })?;
        Config::parse(&text).map_err(|reason| ConfigError::Invalid { path: shown, reason })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let reason = msg.lines().last().unwrap_or("invalid TOML").trim().to_string();
            match e.span() {
                Some(span) => format!("line {}: {reason}", text[..span.start.min(text.len())].matches('\n').count() + 1),
                None => reason,
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.reply.threshold) {
            return Err(format!("reply.threshold {} must be between 0 and 1", self.reply.threshold));
        }
        if let Some(t) = self.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err(format!("threshold {t} must be between 0 and 1"));
        }
        if self.recurrence.escalate_after == 0 {
            return Err("recurrence.escalate_after must be at least 1".into());
        }
        if self.http.max_connections == 0 {
            return Err("http.max_connections must be at least 1".into());
        }
        for (name, d) in [
            ("header_timeout", self.http.header_timeout),
            ("request_timeout", self.http.request_timeout),
            ("idle_timeout", self.http.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("http.{name} must be longer than 0s"));
            }
        }
        for (name, h) in [("zendesk", &self.helpdesk.zendesk), ("freshdesk", &self.helpdesk.freshdesk), ("zammad", &self.helpdesk.zammad)] {
            let Some(h) = h else { continue };
            if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                return Err(format!("helpdesk.{name}.url `{}` must start with https:// (or http:// for a local test)", h.url));
            }
            if let Some(m) = h.public_min_confidence.filter(|m| !(0.0..=1.0).contains(m)) {
                return Err(format!("helpdesk.{name}.public_min_confidence {m} must be between 0 and 1"));
            }
            if name == "zendesk" && h.email.as_deref().is_none_or(|e| !e.contains('@')) {
                return Err("helpdesk.zendesk.email must be the e-mail of the agent whose API token triage uses".into());
            }
            if h.give_up_after.is_zero() || h.timeout.is_zero() {
                return Err(format!("helpdesk.{name}.give_up_after and timeout must be longer than 0s"));
            }
        }
        if let Some(url) = &self.discord.proxy_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("discord.proxy_url `{url}` must start with http:// or https://"));
            }
        }
        Ok(())
    }

    pub fn policy(&self) -> Policy {
        Policy {
            reply_threshold: self.reply.threshold,
            cooldown_secs: self.reply.cooldown.as_secs() as i64,
            recurrence_window_secs: self.recurrence.window.as_secs() as i64,
            escalate_after: self.recurrence.escalate_after,
            shadow: self.reply.shadow,
            reply_language: self.reply.language,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gives_the_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_line() {
        let err = Config::parse("[reply]\nthreshhold = 0.7\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("threshhold"), "{err}");
    }

    #[test]
    fn durations_read_as_humans_write_them() {
        let c = Config::parse("[reply]\ncooldown = \"30m\"\n[recurrence]\nwindow = \"3d\"\n").unwrap();
        assert_eq!(c.policy().cooldown_secs, 1800);
        assert_eq!(c.policy().recurrence_window_secs, 3 * 86_400);
    }

    #[test]
    fn the_example_config_parses() {
        Config::parse(include_str!("../triage.example.toml")).unwrap();
    }

    #[test]
    fn a_helpdesk_table_is_checked_and_its_secrets_are_not_accepted_in_the_file() {
        let c = Config::parse("[helpdesk.zendesk]\nurl = \"https://a.zendesk.com\"\nemail = \"bot@a.com\"\n").unwrap();
        assert_eq!(c.helpdesk.zendesk.unwrap().give_up_after, Duration::from_secs(86_400));
        assert!(Config::parse("[helpdesk.zendesk]\nurl = \"https://a.zendesk.com\"\n").unwrap_err().contains("email"));
        assert!(Config::parse("[helpdesk.zammad]\nurl = \"support.acme.com\"\n").unwrap_err().contains("https://"));
        let err = Config::parse("[helpdesk.freshdesk]\nurl = \"https://a.freshdesk.com\"\napi_key = \"x\"\n").unwrap_err();
        assert!(err.contains("api_key"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(Config::parse("[reply]\nthreshold = 2.0\n").unwrap_err().contains("between 0 and 1"));
        assert!(Config::parse("[reply]\ncooldown = \"soon\"\n").unwrap_err().contains("not a duration"));
        assert!(Config::parse("[discord]\nproxy_url = \"localhost:1\"\n").unwrap_err().contains("http://"));
    }
}
