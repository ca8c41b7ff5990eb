//! The HTTP API and dashboard (axum). One handler per file; this one builds the router and
//! holds what handlers share: state, errors, the JSON extractor and authentication.

mod auth;
mod case_list;
mod case_page;
mod cases;
pub mod charts;
mod dashboard;
mod headers;
mod health;
pub mod metrics;
mod review;
mod rules;
pub mod server;
mod stats;
mod tickets;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::pipeline::Pipeline;

pub use auth::{AuthLimiter, Reviewer, Sessions};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Pipeline,
    pub metrics: Arc<metrics::Metrics>,
    /// `TRIAGE_API_TOKEN`; `None` means the server is loopback-only and open.
    pub api_token: Option<Arc<str>>,
    pub sessions: Sessions,
    /// Failed logins and bearer tokens per client.
    pub auth_limiter: AuthLimiter,
    /// Session cookies are `Secure` (also when a login arrives with `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Configured helpdesks, whose webhooks are answered.
    pub connectors: crate::helpdesk::Connectors,
    pub outbox: crate::helpdesk::outbox::Outbox,
    /// This process's name among replicas (see `HttpConfig::instance`).
    pub instance: Arc<str>,
}

/// An error as API clients see it: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// Longest error message a client gets back: enough for any message of ours, and a cap on
/// input that a message echoes (a field name, a value).
const MAX_ERROR_CHARS: usize = 300;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Errors may quote what the client sent (serde names the field or value it refused), and
        // that may hold a secret.
        let message = crate::redact::mask_and_cap(&self.message, MAX_ERROR_CHARS);
        (self.status, Json(ErrorBody { error: &message })).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if let crate::store::StoreError::NotOnPostgres { .. } = e {
            return ApiError::new(StatusCode::NOT_IMPLEMENTED, e.to_string());
        }
        tracing::error!(error = %e, "database error");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the case store is unavailable; try again shortly")
    }
}

/// `Json<T>` whose rejections (wrong content type, bad JSON, missing fields, too large) become
/// `{"error": ...}` with the right 4xx status. A UTF-8 byte-order mark before the JSON is
/// skipped: some Windows senders write one, and serde_json would call it invalid JSON.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected `Content-Type: application/json`"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is over the size limit".to_string()
            } else {
                rejection.body_text()
            };
            ApiError::new(status, message)
        })?;
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        match Json::<T>::from_bytes(body) {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// `application/json`, or any `application/*+json`, as axum's own `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub fn router(state: AppState, http: &crate::config::HttpConfig) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let protected = Router::new()
        .route("/v1/tickets", post(tickets::create))
        .route("/v1/cases", get(case_list::api))
        .route("/v1/cases/{id}", get(cases::get))
        .route("/v1/cases/{id}/correction", post(review::api_post))
        .route("/v1/review", get(review::api))
        .route("/v1/rules", get(rules::api))
        .route("/v1/cases/{id}/feedback", post(cases::feedback))
        .route("/v1/stats", get(stats::get))
        .route("/metrics", get(metrics::get))
        .route("/", get(dashboard::page))
        .route("/cases", get(case_list::page))
        .route("/cases/{id}", get(case_page::page))
        .route("/review", get(review::page))
        .route("/review/{id}", post(review::post))
        .route("/rules", get(rules::page))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require));
    Router::new()
        .merge(protected)
        .route("/login", get(dashboard::login_form).post(dashboard::login))
        .route("/logout", post(dashboard::logout))
        // Helpdesks authenticate with their own signatures, not the API token.
        .route("/v1/webhooks/zendesk", post(webhooks::zendesk))
        .route("/v1/webhooks/freshdesk", post(webhooks::freshdesk))
        .route("/v1/webhooks/zammad", post(webhooks::zammad))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .layer(middleware::from_fn(headers::security))
        // A request, its body included, has this long; a client that trickles its body gets 408.
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, http.request_timeout))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // A path can carry a pasted token (`/v1/cases/<token>`): logs get it masked.
            let path = crate::redact::mask_and_cap(req.uri().path(), 200);
            tracing::info_span!("request", request_id = %id, method = %metrics::method_label(req.method()), path = %path)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
