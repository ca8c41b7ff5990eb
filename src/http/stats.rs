//! `GET /v1/stats?since=30d&top=10`: the same numbers as `triage stats --json`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::stats::{compute, parse_period, Stats};

#[derive(Debug, Deserialize)]
pub struct Params {
    pub since: Option<String>,
    pub top: Option<usize>,
}

pub async fn get(State(state): State<AppState>, Query(p): Query<Params>) -> Result<Json<Stats>, ApiError> {
    let period = parse_period(p.since.as_deref().unwrap_or("30d")).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let stats = compute(state.pipeline.store(), period, p.top.unwrap_or(10).min(100), crate::pipeline::now()).await?;
    Ok(Json(stats))
}
