//! `GET /cases` (the case browser, HTML) and `GET /v1/cases` (the same list, JSON): cases
//! filtered and listed newest first, a keyset page at a time.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::charts::escape;
use super::{ApiError, AppState};
use crate::store::browse::{CaseFilter, Outcome, Vote};
use crate::store::{CaseRecord, Source};

/// The filters, as the query string carries them. Empty values (a form's blank choice) are no
/// filter. Unknown parameters are refused, so that a typo does not silently list everything.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `sent`, `pending`, `failed`, `suppressed`, or a reason a reply was held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_confidence: Option<String>,
    /// `up`, `down` or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// `yes` or `no`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<String>,
    /// `yes` or `no`: has a person's correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<String>,
    /// `yes`: a category other than none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    /// `yes`: the Sponsor user must act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<String>,
    /// `yes`: a secret was masked in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<String>,
    /// One day, `YYYY-MM-DD` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// How far back: `7d`, `12h`, `2w`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Words that must all be in the (masked) text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// The page after this case id (from the previous page's `next_before`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

pub const DEFAULT_PAGE: u32 = 50;

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn yes_no(name: &str, v: &Option<String>) -> Result<Option<bool>, ApiError> {
    match given(v) {
        None => Ok(None),
        Some("yes" | "true" | "1") => Ok(Some(true)),
        Some("no" | "false" | "0") => Ok(Some(false)),
        Some(other) => Err(bad(format!("`{name}={other}`: use yes or no"))),
    }
}

fn confidence(name: &str, v: &Option<String>) -> Result<Option<f64>, ApiError> {
    match given(v) {
        None => Ok(None),
        Some(s) => match s.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
            _ => Err(bad(format!("`{name}={s}`: use a number from 0 to 1"))),
        },
    }
}

impl CaseQuery {
    /// The store's filter, page cursor and page size; a wrong value is a one-line error that
    /// says what is accepted.
    pub fn parse(&self, state: &AppState, now: i64) -> Result<(CaseFilter, Option<i64>, u32), ApiError> {
        let pack = state.pipeline.classifier().pack();
        let mut f = CaseFilter::default();
        if let Some(c) = given(&self.category) {
            pack.check_label(c).map_err(|why| bad(format!("`category={c}` {why}")))?;
            f.category = Some(c.to_string());
        }
        if let Some(s) = given(&self.source) {
            f.source = Some(Source::from_name(s).ok_or_else(|| bad(format!("`source={s}`: use discord, ticket, import or cli")))?);
        }
        if let Some(l) = given(&self.language) {
            f.language = Some(l.parse().map_err(|_| bad(format!("`language={l}`: use en, pt or es")))?);
        }
        if let Some(o) = given(&self.outcome) {
            f.outcome = Some(Outcome::parse(o).ok_or_else(|| {
                bad(format!("`outcome={o}`: use sent, pending, failed, suppressed, or a reason such as below_threshold or cooldown"))
            })?);
        }
        f.min_confidence = confidence("min_confidence", &self.min_confidence)?;
        f.max_confidence = confidence("max_confidence", &self.max_confidence)?;
        f.feedback = match given(&self.feedback) {
            None => None,
            Some("up") => Some(Vote::Helpful),
            Some("down") => Some(Vote::NotHelpful),
            Some("any") => Some(Vote::Any),
            Some(other) => return Err(bad(format!("`feedback={other}`: use up, down or any"))),
        };
        f.recurring = yes_no("recurring", &self.recurring)?;
        f.corrected = yes_no("corrected", &self.corrected)?;
        f.support = yes_no("support", &self.support)?;
        f.sponsor = yes_no("sponsor", &self.sponsor)?;
        f.secrets = yes_no("secrets", &self.secrets)?;
        if let Some(d) = given(&self.day) {
            let start = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| bad(format!("`day={d}`: use a date like 2026-12-01")))?
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp())
                .ok_or_else(|| bad(format!("`day={d}` is not a day")))?;
            f.since = Some(start);
            f.until = Some(start + 86_400);
        }
        if let Some(p) = given(&self.period) {
            let d = crate::stats::parse_period(p).map_err(bad)?;
            f.since = Some(now.saturating_sub(d.as_secs() as i64));
        }
        f.author = given(&self.author).map(str::to_string);
        f.account = given(&self.account).map(str::to_string);
        f.text = given(&self.q).map(|q| q.chars().take(200).collect());
        let before = match given(&self.before) {
            None => None,
            Some(b) => Some(b.parse::<i64>().map_err(|_| bad(format!("`before={b}` is not a case id")))?),
        };
        let limit = match given(&self.limit) {
            None => DEFAULT_PAGE,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if (1..=crate::store::browse::MAX_PAGE).contains(&n) => n,
                _ => return Err(bad(format!("`limit={l}`: use 1 to {}", crate::store::browse::MAX_PAGE))),
            },
        };
        Ok((f, before, limit))
    }

    /// This query as a URL query string, with `before` replaced.
    pub fn href(&self, before: Option<i64>) -> String {
        let mut q = self.clone();
        q.before = before.map(|b| b.to_string());
        let pairs = serde_urlencoded::to_string(&q).unwrap_or_default();
        if pairs.is_empty() {
            "/cases".into()
        } else {
            format!("/cases?{pairs}")
        }
    }
}

