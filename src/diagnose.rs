//! Credential diagnosis: when a message shows the credentials it sends (curl flags, HTTP
//! headers, JSON, .env or code), inspect them and name the concrete fault.
//!
//! This runs on the raw text, because the faults it looks for (a stray space, a line break, the
//! case of `vtexappkey-`) are exactly what normalisation erases. It reports facts, never values:
//! a finding's `detail` holds a header name, a length or a character class, not a secret. The
//! same scan tells `redact` which spans hold an appToken.

use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::redact::keywords::{Owner, Survey};

/// An appToken is 128 upper-case letters.
pub const TOKEN_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingCode {
    HeaderMisspelled,
    ValueWhitespace,
    ValueQuoted,
    InvisibleCharacter,
    AppkeyCase,
    FieldsSwapped,
    TokenShape,
    /// A header name glued to its value, with no `:` between them.
    SeparatorMissing,
}

impl FindingCode {
    pub const ALL: [FindingCode; 8] = [
        FindingCode::HeaderMisspelled,
        FindingCode::ValueWhitespace,
        FindingCode::ValueQuoted,
        FindingCode::InvisibleCharacter,
        FindingCode::AppkeyCase,
        FindingCode::FieldsSwapped,
        FindingCode::TokenShape,
        FindingCode::SeparatorMissing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::HeaderMisspelled => "header-misspelled",
            FindingCode::ValueWhitespace => "value-whitespace",
            FindingCode::ValueQuoted => "value-quoted",
            FindingCode::InvisibleCharacter => "invisible-character",
            FindingCode::AppkeyCase => "appkey-case",
            FindingCode::FieldsSwapped => "fields-swapped",
            FindingCode::TokenShape => "token-shape",
            FindingCode::SeparatorMissing => "separator-missing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Field {
    AppKey,
    AppToken,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::AppKey => "AppKey",
            Field::AppToken => "AppToken",
        }
    }
}

/// One concrete fault in the credentials a message shows. Contains no secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub code: FindingCode,
    pub field: Field,
    pub detail: String,
}

/// What the scan saw: findings and the byte ranges of the raw text that hold secrets.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    pub findings: Vec<Finding>,
    pub secret_spans: Vec<Range<usize>>,
}

fn field_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A field name (header, JSON key, env var or prose label) followed by `:` or `=`.
        Regex::new(
            r#"(?i)(?:^|[^A-Za-z0-9_-])(?P<open>['"]?)(?P<name>x-vtex-[A-Za-z-]{0,24}?(?:key|tok[A-Za-z]{0,3})|x-[A-Za-z-]{0,24}?app-?(?:key|token)|[A-Za-z_]{0,24}app[_-]?(?:key|token)[A-Za-z_]{0,12})(?P<close>['"]?)[ \t]*(?P<sep>[:=])"#,
        )
        .expect("static regex")
    })
}

fn header_name_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // A VTEX header named in prose ("our header is spelled x-vtex-api-app-key"). The name ends
    // at `key` or `token`: what a token glued to it adds is not part of the name.
    RE.get_or_init(|| Regex::new(r"(?i-u)\bx-vtex-[a-z-]{0,24}?(?:key|tok(?:en|em|n|e)?)").expect("static regex"))
}

