//! Secret masking. The first step of the pipeline: nothing downstream (classifier, store, logs,
//! replies, errors) ever sees an unmasked appToken.

use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;

use crate::diagnose::{self, Finding};

pub const MASK_APPTOKEN: &str = "[masked:apptoken]";
pub const MASK_SECRET: &str = "[masked:secret]";

/// The message with its secrets masked, and what the credential diagnosis found on the way.
#[derive(Debug, Clone, Default)]
pub struct Redacted {
    pub text: String,
    /// How many distinct secret values were masked.
    pub secrets_found: usize,
    pub findings: Vec<Finding>,
}

fn shapes() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            // The appToken shape, or half of one broken by a line break.
            r"(?-u:(?P<apptoken>\b[A-Z]{48,}\b))",
            // JSON web tokens (VtexIdclientAutCookie and friends).
            r"|(?-u:(?P<jwt>\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*))",
            // Any other long run of letters and digits: API secrets, hashes, base64. `/` is left
            // out so that URL paths are never taken for secrets.
            r"|(?-u:(?P<long>\b[A-Za-z0-9+_=-]{40,}))",
            // Bearer credentials in an Authorization header.
            r"|(?i:bearer)\s+(?P<bearer>[A-Za-z0-9._~+/=-]{16,})",
        ))
        .expect("static regex")
    })
}

/// Cheap pre-check so that ordinary chat skips the secret regexes: every shape they find has a
/// run of at least 20 token characters (the shortest JWT it accepts), or the word "bearer".
fn might_hold_secret(raw: &str) -> bool {
    let mut run = 0;
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'=' | b'-' | b'.') {
            run += 1;
            if run >= 20 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    raw.contains("earer")
}

/// Masks every secret in `raw`. Pure and total: any string in, a masked string out.
pub fn redact(raw: &str) -> Redacted {
    let mut scan = diagnose::scan(raw);
    // Secrets are masked wherever they are, but what the diagnosis says about headers and values
    // must be about the author's own request, not one quoted from an earlier answer.
    let own = crate::quoted::own_words(raw);
    if own.len() < raw.len() {
        scan.findings = diagnose::scan(own).findings;
    }
    if scan.secret_spans.is_empty() && !might_hold_secret(raw) {
        return Redacted { text: raw.to_string(), secrets_found: 0, findings: scan.findings };
    }
    let mut spans: Vec<(Range<usize>, &'static str)> = scan.secret_spans.iter().map(|r| (r.clone(), MASK_APPTOKEN)).collect();
    for caps in shapes().captures_iter(raw) {
        if let Some(m) = caps.name("apptoken") {
            spans.push((m.range(), MASK_APPTOKEN));
        } else if let Some(m) = caps.name("long") {
            let v = m.as_str();
            let random = v.chars().any(|c| c.is_ascii_digit()) && v.chars().any(|c| c.is_ascii_alphabetic());
            if random && !v.to_ascii_lowercase().starts_with("vtexappkey") {
                spans.push((m.range(), MASK_SECRET));
            }
        } else if let Some(m) = caps.name("jwt").or_else(|| caps.name("bearer")) {
            spans.push((m.range(), MASK_SECRET));
        }
    }
    if spans.is_empty() {
        return Redacted { text: raw.to_string(), secrets_found: 0, findings: scan.findings };
    }
    spans.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<(Range<usize>, &'static str)> = Vec::with_capacity(spans.len());
    for (r, label) in spans {
        match merged.last_mut() {
            Some((last, last_label)) if r.start <= last.end => {
                last.end = last.end.max(r.end);
                if label == MASK_APPTOKEN {
                    *last_label = MASK_APPTOKEN;
                }
            }
            _ => merged.push((r, label)),
        }
    }
    // Count distinct values: the same token pasted twice is one leak.
    let mut values: Vec<String> =
        merged.iter().map(|(r, _)| raw[r.clone()].chars().filter(|c| c.is_ascii_alphanumeric()).collect()).collect();
    values.sort();
    values.dedup();
    let mut text = String::with_capacity(raw.len());
    let mut at = 0;
    for (r, label) in &merged {
        // Keep separator whitespace outside the mask readable; the value itself goes.
        let value = &raw[r.clone()];
        let lead = value.len() - value.trim_start().len();
        let trail = value.len() - value.trim_end().len();
        text.push_str(&raw[at..r.start + lead]);
        text.push_str(label);
        at = r.end - trail;
    }
    text.push_str(&raw[at..]);
    Redacted { text, secrets_found: values.len(), findings: scan.findings }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str =
        "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";

    #[test]
    fn token_in_a_header_is_masked_and_counted_once() {
        let r = redact(&format!("X-VTEX-API-AppToken: {TOKEN}\nagain: {TOKEN}"));
        assert!(!r.text.contains(&TOKEN[..20]), "{}", r.text);
        assert_eq!(r.secrets_found, 1);
        assert!(r.text.contains(MASK_APPTOKEN));
    }

    #[test]
    fn bare_token_shape_in_prose_is_masked() {
        let r = redact(&format!("my token is {TOKEN} thanks"));
        assert_eq!(r.text, format!("my token is {MASK_APPTOKEN} thanks"));
    }

    #[test]
    fn appkeys_and_ordinary_words_are_left_alone() {
        let text = "appKey vtexappkey-acme-ABCDEF gets 403 on /api/oms/pvt/orders, HTTPS OK";
        let r = redact(text);
        assert_eq!(r.text, text);
        assert_eq!(r.secrets_found, 0);
    }

    #[test]
    fn jwt_and_bearer_values_are_masked() {
        let r = redact("Authorization: Bearer abcdefghijklmnop1234 and cookie eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.sig");
        assert!(!r.text.contains("abcdefghijklmnop1234"));
        assert!(!r.text.contains("eyJhbGciOiJIUzI1"));
        assert_eq!(r.secrets_found, 2);
    }

    #[test]
    fn lower_cased_token_after_an_apptoken_label_is_still_masked() {
        let lower = TOKEN.to_ascii_lowercase();
        let r = redact(&format!("appToken: {lower}"));
        assert!(!r.text.contains(&lower[..30]), "{}", r.text);
    }
}
