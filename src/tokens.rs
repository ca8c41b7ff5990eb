//! Words, clauses and sentences of a normalised message: what the rules' concepts are found in.
//!
//! A word is a run of letters and digits; an apostrophe inside one is dropped (`didn't` is
//! `didnt`, as the lexicons write it), and hyphens, underscores, slashes and dots split words
//! (`x-vtex-api-appkey` is four words, `pop-up` two). A `?` is a word of its own, so that a rule
//! can ask whether a message asks something.
//!
//! Sentences end at `.`, `!` or `?` before a space, and at a blank line. Clauses end there too,
//! and at `,` `;` `:` `(` `)`, a line break, and before the words that turn a sentence around
//! ("but", "mas", "pero", "however", ...): "I checked the spaces, but the case..." is two clauses.

/// One word of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    /// Byte range in the normalised text.
    pub start: u32,
    pub end: u32,
    pub sentence: u32,
    pub clause: u32,
    /// Where the word is in [`Tokens::stream`].
    pub at: u32,
    pub len: u32,
}

/// The words of a message, and the same words as one string for the lexicon automaton:
/// `" w1 w2 w3 "`, each word with a space on both sides.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub words: Vec<Word>,
    pub stream: String,
    /// The words inside code, a range of word indexes per Markdown fence (```` ``` ````) or
    /// `inline code` closed on its line. Most messages have none. Kept apart from [`Word`],
    /// which every look-up reads, so that prose pays nothing for it.
    pub code: Vec<std::ops::Range<u32>>,
}

/// Up to 16 bytes as one number, zero-padded, byte `i` at bits `8i..8i + 8`; `None` when longer.
/// Words hold no zero byte, so no two words of up to 16 bytes share a number.
pub fn pack16(b: &[u8]) -> Option<u128> {
    let mut k = [0u8; 16];
    k.get_mut(..b.len())?.copy_from_slice(b);
    Some(u128::from_le_bytes(k))
}

/// `LOW_BYTES[n]` keeps the low `n` bytes of a number: a table, because a shift of a `u128` by
/// a variable amount costs ten instructions, and [`Tokens::key`] masks once per word.
const LOW_BYTES: [u128; 17] = {
    let mut t = [u128::MAX; 17];
    let mut n = 0;
    while n < 16 {
        t[n] = (1 << (8 * n)) - 1;
        n += 1;
    }
    t
};

/// Words that start a clause of their own: what follows them often says the opposite.
const TURNS: &[&[u8]] = &[
    b"but",
    b"however",
    b"although",
    b"though",
    b"except",
    b"mas",
    b"porem",
    b"embora",
    b"exceto",
    b"contudo",
    b"pero",
    b"aunque",
    b"excepto",
];

/// The first letters of [`TURNS`]: most words start with none of them.
const TURN_START: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < TURNS.len() {
        t[TURNS[i][0] as usize] = true;
        i += 1;
    }
    t
};

/// The bytes words are made of: ASCII letters and digits (the text is normalised).
const WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    t
};

/// The words inside code: inside a fence until the next one (or the end, as Markdown renders an
/// open fence), inside inline code until its closing backtick, which must come before the line
/// ends. A pass of its own, over the few messages with a backtick, so that the word loop, which
/// every message takes, pays nothing for it.
#[inline(never)]
fn code_ranges(b: &[u8], words: &[Word]) -> Vec<std::ops::Range<u32>> {
    let mut bytes = Vec::new();
    let mut i = match memchr::memchr(b'`', b) {
        Some(i) => i,
        None => return Vec::new(),
    };
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"```") {
            // Up to the closing fence, or the end.
            let body = i + 3;
            let close = memchr::memchr_iter(b'`', &b[body..]).map(|k| body + k).find(|&k| b[k..].starts_with(b"```")).unwrap_or(b.len());
            bytes.push(body..close);
            close + 3
        } else {
            // A backtick with no partner on its line is a character, not code.
            let line = &b[i + 1..];
            let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
            match memchr::memchr(b'`', line) {
                Some(k) => {
                    bytes.push(i + 1..i + 1 + k);
                    i + 2 + k
                }
                None => i + 1,
            }
        };
        i = match b.get(end..).and_then(|r| memchr::memchr(b'`', r)) {
            Some(k) => end + k,
            None => break,
        };
    }
    bytes
        .into_iter()
        .map(|r| {
            let first = words.partition_point(|w| (w.start as usize) < r.start);
            let last = words.partition_point(|w| (w.start as usize) < r.end);
            first as u32..last as u32
        })
        .filter(|r| !r.is_empty())
        .collect()
}

