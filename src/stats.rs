//! Triage statistics for the people who review it. One module computes them; the CLI, the HTTP
//! API, the dashboard and the Discord command all call [`compute`].
//!
//! The JSON form is stable: fields are only ever added. `schema` changes if one is removed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::store::{Store, StoreError};

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Count {
    pub name: String,
    pub cases: i64,
    /// Share of `total_cases`, 0..1.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub cases: i64,
    pub by_category: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recurring {
    /// Author or account id.
    pub id: String,
    /// Recurring cases in the period.
    pub cases: i64,
    pub categories: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Replies {
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
    pub suppressed: i64,
    /// Suppressed cases by reason: not_support, below_threshold, cooldown, shadow_mode, backlog, deleted.
    pub suppressed_by_reason: BTreeMap<String, i64>,
    /// Answered cases where a staff member or helper replied within `yield_to_humans` after us:
    /// where people took over, by category.
    pub taken_over: i64,
    pub taken_over_by_category: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Helpfulness {
    pub category: String,
    pub helpful: i64,
    pub not_helpful: i64,
    /// helpful / (helpful + not_helpful); null without votes.
    pub helpful_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    pub schema: u32,
    /// Period start and end, Unix seconds.
    pub since: i64,
    pub until: i64,
    pub total_cases: i64,
    /// Cases with a category other than `none`.
    pub support_cases: i64,
    pub by_category: Vec<Count>,
    pub by_language: Vec<Count>,
    pub by_day: Vec<Day>,
    pub escalated_to_sponsor: i64,
    pub escalated_to_sponsor_share: f64,
    pub recurring: i64,
    pub recurring_share: f64,
    pub recurrence_escalations: i64,
    pub secrets_masked: i64,
    pub top_recurring_authors: Vec<Recurring>,
    pub top_recurring_accounts: Vec<Recurring>,
    pub replies: Replies,
    pub feedback: Vec<Helpfulness>,
}

/// Parses a period like `30d`, `12h` or `2w`.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a period; use e.g. 30d, 12h or 2w"))?;
    let secs = match unit {
        "d" | "" => 86_400,
        "h" => 3_600,
        "w" => 7 * 86_400,
        "m" => 60,
        _ => return Err(format!("`{s}` has an unknown unit; use d (days), h (hours), w (weeks) or m (minutes)")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

fn share(n: i64, total: i64) -> f64 {
    if total == 0 {
        0.0
    } else {
        ((n as f64 / total as f64) * 1000.0).round() / 1000.0
    }
}

/// Statistics over cases received in the last `period` before `now`.
pub async fn compute(store: &Store, period: Duration, top: usize, now: i64) -> Result<Stats, StoreError> {
    let since = now.saturating_sub(period.as_secs() as i64);
    let rows = store.stats_rows(since, top as i64).await?;
    let total = rows.total;
    let counts = |v: &[(String, i64)]| {
        v.iter().map(|(name, n)| Count { name: name.clone(), cases: *n, share: share(*n, total) }).collect::<Vec<_>>()
    };
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    for (day, cat, n) in &rows.by_day {
        let d = days.entry(day.clone()).or_insert_with(|| Day { day: day.clone(), cases: 0, by_category: BTreeMap::new() });
        d.cases += n;
        d.by_category.insert(cat.clone(), *n);
    }
    let mut replies = Replies::default();
    for (status, reason, n) in &rows.replies {
        match status.as_str() {
            "sent" => replies.sent += n,
            "pending" => replies.pending += n,
            "failed" => replies.failed += n,
            _ => {
                replies.suppressed += n;
                *replies.suppressed_by_reason.entry(reason.clone().unwrap_or_else(|| "unknown".into())).or_default() += n;
            }
        }
    }
    for (category, n) in &rows.taken_over {
        replies.taken_over += n;
        replies.taken_over_by_category.insert(category.clone(), *n);
    }
    let recurring = |v: &[crate::store::TopRecurring]| {
        v.iter().map(|t| Recurring { id: t.who.clone(), cases: t.cases, categories: t.categories }).collect()
    };
    let none = rows.by_category.iter().find(|(c, _)| c == "none").map(|(_, n)| *n).unwrap_or(0);
    Ok(Stats {
        schema: SCHEMA,
        since,
        until: now,
        total_cases: total,
        support_cases: total - none,
        by_category: counts(&rows.by_category),
        by_language: counts(&rows.by_language),
        by_day: days.into_values().collect(),
        escalated_to_sponsor: rows.escalated,
        escalated_to_sponsor_share: share(rows.escalated, total - none),
        recurring: rows.recurring,
        recurring_share: share(rows.recurring, total - none),
        recurrence_escalations: rows.recurrence_escalations,
        secrets_masked: rows.secrets_masked,
        top_recurring_authors: recurring(&rows.top_authors),
        top_recurring_accounts: recurring(&rows.top_accounts),
        replies,
        feedback: rows
            .feedback
            .iter()
            .map(|(category, h, nh)| Helpfulness {
                category: category.clone(),
                helpful: *h,
                not_helpful: *nh,
                helpful_rate: if h + nh == 0 { None } else { Some(share(*h, h + nh)) },
            })
            .collect(),
    })
}

/// `YYYY-MM-DD` (UTC) of a Unix timestamp.
pub fn day_of(ts: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(ts.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

/// The aligned text tables of `triage stats`.
pub fn render_table(s: &Stats) -> String {
    let mut out = String::new();
    out.push_str(&format!("Triage statistics {} .. {} (UTC)\n\n", day_of(s.since), day_of(s.until)));
    out.push_str(&format!("{:<34} {:>8}\n", "total cases", s.total_cases));
    out.push_str(&format!("{:<34} {:>8}\n", "support cases (category not none)", s.support_cases));
    out.push_str(&format!(
        "{:<34} {:>8} {:>6.1}%\n",
        "escalated to the Sponsor user",
        s.escalated_to_sponsor,
        s.escalated_to_sponsor_share * 100.0
    ));
    out.push_str(&format!("{:<34} {:>8} {:>6.1}%\n", "recurring", s.recurring, s.recurring_share * 100.0));
    out.push_str(&format!("{:<34} {:>8}\n", "handed to people (recurrence)", s.recurrence_escalations));
    out.push_str(&format!("{:<34} {:>8}\n", "secrets masked", s.secrets_masked));
    let table = |title: &str, rows: &[Count]| {
        let mut t = format!("\n{:<34} {:>8} {:>7}\n", title, "cases", "share");
        for r in rows {
            t.push_str(&format!("{:<34} {:>8} {:>6.1}%\n", r.name, r.cases, r.share * 100.0));
        }
        t
    };
    out.push_str(&table("category", &s.by_category));
    out.push_str(&table("language", &s.by_language));
    out.push_str(&format!("\n{:<34} {:>8}\n", "replies", "cases"));
    out.push_str(&format!("{:<34} {:>8}\n", "sent", s.replies.sent));
    out.push_str(&format!("{:<34} {:>8}\n", "pending", s.replies.pending));
    out.push_str(&format!("{:<34} {:>8}\n", "failed", s.replies.failed));
    for (reason, n) in &s.replies.suppressed_by_reason {
        out.push_str(&format!("{:<34} {:>8}\n", format!("suppressed: {reason}"), n));
    }
    out.push_str(&format!("{:<34} {:>8}\n", "taken over by people", s.replies.taken_over));
    for (category, n) in &s.replies.taken_over_by_category {
        out.push_str(&format!("{:<34} {:>8}\n", format!("  taken over: {category}"), n));
    }
    if !s.feedback.is_empty() {
        out.push_str(&format!("\n{:<34} {:>8} {:>11} {:>8}\n", "feedback by category", "helpful", "not helpful", "rate"));
        for f in &s.feedback {
            let rate = f.helpful_rate.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "-".into());
            out.push_str(&format!("{:<34} {:>8} {:>11} {:>8}\n", f.category, f.helpful, f.not_helpful, rate));
        }
    }
    for (title, list) in [("top recurring authors", &s.top_recurring_authors), ("top recurring accounts", &s.top_recurring_accounts)] {
        if !list.is_empty() {
            out.push_str(&format!("\n{:<34} {:>8} {:>11}\n", title, "cases", "categories"));
            for r in list {
                out.push_str(&format!("{:<34} {:>8} {:>11}\n", r.id, r.cases, r.categories));
            }
        }
    }
    if !s.by_day.is_empty() {
        out.push_str(&format!("\n{:<12} {:>8}  by category\n", "day", "cases"));
        for d in &s.by_day {
            let parts: Vec<String> = d.by_category.iter().map(|(c, n)| format!("{c}={n}")).collect();
            out.push_str(&format!("{:<12} {:>8}  {}\n", d.day, d.cases, parts.join(" ")));
        }
    }
    out
}

/// How a rule (or a category) is doing: what it fired on, how often its reply was held back,
/// and how often it was right where people judged it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleHealth {
    pub name: String,
    pub fired: i64,
    pub held_back: i64,
    /// Cases labelled by a reviewer, and unlabelled ones with 👍/👎 votes (one per vote).
    pub reviewed: i64,
    pub votes: i64,
    /// Judgements in all (`reviewed` + `votes`), and how many said it was right.
    pub judged: i64,
    pub right: i64,
    /// right / judged; null when nobody judged it.
    pub precision: Option<f64>,
    /// The Wilson 95% lower bound of the precision: 2 of 2 reads 0.34, not 1.0.
    pub precision_low: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RulesReport {
    pub since: i64,
    pub until: i64,
    pub categories: Vec<RuleHealth>,
    pub rules: Vec<RuleHealth>,
}

/// The Wilson score interval's lower end at 95%.
pub fn wilson_low(right: i64, n: i64) -> Option<f64> {
    if n <= 0 {
        return None;
    }
    let (n, p, z) = (n as f64, right as f64 / n as f64, 1.96_f64);
    let centre = p + z * z / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    Some(((centre - margin) / (1.0 + z * z / n)).max(0.0))
}

fn health(c: &crate::store::rule_health::RuleCounts) -> RuleHealth {
    let votes = c.votes_up + c.votes_down;
    let judged = c.reviewed + votes;
    let right = c.reviewed_right + c.votes_up;
    RuleHealth {
        name: c.name.clone(),
        fired: c.fired,
        held_back: c.held_back,
        reviewed: c.reviewed,
        votes,
        judged,
        right,
        precision: (judged > 0).then(|| right as f64 / judged as f64),
        precision_low: wilson_low(right, judged),
    }
}

/// Rule health over cases received in the last `period` before `now`.
pub async fn rules(store: &Store, period: Duration, now: i64) -> Result<RulesReport, StoreError> {
    let since = now.saturating_sub(period.as_secs() as i64);
    let (rules, categories) = store.rule_counts(since).await?;
    Ok(RulesReport { since, until: now, categories: categories.iter().map(health).collect(), rules: rules.iter().map(health).collect() })
}

/// "7 of 9 (78%, at least 45%)": a precision with the count behind it.
pub fn precision_text(h: &RuleHealth) -> String {
    match (h.precision, h.precision_low) {
        (Some(p), Some(low)) => format!("{} of {} ({:.0}%, at least {:.0}%)", h.right, h.judged, p * 100.0, low * 100.0),
        _ => "not judged yet".into(),
    }
}

pub fn render_rules(r: &RulesReport) -> String {
    let mut out = String::new();
    for (title, rows) in [("category", &r.categories), ("rule", &r.rules)] {
        out.push_str(&format!("{:<44} {:>7} {:>9}  {}\n", title, "fired", "held back", "precision (reviewed + votes)"));
        for h in rows.iter() {
            out.push_str(&format!("{:<44} {:>7} {:>9}  {}\n", h.name, h.fired, h.held_back, precision_text(h)));
        }
        out.push('\n');
    }
    out
}
