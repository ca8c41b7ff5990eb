//! `GET /`: the dashboard for people who review triage, and the login form that gives browsers
//! a session instead of a bearer token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::auth::{token_matches, SESSION_COOKIE};
use super::charts::{color, escape, hbars, stacked_bars};
use super::{ApiError, AppState};
use crate::stats::{compute, day_of, Day, Stats};

#[derive(Debug, Deserialize)]
pub struct Params {
    pub days: Option<u32>,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f9fafb;color:#111827}\
header{background:#111827;color:#fff;padding:14px 28px;display:flex;justify-content:space-between;align-items:center}\
header a{color:#93c5fd;margin-left:12px;text-decoration:none}header a.on{color:#fff;font-weight:700;text-decoration:underline}\
main{max-width:960px;margin:0 auto;padding:20px}section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px;margin-bottom:18px}\
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-bottom:18px}.tile{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px}\
.tile b{display:block;font-size:26px}.tile span{color:#6b7280;font-size:13px}.chart{width:100%;height:auto}\
.chart-title{font-size:16px;font-weight:600;fill:#111827}.tick,.legend,.label,.value{font-size:12px;fill:#374151}.empty{font-size:14px;fill:#6b7280}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;font-size:14px}h2{font-size:16px;margin:4px 0 10px}";

/// The pages, for the header.
const PAGES: &[(&str, &str, &str)] =
    &[("dashboard", "/", "Dashboard"), ("cases", "/cases", "Cases"), ("review", "/review", "Review"), ("rules", "/rules", "Rule health")];

fn nav(active: &str) -> String {
    PAGES
        .iter()
        .map(|(key, href, label)| format!("<a href=\"{href}\" class=\"{}\">{label}</a>", if *key == active { "on" } else { "" }))
        .collect()
}

/// A page of the review tool around `body`, with the header every page shares.
pub fn shell(title: &str, active: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · triage</title><style>{STYLE}{PAGE_STYLE}</style></head>\
         <body><header><strong>triage: appKey/appToken support</strong><nav>{}\
         <form method=\"post\" action=\"/logout\" style=\"display:inline;margin-left:16px\"><button>Sign out</button></form></nav></header>\
         <main class=\"wide\">{body}</main></body></html>",
        escape(title),
        nav(active)
    )
}

/// What the case browser, the case page and the review queue add to the dashboard's style.
const PAGE_STYLE: &str = "main.wide{max-width:1240px}h1{font-size:22px;margin:6px 0 14px}h3{font-size:14px;margin:14px 0 6px}\
a{color:#1d4ed8}a.tile{color:inherit;text-decoration:none}a.tile:hover{border-color:#93c5fd}.sep{margin-left:18px}\
.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;font-size:13px}.filters select,.filters input{font-size:13px;padding:3px}\
td.text{color:#374151;max-width:520px}.muted{color:#6b7280;font-size:13px}.note{background:#fef3c7;padding:8px;border-radius:6px}\
.case{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:18px}pre{white-space:pre-wrap;word-break:break-word;background:#f3f4f6;padding:10px;border-radius:6px;font-size:13px;line-height:1.5}\
pre.read{background:#fff;border:1px solid #e5e7eb;font-size:15px}mark{background:#fde68a;padding:1px 2px;border-radius:3px;border-bottom:2px solid #d97706}\
.facts th{width:38%;color:#6b7280;font-weight:500}.chip{display:inline-block;background:#eef2ff;color:#3730a3;border-radius:10px;padding:2px 8px;margin:2px;font-size:12px}\
form.label{display:flex;flex-wrap:wrap;gap:4px}form.label button{font-size:12px;padding:3px 7px;border:1px solid #d1d5db;background:#fff;border-radius:5px;cursor:pointer}\
form.label button.confirm{border-color:#16a34a;color:#166534}form.label button.chosen{background:#1d4ed8;color:#fff}tr.warn td{background:#fef2f2}\
ul.others{padding-left:18px;font-size:13px}div.reply{background:#f3f4f6;padding:4px 14px;border-radius:6px;font-size:14px}.pager{text-align:right}";

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Every day of the period, quiet ones included, so the x-axis is a real time scale.
fn every_day(s: &Stats) -> Vec<Day> {
    let mut out = Vec::new();
    let mut t = s.since - s.since.rem_euclid(86_400);
    while t <= s.until {
        let name = day_of(t);
        let found = s.by_day.iter().find(|d| d.day == name).cloned();
        out.push(found.unwrap_or(Day { day: name, cases: 0, by_category: Default::default() }));
        t += 86_400;
    }
    out
}

pub fn render(s: &Stats, days: u32, categories: &[String], failed: &[crate::store::outbox::FailedDelivery]) -> String {
    // The case list behind a number: these filters over the dashboard's period.
    let cases = |filters: &[(&str, &str)]| -> String {
        let mut pairs: Vec<(&str, String)> = filters.iter().map(|(k, v)| (*k, v.to_string())).collect();
        pairs.push(("period", format!("{days}d")));
        format!("/cases?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
    };
    let mut html = String::with_capacity(32 * 1024);
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>triage dashboard</title>");
    html.push_str(&format!("<style>{STYLE}</style></head><body><header><strong>triage: appKey/appToken support</strong><nav>{}<span class=\"sep\">Period:</span>", nav("dashboard")));
    for d in [7, 30, 90] {
        html.push_str(&format!(r#"<a href="/?days={d}" class="{}">{d} days</a>"#, if d == days { "on" } else { "" }));
    }
    html.push_str("<form method=\"post\" action=\"/logout\" style=\"display:inline;margin-left:16px\"><button>Sign out</button></form></nav></header><main>");
    html.push_str(&format!("<style>{PAGE_STYLE}</style>"));
    let sent = s.replies.sent + s.replies.pending;
    html.push_str("<div class=\"tiles\">");
    for (value, label, href) in [
        (s.total_cases.to_string(), format!("cases in the last {days} days"), cases(&[])),
        (s.support_cases.to_string(), "support cases (category not none)".to_string(), cases(&[("support", "yes")])),
        (pct(s.escalated_to_sponsor_share), "escalated to the Sponsor user".to_string(), cases(&[("sponsor", "yes")])),
        (pct(s.recurring_share), "recurring cases".to_string(), cases(&[("recurring", "yes")])),
        (sent.to_string(), "replies posted".to_string(), cases(&[("outcome", "sent")])),
        (s.replies.suppressed.to_string(), "replies held back".to_string(), cases(&[("outcome", "suppressed")])),
        (s.recurrence_escalations.to_string(), "handed to people".to_string(), cases(&[("recurring", "yes"), ("support", "yes")])),
        (s.secrets_masked.to_string(), "leaked secrets masked".to_string(), cases(&[("secrets", "yes")])),
    ] {
        html.push_str(&format!(
            "<a class=\"tile\" href=\"{}\"><b>{}</b><span>{}</span></a>",
            escape(&href),
            escape(&value),
            escape(&label)
        ));
    }
    html.push_str("</div>");
    html.push_str(&format!(
        "<section>{}</section>",
        stacked_bars("Cases per day by category", &every_day(s), categories, &|day, cat| {
            Some(format!("/cases?{}", serde_urlencoded::to_string([("day", day), ("category", cat)]).unwrap_or_default()))
        })
    ));
    let share: Vec<(String, f64, String, &str)> = s
        .by_category
        .iter()
        .map(|c| (c.name.clone(), c.share, format!("{} ({})", c.cases, pct(c.share)), color(categories, &c.name)))
        .collect();
    html.push_str(&format!(
        "<section>{}</section>",
        hbars("Category share", &share, share.iter().map(|r| r.1).fold(0.0, f64::max), &|cat, _| Some(cases(&[("category", cat)])))
    ));
    let helpful = s.feedback.iter().filter_map(|f| f.helpful_rate.map(|r| (f.category.clone(), r)));
    let mut rates: Vec<(String, f64, String, &str)> = vec![
        ("escalated to Sponsor".into(), s.escalated_to_sponsor_share, pct(s.escalated_to_sponsor_share), "#d97706"),
        ("recurring".into(), s.recurring_share, pct(s.recurring_share), "#7c3aed"),
    ];
    rates.extend(helpful.map(|(c, r)| (format!("helpful: {c}"), r, pct(r), "#16a34a")));
    html.push_str(&format!(
        "<section>{}</section>",
        hbars("Escalation, recurrence and reply helpfulness", &rates, 1.0, &|label, _| {
            Some(match label {
                "escalated to Sponsor" => cases(&[("sponsor", "yes")]),
                "recurring" => cases(&[("recurring", "yes")]),
                other => cases(&[("category", other.strip_prefix("helpful: ").unwrap_or(other)), ("feedback", "any")]),
            })
        })
    ));
    // Each row's first cell links to the cases behind it.
    let table = |title: &str, head: &[&str], rows: Vec<(String, Vec<String>)>| {
        let mut t = format!("<section><h2>{}</h2><table><tr>", escape(title));
        for h in head {
            t.push_str(&format!("<th>{}</th>", escape(h)));
        }
        t.push_str("</tr>");
        if rows.is_empty() {
            t.push_str(&format!("<tr><td colspan=\"{}\">None in this period</td></tr>", head.len()));
        }
        for (href, cells) in rows {
            t.push_str("<tr>");
            for (i, cell) in cells.into_iter().enumerate() {
                if i == 0 {
                    t.push_str(&format!("<td><a href=\"{}\">{}</a></td>", escape(&href), escape(&cell)));
                } else {
                    t.push_str(&format!("<td>{}</td>", escape(&cell)));
                }
            }
            t.push_str("</tr>");
        }
        t.push_str("</table></section>");
        t
    };
    html.push_str(&table(
        "Top recurring accounts",
        &["account", "recurring cases", "categories"],
        s.top_recurring_accounts
            .iter()
            .map(|r| {
                (cases(&[("account", &r.id), ("recurring", "yes")]), vec![r.id.clone(), r.cases.to_string(), r.categories.to_string()])
            })
            .collect(),
    ));
    html.push_str(&table(
        "Top recurring authors",
        &["author", "recurring cases", "categories"],
        s.top_recurring_authors
            .iter()
            .map(|r| (cases(&[("author", &r.id), ("recurring", "yes")]), vec![r.id.clone(), r.cases.to_string(), r.categories.to_string()]))
            .collect(),
    ));
    html.push_str(&table(
        "Reply helpfulness",
        &["category", "helpful", "not helpful", "rate"],
        s.feedback
            .iter()
            .map(|f| {
                (
                    cases(&[("category", &f.category), ("feedback", "any")]),
                    vec![
                        f.category.clone(),
                        f.helpful.to_string(),
                        f.not_helpful.to_string(),
                        f.helpful_rate.map(pct).unwrap_or_else(|| "-".into()),
                    ],
                )
            })
            .collect(),
    ));
    let mut replies = vec![
        (cases(&[("outcome", "sent")]), vec!["sent".to_string(), s.replies.sent.to_string()]),
        (cases(&[("outcome", "pending")]), vec!["pending".into(), s.replies.pending.to_string()]),
        (cases(&[("outcome", "failed")]), vec!["failed".into(), s.replies.failed.to_string()]),
    ];
    replies.extend(
        s.replies.suppressed_by_reason.iter().map(|(r, n)| (cases(&[("outcome", r)]), vec![format!("held back: {r}"), n.to_string()])),
    );
    replies.extend(s.replies.taken_over_by_category.iter().map(|(c, n)| {
        (cases(&[("category", c), ("outcome", "sent")]), vec![format!("answered, then taken over by people: {c}"), n.to_string()])
    }));
    html.push_str(&table("Replies", &["outcome", "cases"], replies));
    if !failed.is_empty() {
        html.push_str(&table(
            "Helpdesk replies that could not be posted (latest)",
            &["case", "helpdesk", "ticket", "attempts", "gave up", "last error"],
            failed
                .iter()
                .map(|f| {
                    (
                        format!("/cases/{}", f.case_id),
                        vec![
                            f.case_id.to_string(),
                            f.helpdesk.clone(),
                            f.ticket_id.clone(),
                            f.attempts.to_string(),
                            format_time(f.done_at_ms / 1000),
                            crate::redact::mask_and_cap(&f.last_error, 200),
                        ],
                    )
                })
                .collect(),
        ));
    }
    html.push_str("</main></body></html>");
    html
}

pub async fn page(State(state): State<AppState>, Query(p): Query<Params>) -> Result<Html<String>, ApiError> {
    let days = match p.days.unwrap_or(30) {
        d @ (7 | 30 | 90) => d,
        other => return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("days={other}: choose 7, 30 or 90"))),
    };
    let stats =
        compute(state.pipeline.store(), std::time::Duration::from_secs(u64::from(days) * 86_400), 10, crate::pipeline::now()).await?;
    let categories: Vec<String> = state.pipeline.classifier().pack().categories.iter().map(|c| c.id.clone()).collect();
    let failed = state.pipeline.store().failed_deliveries(20).await?;
    Ok(Html(render(&stats, days, &categories, &failed)))
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    if state.api_token.is_none() {
        return Redirect::to("/").into_response();
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>triage login</title><style>{STYLE}</style></head><body><main><section><h2>Sign in to the triage dashboard</h2>\
         <form method=\"post\" action=\"/login\"><label>Your name <input name=\"name\" autocomplete=\"username\" placeholder=\"for the labels you set\" autofocus></label> <label>API token <input type=\"password\" name=\"token\"></label> <button>Sign in</button></form></section></main></body></html>"
    ))
    .into_response()
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
    /// The reviewer's name, recorded with the labels they set.
    #[serde(default)]
    name: Option<String>,
}

/// Whether a form post comes from this site. Browsers send `Origin` on posts; a page elsewhere
/// that posts our login form (login CSRF: signing the victim into the attacker's session) has
/// another one. Clients that send neither header are not browsers and pass.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let from = headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER)).and_then(|v| v.to_str().ok());
    match from {
        None => true,
        Some(url) => {
            let authority = url.split_once("://").map_or("", |(_, rest)| rest).split('/').next().unwrap_or("");
            !host.is_empty() && authority.eq_ignore_ascii_case(host)
        }
    }
}

fn secure(state: &AppState, headers: &HeaderMap) -> &'static str {
    let forwarded_tls = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if state.secure_cookies || forwarded_tls {
        "; Secure"
    } else {
        ""
    }
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    let Some(expected) = state.api_token.as_deref() else {
        return Redirect::to("/").into_response();
    };
    if !same_origin(&headers) {
        tracing::warn!(client = %peer.ip(), "login refused: the form was posted from another site");
        return (StatusCode::FORBIDDEN, Html("<p>Sign in from the triage login page. <a href=\"/login\">Go there</a></p>")).into_response();
    }
    if let Some(retry) = state.auth_limiter.blocked(peer.ip()) {
        return super::auth::too_many_attempts(retry);
    }
    if !token_matches(expected, form.token.trim()) {
        state.auth_limiter.failed(peer.ip());
        state.metrics.auth_failures.inc();
        tracing::warn!(client = %peer.ip(), "login failed: wrong token");
        return (StatusCode::UNAUTHORIZED, Html("<p>Wrong token. <a href=\"/login\">Try again</a></p>")).into_response();
    }
    let name: String = form.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("dashboard").chars().take(64).collect();
    let session = state.sessions.create(&crate::redact::mask_and_cap(&name, 64));
    let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200{}", secure(&state, &headers));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let headers = req.headers().clone();
    if let Some(session) = super::auth::session_from(&req) {
        state.sessions.remove(&session);
    }
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}", secure(&state, &headers));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

/// Unix seconds as `2026-12-02 10:00 UTC`.
pub fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "-".into())
}