impl Tokens {
    pub fn new(normalised: &str) -> Tokens {
        let b = normalised.as_bytes();
        let mut words = Vec::with_capacity(b.len() / 5 + 1);
        let mut stream = String::with_capacity(b.len() + 2);
        stream.push(' ');
        let (mut sentence, mut clause) = (0u32, 0u32);
        let mut backtick = false;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if WORD_BYTE[c as usize] {
                let start = i;
                let at = stream.len() as u32;
                let mut apostrophe = false;
                loop {
                    while i < b.len() && WORD_BYTE[b[i] as usize] {
                        i += 1;
                    }
                    if i + 1 < b.len() && b[i] == b'\'' && WORD_BYTE[b[i + 1] as usize] {
                        apostrophe = true;
                        i += 1;
                        continue;
                    }
                    break;
                }
                // The text is ASCII (normalised), so any byte range of it is a `str`.
                let piece = normalised.get(start..i).unwrap_or("");
                if apostrophe {
                    stream.extend(piece.chars().filter(|c| *c != '\''));
                } else {
                    stream.push_str(piece);
                }
                let word = &stream.as_bytes()[at as usize..];
                let len = word.len() as u32;
                if !words.is_empty() && (3..=8).contains(&word.len()) && TURN_START[word[0] as usize] && TURNS.contains(&word) {
                    clause += 1;
                }
                stream.push(' ');
                words.push(Word { start: start as u32, end: i as u32, sentence, clause, at, len });
                continue;
            }
            match c {
                b'?' => {
                    let at = stream.len() as u32;
                    stream.push_str("? ");
                    words.push(Word { start: i as u32, end: i as u32 + 1, sentence, clause, at, len: 1 });
                    sentence += 1;
                    clause += 1;
                }
                b'.' | b'!' if b.get(i + 1).is_none_or(|n| !n.is_ascii_alphanumeric()) => {
                    sentence += 1;
                    clause += 1;
                }
                b'\n' if b.get(i + 1) == Some(&b'\n') => {
                    sentence += 1;
                    clause += 1;
                    i += 1;
                }
                b',' | b';' | b':' | b'(' | b')' | b'\n' => clause += 1,
                b'`' => backtick = true,
                _ => {}
            }
            i += 1;
        }
        let code = if backtick { code_ranges(b, &words) } else { Vec::new() };
        Tokens { words, stream, code }
    }

    /// Whether word `i` is inside code.
    pub fn in_code(&self, i: usize) -> bool {
        self.code.iter().any(|r| r.contains(&(i as u32)))
    }

    /// The word that holds byte `offset` of the stream (or the next one, at a space).
    pub fn word_at(&self, offset: usize) -> usize {
        self.words.partition_point(|w| (w.at as usize) <= offset).saturating_sub(1)
    }

    /// Words `first..=last` as the stream holds them: one space between words.
    pub fn span(&self, first: usize, last: usize) -> Option<&str> {
        let (a, b) = (self.words.get(first)?, self.words.get(last)?);
        self.stream.get(a.at as usize..(b.at + b.len) as usize)
    }

    /// Words `first..=last` as [`Tokens::span`] gives them, packed into one number ([`pack16`]),
    /// or 0 when they take more than 16 bytes (no text of up to 16 packs to 0). One load from
    /// the stream, masked to the length: the lexicon probes with this for every word.
    pub fn key(&self, first: usize, last: usize) -> u128 {
        let (Some(a), Some(b)) = (self.words.get(first), self.words.get(last)) else { return 0 };
        let (at, len) = (a.at as usize, (b.at + b.len).saturating_sub(a.at) as usize);
        if len > 16 {
            return 0;
        }
        let s = self.stream.as_bytes();
        match s.get(at..at + 16).and_then(|w| <[u8; 16]>::try_from(w).ok()) {
            Some(w) => u128::from_le_bytes(w) & LOW_BYTES[len],
            // The last few words, too near the end of the stream for a whole load.
            None => s.get(at..at + len).and_then(pack16).unwrap_or(0),
        }
    }

    /// The text of word `i`, as the lexicons write it.
    pub fn text(&self, i: usize) -> &str {
        self.words.get(i).and_then(|w| self.stream.get(w.at as usize..(w.at + w.len) as usize)).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(t: &Tokens) -> Vec<&str> {
        t.stream.split(' ').filter(|w| !w.is_empty()).collect()
    }

    #[test]
    fn apostrophes_join_and_punctuation_splits() {
        let t = Tokens::new("i didn't copy the x-vtex-api-apptoken, pop-up closed?");
        assert_eq!(words(&t), ["i", "didnt", "copy", "the", "x", "vtex", "api", "apptoken", "pop", "up", "closed", "?"]);
        assert_eq!(t.stream, " i didnt copy the x vtex api apptoken pop up closed ? ");
    }

    #[test]
    fn sentences_and_clauses_are_numbered() {
        let t = Tokens::new("the key is new. it fails, but the token\nworks\n\nok v2.0 yes");
        let s: Vec<u32> = t.words.iter().map(|w| w.sentence).collect();
        let c: Vec<u32> = t.words.iter().map(|w| w.clause).collect();
        assert_eq!(words(&t), ["the", "key", "is", "new", "it", "fails", "but", "the", "token", "works", "ok", "v2", "0", "yes"]);
        assert_eq!(s, [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(c, [0, 0, 0, 0, 1, 1, 3, 3, 3, 4, 5, 5, 5, 5]);
    }

    #[test]
    fn a_key_is_the_packed_text_of_its_words_wherever_they_are_in_the_stream() {
        let t = Tokens::new("a bb ccc dddd eeeee ffffff ggggggg hhhhhhhh iiiiiiiiiiiiiiiii j? k");
        for first in 0..t.words.len() {
            for last in first..t.words.len() {
                let text = t.span(first, last).unwrap_or_default();
                assert_eq!(t.key(first, last), pack16(text.as_bytes()).unwrap_or(0), "{text:?}");
            }
        }
        assert_eq!(t.key(0, 99), 0);
    }

    #[test]
    fn words_in_fences_and_in_inline_code_closed_on_their_line_are_code() {
        let t = Tokens::new("the new key:\n```js\nnew client()\n```\nthen `new one` and a stray ` new\nnew `x\ny` new");
        let code: Vec<(&str, bool)> = (0..t.words.len()).map(|i| (t.text(i), t.in_code(i))).collect();
        assert_eq!(
            code,
            [
                ("the", false),
                ("new", false),
                ("key", false),
                ("js", true),
                ("new", true),
                ("client", true),
                ("then", false),
                ("new", true),
                ("one", true),
                ("and", false),
                ("a", false),
                ("stray", false),
                ("new", false),
                ("new", false),
                ("x", false),
                ("y", false),
                ("new", false),
            ]
        );
        assert!(!Tokens::new("no code here, it's `plain").code.iter().any(|r| !r.is_empty()));
    }

    #[test]
    fn an_offset_in_the_stream_finds_its_word() {
        let t = Tokens::new("lost the token");
        assert_eq!(t.word_at(1), 0);
        assert_eq!(t.word_at(t.stream.find("token").unwrap_or(0) + 2), 2);
    }
}
