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

/// ASCII bytes that are copied as they are, lower-cased: all but whitespace and `\\`.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = !b.is_ascii_whitespace() && b != b'\\';
        c += 1;
    }
    t
};

/// Lower-cases, strips accents, straightens quotes, drops zero-width characters and collapses
/// whitespace. The result is pure ASCII.
pub fn normalise(text: &str) -> (String, ScriptHints) {
    let mut out = Out { buf: Vec::with_capacity(text.len()), pending_space: false, breaks: 0 };
    let mut hints = ScriptHints::default();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            if b.is_ascii_whitespace() {
                out.space(b == b'\n');
                i += 1;
                continue;
            }
            // `\n` or `\r\n` typed into prose or code ("a trailing \n in the value") is a line
            // break, as the rules call it.
            if b == b'\\' && matches!(bytes.get(i + 1), Some(b'n' | b'r')) && !bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic) {
                out.space(false);
                out.flush();
                out.buf.extend_from_slice(b"newline");
                out.space(false);
                i += if bytes.get(i + 1) == Some(&b'r') && bytes.get(i + 2) == Some(&b'\\') && bytes.get(i + 3) == Some(&b'n') {
                    4
                } else {
                    2
                };
                continue;
            }
            // Support text is mostly ASCII words: copy each run of them in one go.
            let start = i;
            while i < bytes.len() && PLAIN[bytes[i] as usize] {
                i += 1;
            }
            if i == start {
                i += 1;
                out.flush();
                out.buf.push(b'\\');
                continue;
            }
            out.flush();
            out.buf.extend(bytes[start..i].iter().map(u8::to_ascii_lowercase));
            continue;
        }
        // Decode only the characters that are not ASCII.
        let Some(c) = text[i..].chars().next() else { break };
        i += c.len_utf8();
        match c {
            'ã' | 'õ' | 'Ã' | 'Õ' | 'ç' | 'Ç' | 'ê' | 'ô' | 'â' | 'Ê' | 'Ô' | 'Â' => hints.portuguese += 1,
            'ñ' | 'Ñ' | '¿' | '¡' => hints.spanish += 1,
            _ => {}
        }
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' => out.push(b'\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' => out.push(b'"'),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push(b'-'),
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
            _ => {
                let mut base = None;
                decompose_canonical(c, |d| {
                    if base.is_none() && d.is_ascii_alphanumeric() {
                        base = Some(d.to_ascii_lowercase() as u8);
                    }
                });
                match base {
                    Some(b) => out.push(b),
                    None => out.space(false),
                }
            }
        }
    }
    (String::from_utf8(out.buf).unwrap_or_default(), hints)
}

/// The normalised text being built. Whitespace is collapsed: to one space, or to one or two line
/// breaks when it holds any, so that the rules can tell lines and paragraphs apart. Every byte
/// pushed is ASCII, so the result is always valid UTF-8.
struct Out {
    buf: Vec<u8>,
    pending_space: bool,
    breaks: u8,
}

impl Out {
    fn space(&mut self, line_break: bool) {
        self.pending_space = !self.buf.is_empty();
        if line_break && self.pending_space {
            self.breaks = self.breaks.saturating_add(1);
        }
    }

    fn flush(&mut self) {
        if self.pending_space {
            match self.breaks {
                0 => self.buf.push(b' '),
                1 => self.buf.push(b'\n'),
                _ => self.buf.extend_from_slice(b"\n\n"),
            }
            self.pending_space = false;
            self.breaks = 0;
        }
    }

    fn push(&mut self, b: u8) {
        self.flush();
        self.buf.push(b);
    }
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
    fn a_typed_backslash_n_reads_as_a_line_break() {
        assert_eq!(normalise("a trailing \\n at the end, or \\r\\n").0, "a trailing newline at the end, or newline");
        assert_eq!(normalise("C:\\new\\folder").0, "c:\\new\\folder");
    }

    #[test]
    fn emoji_and_other_scripts_become_single_spaces() {
        let (text, _) = normalise("role 🚀🚀 キー ok");
        assert_eq!(text, "role ok");
    }
}
