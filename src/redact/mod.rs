//! Secret masking. The first step of the pipeline: nothing downstream (classifier, store, logs,
//! replies, errors, helpdesks) ever sees an unmasked secret.
//!
//! Three detectors, each right by its own construction, and their spans merged:
//! - [`letters`]: appTokens, as any run of letters that could be all or part of one;
//! - [`rules`]: other secrets, as data (`rules/secrets.toml`);
//! - the credential diagnosis ([`crate::diagnose`]): whatever value a message puts in an
//!   appToken field, whatever its shape.

pub mod keywords;
pub mod letters;
pub mod rules;

use std::borrow::Cow;
use std::ops::Range;

use crate::diagnose::{self, Finding};

pub use letters::Kind;

pub const MASK_APPTOKEN: &str = "[masked:apptoken]";
pub const MASK_SECRET: &str = "[masked:secret]";

/// The message with its secrets masked, and what the credential diagnosis found on the way.
#[derive(Debug, Clone, Default)]
pub struct Redacted {
    pub text: String,
    /// How many distinct secret values were masked, appTokens included.
    pub secrets_found: usize,
    /// How many of them are appTokens (or parts of one): renewing one is the Sponsor's work.
    pub apptokens_found: usize,
    pub findings: Vec<Finding>,
    /// Where the author's own words end in `text`: a reply or forward header ends them (see
    /// [`crate::quoted`]). Found once, on the raw text, and carried through masking.
    pub own_end: usize,
}

impl Redacted {
    /// The part of the masked text its author wrote.
    pub fn own_words(&self) -> &str {
        self.text.get(..self.own_end).unwrap_or(&self.text)
    }
}

/// Checks at start-up that the built-in secret rules compiled, so that a broken build never runs
/// with masking weakened. Returns how many rules there are.
pub fn check_builtin() -> Result<usize, String> {
    match rules::SecretRules::builtin() {
        Some(r) => Ok(r.len()),
        None => Err(match rules::SecretRules::parse(rules::EMBEDDED.0, rules::EMBEDDED.1) {
            Err(problems) => problems.first().map(|p| p.to_string()).unwrap_or_else(|| "the built-in secret rules do not load".into()),
            Ok(_) => "the built-in secret rules do not load".into(),
        }),
    }
}

/// Whether `b` holds a run of at least `min` bytes that are all `member`s: the question masking
/// asks of every message ("a run of capitals as long as a token?"), where the answer is nearly
/// always no. A run of `min` bytes covers one of every `min` positions, so only those are
/// probed, and a run is measured only where a probe lands in one.
pub fn has_run(b: &[u8], min: usize, member: impl Fn(u8) -> bool) -> bool {
    if min == 0 {
        return true;
    }
    let mut i = min - 1;
    while i < b.len() {
        if member(b[i]) {
            let mut start = i;
            while start > 0 && member(b[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < b.len() && member(b[end]) {
                end += 1;
            }
            if end - start >= min {
                return true;
            }
        }
        i += min;
    }
    false
}

/// `text` with every secret masked: for error messages, log fields and anything else that may
/// echo what a client sent.
pub fn mask(text: &str) -> Cow<'_, str> {
    let r = redact(text);
    if r.secrets_found == 0 && r.text.len() == text.len() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(r.text)
    }
}

/// [`mask`], then cut to at most `max` characters: for input echoed in an error.
pub fn mask_and_cap(text: &str, max: usize) -> String {
    let masked = mask(text);
    if masked.chars().count() <= max {
        return masked.into_owned();
    }
    let mut out: String = masked.chars().take(max).collect();
    out.push('…');
    out
}

