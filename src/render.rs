//! A reply written for where it goes: pure functions of the reply model and the pack.
//!
//! The pack's texts are Markdown. Chat gets them as they are, with the feedback footer; a helpdesk
//! ticket gets HTML without it, since a ticket cannot take reactions. Category and confidence are
//! only shown to agents (chat footer, or the internal note), never in a public ticket reply.

use pulldown_cmark::{html, Event, Options, Parser};

use crate::respond::Reply;
use crate::rules::Pack;

/// Discord Markdown: leak warning, title, remediation or hand-over, findings, footer.
pub fn chat(pack: &Pack, reply: &Reply) -> String {
    let language = reply.language;
    let mut parts: Vec<String> = Vec::new();
    if let Some(leak) = &reply.leak {
        parts.push(leak.clone());
    }
    if let (Some(title), Some(body)) = (&reply.title, &reply.body) {
        parts.push(format!("**{title}**\n{body}"));
    }
    if !reply.findings.is_empty() {
        let list: Vec<String> = reply.findings.iter().map(|f| format!("- {f}")).collect();
        parts.push(format!("{}\n{}", pack.message("findings_intro", language), list.join("\n")));
    }
    parts.push(footer(pack, reply, "footer"));
    parts.join("\n\n")
}

/// HTML for a ticket: a public reply for the customer, or an internal note that tells the agent
/// what triage suggests and why.
pub fn ticket_html(pack: &Pack, reply: &Reply, public: bool) -> String {
    let language = reply.language;
    let mut markdown: Vec<String> = Vec::new();
    if !public {
        markdown.push(footer(pack, reply, if reply.handover { "ticket_note_handover" } else { "ticket_note" }));
    }
    if let Some(leak) = &reply.leak {
        markdown.push(leak.clone());
    }
    if let (Some(title), Some(body)) = (&reply.title, &reply.body) {
        markdown.push(format!("**{title}**\n\n{body}"));
    }
    if !reply.findings.is_empty() {
        let list: Vec<String> = reply.findings.iter().map(|f| format!("- {f}")).collect();
        markdown.push(format!("{}\n\n{}", pack.message("findings_intro", language), list.join("\n")));
    }
    if public {
        markdown.push(pack.message("ticket_footer", language).to_string());
    }
    markdown_to_html(&markdown.join("\n\n"))
}

fn footer(pack: &Pack, reply: &Reply, key: &str) -> String {
    pack.message(key, reply.language).replace("{category}", &reply.category).replace("{confidence}", &format!("{:.2}", reply.confidence))
}

/// Markdown to HTML. Raw HTML in the text (a finding quotes what someone typed) is shown as text,
/// never passed through, so a ticket cannot be made to carry markup or scripts.
pub fn markdown_to_html(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, Options::empty()).map(|event| match event {
        Event::Html(raw) => Event::Text(raw),
        // A line break inside a paragraph is one on a ticket too, as it is on chat.
        Event::SoftBreak => Event::HardBreak,
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 4);
    html::push_html(&mut out, events);
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_in_a_reply_is_shown_as_text() {
        let html = markdown_to_html("The header `X-VTEX-API-AppKey` is fine, but <script>alert(1)</script> is not.");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<code>X-VTEX-API-AppKey</code>"), "{html}");
    }

    #[test]
    fn numbered_steps_and_bold_become_html_lists_and_strong() {
        let html = markdown_to_html("**Title**\n\nDo this:\n1. Open **Roles**.\n2. Save.");
        assert!(html.contains("<strong>Title</strong>"), "{html}");
        assert!(html.contains("<ol>") && html.matches("<li>").count() == 2, "{html}");
    }
}
