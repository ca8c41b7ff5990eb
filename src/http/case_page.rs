//! `GET /cases/{id}`: one case as a reviewer needs it. The masked text, where it came from and a
//! link back, the author's and account's other cases, the reply as posted and its feedback, and
//! the explanation: the rules and concepts that fired, their spans marked in the text, the rules
//! held back, and the findings. A form sets the right category.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;

use super::case_list::{excerpt, outcome_label};
use super::charts::escape;
use super::{ApiError, AppState};
use crate::classify::{Explanation, Span};
use crate::store::browse::CaseFilter;
use crate::store::{CaseRecord, Source};

/// The text with `spans` (byte ranges, possibly overlapping) marked, each titled with its
/// concept; everything escaped.
pub fn highlight(text: &str, spans: &[Span]) -> String {
    let mut marks: Vec<(usize, usize, &str)> = spans
        .iter()
        .filter(|s| s.start < s.end && s.end <= text.len() && text.is_char_boundary(s.start) && text.is_char_boundary(s.end))
        .map(|s| (s.start, s.end, s.concept.as_str()))
        .collect();
    marks.sort();
    // Overlaps merge into the first span: a mark inside a mark reads badly.
    let mut merged: Vec<(usize, usize, String)> = Vec::new();
    for (start, end, concept) in marks {
        match merged.last_mut() {
            Some(last) if start < last.1 => {
                last.1 = last.1.max(end);
                if !last.2.split(", ").any(|c| c == concept) {
                    last.2.push_str(", ");
                    last.2.push_str(concept);
                }
            }
            _ => merged.push((start, end, concept.to_string())),
        }
    }
    let mut out = String::with_capacity(text.len() + merged.len() * 40);
    let mut at = 0;
    for (start, end, concept) in merged {
        out.push_str(&escape(&text[at..start]));
        out.push_str(&format!("<mark title=\"{}\">{}</mark>", escape(&concept), escape(&text[start..end])));
        at = end;
    }
    out.push_str(&escape(&text[at..]));
    out
}

/// Where a case came from, as a link a reviewer can follow.
fn link_back(state: &AppState, case: &CaseRecord) -> Option<String> {
    match case.source {
        Source::Discord => {
            let guild = case.guild_id.as_deref().unwrap_or("@me");
            let place = case.thread_id.as_deref().or(case.channel_id.as_deref())?;
            Some(format!("https://discord.com/channels/{guild}/{place}/{}", case.source_id))
        }
        Source::Ticket => {
            let (name, rest) = case.source_id.split_once(':')?;
            let ticket = rest.split(':').next()?;
            let helpdesk = crate::helpdesk::Helpdesk::parse(name)?;
            let connector = state.connectors.get(helpdesk)?;
            Some(helpdesk.agent_url(&connector.config.url, ticket))
        }
        _ => None,
    }
}

/// A ticket reply's HTML as plain text: tags dropped, the common entities read.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

fn row(label: &str, value: &str) -> String {
    format!("<tr><th>{}</th><td>{value}</td></tr>", escape(label))
}

fn others(title: &str, cases: &[CaseRecord], this: i64, more: &str) -> String {
    let list: Vec<&CaseRecord> = cases.iter().filter(|c| c.id != this).collect();
    let mut s = format!("<h3>{}</h3>", escape(title));
    if list.is_empty() {
        s.push_str("<p class=\"muted\">None.</p>");
        return s;
    }
    s.push_str("<ul class=\"others\">");
    for c in list {
        s.push_str(&format!(
            "<li><a href=\"/cases/{id}\">#{id}</a> {} <b>{}</b> {}</li>",
            super::dashboard::format_time(c.received_at),
            escape(&c.category),
            escape(&excerpt(&c.text, 80)),
            id = c.id
        ));
    }
    s.push_str(&format!("</ul><p><a href=\"{}\">All of them →</a></p>", escape(more)));
    s
}