/// The length of a `-key` or `-token` part (`-Token`, `-app-key`) that continues a header name
/// at the start of `rest`, if it ends where a word ends: 0 otherwise.
fn hyphenated_suffix(rest: &str) -> usize {
    let mut len = 0;
    loop {
        let part = &rest[len..];
        let Some(word) = part.strip_prefix('-') else { return len };
        let end = word.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(word.len());
        let w = word[..end].to_ascii_lowercase();
        let ends_word = !word[end..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let named = w.ends_with("key") || w.ends_with("token") || w == "app" || w == "api";
        if end == 0 || !named || !ends_word && !word[end..].starts_with('-') {
            return len;
        }
        len += 1 + end;
    }
}

fn quoted_value_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // A quoted value that is unmistakably a credential, in prose: `' vtexappkey-acme-ABCDEF'`.
    RE.get_or_init(|| {
        Regex::new(r#"['"`](?P<v>[ \t\u{00A0}]*(?:(?i-u:vtexappkey)-[A-Za-z0-9-]+|[A-Z]{100,})[ \t\u{00A0}]*)['"`]"#).expect("static regex")
    })
}

/// What a first look at a message says: whether it could show credentials at all (it names a
/// key or token field, a VTEX header or an appKey, or holds a run of capitals as long as a good
/// part of a token), and whether a field name is followed by a `:` or `=` (only then can the
/// field regex match). Read off the shared keyword pass, where regexes cost more than the rest.
struct FirstLook {
    candidate: bool,
    field: bool,
    /// `x-vtex-` occurs (any case): only then can a VTEX header be named.
    header: bool,
    /// `vtexappkey` may occur (any case): only then, or with a long run of capitals, can a
    /// quoted value be a credential.
    appkey_value: bool,
}

/// The keywords of the first look, in the order [`first_look`] numbers them. They are searched
/// for in one pass with the other first looks' keywords ([`crate::redact::keywords`]).
pub const FIRST_LOOK_WORDS: [&str; 9] =
    ["appkey", "app_key", "app-key", "apptoken", "app_token", "app-token", "x-vtex-", "vtexappkey", "tok"];
const HEADER_WORD: u8 = 6;
const APPKEY_VALUE_WORD: u8 = 7;
/// "tok" alone is only a field name's end (`x-vtex-api-tok`), never a candidate. Every token
/// label holds it too, which the appToken scan's first look uses.
pub const TOK_WORD: u8 = 8;

/// `survey` holds every occurrence of the keywords in a text that `raw` is a prefix of.
fn first_look(raw: &str, survey: Option<&Survey>) -> FirstLook {
    let Some(survey) = survey else { return FirstLook { candidate: true, field: true, header: true, appkey_value: true } };
    let b = raw.as_bytes();
    let (mut candidate, mut field, mut header, mut appkey_value) = (false, false, false, false);
    for hit in survey.within(b.len()) {
        let Owner::Diagnose(word) = hit.owner else { continue };
        candidate |= word != TOK_WORD;
        header |= word == HEADER_WORD;
        appkey_value |= word == APPKEY_VALUE_WORD;
        // A keyword inside a longer one (`tok` in `apptoken`) ends no later than it, and the
        // bytes between are the keyword's: its window finds no separator the longer one's
        // misses.
        if !field {
            let window = &b[hit.end..(hit.end + 20).min(b.len())];
            field = window.iter().any(|c| *c == b':' || *c == b'=');
        }
    }
    // A field name with a separator after it: a value may follow, of any shape.
    appkey_value |= candidate && field;
    if !candidate {
        candidate = crate::redact::has_run(b, 32, |c| c.is_ascii_uppercase());
    }
    FirstLook { candidate, field, header, appkey_value }
}

const INVISIBLE: &[(char, &str)] = &[
    ('\u{200B}', "zero-width space"),
    ('\u{200C}', "zero-width non-joiner"),
    ('\u{200D}', "zero-width joiner"),
    ('\u{2060}', "word joiner"),
    ('\u{FEFF}', "byte-order mark"),
    ('\u{00A0}', "non-breaking space"),
];

fn is_placeholder(v: &str) -> bool {
    let t = v.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
    let alnum = t.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    t.is_empty()
        || alnum < 16
        || t.starts_with(['<', '{', '$', '[', '*'])
        || t.contains("process.env")
        || t.contains("masked")
        || t.chars().filter(|c| c.is_ascii_alphanumeric()).all(|c| Some(c) == t.chars().find(|c| c.is_ascii_alphanumeric()))
}

fn looks_like_token(v: &str) -> bool {
    v.len() >= 64 && v.chars().all(|c| c.is_ascii_alphabetic()) && !v.to_ascii_lowercase().contains("vtexappkey")
}

/// Scans raw text for credential fields and token-shaped strings.
pub fn scan(raw: &str) -> Scan {
    scan_surveyed(raw, crate::redact::keywords::survey(raw).as_ref())
}

/// [`scan`], given the keyword pass over a text that `raw` is a prefix of (the whole message,
/// when `raw` is the author's own words).
pub fn scan_surveyed(raw: &str, survey: Option<&Survey>) -> Scan {
    let mut scan = Scan::default();
    let look = first_look(raw, survey);
    if !look.candidate {
        return scan;
    }
    // Each scan below needs something that plain chat often lacks; check for it first.
    let has_separator = look.field;
    // A quoted credential is an appKey (`vtexappkey-...`) or 100 capitals: most quotes in
    // chat are apostrophes ("don't") around neither.
    let has_quote = memchr::memchr3(b'\'', b'"', b'`', raw.as_bytes()).is_some()
        && (look.appkey_value || crate::redact::has_run(raw.as_bytes(), 100, |c| c.is_ascii_uppercase()));
    let has_header = look.header;
    let fields = if has_separator { Some(field_regex().captures_iter(raw)) } else { None };
    for caps in fields.into_iter().flatten() {
        let (Some(name_m), Some(sep)) = (caps.name("name"), caps.name("sep")) else { continue };
        let open = caps.name("open").map_or("", |m| m.as_str());
        let close = caps.name("close").map_or("", |m| m.as_str());
        let name = name_m.as_str();
        let lower = name.to_ascii_lowercase();
        let field = if lower.contains("tok") { Field::AppToken } else { Field::AppKey };
        let is_header = lower.starts_with("x-");
        if is_header && lower != "x-vtex-api-appkey" && lower != "x-vtex-api-apptoken" {
            scan.findings.push(Finding { code: FindingCode::HeaderMisspelled, field, detail: name.to_string() });
        }
        inspect_value(raw, sep.end(), field, is_header, open, close, &mut scan);
    }
    let headers = if has_header { Some(header_name_regex().find_iter(raw)) } else { None };
    for m in headers.into_iter().flatten() {
        // The name ends at its first `key` or `token`; "X-VTEX-API-AppKey-Token" goes on.
        let name = &raw[m.start()..m.end() + hyphenated_suffix(&raw[m.end()..])];
        let lower = name.to_ascii_lowercase();
        let field = if lower.contains("tok") { Field::AppToken } else { Field::AppKey };
        let glued = raw[m.end()..].starts_with(|c: char| c.is_ascii_alphanumeric());
        if lower != "x-vtex-api-appkey" && lower != "x-vtex-api-apptoken" {
            // "x-vtex-api-app" followed by more letters is a name we cannot delimit: say nothing.
            if !glued || lower.ends_with("token") || lower.ends_with("key") {
                scan.findings.push(Finding { code: FindingCode::HeaderMisspelled, field, detail: name.to_string() });
            }
        }
        if glued && (lower.ends_with("token") || lower.ends_with("key")) {
            scan.findings.push(Finding { code: FindingCode::SeparatorMissing, field, detail: String::new() });
        }
    }
    let quoted = if has_quote { Some(quoted_value_regex().captures_iter(raw)) } else { None };
    for caps in quoted.into_iter().flatten() {
        let Some(v) = caps.name("v") else { continue };
        let value = v.as_str();
        let field = if value.to_ascii_lowercase().contains("vtexappkey") { Field::AppKey } else { Field::AppToken };
        if let Some(detail) = whitespace_detail(value, 0) {
            scan.findings.push(Finding { code: FindingCode::ValueWhitespace, field, detail });
        }
        if field == Field::AppToken {
            let t = value.trim();
            let start = v.start() + (value.len() - value.trim_start().len());
            scan.secret_spans.push(start..start + t.len());
        }
    }
    // Details come from a closed set of phrases or from a header name; a name that could hold a
    // secret (too long, or a long run of letters) is never quoted.
    scan.findings.retain(|f| safe_detail(&f.detail));
    scan.findings.sort();
    scan.findings.dedup_by(|a, b| a.code == b.code && a.field == b.field);
    scan.secret_spans.sort_by_key(|r| (r.start, r.end));
    scan.secret_spans.dedup();
    scan
}

/// Whether a finding's detail may be shown: short, and with no run of letters that could be a
/// piece of a token (header names have runs of at most 8: `AppToken`).
pub fn safe_detail(detail: &str) -> bool {
    let mut run = 0;
    for c in detail.chars() {
        if c.is_alphabetic() {
            run += 1;
            if run > 16 {
                return false;
            }
        } else {
            run = 0;
        }
    }
    detail.chars().count() <= 64
}

/// Describes stray whitespace in a value, given how many separator spaces are normal before it.
fn whitespace_detail(value: &str, allowed_leading: usize) -> Option<String> {
    let leading = value.len() - value.trim_start_matches([' ', '\t', '\u{00A0}']).len();
    let core = value.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\u{00A0}');
    let trailing = value.trim_end_matches([' ', '\t', '\u{00A0}']).len() < value.len();
    if core.contains(['\n', '\r']) {
        Some("a line break inside it".into())
    } else if core.contains([' ', '\t']) {
        Some("a space inside it".into())
    } else if leading > allowed_leading && trailing {
        Some("spaces before and after it".into())
    } else if leading > allowed_leading {
        Some("a space before it".into())
    } else if trailing {
        Some("a space after it".into())
    } else {
        None
    }
}

/// Whether a field is filled from a variable named for the other field: `appKey:
/// process.env.VTEX_APP_TOKEN`, `'X-VTEX-API-AppToken': os.getenv('VTEX_KEY')`.
fn named_for_the_other(body: &str, field: Field) -> bool {
    // An expression has no blanks: what follows one (`" -H "X-VTEX-API-AppToken: ...`, a URL
    // with `catalog_system` in it) is the rest of the line, not the field's value.
    let expr = body.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '}')).next().unwrap_or("");
    let lower = expr.to_ascii_lowercase();
    // An expression or a variable, not a literal value: `process.env.X`, `getenv('X')`, `$X`,
    // `X_Y`. A quoted literal is a value, however it is spelled.
    let variable = lower.contains("process.env")
        || lower.contains("getenv")
        || lower.contains("environ")
        || lower.starts_with('$')
        || (expr.starts_with(|c: char| c.is_ascii_alphabetic()) && expr.contains('_'));
    variable
        && match field {
            Field::AppKey => lower.contains("token"),
            Field::AppToken => lower.contains("key") && !lower.contains("token"),
        }
}

