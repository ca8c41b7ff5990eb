//! Bearer-token authentication for the API, and login sessions for the dashboard.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

pub const SESSION_COOKIE: &str = "triage_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Dashboard sessions created by the login form, held in memory: a restart logs people out,
/// which is fine for a review tool.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Instant>>>);

impl Sessions {
    pub fn create(&self) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(mut map) = self.0.lock() {
            map.retain(|_, created| created.elapsed() < SESSION_TTL);
            map.insert(id.clone(), Instant::now());
        }
        id
    }

    fn valid(&self, id: &str) -> bool {
        self.0.lock().map(|map| map.get(id).is_some_and(|created| created.elapsed() < SESSION_TTL)).unwrap_or(false)
    }
}

/// Constant-time comparison, so response timing does not reveal how much of a guess is right.
pub fn token_matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn session_from(req: &Request) -> Option<String> {
    let cookies = req.headers().get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == SESSION_COOKIE).map(|(_, v)| v.to_string())
}

pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.api_token.as_deref() else {
        return next.run(req).await;
    };
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|given| token_matches(expected, given.trim())) {
        return next.run(req).await;
    }
    if session_from(&req).is_some_and(|s| state.sessions.valid(&s)) {
        return next.run(req).await;
    }
    if req.uri().path() == "/" {
        return Redirect::to("/login").into_response();
    }
    ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong `Authorization: Bearer <token>`").into_response()
}