fn explanation(e: &Explanation, case: &CaseRecord) -> String {
    let mut s = String::from("<section><h2>Why triage decided this</h2>");
    if e.classification.category_id() != case.category {
        s.push_str(&format!(
            "<p class=\"note\">The rules as they are now say <b>{}</b> ({:.2}); the case was triaged <b>{}</b> ({:.2}).</p>",
            escape(e.classification.category_id()),
            e.classification.confidence,
            escape(&case.category),
            case.confidence
        ));
    }
    let spans: Vec<Span> = e.fired.iter().flat_map(|r| r.spans.iter().cloned()).collect();
    s.push_str("<p class=\"muted\">The text as the rules read it, with what the rules that fired matched:</p>");
    s.push_str(&format!("<pre class=\"read\">{}</pre>", highlight(&e.normalised_text, &spans)));
    s.push_str(&format!("<p>Topic gate: <b>{}</b></p>", escape(&gate_label(&e.gate))));
    if !e.scores.is_empty() {
        s.push_str("<table class=\"scores\"><tr><th>category</th><th>score</th></tr>");
        for c in &e.scores {
            s.push_str(&format!("<tr><td>{}</td><td>{:.2}</td></tr>", escape(&c.category), c.score));
        }
        s.push_str("</table>");
    }
    s.push_str("<h3>Rules that fired</h3>");
    if e.fired.is_empty() {
        s.push_str("<p class=\"muted\">None.</p>");
    } else {
        s.push_str("<table><tr><th>rule</th><th>weight</th><th>pattern</th><th>matched</th></tr>");
        for r in &e.fired {
            let matched: Vec<String> = r
                .spans
                .iter()
                .map(|sp| format!("<mark>{}</mark> <span class=\"muted\">{}</span>", escape(&sp.text), escape(&sp.concept)))
                .collect();
            s.push_str(&format!(
                "<tr><td>{}/{}</td><td>{:.2}</td><td><code>{}</code></td><td>{}</td></tr>",
                escape(&r.category),
                escape(&r.rule),
                r.weight,
                escape(&r.pattern),
                matched.join(" · ")
            ));
        }
        s.push_str("</table>");
    }
    s.push_str("<h3>Held back</h3>");
    if e.held_back.is_empty() {
        s.push_str("<p class=\"muted\">No rule was held back.</p>");
    } else {
        s.push_str("<p>These rules matched, but the message rules their cause out (their <code>unless</code> matched):</p><ul>");
        for r in &e.held_back {
            s.push_str(&format!("<li>{}</li>", escape(r)));
        }
        s.push_str("</ul>");
    }
    s.push_str("<h3>Concepts found</h3><p>");
    let concepts: Vec<String> = e
        .concepts
        .iter()
        // Quoted phrases of single patterns are concepts of their own; only named ones read well.
        .filter(|c| !c.concept.starts_with('"') && !c.concept.starts_with('\''))
        .map(|c| format!("<span class=\"chip\">{} ×{}</span>", escape(&c.concept), c.spans.len()))
        .collect();
    s.push_str(&if concepts.is_empty() { "<span class=\"muted\">None.</span>".to_string() } else { concepts.join(" ") });
    s.push_str("</p></section>");
    s
}

fn gate_label(g: &crate::classify::Gate) -> String {
    match g {
        crate::classify::Gate::Passed => "passed: about application keys".into(),
        crate::classify::Gate::OffTopic => "off topic: nothing about application keys".into(),
        crate::classify::Gate::Excluded { rule } => format!("excluded by {rule}: another kind of key or login"),
    }
}

