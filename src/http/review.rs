//! `GET /review` (and `GET /v1/review`): what needs a person, most valuable first, and
//! `POST /review/{id}` (and `POST /v1/cases/{id}/correction`): a reviewer's label for a case.
//!
//! A label is stored apart from the classifier's output, which is never rewritten, with who set
//! it and when (`corrections`). Confirming triage's own category is a label too: it is what
//! measures precision.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::{Deserialize, Serialize};

use super::case_list::{excerpt, outcome_label};
use super::cases::case_id;
use super::charts::escape;
use super::{ApiError, ApiJson, AppState, Reviewer};
use crate::rules::Pack;
use crate::store::review::{QueueItem, Why};
use crate::store::CaseRecord;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// How far back: `30d` by default.
    pub period: Option<String>,
}

/// Cases per kind of review in the queue.
const PER_KIND: u32 = 25;

async fn queue(state: &AppState, params: &QueueParams) -> Result<Vec<QueueItem>, ApiError> {
    let period = params.period.as_deref().filter(|p| !p.trim().is_empty()).unwrap_or("30d");
    let d = crate::stats::parse_period(period).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let since = crate::pipeline::now().saturating_sub(d.as_secs() as i64);
    let threshold = state.pipeline.policy().reply_threshold;
    Ok(state.pipeline.store().review_queue(since, threshold, PER_KIND).await?)
}

#[derive(Serialize)]
pub struct QueueEntry {
    pub why: &'static str,
    pub case: CaseRecord,
}

pub async fn api(State(state): State<AppState>, Query(params): Query<QueueParams>) -> Result<Json<Vec<QueueEntry>>, ApiError> {
    let items = queue(&state, &params).await?;
    Ok(Json(items.into_iter().map(|i| QueueEntry { why: i.why.as_str(), case: i.case }).collect()))
}

fn heading(why: Why) -> &'static str {
    match why {
        Why::ThumbsDown => "Replies marked 👎",
        Why::BelowThreshold => "On topic, but below the confidence threshold (not answered)",
        Why::CloseCall => "Close calls: rules of two categories fired",
        Why::Recurring => "Recurring cases",
        Why::Sample => "A random sample of answered cases, to measure precision",
    }
}

/// One-click labels for a case: triage's category confirmed, or another one, or none.
pub fn buttons(pack: &Pack, case: &CaseRecord, corrected: Option<&str>, back: &str) -> String {
    let mut s = format!(
        "<form method=\"post\" action=\"/review/{}\" class=\"label\"><input type=\"hidden\" name=\"back\" value=\"{}\">",
        case.id,
        escape(back)
    );
    let mut choices: Vec<&str> = vec![case.category.as_str()];
    choices.extend(pack.categories.iter().map(|c| c.id.as_str()).filter(|c| *c != case.category));
    if case.category != "none" {
        choices.push("none");
    }
    for (i, c) in choices.into_iter().enumerate() {
        let class = match (i, corrected == Some(c)) {
            (_, true) => "chosen",
            (0, false) => "confirm",
            _ => "",
        };
        let text = if i == 0 { format!("✓ {c}") } else { c.to_string() };
        s.push_str(&format!("<button name=\"category\" value=\"{}\" class=\"{class}\">{}</button>", escape(c), escape(&text)));
    }
    s.push_str("</form>");
    s
}

pub async fn page(State(state): State<AppState>, Query(params): Query<QueueParams>) -> Result<Html<String>, ApiError> {
    let items = queue(&state, &params).await?;
    let pack = state.pipeline.classifier().pack();
    let mut body = String::from(
        "<p class=\"muted\">Each button stores a label apart from triage's own output. ✓ confirms the category triage chose; \
         that is what measures its precision.</p>",
    );
    if items.is_empty() {
        body.push_str("<section><p>Nothing needs a review in this period.</p></section>");
    }
    let mut current = None;
    for item in &items {
        if current != Some(item.why) {
            if current.is_some() {
                body.push_str("</table></section>");
            }
            current = Some(item.why);
            body.push_str(&format!(
                "<section><h2>{}</h2><table class=\"queue\"><tr><th>case</th><th>category</th><th>confidence</th><th>reply</th><th>text (masked)</th><th>right category</th></tr>",
                escape(heading(item.why))
            ));
        }
        let c = &item.case;
        body.push_str(&format!(
            "<tr data-why=\"{}\"><td><a href=\"/cases/{id}\">#{id}</a></td><td>{}</td><td>{:.2}</td><td>{}</td><td class=\"text\">{}</td><td>{}</td></tr>",
            item.why.as_str(),
            escape(&c.category),
            c.confidence,
            escape(&outcome_label(c)),
            escape(&excerpt(&c.text, 120)),
            buttons(pack, c, None, "/review"),
            id = c.id
        ));
    }
    if current.is_some() {
        body.push_str("</table></section>");
    }
    Ok(Html(super::dashboard::shell("Review", "review", &body)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelForm {
    pub category: String,
    /// Where to go back to (a path on this site).
    pub back: Option<String>,
}

async fn label(state: &AppState, id: i64, category: &str, by: &str, source: &str) -> Result<(), ApiError> {
    let category = category.trim();
    let pack = state.pipeline.classifier().pack();
    pack.check_label(category).map_err(|why| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("`{category}` {why}")))?;
    if !state.pipeline.store().add_correction(id, category, by, source, crate::pipeline::now()).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no case {id}")));
    }
    tracing::info!(case_id = id, to = category, source, "case labelled by a reviewer");
    Ok(())
}

pub async fn post(
    State(state): State<AppState>,
    Extension(reviewer): Extension<Reviewer>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<LabelForm>,
) -> Result<Response, ApiError> {
    if !super::dashboard::same_origin(&headers) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "label cases from the triage dashboard itself"));
    }
    let id = case_id(&id)?;
    label(&state, id, &form.category, &reviewer.0, "dashboard").await?;
    // Only a path on this site: never an open redirect.
    let back = form.back.filter(|b| b.starts_with('/') && !b.starts_with("//")).unwrap_or_else(|| format!("/cases/{id}"));
    Ok(Redirect::to(&back).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    pub category: String,
    /// Who labels it (agent id, e-mail, ...).
    pub by: String,
}

pub async fn api_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CorrectionBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let id = case_id(&id)?;
    if body.by.trim().is_empty() || body.by.len() > 256 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`by` must name who labels the case (1 to 256 bytes)"));
    }
    label(&state, id, &body.category, body.by.trim(), "api").await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"case_id": id, "category": body.category.trim()}))))
}
