//! A fake Discord on loopback: a gateway websocket (HELLO, IDENTIFY -> READY, heartbeat ACKs,
//! scripted dispatches as plain JSON text frames) and the REST routes the bot calls, recording
//! every request. The real serenity client connects to it through `discord.proxy_url`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as Frame;

pub const BOT_ID: u64 = 900_000_000_000_000_001;
pub const APP_ID: u64 = 900_000_000_000_000_002;
pub const GUILD_ID: u64 = 800_000_000_000_000_001;
/// Owns the fake guild, so has every permission; any other member has none.
pub const OWNER_ID: u64 = 600_000_000_000_000_001;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// An attachment's path and bytes.
type Served = (String, Vec<u8>);

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    fail_posts: Arc<AtomicBool>,
    deny_deletes: Arc<AtomicBool>,
    deny_dms: Arc<AtomicBool>,
    next_id: Arc<AtomicU64>,
    gateway_url: String,
    /// Starter messages of forum threads, served by GET /channels/{thread}/messages/{id}.
    starters: Arc<Mutex<Vec<Value>>>,
    /// Attachment files, served by GET /attachments/{name} as Discord's CDN serves them.
    files: Arc<Mutex<Vec<Served>>>,
    /// How many shards GET /gateway/bot recommends.
    shards: u32,
}

pub struct FakeDiscord {
    pub rest_base: String,
    shared: Shared,
    events: broadcast::Sender<Value>,
    identified: Arc<AtomicU64>,
    /// The `[shard, total]` of every IDENTIFY, in order.
    identifies: Arc<Mutex<Vec<[u32; 2]>>>,
    seq: AtomicU64,
}

/// The forum tag named "Solved" (every channel the fake serves offers it).
pub const SOLVED_TAG: u64 = 501;

/// Direct-message channels get ids from here on.
pub const DM_BASE: u64 = 950_000_000_000_000_000;

fn is_dm(channel: &str) -> bool {
    channel.parse::<u64>().is_ok_and(|c| c >= DM_BASE)
}

pub fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": null, "avatar": null, "bot": bot})
}

pub fn member(user: Value) -> Value {
    json!({"user": user, "roles": [], "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0})
}

/// An INTERACTION_CREATE payload for `/triage <sub> [options]`, invoked by `invoker` in `channel`.
pub fn slash_command(id: u64, channel: u64, invoker: Value, sub: &str, options: Value) -> Value {
    json!({
        "id": id.to_string(), "application_id": APP_ID.to_string(), "type": 2, "token": format!("token-{id}"), "version": 1,
        "data": {"id": "1", "name": "triage", "type": 1, "options": [{"name": sub, "type": 1, "options": options}]},
        "guild_id": GUILD_ID.to_string(), "channel_id": channel.to_string(),
        "member": member(invoker), "app_permissions": "0", "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "attachment_size_limit": 8_388_608
    })
}

/// An INTERACTION_CREATE payload for the message context-menu command `name` on `target`.
pub fn message_command(id: u64, channel: u64, invoker: Value, name: &str, target: Value) -> Value {
    let target_id = target["id"].clone();
    let mut resolved = serde_json::Map::new();
    resolved.insert(target_id.as_str().unwrap_or_default().to_string(), target);
    json!({
        "id": id.to_string(), "application_id": APP_ID.to_string(), "type": 2, "token": format!("token-{id}"), "version": 1,
        "data": {"id": "2", "name": name, "type": 3, "target_id": target_id, "resolved": {"messages": resolved}},
        "guild_id": GUILD_ID.to_string(), "channel_id": channel.to_string(),
        "member": member(invoker), "app_permissions": "0", "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "attachment_size_limit": 8_388_608
    })
}

/// An INTERACTION_CREATE payload for a choice in a string select menu on the bot's `on` message.
pub fn menu_choice(id: u64, channel: u64, invoker: Value, custom_id: &str, value: &str, on: Value) -> Value {
    json!({
        "id": id.to_string(), "application_id": APP_ID.to_string(), "type": 3, "token": format!("token-{id}"), "version": 1,
        "data": {"custom_id": custom_id, "component_type": 3, "values": [value]},
        "message": on, "guild_id": GUILD_ID.to_string(), "channel_id": channel.to_string(),
        "member": member(invoker), "app_permissions": "0", "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "attachment_size_limit": 8_388_608
    })
}

fn guild() -> Value {
    let everyone = json!({
        "id": GUILD_ID.to_string(), "name": "@everyone", "color": 0, "colors": {"primary_color": 0}, "hoist": false,
        "managed": false, "mentionable": false, "permissions": "0", "position": 0
    });
    json!({
        "id": GUILD_ID.to_string(), "name": "Support", "owner_id": OWNER_ID.to_string(), "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0, "roles": [everyone], "emojis": [], "features": [],
        "mfa_level": 0, "system_channel_flags": 0, "premium_tier": 0, "preferred_locale": "en-US", "nsfw_level": 0,
        "stickers": [], "premium_progress_bar_enabled": false
    })
}

pub fn message(id: u64, channel: u64, author: Value, content: &str) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "guild_id": GUILD_ID.to_string(),
        "author": author, "content": content, "timestamp": "2026-11-28T12:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0
    })
}