pub async fn page(State(state): State<AppState>, Path(id): Path<String>) -> Result<Html<String>, ApiError> {
    let id = super::cases::case_id(&id)?;
    let store = state.pipeline.store();
    let Some(case) = store.case(id).await? else { return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no case {id}"))) };
    let (up, down) = store.feedback_counts(id).await?;
    let correction = store.latest_correction(id).await?;
    let pack = state.pipeline.classifier().pack();
    let explained = state.pipeline.classifier().explain(&case.text);

    let mut body = format!("<h1>Case #{id}</h1><div class=\"case\"><div class=\"main\">");
    body.push_str(&format!("<section><h2>Message (secrets masked)</h2><pre class=\"text\">{}</pre></section>", escape(&case.text)));
    body.push_str("<section><h2>Reply</h2>");
    body.push_str(&format!("<p>Outcome: <b>{}</b>", escape(&outcome_label(&case))));
    if let (Some(by), Some(at)) = (&case.taken_over_by, case.taken_over_at) {
        body.push_str(&format!(" · taken over by {} at {}", escape(by), super::dashboard::format_time(at)));
    }
    body.push_str("</p>");
    match &case.reply_text {
        Some(text) => {
            let label = if case.reply_status == crate::store::ReplyStatus::Sent { "as posted" } else { "what it would have said" };
            // Chat replies are Markdown, ticket replies HTML: either is shown as it reads, with
            // any raw HTML in it escaped.
            let shown = if case.source == Source::Ticket && text.trim_start().starts_with('<') {
                crate::render::markdown_to_html(&html_to_text(text))
            } else {
                crate::render::markdown_to_html(text)
            };
            body.push_str(&format!("<p class=\"muted\">{label}:</p><div class=\"reply\">{shown}</div>"));
        }
        None => body.push_str("<p class=\"muted\">No reply was composed.</p>"),
    }
    body.push_str(&format!("<p>Feedback: {up} helpful (👍), {down} not helpful (👎)</p></section>"));
    body.push_str(&explanation(&explained, &case));
    body.push_str("</div><aside>");

    let mut facts = String::from("<section><h2>Facts</h2><table class=\"facts\">");
    facts.push_str(&row("category", &format!("<b>{}</b>", escape(&case.category))));
    facts.push_str(&row("confidence", &format!("{:.2}", case.confidence)));
    facts.push_str(&row("language", case.language.code()));
    facts.push_str(&row("received", &super::dashboard::format_time(case.received_at)));
    facts.push_str(&row("source", &format!("{} <code>{}</code>", case.source.as_str(), escape(&case.source_id))));
    if let Some(url) = link_back(&state, &case) {
        facts.push_str(&row("open", &format!("<a href=\"{}\" rel=\"noreferrer\">where it was asked ↗</a>", escape(&url))));
    }
    facts.push_str(&row("Sponsor needed", if case.escalate_to_sponsor { "yes" } else { "no" }));
    facts.push_str(&row("recurring", if case.recurring { "yes" } else { "no" }));
    facts.push_str(&row("secrets masked", &case.secrets_found.to_string()));
    if let Some(burst) = &case.burst_of {
        facts.push_str(&row("answered with", &format!("the burst ending at message <code>{}</code>", escape(burst))));
    }
    if !case.findings.is_empty() {
        let findings: Vec<String> = case.findings.iter().map(|f| escape(&crate::respond::finding_text(pack, f, case.language))).collect();
        facts.push_str(&row("findings", &findings.join("<br>")));
    }
    facts.push_str("</table></section>");
    body.push_str(&facts);

    body.push_str("<section><h2>Review</h2>");
    if let Some(c) = &correction {
        body.push_str(&format!(
            "<p>Corrected to <b>{}</b> by {} ({}, {}).</p>",
            escape(&c.category),
            escape(&c.corrected_by),
            escape(&c.source),
            super::dashboard::format_time(c.created_at)
        ));
    }
    body.push_str(&super::review::buttons(pack, &case, correction.as_ref().map(|c| c.category.as_str()), &format!("/cases/{id}")));
    body.push_str("</section>");

    for (title, who, param) in
        [("The author's other cases", &case.author, "author"), ("The account's other cases", &case.account, "account")]
    {
        let Some(who) = who else { continue };
        let filter = match param {
            "author" => CaseFilter { author: Some(who.clone()), ..CaseFilter::default() },
            _ => CaseFilter { account: Some(who.clone()), ..CaseFilter::default() },
        };
        let page = store.browse(&filter, None, 11).await?;
        let more = format!("/cases?{param}={}", serde_urlencoded::to_string([("", who)]).unwrap_or_default().trim_start_matches('='));
        body.push_str(&format!("<section>{}</section>", others(title, &page.cases, id, &more)));
    }
    body.push_str("</aside></div>");
    Ok(Html(super::dashboard::shell(&format!("Case #{id}"), "cases", &body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize, concept: &str) -> Span {
        Span { concept: concept.into(), start, end, text: String::new() }
    }

    #[test]
    fn spans_are_marked_escaped_and_overlaps_merged() {
        let text = "lost the <token> again";
        let out = highlight(text, &[span(0, 4, "lost"), span(9, 16, "token"), span(10, 15, "cred")]);
        assert_eq!(out, "<mark title=\"lost\">lost</mark> the <mark title=\"token, cred\">&lt;token&gt;</mark> again");
    }

    #[test]
    fn a_span_outside_the_text_or_inside_a_character_is_ignored() {
        assert_eq!(highlight("não", &[span(1, 2, "x"), span(0, 99, "y")]), "não");
    }
}
