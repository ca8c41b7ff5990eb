//! The part of a message its author wrote. Helpdesk tickets arrive as e-mail replies, and a reply
//! carries the whole thread below it, often including our own earlier answer: classified as is,
//! "Still 401 after doing that" plus a quoted remediation reads as the remediation's own
//! category. The classifier and the credential diagnosis look at the author's words only; the
//! whole text is still masked and stored.
//!
//! Only a reply or forward header ends the author's part. Lines quoted with `>` and nothing
//! above them are kept: on Discord that is how people paste the error they got.

use std::sync::OnceLock;

use regex::Regex;

fn reply_header() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // ASCII word boundaries (`(?-u:\b)`): with Unicode ones the regex engine cannot use its DFA
        // on text with accents, and falls back to a backtracker many times slower.
        Regex::new(concat!(
            r"(?mi)^[ \t>]*(?:",
            // Gmail, Apple Mail, Thunderbird: "On <date>, <name> wrote:", which may wrap once.
            r"on(?-u:\b).*(?:\n.*)?(?-u:\b)wrote:[ \t]*\r?$",
            r"|em(?-u:\b).*(?:\n.*)?(?-u:\b)escreveu:[ \t]*\r?$",
            r"|el(?-u:\b).*(?:\n.*)?(?-u:\b)escribi(?:o|ó):[ \t]*\r?$",
            // Outlook and forwarding separators.
            r"|-{2,}[ \t]*(?:original message|mensagem original|mensaje original|forwarded message|mensagem encaminhada|mensaje reenviado)[ \t]*-{2,}",
            r"|_{20,}[ \t]*\r?$",
            // An Outlook header block: "From: ..." then "Sent: ..." (or their translations).
            r"|(?:from|de):.*\n[ \t]*(?:sent|date|enviad[oa](?: em| el)?|data|fecha):",
            r")",
        ))
        .expect("static regex")
    })
}

/// Words that every reply or forward header has (any ASCII case). They are searched for in one
/// pass with the other first looks' keywords ([`crate::redact::keywords`]).
pub const MARKERS: [&str; 17] = [
    "wrote:",
    "escreveu:",
    "escribió:",
    "escribio:",
    "original message",
    "mensagem original",
    "mensaje original",
    "forwarded message",
    "mensagem encaminhada",
    "mensaje reenviado",
    "____________________",
    "sent:",
    "date:",
    "enviado",
    "enviada",
    "data:",
    "fecha:",
];

/// `text` up to the first reply or forward header, when there is one and the author wrote
/// something above it. A message that starts with a header (a forwarded e-mail) is all kept:
/// then the quoted part is the message.
pub fn own_words(text: &str) -> &str {
    let marked = crate::redact::keywords::survey(text).is_none_or(|s| s.has_quoted_marker());
    own_words_marked(text, marked)
}

/// [`own_words`], told whether one of the [`MARKERS`] occurs in `text`. Most messages have
/// none, or no line break (a header needs text above it and ends its line), and the header
/// regex is far slower than finding that out.
pub fn own_words_marked(text: &str, marked: bool) -> &str {
    if !marked || !text.contains('\n') {
        return text;
    }
    match reply_header().find(text) {
        Some(m) if !text[..m.start()].trim().is_empty() => &text[..m.start()],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::own_words;

    #[test]
    fn a_gmail_reply_keeps_only_the_new_text() {
        let t = "Still 401 after doing that.\n\nOn Mon, Nov 28, 2026 at 10:00 AM Support <s@x.com> wrote:\n> Only the Sponsor user may edit keys.";
        assert_eq!(own_words(t).trim(), "Still 401 after doing that.");
        let wrapped = "Still 401.\n\nOn Mon, Nov 28, 2026 at 10:00 AM Support <\nsupport@acme.com> wrote:\n> quoted";
        assert_eq!(own_words(wrapped).trim(), "Still 401.");
    }

    #[test]
    fn outlook_portuguese_and_spanish_headers_end_the_new_text() {
        for t in [
            "Ainda dá 401.\r\n\r\n-----Mensagem Original-----\r\nDe: Suporte",
            "Ainda dá 401.\n\nEm seg., 28 de nov. de 2026 às 10:00, Suporte <s@x.com> escreveu:\n> texto",
            "Sigue el 401.\n\nEl lun, 28 nov 2026 a las 10:00, Soporte (<s@x.com>) escribió:\n> texto",
            "Ainda dá 401.\n\nDe: Suporte <s@x.com>\nEnviado: segunda-feira, 28 de novembro de 2026 10:00\nAssunto: appKey",
            "Ainda dá 401.\n\n________________________________\nFrom: Support",
        ] {
            assert!(own_words(t).trim().ends_with("401."), "{t:?} -> {:?}", own_words(t));
        }
    }

    #[test]
    fn a_forwarded_message_and_a_message_without_quotes_are_kept_whole() {
        let forwarded = "---------- Forwarded message ---------\nFrom: Client\nDate: Mon\n\nOur new appKey gets 403 on every call.";
        assert_eq!(own_words(forwarded), forwarded);
        let plain = "On Monday I created an appKey and I wrote: 'it fails'. Any idea?";
        assert_eq!(own_words(plain), plain);
        let from_in_text = "The error is from: the catalog API.\nThe token is new.";
        assert_eq!(own_words(from_in_text), from_in_text);
    }
}
