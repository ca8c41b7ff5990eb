//! Masking never panics, and a token planted anywhere in fuzzed text, in capitals and whole or
//! cut by separators, or whole in lower case, leaves no 24 letters of itself in any output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use triage::redact::rules::{example_token, token_fragment_in};

const SEPARATORS: &[&str] = &[" ", "-", "\n", "\r\n", "\u{200B}", "\u{00AD}", "\\n", " \n", "\n> ", "\u{2060}"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (knobs, rest) = data.split_at(4);
    let text = String::from_utf8_lossy(rest);
    let cut_at = text.char_indices().map(|(i, _)| i).nth(usize::from(knobs[0]) % (text.chars().count() + 1)).unwrap_or(text.len());
    let (before, after) = text.split_at(cut_at);
    let token = example_token();
    // The fuzzer learns the token's letters from comparisons and writes pieces of it into the
    // surrounding text; a window it built there is not a leak of the planted token.
    let folded: String = text.chars().filter(|c| c.is_ascii_alphabetic()).map(|c| c.to_ascii_uppercase()).collect();
    if (0..=token.len() - 12).any(|i| folded.contains(&token[i..i + 12])) {
        return;
    }
    let lower = knobs[1] % 4 == 0;
    let value = if lower {
        token.to_ascii_lowercase()
    } else {
        match knobs[2] % 4 {
            0 => token.clone(),
            1 => {
                let w = [4usize, 8, 16, 20, 32, 43, 64][usize::from(knobs[3]) % 7];
                let sep = SEPARATORS[usize::from(knobs[1]) % SEPARATORS.len()];
                token.as_bytes().chunks(w).map(|c| std::str::from_utf8(c).unwrap_or("")).collect::<Vec<_>>().join(sep)
            }
            _ => {
                let at = 16 + usize::from(knobs[3]) % 97;
                let sep = SEPARATORS[usize::from(knobs[1]) % SEPARATORS.len()];
                format!("{}{sep}{}", &token[..at], &token[at..])
            }
        }
    };
    let raw = format!("{before}{value}{after}");
    let r = triage::redact::redact(&raw);
    if let Some(w) = token_fragment_in(&r.text, &token) {
        panic!("24 letters of the token survive masking: {w}\n{raw:?}\n{:?}", r.text);
    }
    for f in &r.findings {
        assert!(token_fragment_in(&f.detail, &token).is_none(), "a finding quotes the token: {f:?}");
    }
    assert!(r.secrets_found >= 1, "the planted token is not counted: {raw:?}");
    // Masking only replaces: what is left of the text is in the original, in order.
    let mut left = raw.as_str();
    for piece in r.text.split(triage::redact::MASK_APPTOKEN).flat_map(|p| p.split(triage::redact::MASK_SECRET)) {
        let at = left.find(piece).unwrap_or_else(|| panic!("{piece:?} was not in the original"));
        left = &left[at + piece.len()..];
    }
});