#[derive(Serialize)]
pub struct CaseList {
    pub cases: Vec<CaseRecord>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

pub async fn api(State(state): State<AppState>, Query(query): Query<CaseQuery>) -> Result<Json<CaseList>, ApiError> {
    let (filter, before, limit) = query.parse(&state, crate::pipeline::now())?;
    let page = state.pipeline.store().browse(&filter, before, limit).await?;
    Ok(Json(CaseList { cases: page.cases, next_before: page.next_before }))
}

/// A select box for one filter, with its current value chosen.
fn select(name: &str, label: &str, current: Option<&str>, options: &[(String, String)]) -> String {
    let mut s = format!("<label>{label} <select name=\"{name}\"><option value=\"\">any</option>");
    for (value, text) in options {
        let chosen = if current == Some(value.as_str()) { " selected" } else { "" };
        s.push_str(&format!("<option value=\"{}\"{chosen}>{}</option>", escape(value), escape(text)));
    }
    s.push_str("</select></label>");
    s
}

fn pairs(values: &[&str]) -> Vec<(String, String)> {
    values.iter().map(|v| (v.to_string(), v.to_string())).collect()
}

/// The reply outcome as a reviewer reads it.
pub fn outcome_label(case: &CaseRecord) -> String {
    match (case.reply_status, case.suppressed_reason) {
        (crate::store::ReplyStatus::Suppressed, Some(reason)) => format!("held back: {}", reason.as_str()),
        (status, _) => status.as_str().to_string(),
    }
}

/// The first `max` characters of a case's text, on one line.
pub fn excerpt(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

pub async fn page(State(state): State<AppState>, Query(query): Query<CaseQuery>) -> Result<Html<String>, ApiError> {
    let (filter, before, limit) = query.parse(&state, crate::pipeline::now())?;
    let page = state.pipeline.store().browse(&filter, before, limit).await?;
    let ids: Vec<i64> = page.cases.iter().map(|c| c.id).collect();
    let marks = state.pipeline.store().review_marks(&ids).await?;
    let pack = state.pipeline.classifier().pack();

    let mut categories: Vec<(String, String)> = pack.categories.iter().map(|c| (c.id.clone(), c.id.clone())).collect();
    categories.push(("none".into(), "none".into()));
    let mut outcomes = pairs(&["sent", "pending", "failed", "suppressed"]);
    outcomes.extend(crate::respond::Suppression::ALL.iter().map(|r| (r.as_str().to_string(), format!("held back: {}", r.as_str()))));
    let mut body = String::from("<section><form method=\"get\" action=\"/cases\" class=\"filters\">");
    body.push_str(&select("category", "Category", given(&query.category), &categories));
    body.push_str(&select("outcome", "Reply", given(&query.outcome), &outcomes));
    body.push_str(&select("source", "Source", given(&query.source), &pairs(&["discord", "ticket", "import", "cli"])));
    body.push_str(&select("language", "Language", given(&query.language), &pairs(&["en", "pt", "es"])));
    let votes =
        vec![("up".to_string(), "👍".to_string()), ("down".to_string(), "👎".to_string()), ("any".to_string(), "any vote".to_string())];
    body.push_str(&select("feedback", "Feedback", given(&query.feedback), &votes));
    body.push_str(&select("recurring", "Recurring", given(&query.recurring), &pairs(&["yes", "no"])));
    body.push_str(&select("corrected", "Corrected", given(&query.corrected), &pairs(&["yes", "no"])));
    body.push_str(&select("period", "Period", given(&query.period), &pairs(&["1d", "7d", "30d", "90d"])));
    let value = |v: &Option<String>| escape(given(v).unwrap_or(""));
    body.push_str(&format!(
        "<label>Confidence <input name=\"min_confidence\" size=\"4\" value=\"{}\" placeholder=\"0\"> to \
         <input name=\"max_confidence\" size=\"4\" value=\"{}\" placeholder=\"1\"></label>\
         <label>Text <input name=\"q\" value=\"{}\" placeholder=\"words in the masked text\"></label>",
        value(&query.min_confidence),
        value(&query.max_confidence),
        value(&query.q)
    ));
    for (name, v) in [
        ("author", &query.author),
        ("account", &query.account),
        ("support", &query.support),
        ("sponsor", &query.sponsor),
        ("secrets", &query.secrets),
        ("day", &query.day),
    ] {
        if let Some(v) = given(v) {
            body.push_str(&format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(v)));
        }
    }
    body.push_str("<button>Filter</button> <a href=\"/cases\">clear</a></form></section>");

    body.push_str("<section><table class=\"cases\"><tr><th>case</th><th>received</th><th>source</th><th>category</th><th>confidence</th><th>reply</th><th>review</th><th>text (masked)</th></tr>");
    if page.cases.is_empty() {
        body.push_str("<tr><td colspan=\"8\">No case matches these filters.</td></tr>");
    }
    for case in &page.cases {
        let (up, down, corrected) = marks.iter().find(|m| m.0 == case.id).map(|m| (m.1, m.2, m.3.clone())).unwrap_or((0, 0, None));
        let mut review = String::new();
        if up > 0 {
            review.push_str(&format!("👍{up} "));
        }
        if down > 0 {
            review.push_str(&format!("👎{down} "));
        }
        if let Some(c) = corrected {
            review.push_str(&format!("→ {c}"));
        }
        body.push_str(&format!(
            "<tr><td><a href=\"/cases/{id}\">#{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            super::dashboard::format_time(case.received_at),
            case.source.as_str(),
            escape(&case.category),
            case.confidence,
            escape(&outcome_label(case)),
            escape(review.trim()),
            escape(&excerpt(&case.text, 140)),
            id = case.id
        ));
    }
    body.push_str("</table>");
    if let Some(next) = page.next_before {
        body.push_str(&format!("<p class=\"pager\"><a href=\"{}\">Older cases →</a></p>", escape(&query.href(Some(next)))));
    }
    body.push_str("</section>");
    Ok(Html(super::dashboard::shell("Cases", "cases", &body)))
}
