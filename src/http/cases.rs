//! `GET /v1/cases/{id}` and `POST /v1/cases/{id}/feedback`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiJson, AppState};
use crate::store::{CaseRecord, FeedbackOutcome};

/// A case id from a path; anything else is a 400 that says so.
pub(super) fn case_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("`{raw}` is not a case id")))
}

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<CaseRecord>, ApiError> {
    let id = case_id(&id)?;
    match state.pipeline.store().case(id).await? {
        Some(case) => Ok(Json(case)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no case {id}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    pub helpful: bool,
    /// Who gives the feedback (agent id, e-mail, ...).
    pub by: String,
}

pub async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<Feedback>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = case_id(&id)?;
    if f.by.trim().is_empty() || f.by.len() > 256 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`by` must name who gives the feedback (1 to 256 bytes)"));
    }
    match state.pipeline.store().add_feedback(id, f.helpful, f.by.trim(), "api", crate::pipeline::now()).await? {
        FeedbackOutcome::Recorded => Ok((StatusCode::CREATED, Json(json!({"case_id": id, "helpful": f.helpful})))),
        FeedbackOutcome::UnknownCase => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no case {id}"))),
    }
}