/// Masks every secret in `raw`. Pure and total: any string in, a masked string out.
pub fn redact(raw: &str) -> Redacted {
    // One keyword pass serves the diagnosis, the reply header and the secret rules.
    let survey = keywords::survey(raw);
    let mut scan = diagnose::scan_surveyed(raw, survey.as_ref());
    // Secrets are masked wherever they are, but what the diagnosis says about headers and values
    // must be about the author's own request, not one quoted from an earlier answer.
    let own = crate::quoted::own_words_marked(raw, survey.as_ref().is_none_or(|s| s.has_quoted_marker()));
    let own_len = own.len();
    if own_len < raw.len() {
        scan.findings = diagnose::scan_surveyed(own, survey.as_ref()).findings;
    }
    let mut spans: Vec<(Range<usize>, Kind)> = scan.secret_spans.iter().map(|r| (r.clone(), Kind::AppToken)).collect();
    let letter_hits = match &survey {
        Some(s) => letters::find_surveyed(raw, s.tok_starts()),
        None => letters::find(raw),
    };
    spans.extend(letter_hits.into_iter().map(|h| (h.range, h.kind)));
    if let Some(secret_rules) = rules::SecretRules::builtin() {
        let mut found = Vec::new();
        match &survey {
            Some(s) => secret_rules.find_surveyed(raw, s.secret_keywords(), &mut found),
            None => secret_rules.find(raw, &mut found),
        }
        spans.extend(found.into_iter().map(|r| (r, Kind::Secret)));
    }
    spans.retain(|(r, _)| r.start < r.end && raw.is_char_boundary(r.start) && raw.is_char_boundary(r.end));
    if spans.is_empty() {
        return Redacted { text: raw.to_string(), secrets_found: 0, apptokens_found: 0, findings: scan.findings, own_end: own_len };
    }
    spans.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<(Range<usize>, Kind)> = Vec::with_capacity(spans.len());
    for (r, kind) in spans {
        match merged.last_mut() {
            Some((last, last_kind)) if r.start <= last.end => {
                last.end = last.end.max(r.end);
                if kind == Kind::AppToken {
                    *last_kind = Kind::AppToken;
                }
            }
            _ => merged.push((r, kind)),
        }
    }
    let (secrets_found, apptokens_found) = count_distinct(raw, &merged);
    let mut text = String::with_capacity(raw.len());
    // Where the author's own words end, moved along as masks replace values.
    let mut own_end = None;
    let mut at = 0;
    for (r, kind) in &merged {
        // Keep separator whitespace outside the mask readable; the value itself goes.
        let value = &raw[r.clone()];
        let lead = value.len() - value.trim_start().len();
        let trail = value.len() - value.trim_end().len();
        let copy_end = r.start + lead;
        if own_end.is_none() && own_len <= copy_end {
            own_end = Some(text.len() + own_len.saturating_sub(at));
        }
        text.push_str(&raw[at..copy_end]);
        text.push_str(if *kind == Kind::AppToken { MASK_APPTOKEN } else { MASK_SECRET });
        let next = (r.end - trail).max(copy_end);
        if own_end.is_none() && own_len < next {
            own_end = Some(text.len());
        }
        at = next;
    }
    let own_end = own_end.unwrap_or(text.len() + own_len.saturating_sub(at));
    text.push_str(&raw[at..]);
    Redacted { text, secrets_found, apptokens_found, findings: scan.findings, own_end }
}

/// Distinct values among the masked spans, all and appTokens: the same token pasted twice, or
/// once whole and once cut short, is one leak.
fn count_distinct(raw: &str, spans: &[(Range<usize>, Kind)]) -> (usize, usize) {
    let mut values: Vec<(String, Kind)> = spans
        .iter()
        .map(|(r, k)| (raw[r.clone()].chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect(), *k))
        .filter(|(v, _): &(String, Kind)| !v.is_empty())
        .collect();
    // Longest first, so that a piece is compared with the whole it may be part of.
    values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    let mut kept: Vec<(String, Kind)> = Vec::new();
    for (v, k) in values {
        if !kept.iter().any(|(w, _)| w.contains(&v)) {
            kept.push((v, k));
        }
    }
    (kept.len(), kept.iter().filter(|(_, k)| *k == Kind::AppToken).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest run, measured byte by byte: what [`has_run`] must agree with.
    fn longest(b: &[u8], member: impl Fn(u8) -> bool) -> usize {
        let (mut run, mut best) = (0, 0);
        for c in b {
            run = if member(*c) { run + 1 } else { 0 };
            best = best.max(run);
        }
        best
    }

    #[test]
    fn a_run_is_found_by_its_probes_exactly_when_it_is_long_enough() {
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..20_000 {
            let len = rng.usize(0..90);
            // Mostly capitals, so that runs of every length occur, cut at random.
            let b: Vec<u8> = (0..len).map(|_| if rng.u8(0..10) < 8 { rng.u8(b'A'..=b'Z') } else { b' ' }).collect();
            let min = rng.usize(0..40);
            let want = longest(&b, |c| c.is_ascii_uppercase()) >= min;
            assert_eq!(has_run(&b, min, |c| c.is_ascii_uppercase()), want, "{:?}, {min}", String::from_utf8_lossy(&b));
        }
    }

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
