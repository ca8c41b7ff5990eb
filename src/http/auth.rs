//! Bearer-token authentication for the API, and login sessions for the dashboard.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

pub const SESSION_COOKIE: &str = "triage_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Dashboard sessions created by the login form, held in memory: a restart logs people out,
/// which is fine for a review tool.
/// Each session remembers the name its reviewer gave, for the labels they set.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, (Instant, String)>>>);

/// Who is making a request, as labels record it: the name given at login, `api` for a bearer
/// token, `local` on a server without a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewer(pub String);

impl Sessions {
    pub fn create(&self, reviewer: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(mut map) = self.0.lock() {
            map.retain(|_, (created, _)| created.elapsed() < SESSION_TTL);
            map.insert(id.clone(), (Instant::now(), reviewer.to_string()));
        }
        id
    }

    /// The reviewer of a live session.
    fn reviewer(&self, id: &str) -> Option<String> {
        let map = self.0.lock().ok()?;
        map.get(id).filter(|(created, _)| created.elapsed() < SESSION_TTL).map(|(_, name)| name.clone())
    }

    pub fn remove(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }
}

/// Failed authentications per client address over the last minute. Past the limit a client
/// gets 429 without its token being looked at, so guessing costs a minute per few tries.
#[derive(Clone)]
pub struct AuthLimiter {
    failures: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
    per_minute: u32,
}

const WINDOW: Duration = Duration::from_secs(60);

impl AuthLimiter {
    pub fn new(per_minute: u32) -> Self {
        AuthLimiter { failures: Arc::default(), per_minute: per_minute.max(1) }
    }

    /// How long the client must wait, if it is over the limit.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        let (start, n) = map.get(&ip)?;
        (*n >= self.per_minute && start.elapsed() < WINDOW).then(|| WINDOW.saturating_sub(start.elapsed()))
    }

    pub fn failed(&self, ip: IpAddr) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let entry = map.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// The client's address, as the connection loop recorded it.
pub fn client_ip(req: &Request) -> IpAddr {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

pub fn too_many_attempts(retry: Duration) -> Response {
    let secs = retry.as_secs().max(1).to_string();
    let mut r =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, format!("too many failed authentications; try again in {secs} s")).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&secs) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Constant-time comparison, so response timing does not reveal how much of a guess is right.
pub fn token_matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

pub fn session_from(req: &Request) -> Option<String> {
    let cookies = req.headers().get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == SESSION_COOKIE).map(|(_, v)| v.to_string())
}

pub async fn require(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(expected) = state.api_token.as_deref() else {
        req.extensions_mut().insert(Reviewer("local".into()));
        return next.run(req).await;
    };
    let ip = client_ip(&req);
    if let Some(retry) = state.auth_limiter.blocked(ip) {
        return too_many_attempts(retry);
    }
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|given| token_matches(expected, given.trim())) {
        req.extensions_mut().insert(Reviewer("api".into()));
        return next.run(req).await;
    }
    let session = session_from(&req);
    if let Some(name) = session.as_deref().and_then(|s| state.sessions.reviewer(s)) {
        req.extensions_mut().insert(Reviewer(name));
        return next.run(req).await;
    }
    // A wrong token or session is a guess; no credentials at all is not.
    if bearer.is_some() || session.is_some() {
        state.auth_limiter.failed(ip);
        state.metrics.auth_failures.inc();
        let what = if bearer.is_some() { "a wrong bearer token" } else { "an unknown session" };
        tracing::warn!(client = %ip, path = %crate::redact::mask_and_cap(req.uri().path(), 200), "authentication failed: {what}");
    }
    if req.uri().path() == "/" {
        return Redirect::to("/login").into_response();
    }
    ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong `Authorization: Bearer <token>`").into_response()
}
