//! `GET /rules` (and `GET /v1/rules`): rule health. Per category and per rule, the cases it fired
//! on in the period, how often their reply was held back, and its precision where people judged
//! it (reviewers' labels first, then 👍/👎), always with the count behind it.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::Json;
use serde::Deserialize;

use super::charts::escape;
use super::{ApiError, AppState};
use crate::stats::{precision_text, RuleHealth, RulesReport};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `30d` by default.
    pub period: Option<String>,
}

async fn report(state: &AppState, params: &Params) -> Result<(RulesReport, String), ApiError> {
    let period = params.period.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or("30d").to_string();
    let d = crate::stats::parse_period(&period).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    Ok((crate::stats::rules(state.pipeline.store(), d, crate::pipeline::now()).await?, period))
}

pub async fn api(State(state): State<AppState>, Query(params): Query<Params>) -> Result<Json<RulesReport>, ApiError> {
    Ok(Json(report(&state, &params).await?.0))
}

fn table(title: &str, rows: &[RuleHealth], link: impl Fn(&RuleHealth) -> Option<String>) -> String {
    let mut s = format!(
        "<section><h2>{}</h2><table><tr><th>name</th><th>fired</th><th>held back</th><th>precision (reviewed + votes)</th></tr>",
        escape(title)
    );
    if rows.is_empty() {
        s.push_str("<tr><td colspan=\"4\">Nothing fired in this period.</td></tr>");
    }
    for h in rows {
        let name = match link(h) {
            Some(href) => format!("<a href=\"{}\">{}</a>", escape(&href), escape(&h.name)),
            None => escape(&h.name),
        };
        let low = h.precision_low.unwrap_or(1.0);
        let class = if h.judged > 0 && low < 0.5 { " class=\"warn\"" } else { "" };
        s.push_str(&format!(
            "<tr{class}><td>{name}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            h.fired,
            h.held_back,
            escape(&precision_text(h))
        ));
    }
    s.push_str("</table></section>");
    s
}

pub async fn page(State(state): State<AppState>, Query(params): Query<Params>) -> Result<Html<String>, ApiError> {
    let (r, period) = report(&state, &params).await?;
    let mut body = format!(
        "<p class=\"muted\">Cases received in the last {}. Precision counts reviewers' labels, and 👍/👎 on replies nobody labelled; \
         the lower bound says how much the few judged cases can tell.</p>",
        escape(&period)
    );
    body.push_str(&table("Categories", &r.categories, |h| Some(format!("/cases?category={}&period={period}", h.name))));
    body.push_str(&table("Rules", &r.rules, |_| None));
    Ok(Html(super::dashboard::shell("Rule health", "rules", &body)))
}