async fn rest(State(s): State<Shared>, method: Method, uri: Uri, body: Bytes) -> axum::response::Response {
    let path = uri.path().to_string();
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.requests.lock().unwrap().push(Recorded { method: method.to_string(), path: path.clone(), body: body_json.clone() });
    let parts: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway"]) => Json(json!({"url": s.gateway_url})).into_response(),
        _ if method == Method::GET && path.starts_with("/attachments/") => {
            let name = path.trim_start_matches("/attachments/");
            match s.files.lock().unwrap().iter().find(|(n, _)| n == name) {
                Some((_, bytes)) => ([("content-type", "text/plain; charset=utf-8")], bytes.clone()).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
        ("GET", ["gateway", "bot"]) => Json(json!({"url": s.gateway_url, "shards": s.shards, "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})).into_response(),
        ("PUT", ["applications", _, "commands"]) => Json(json!([])).into_response(),
        ("POST", ["users", "@me", "channels"]) => {
            let recipient: u64 = body_json.get("recipient_id").and_then(Value::as_str).and_then(|r| r.parse().ok()).unwrap_or(0);
            Json(json!({"id": (DM_BASE + recipient % 1_000_000).to_string(), "type": 1, "recipients": [user(recipient, "member", false)], "last_message_id": null}))
                .into_response()
        }
        ("POST", ["channels", channel, "messages"]) if is_dm(channel) && s.deny_dms.load(Ordering::SeqCst) => {
            (StatusCode::FORBIDDEN, Json(json!({"message": "Cannot send messages to this user", "code": 50007}))).into_response()
        }
        ("POST", ["channels", channel, "messages"]) => {
            if s.fail_posts.load(Ordering::SeqCst) {
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"message": "Internal Server Error", "code": 0}))).into_response();
            }
            let id = s.next_id.fetch_add(1, Ordering::SeqCst);
            let content = body_json.get("content").and_then(Value::as_str).unwrap_or("");
            let channel: u64 = channel.parse().unwrap_or(0);
            Json(message(id, channel, user(BOT_ID, "triage", true), content)).into_response()
        }
        ("PATCH", ["channels", channel, "messages", id]) => {
            let content = body_json.get("content").and_then(Value::as_str).unwrap_or("");
            Json(message(id.parse().unwrap_or(0), channel.parse().unwrap_or(0), user(BOT_ID, "triage", true), content)).into_response()
        }
        ("DELETE", ["channels", _, "messages", _]) => {
            if s.deny_deletes.load(Ordering::SeqCst) {
                return (StatusCode::FORBIDDEN, Json(json!({"message": "Missing Permissions", "code": 50013}))).into_response();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["guilds", _]) => Json(guild()).into_response(),
        ("GET", ["guilds", _, "members", id]) => {
            Json(member(user(id.parse().unwrap_or(0), "member", false))).into_response()
        }
        ("GET", ["channels", id]) => Json(json!({
            "id": id, "type": 0, "guild_id": GUILD_ID.to_string(), "name": "support", "position": 0, "permission_overwrites": [],
            "available_tags": [
                {"id": SOLVED_TAG.to_string(), "name": "Solved", "moderated": false, "emoji_id": null, "emoji_name": null},
                {"id": "502", "name": "Question", "moderated": false, "emoji_id": null, "emoji_name": null}
            ]
        }))
        .into_response(),
        ("POST", ["interactions", _, _, "callback"]) => StatusCode::NO_CONTENT.into_response(),
        ("POST", ["webhooks", _, _]) | ("PATCH", ["webhooks", _, _, "messages", _]) => {
            let id = s.next_id.fetch_add(1, Ordering::SeqCst);
            let content = body_json.get("content").and_then(Value::as_str).unwrap_or("");
            Json(message(id, 0, user(BOT_ID, "triage", true), content)).into_response()
        }
        ("GET", ["channels", _, "messages", id]) => {
            let found = s.starters.lock().unwrap().iter().find(|m| m["id"] == *id).cloned();
            match found {
                Some(m) => Json(m).into_response(),
                None => (StatusCode::NOT_FOUND, Json(json!({"message": "Unknown Message", "code": 10008}))).into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, Json(json!({"message": "not faked", "code": 0}))).into_response(),
    }
}

/// Which shard Discord sends an event to: its guild's, `(guild_id >> 22) % total`; shard 0 for
/// events of no guild (direct messages).
fn shard_for(event: &Value, total: u32) -> u32 {
    let guild = event["d"]["guild_id"].as_str().and_then(|g| g.parse::<u64>().ok()).unwrap_or(0);
    ((guild >> 22) % u64::from(total.max(1))) as u32
}

async fn gateway_connection(
    stream: tokio::net::TcpStream,
    events: broadcast::Sender<Value>,
    identified: Arc<AtomicU64>,
    identifies: Arc<Mutex<Vec<[u32; 2]>>>,
) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
    let (mut tx, mut rx) = ws.split();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}, "s": null, "t": null});
    if tx.send(Frame::Text(hello.to_string())).await.is_err() {
        return;
    }
    let mut scripted = events.subscribe();
    let mut seq = 1u64;
    // This connection's shard, once it has identified; a connection without one gets every event.
    let mut shard: Option<[u32; 2]> = None;
    loop {
        tokio::select! {
            frame = rx.next() => {
                let Some(Ok(frame)) = frame else { return };
                let Ok(text) = frame.to_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text) else { continue };
                match v["op"].as_u64() {
                    Some(1) => { let _ = tx.send(Frame::Text(json!({"op": 11, "d": null, "s": null, "t": null}).to_string())).await; }
                    Some(2) => {
                        let given = v["d"]["shard"].as_array().and_then(|a| Some([a.first()?.as_u64()? as u32, a.get(1)?.as_u64()? as u32]));
                        let this = given.unwrap_or([0, 1]);
                        shard = Some(this);
                        identifies.lock().unwrap().push(this);
                        let ready = json!({"op": 0, "t": "READY", "s": seq, "d": {
                            "v": 10, "user": user(BOT_ID, "triage", true), "guilds": [], "session_id": "fake-session",
                            "resume_gateway_url": "ws://127.0.0.1:1", "application": {"id": APP_ID.to_string(), "flags": 0},
                            "shard": this
                        }});
                        seq += 1;
                        let _ = tx.send(Frame::Text(ready.to_string())).await;
                        identified.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
            event = scripted.recv() => {
                let Ok(event) = event else { continue };
                if shard.is_some_and(|[id, total]| shard_for(&event, total) != id) {
                    continue;
                }
                let frame = json!({"op": 0, "t": event["t"], "s": seq, "d": event["d"]});
                seq += 1;
                if tx.send(Frame::Text(frame.to_string())).await.is_err() { return; }
            }
        }
    }
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        Self::start_with_shards(1).await
    }

    /// A fake whose GET /gateway/bot recommends `shards` shards.
    pub async fn start_with_shards(shards: u32) -> FakeDiscord {
        let ws_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway_url = format!("ws://{}", ws_listener.local_addr().unwrap());
        let (events, _) = broadcast::channel(64);
        let identified = Arc::new(AtomicU64::new(0));
        let identifies: Arc<Mutex<Vec<[u32; 2]>>> = Arc::default();
        let (ev, idf, ids) = (events.clone(), identified.clone(), identifies.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws_listener.accept().await {
                tokio::spawn(gateway_connection(stream, ev.clone(), idf.clone(), ids.clone()));
            }
        });
        let shared = Shared {
            requests: Arc::default(),
            fail_posts: Arc::default(),
            deny_deletes: Arc::default(),
            deny_dms: Arc::default(),
            next_id: Arc::new(AtomicU64::new(700_000_000_000_000_000)),
            gateway_url,
            starters: Arc::default(),
            files: Arc::default(),
            shards,
        };
        let app = axum::Router::new().fallback(rest).with_state(shared.clone());
        let rest_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rest_base = format!("http://{}", rest_listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(rest_listener, app).await;
        });
        FakeDiscord { rest_base, shared, events, identified, identifies, seq: AtomicU64::new(0) }
    }

    /// Waits until `n` connections have identified; returns their `[shard, total]`, sorted.
    pub async fn wait_identified(&self, n: usize) -> Vec<[u32; 2]> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut got = self.identifies.lock().unwrap().clone();
            if got.len() >= n {
                got.sort_unstable();
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {} of {n} shards identified: {got:?}", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a client has identified and the READY is out.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.identified.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the bot never identified");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let poise's setup (command registration) finish.
        self.wait_for(|r| r.method == "PUT" && r.path.ends_with("/commands"), 1).await;
    }

    pub fn dispatch(&self, t: &str, d: Value) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        let _ = self.events.send(json!({"t": t, "d": d}));
    }

    /// Serves `bytes` as an attachment; returns the attachment object a message carries.
    pub fn add_file(&self, id: u64, name: &str, content_type: Option<&str>, bytes: &[u8]) -> Value {
        let stored = format!("{id}/{name}");
        self.shared.files.lock().unwrap().push((stored.clone(), bytes.to_vec()));
        let url = format!("{}/attachments/{stored}", self.rest_base);
        json!({"id": id.to_string(), "filename": name, "size": bytes.len(), "url": url, "proxy_url": url, "content_type": content_type})
    }

    pub fn add_starter(&self, m: Value) {
        self.shared.starters.lock().unwrap().push(m);
    }

    pub fn fail_posts(&self, on: bool) {
        self.shared.fail_posts.store(on, Ordering::SeqCst);
    }

    /// The author's DMs are closed: messages to DM channels get 403 (code 50007).
    pub fn deny_dms(&self, on: bool) {
        self.shared.deny_dms.store(on, Ordering::SeqCst);
    }

    /// Messages sent to DM channels (refused ones included).
    pub fn direct_messages(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.method == "POST" && r.path.strip_prefix("/api/v10/channels/").and_then(|p| p.split('/').next()).is_some_and(is_dm)
            })
            .collect()
    }

    pub fn deny_deletes(&self, on: bool) {
        self.shared.deny_deletes.store(on, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn posts_to(&self, channel: u64) -> Vec<Recorded> {
        let path = format!("/api/v10/channels/{channel}/messages");
        self.requests().into_iter().filter(|r| r.method == "POST" && r.path == path).collect()
    }

    /// Waits until at least `n` recorded requests match.
    pub async fn wait_for(&self, pred: impl Fn(&Recorded) -> bool, n: usize) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let found: Vec<Recorded> = self.requests().into_iter().filter(|r| pred(r)).collect();
            if found.len() >= n {
                return found;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting; requests so far: {:#?}", self.requests());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
