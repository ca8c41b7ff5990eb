//! Text normalisation, done once per message before the rules run.
//!
//! The rules are written against plain lower-case ASCII so that a pattern like `nao tem` matches
//! `não tem`, `NÃO TEM` and `nao  tem` alike. Non-ASCII characters that are not accented Latin
//! letters become spaces. That keeps the output ASCII, so the byte-oriented `RegexSet` can use
//! its fast DFA with ASCII word boundaries, and every match span is a valid `str` range.

use unicode_normalization::char::decompose_canonical;

/// Marks seen while normalising that hint at the language. They are lost once accents are
/// stripped, so they are counted here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScriptHints {
    pub portuguese: u32,
    pub spanish: u32,
}

/// Lower-cases, strips accents, straightens quotes, drops zero-width characters and collapses
/// whitespace. The result is pure ASCII.
pub fn normalise(text: &str) -> (String, ScriptHints) {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut hints = ScriptHints::default();
    // Whitespace is collapsed: to one space, or to one or two line breaks when it holds any, so
    // that the rules can tell lines and paragraphs apart.
    let mut breaks = 0u8;
    let mut pending_space = false;
    // Every byte pushed is ASCII, so `out` is always valid UTF-8.
    let mut push = |out: &mut Vec<u8>, b: u8| {
        if b == b' ' || b == b'\n' {
            pending_space = !out.is_empty();
            if b == b'\n' && pending_space {
                breaks = breaks.saturating_add(1);
            }
            return;
        }
        if pending_space {
            match breaks {
                0 => out.push(b' '),
                1 => out.push(b'\n'),
                _ => out.extend_from_slice(b"\n\n"),
            }
            pending_space = false;
            breaks = 0;
        }
        out.push(b);
    };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            let b = match b {
                b'\n' => b'\n',
                b if b.is_ascii_whitespace() => b' ',
                b => b.to_ascii_lowercase(),
            };
            push(&mut out, b);
            i += 1;
            continue;
        }
        // Support text is mostly ASCII; decode only the characters that are not.
        let Some(c) = text[i..].chars().next() else { break };
        i += c.len_utf8();
        match c {
            'ã' | 'õ' | 'Ã' | 'Õ' | 'ç' | 'Ç' | 'ê' | 'ô' | 'â' | 'Ê' | 'Ô' | 'Â' => hints.portuguese += 1,
            'ñ' | 'Ñ' | '¿' | '¡' => hints.spanish += 1,
            _ => {}
        }
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' => push(&mut out, b'\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' => push(&mut out, b'"'),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => push(&mut out, b'-'),
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
            _ => {
                let mut base = None;
                decompose_canonical(c, |d| {
                    if base.is_none() && d.is_ascii_alphanumeric() {
                        base = Some(d.to_ascii_lowercase() as u8);
                    }
                });
                push(&mut out, base.unwrap_or(b' '));
            }
        }
    }
    (String::from_utf8(out).unwrap_or_default(), hints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_spacing_fold_to_plain_ascii() {
        let (text, hints) = normalise("  Não   TEM\tnenhum \n PERFIL  \r\n\r\n\nok\n");
        assert_eq!(text, "nao tem nenhum\nperfil\n\nok");
        assert_eq!(hints.portuguese, 1);
    }

    #[test]
    fn spanish_marks_are_counted_and_punctuation_kept() {
        let (text, hints) = normalise("¿Dónde asocio la clave?");
        assert_eq!(text, "donde asocio la clave?");
        assert_eq!(hints.spanish, 1);
    }

    #[test]
    fn curly_quotes_and_zero_width_characters_are_straightened_or_dropped() {
        let (text, _) = normalise("key\u{200B}’s “role”");
        assert_eq!(text, "key's \"role\"");
        assert!(text.is_ascii());
    }

    #[test]
    fn emoji_and_other_scripts_become_single_spaces() {
        let (text, _) = normalise("role 🚀🚀 キー ok");
        assert_eq!(text, "role ok");
    }
}