fn inspect_value(raw: &str, after_sep: usize, field: Field, is_header: bool, open: &str, close: &str, scan: &mut Scan) {
    let rest = &raw[after_sep..];
    let gap = rest.len() - rest.trim_start_matches([' ', '\t', '\u{00A0}', '\u{200B}', '\u{FEFF}']).len();
    let body = &rest[gap..];
    if named_for_the_other(body, field) {
        let other = if field == Field::AppKey { "the appToken" } else { "the appKey" };
        scan.findings.push(Finding { code: FindingCode::FieldsSwapped, field, detail: format!("a variable named for {other}") });
        return;
    }
    // `value` is what the field really carries, separator whitespace included where it counts;
    // `allowed` is how much leading whitespace is a normal separator.
    let (value, allowed): (&str, usize) = if is_header && !open.is_empty() && close.is_empty() {
        // A shell-quoted header (`-H 'Name: value'`) ends at its closing quote, which may lie
        // past a line break that got pasted into the value.
        let end = rest.find(open).unwrap_or_else(|| rest.find('\n').unwrap_or(rest.len()));
        (&rest[..end], 1)
    } else if let Some(q) = body.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &body[1..];
        match inner.find(q).filter(|end| !inner[..*end].contains('\n')) {
            Some(end) => {
                let v = &inner[..end];
                // Quotes are syntax in JSON, .env and code, but part of the value in a raw header.
                if (is_header && close.is_empty()) || v.starts_with(['"', '\'', '\\']) {
                    scan.findings.push(Finding { code: FindingCode::ValueQuoted, field, detail: String::new() });
                }
                (v, 0)
            }
            None => (body.split('\n').next().unwrap_or(""), 0),
        }
    } else {
        let end = body
            .find(|c: char| (c.is_whitespace() && c != '\u{00A0}') || matches!(c, '\'' | '"' | '`' | ',' | ';' | '}' | ')'))
            .unwrap_or(body.len());
        let mut value_end = after_sep + gap + end;
        // A token broken across two lines: the second half starts the next line.
        let first = &raw[after_sep + gap..value_end];
        if field == Field::AppToken && first.len() < TOKEN_LEN && first.chars().all(|c| c.is_ascii_uppercase()) {
            let tail = &raw[value_end..];
            let nl = if tail.starts_with("\r\n") { 2 } else { usize::from(tail.starts_with('\n')) };
            let next = tail[nl..].chars().take_while(|c| c.is_ascii_uppercase()).count();
            if nl > 0 && first.len() + next == TOKEN_LEN {
                value_end += nl + next;
            }
        }
        // Blanks between the value and the end of its line were pasted with it.
        let tail = &raw[value_end..];
        let blanks = tail.len() - tail.trim_start_matches([' ', '\t']).len();
        if blanks > 0 && (tail[blanks..].is_empty() || tail[blanks..].starts_with(['\n', '\r'])) {
            value_end += blanks;
        }
        (&raw[after_sep..value_end], 1)
    };
    if is_placeholder(value) {
        return;
    }
    if let Some(detail) = whitespace_detail(value, allowed) {
        scan.findings.push(Finding { code: FindingCode::ValueWhitespace, field, detail });
    }
    for (c, label) in INVISIBLE {
        let inside = if *c == '\u{00A0}' { value.trim().contains(*c) } else { value.contains(*c) };
        if inside {
            scan.findings.push(Finding { code: FindingCode::InvisibleCharacter, field, detail: (*label).to_string() });
        }
    }
    let core: String = value.chars().filter(|c| !c.is_whitespace() && !INVISIBLE.iter().any(|(i, _)| i == c)).collect();
    let core = core.trim_matches(|c| c == '"' || c == '\'');
    let lower = core.to_ascii_lowercase();
    // `value` always borrows from `raw`, so its offset is its position in the message.
    let trimmed = value.trim();
    let offset = trimmed.as_ptr() as usize - raw.as_ptr() as usize;
    let value_range = offset..offset + trimmed.len();
    match field {
        Field::AppKey => {
            if lower.starts_with("vtexappkey") && !core.starts_with("vtexappkey") {
                scan.findings.push(Finding { code: FindingCode::AppkeyCase, field, detail: format!("{}-", &core[..10]) });
            }
            if looks_like_token(core) {
                scan.findings.push(Finding { code: FindingCode::FieldsSwapped, field, detail: "a value shaped like an appToken".into() });
                scan.secret_spans.push(value_range);
            }
        }
        Field::AppToken => {
            if lower.starts_with("vtexappkey") {
                scan.findings.push(Finding {
                    code: FindingCode::FieldsSwapped,
                    field,
                    detail: "a value that starts with `vtexappkey-`".into(),
                });
                return;
            }
            scan.secret_spans.push(value_range);
            let len = core.chars().count();
            let mut problems = Vec::new();
            if len != TOKEN_LEN {
                problems.push(format!("{len} characters"));
            }
            if core.chars().any(|c| c.is_ascii_lowercase()) {
                problems.push("lower-case letters".to_string());
            }
            if core.chars().any(|c| c.is_ascii_digit()) {
                problems.push("digits".to_string());
            }
            if core.chars().any(|c| !c.is_ascii_alphanumeric()) {
                problems.push("symbols".to_string());
            }
            if !problems.is_empty() {
                scan.findings.push(Finding { code: FindingCode::TokenShape, field, detail: problems.join(", ") });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        "QWERTYUIOPASDFGHJKLZXCVBNM".repeat(5)[..TOKEN_LEN].to_string()
    }

    fn codes(raw: &str) -> Vec<(FindingCode, Field)> {
        scan(raw).findings.into_iter().map(|f| (f.code, f.field)).collect()
    }

    #[test]
    fn correct_headers_produce_no_findings_but_mark_the_token_as_secret() {
        let raw = format!("X-VTEX-API-AppKey: vtexappkey-acme-ABCDEF\nX-VTEX-API-AppToken: {}", token());
        let s = scan(&raw);
        assert!(s.findings.is_empty(), "{:?}", s.findings);
        assert_eq!(s.secret_spans.len(), 1);
        assert_eq!(&raw[s.secret_spans[0].clone()], token());
    }

    #[test]
    fn misspelled_header_name_is_named() {
        let s = scan("curl -H 'x-vtex-api-app-key: vtexappkey-acme-ABCDEF' https://x");
        assert_eq!(s.findings[0].code, FindingCode::HeaderMisspelled);
        assert_eq!(s.findings[0].detail, "x-vtex-api-app-key");
    }

    #[test]
    fn a_header_name_that_goes_on_after_key_is_named_whole() {
        let s = scan("¿el header es X-VTEX-API-AppKey o X-VTEX-API-Appkey-Token? escribí el segundo y da 401");
        let named: Vec<&str> = s.findings.iter().filter(|f| f.code == FindingCode::HeaderMisspelled).map(|f| f.detail.as_str()).collect();
        assert_eq!(named, ["X-VTEX-API-Appkey-Token"]);
        assert_eq!(s.findings[0].field, Field::AppToken);
        // A word after the name is not part of it, and neither is what a token glued to it adds.
        assert!(scan("is it X-VTEX-API-AppKey-then the token?").findings.is_empty());
        assert!(scan("X-VTEX-API-AppKey-Token-Header is what our proxy sends")
            .findings
            .iter()
            .all(|f| f.detail == "X-VTEX-API-AppKey-Token"));
    }

    #[test]
    fn a_header_name_missing_a_letter_of_token_is_named() {
        let s = scan("o nosso código envia o header como X-VTEX-API-AppTokn, faltando o 'e'");
        let found: Vec<_> = s.findings.iter().map(|f| (f.code, f.detail.as_str())).collect();
        assert_eq!(found, [(FindingCode::HeaderMisspelled, "X-VTEX-API-AppTokn")]);
    }

    #[test]
    fn extra_space_before_a_header_value_is_reported() {
        let raw = format!("X-VTEX-API-AppToken:  {}", token());
        assert_eq!(codes(&raw), vec![(FindingCode::ValueWhitespace, Field::AppToken)]);
    }

    #[test]
    fn trailing_space_inside_a_shell_quoted_header_is_reported() {
        let raw = "curl -H 'X-VTEX-API-AppKey: vtexappkey-acme-ABCDEF ' -H 'X-VTEX-API-AppToken: x'";
        assert_eq!(codes(raw), vec![(FindingCode::ValueWhitespace, Field::AppKey)]);
    }

    #[test]
    fn token_broken_across_lines_is_reported_and_fully_masked() {
        let t = token();
        let raw = format!("curl -H 'X-VTEX-API-AppToken: {}\n{}'", &t[..60], &t[60..]);
        let s = scan(&raw);
        assert!(s.findings.iter().any(|f| f.code == FindingCode::ValueWhitespace && f.detail.contains("line break")));
        let span = s.secret_spans[0].clone();
        assert!(raw[span].contains(&t[..60]) && raw[s.secret_spans[0].clone()].contains(&t[60..]));
    }

    #[test]
    fn blanks_at_the_end_of_a_header_line_are_reported() {
        assert_eq!(codes("X-VTEX-API-AppKey: vtexappkey-acme-ABCDEF  \nnext"), vec![(FindingCode::ValueWhitespace, Field::AppKey)]);
    }

    #[test]
    fn upper_cased_appkey_prefix_is_reported() {
        assert_eq!(codes("appKey=VTEXAPPKEY-acme-ABCDEF"), vec![(FindingCode::AppkeyCase, Field::AppKey)]);
    }

    #[test]
    fn token_in_the_appkey_field_means_swapped_fields() {
        let raw = format!("{{\"appKey\": \"{}\", \"appToken\": \"vtexappkey-acme-ABCDEF\"}}", token());
        let c = codes(&raw);
        assert!(c.contains(&(FindingCode::FieldsSwapped, Field::AppKey)));
        assert!(c.contains(&(FindingCode::FieldsSwapped, Field::AppToken)));
        assert_eq!(scan(&raw).secret_spans.len(), 1);
    }

    #[test]
    fn short_or_lower_case_token_gets_a_shape_finding_without_the_value() {
        let short = &token()[..127].to_ascii_lowercase();
        let s = scan(&format!("APP_TOKEN={short}"));
        let f = &s.findings[0];
        assert_eq!(f.code, FindingCode::TokenShape);
        assert_eq!(f.detail, "127 characters, lower-case letters");
        assert!(!f.detail.contains(&short[..20]));
    }

    #[test]
    fn quotes_inside_a_raw_header_value_are_reported_but_json_quotes_are_not() {
        let raw = format!("X-VTEX-API-AppToken: \"{}\"", token());
        assert_eq!(codes(&raw), vec![(FindingCode::ValueQuoted, Field::AppToken)]);
        let json = format!("{{\"X-VTEX-API-AppToken\": \"{}\"}}", token());
        assert!(codes(&json).is_empty());
    }

    #[test]
    fn zero_width_space_in_a_value_is_reported() {
        let c = codes("X-VTEX-API-AppKey: vtexappkey-acme-\u{200B}ABCDEF");
        assert!(c.contains(&(FindingCode::InvisibleCharacter, Field::AppKey)));
    }

    #[test]
    fn a_field_filled_from_the_other_fields_variable_is_a_swap() {
        let js = "new VtexClient({\n  appKey: process.env.VTEX_APP_TOKEN,\n  appToken: process.env.VTEX_APP_KEY,\n});";
        let c = codes(js);
        assert!(
            c.contains(&(FindingCode::FieldsSwapped, Field::AppKey)) && c.contains(&(FindingCode::FieldsSwapped, Field::AppToken)),
            "{c:?}"
        );
        let py = "headers = {'X-VTEX-API-AppKey': os.getenv('VTEX_TOKEN'), 'X-VTEX-API-AppToken': os.getenv('VTEX_KEY')}";
        assert!(codes(py).contains(&(FindingCode::FieldsSwapped, Field::AppKey)), "{:?}", codes(py));
        let right = "appKey: process.env.VTEX_APP_KEY,\nappToken: process.env.VTEX_APP_TOKEN,";
        assert!(codes(right).is_empty(), "{:?}", codes(right));
    }

    #[test]
    fn the_header_after_a_shell_quoted_one_is_not_read_as_a_variable_of_it() {
        let curl = format!(
            "curl -H \"X-VTEX-API-AppKey: vtexappkey-shop-ZXCVBN\" -H \"X-VTEX-API-AppToken: {}\" https://shop.vtexcommercestable.com.br/api/catalog_system/pvt/products/1",
            token()
        );
        assert!(codes(&curl).is_empty(), "{:?}", codes(&curl));
        let swapped = "curl -H \"X-VTEX-API-AppKey: $VTEX_APP_TOKEN\" -H \"X-VTEX-API-AppToken: $VTEX_APP_KEY\" https://x.vtexcommercestable.com.br/api/oms/pvt/orders";
        let c = codes(swapped);
        assert!(
            c.contains(&(FindingCode::FieldsSwapped, Field::AppKey)) && c.contains(&(FindingCode::FieldsSwapped, Field::AppToken)),
            "{c:?}"
        );
    }

    #[test]
    fn placeholders_are_not_diagnosed() {
        assert!(codes("X-VTEX-API-AppToken: {{appToken}}").is_empty());
        assert!(codes("X-VTEX-API-AppToken: <your token>").is_empty());
        assert!(scan("appToken: $APP_TOKEN").secret_spans.is_empty());
    }

    #[test]
    fn leading_space_inside_quoted_appkey_in_prose_is_reported() {
        let c = codes("The appKey we send is ' vtexappkey-demo-KEMUBC' with a leading space.");
        assert_eq!(c, vec![(FindingCode::ValueWhitespace, Field::AppKey)]);
    }

    #[test]
    fn a_quoted_appkey_after_a_field_is_still_inspected() {
        // The first look stops at `appKey:`; the quoted value further on must still be read.
        let c = codes("appKey: (see below), and in prose we send ' vtexappkey-demo-KEMUBC' with a space.");
        assert!(c.contains(&(FindingCode::ValueWhitespace, Field::AppKey)), "{c:?}");
    }

    #[test]
    fn a_quoted_run_of_capitals_as_long_as_a_token_is_a_secret_span_without_any_label() {
        let token = "Q".repeat(60) + &"W".repeat(68);
        let text = format!("we pasted '{token}' there");
        let spans = scan(&text).secret_spans;
        assert_eq!(spans.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(), [token.as_str()]);
        let short = format!("we pasted '{}' there", &token[..99]);
        assert!(scan(&short).secret_spans.is_empty(), "99 capitals are no quoted token");
    }
}
