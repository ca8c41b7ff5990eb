//! Liveness and readiness probes, open without authentication.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database takes reads and writes (see `Store::ping`): a full disk makes it
/// unready, so that a load balancer sends tickets to a process that can store them. Says which
/// replica answered and which database it checked.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (instance, database) = (&*state.instance, state.pipeline.store().backend());
    match state.pipeline.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "instance": instance, "database": {"backend": database, "ok": true}}))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "instance": instance, "database": {"backend": database, "ok": false}, "error": e.to_string()}),
            ),
        ),
    }
}
