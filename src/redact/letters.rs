//! appTokens, found by construction rather than from a list of the shapes they were seen in.
//!
//! An appToken is 128 letters. Whatever surrounds it (a header name glued to it, Markdown
//! underscores, a lower-cased copy, a line wrap, a zero-width space, a JSON escape), it is still
//! a run of letters, or a few runs joined by separators. So the text is cut into runs of letters,
//! and each run, or chain of runs, is judged by what it is, whatever is around it:
//!
//! 1. A run of at least [`LONG_RUN`] letters is masked, whatever its case. No word of English,
//!    Portuguese or Spanish in everyday use is that long ("anticonstitucionalmente" has 23), so
//!    this costs nothing in prose. A camelCase identifier (`getOrderConfigurationByAccount`) is
//!    the one exception: a token never has its shape. A word glued in front (`AppToken`) or a
//!    lower-case word glued behind (`thanks`) stays, and the upper-case core goes.
//! 2. After a token label (`appToken`, `X-VTEX-API-AppToken`, `token`, `tokem`, ...) and a
//!    separator (`:`, `=`, `：`, quotes, "is"), the value is masked even when spaces, hyphens,
//!    line breaks or invisible characters cut it into short pieces, as long as the pieces look
//!    like parts of a token (random letters, or groups of equal length) and not like words.
//! 3. Without a label, a chain of upper-case pieces is masked when its pieces look random or
//!    are groups of equal length, and it is long enough to hold a good part of a token.
//! 4. A piece joined to a masked token by a line wrap (or a space, when it looks random, or a
//!    group of the same length) is masked too, as long as the two together are no longer than a
//!    token: the short half of a wrap. And when the pieces next to a good part of a token hold
//!    exactly the letters it lacks to make 128, they are masked whatever they look like.
//!
//! What it cannot promise: a token that is lower- or mixed-cased *and* cut into groups shorter
//! than 8 letters with no label, or cut *and* glued to a word, reads like ordinary text.
//!
//! Where the line for false positives is: a run of 24 letters or more is always masked, so a
//! long SKU made only of letters, the letter runs of a base64 blob and words glued together
//! without spaces are masked too. Hex hashes and numeric ids are not (their runs of letters are
//! short; the generic rule in `rules/secrets.toml` decides about them), nor is shouting in
//! capitals (its pieces look like words), nor a camelCase identifier. The false-positive rate on
//! the corpora is measured by `tests/it/masking.rs`.

use std::borrow::Cow;
use std::ops::Range;

/// Runs of letters at least this long are masked whatever they are.
pub const LONG_RUN: usize = 24;
/// Letters in an appToken.
const TOKEN_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// All or part of an appToken.
    AppToken,
    /// A long run of letters that is masked because it could be a secret, though it does not
    /// have an appToken's shape (mixed case, shorter than a token, no label).
    Secret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub range: Range<usize>,
    pub kind: Kind,
}

/// A maximal run of letters: ASCII, or full-width Latin (`ＱＷＥＲ`), which renders the same.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
    letters: usize,
    upper: usize,
    fullwidth: bool,
}

impl Run {
    fn all_upper(&self) -> bool {
        self.upper == self.letters
    }

    /// The run's letters as ASCII.
    fn ascii<'a>(&self, raw: &'a str) -> Cow<'a, [u8]> {
        let s = &raw[self.start..self.end];
        if !self.fullwidth {
            return Cow::Borrowed(s.as_bytes());
        }
        Cow::Owned(
            s.chars()
                .map(|c| match c {
                    '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => (c as u32 - 0xFF21 + u32::from(b'A')) as u8,
                    c => c as u8,
                })
                .collect(),
        )
    }
}

/// How two neighbouring runs are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// Spaces only.
    Space,
    /// Separators that cut a value without ending it: line breaks, hyphens, zero-width and
    /// other invisible characters, JSON escapes such as `\n` or `\u200b`, and spaces.
    Wrap,
    /// Anything else (punctuation, digits, a paragraph break): the runs are separate things.
    Other,
}

/// The length of a backslash escape at the start of `b` that stands for a separator, as JSON
/// and shell text carry them: `\n`, `\r`, `\t`, `\u200b`, a line continuation, and the same
/// escaped again (`\\n`, JSON inside JSON).
fn escape_len(b: &[u8]) -> Option<usize> {
    let slashes = b.iter().take(4).take_while(|c| **c == b'\\').count();
    if slashes == 0 {
        return None;
    }
    let rest = &b[slashes..];
    let tail = match rest {
        [b'n' | b'r' | b't', ..] => 1,
        [b'\r', b'\n', ..] => 2,
        [b'\n', ..] => 1,
        // Only an escape of a separator: `\uCEEE` in front of capitals is letters, not an escape.
        [b'u', a, c, d, e, ..] if escaped_separator([*a, *c, *d, *e]) => 5,
        _ => return None,
    };
    Some(slashes + tail)
}

/// Whether four hex digits name a character that separates pieces of a value.
fn escaped_separator(hex: [u8; 4]) -> bool {
    let code = std::str::from_utf8(&hex).ok().and_then(|h| u32::from_str_radix(h, 16).ok());
    code.and_then(char::from_u32).is_some_and(|c| {
        matches!(
            c,
            '\n' | '\r' | '\t' | ' ' | '-' | '\u{00A0}' | '\u{00AD}' | '\u{200B}'
                ..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{2028}' | '\u{2029}'
        )
    })
}

fn fullwidth_letter(c: char) -> Option<bool> {
    match c {
        '\u{FF21}'..='\u{FF3A}' => Some(true),
        '\u{FF41}'..='\u{FF5A}' => Some(false),
        _ => None,
    }
}

/// Cheap first look: only text with a long run of letters, a long chain of capitals, three long
/// pieces in a row, full-width letters, or a token label followed by something that could be a
/// value needs the full scan. Most chat and most tickets have none of them: "the appToken is
/// refused" names a token but holds none.
///
/// It runs on every message, so it goes a run of letters at a time, with one table look-up per
/// byte between runs.
fn worth_scanning(raw: &str) -> bool {
    let b = raw.as_bytes();
    // Full-width forms (U+FF00..U+FFEF) start with 0xEF 0xBC or 0xEF 0xBD.
    if memchr::memchr(0xEF, b).is_some() {
        return true;
    }
    let (mut upper_chain, mut long_in_row) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        match BYTE_CLASS[b[i] as usize] {
            LETTER => {
                let start = i;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    upper_chain = if b[i].is_ascii_uppercase() { upper_chain + 1 } else { 0 };
                    if upper_chain >= 32 {
                        return true;
                    }
                    i += 1;
                }
                let run = i - start;
                if run >= LONG_RUN {
                    return true;
                }
                if i == b.len() {
                    return is_label(&b[start..]) && value_may_follow(b, i);
                }
                long_in_row = if run >= 8 { long_in_row + 1 } else { 0 };
                if long_in_row >= 3 || (is_label(&b[start..i]) && value_may_follow(b, i)) {
                    return true;
                }
            }
            // An escaped separator (`\\n`, `\\u200b`) joins pieces as a real one does.
            BACKSLASH => i += escape_len(&b[i..]).unwrap_or(1),
            JOINS => i += 1,
            _ => {
                upper_chain = 0;
                long_in_row = 0;
                i += 1;
            }
        }
    }
    false
}

const LETTER: u8 = 1;
const BACKSLASH: u8 = 2;
/// Bytes that cut a chain of pieces without ending it: spaces, line breaks, hyphens, quote
/// markers, and the bytes of characters that are not ASCII.
const JOINS: u8 = 3;
const OTHER: u8 = 0;

const BYTE_CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() {
            LETTER
        } else if b == b'\\' {
            BACKSLASH
        } else if b >= 0x80 || matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'-' | b'>') {
            JOINS
        } else {
            OTHER
        };
        c += 1;
    }
    t
};

/// Whether what follows a token label at `at` could be its value: past separators and a few
/// small words, one of the next two pieces has capitals or 8 letters or more, or they are two
/// groups of one length (`qwer tyui`). Errs toward yes: the full scan decides.
fn value_may_follow(b: &[u8], mut at: usize) -> bool {
    let mut pieces: [(usize, bool); 2] = [(0, false); 2];
    let mut found = 0;
    let mut fillers = 0;
    let end = (at + 96).min(b.len());
    while at < end && found < 2 {
        let c = b[at];
        if c.is_ascii_alphabetic() {
            let start = at;
            while at < b.len() && b[at].is_ascii_alphabetic() {
                at += 1;
            }
            let word = &b[start..at];
            if found == 0 && fillers < 3 && FILLERS.iter().any(|f| f.eq_ignore_ascii_case(word)) {
                fillers += 1;
                continue;
            }
            let capitals = word.iter().filter(|c| c.is_ascii_uppercase()).count() >= 2;
            pieces[found] = (word.len(), capitals);
            found += 1;
            continue;
        }
        if c == b'\\' {
            at += escape_len(&b[at..]).unwrap_or(1);
            continue;
        }
        if c == 0xEF && found == 0 {
            // Full-width forms (U+FF00..U+FFEF: letters, a full-width colon): let the scan look.
            return true;
        }
        at += 1;
    }
    let strong = |(len, capitals): (usize, bool)| capitals || len >= 8;
    strong(pieces[0]) || strong(pieces[1]) || (found == 2 && pieces[0].0 >= 4 && pieces[0].0 == pieces[1].0)
}

fn scan_runs(raw: &str) -> Vec<Run> {
    let b = raw.as_bytes();
    let mut runs = Vec::new();
    let mut cur: Option<Run> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (letter, len) = if c.is_ascii_alphabetic() {
            (Some((c.is_ascii_uppercase(), false)), 1)
        } else if c < 0x80 {
            if c == b'\\' {
                if let Some(n) = escape_len(&b[i..]) {
                    runs.extend(cur.take());
                    i += n;
                    continue;
                }
            }
            (None, 1)
        } else {
            // `i` always sits on a character boundary: it moves by whole characters.
            let ch = raw[i..].chars().next().unwrap_or(' ');
            (fullwidth_letter(ch).map(|upper| (upper, true)), ch.len_utf8())
        };
        match (letter, cur.as_mut()) {
            (Some((upper, fw)), Some(r)) => {
                r.end = i + len;
                r.letters += 1;
                r.upper += usize::from(upper);
                r.fullwidth |= fw;
            }
            (Some((upper, fw)), None) => {
                cur = Some(Run { start: i, end: i + len, letters: 1, upper: usize::from(upper), fullwidth: fw });
            }
            (None, _) => runs.extend(cur.take()),
        }
        i += len;
    }
    runs.extend(cur);
    runs
}

fn gap(s: &str) -> Gap {
    if s.is_empty() || s.len() > 24 {
        return Gap::Other;
    }
    let b = s.as_bytes();
    let (mut wrap, mut breaks, mut i) = (false, 0, 0);
    while i < b.len() {
        if b[i] == b'\\' {
            match escape_len(&b[i..]) {
                Some(n) => {
                    // An escaped line break counts as one; so, for the limit, do the others.
                    wrap = true;
                    breaks += 1;
                    i += n;
                    continue;
                }
                None => return Gap::Other,
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\0');
        match ch {
            ' ' | '\t' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{3000}' => {}
            '\n' => {
                breaks += 1;
                wrap = true;
            }
            '\r'
            | '-'
            | '\u{2010}'..='\u{2015}'
            | '\u{2212}'
            | '\u{00AD}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
            | '\u{180E}' => wrap = true,
            // An e-mail quote marker at the start of the continued line.
            '>' if breaks > 0 => {}
            _ => return Gap::Other,
        }
        i += ch.len_utf8();
    }
    match (breaks > 2, wrap) {
        (true, _) => Gap::Other,
        (false, true) => Gap::Wrap,
        (false, false) => Gap::Space,
    }
}

fn lower(w: &[u8]) -> Vec<u8> {
    w.iter().map(u8::to_ascii_lowercase).collect()
}

fn starts_with_ci(w: &[u8], prefix: &[u8]) -> bool {
    w.len() >= prefix.len() && w[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// A word that names a token: `token`, `appToken`, `X-VTEX-API-AppToken`'s last part,
/// `VTEX_APP_TOKEN`'s, and the common misspellings `tokem` and `apptoke`.
fn is_label(w: &[u8]) -> bool {
    let n = w.len();
    if !(4..=24).contains(&n) {
        return false;
    }
    // Called at the end of every word of every message: the last letter decides which ending
    // to compare, and most words end in a letter that no label ends in. `| 0x20` lower-cases a
    // letter and makes no other byte equal to one.
    let ends = |tail: &[u8]| n >= tail.len() && w[n - tail.len()..].iter().zip(tail).all(|(a, b)| a | 0x20 == *b);
    match w[n - 1] | 0x20 {
        b'e' => ends(b"toke"),
        b'n' => ends(b"token"),
        b'm' => ends(b"tokem"),
        b's' => ends(b"tokens"),
        _ => false,
    }
}

/// Words that may stand between a label and its value: "the token is", "o token é", "el token es".
const FILLERS: &[&[u8]] = &[
    b"is", b"was", b"e", b"es", b"era", b"foi", b"fue", b"eh", b"here", b"aqui", b"value", b"valor", b"the", b"o", b"a", b"el", b"la",
    b"my", b"our", b"mi", b"meu", b"minha", b"nosso", b"nossa", b"nuestro", b"este", b"esse", b"this", b"de", b"do", b"da", b"del", b"of",
    b"ist", b"now", b"agora", b"ahora", b"new", b"novo", b"nuevo", b"used", b"usado",
];

/// Characters that may stand between a label and its value: separators, quotes, Markdown.
fn lead_char(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\n'
            | '\r'
            | ':'
            | '='
            | '>'
            | '<'
            | '"'
            | '\''
            | '`'
            | '*'
            | '_'
            | '('
            | '['
            | '{'
            | '|'
            | '-'
            | ','
            | '\\'
            | '\u{FF1A}'
            | '\u{FF1D}'
            | '\u{00A0}'
            | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00E9}' | '\u{00C9}'
    )
}

/// Random letters: about one in five is a vowel, and clusters of five consonants are common.
/// Words of the three languages of eight letters or more have neither (measured on the corpora:
/// 3 of 957 such words, all camelCase identifiers, look random by this test).
fn random_looking(w: &[u8]) -> bool {
    if w.len() < 8 {
        return false;
    }
    let is_vowel = |c: u8| matches!(c | 0x20, b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
    let vowels = w.iter().filter(|c| is_vowel(**c)).count();
    let (mut cluster, mut longest) = (0, 0);
    for &c in w {
        if is_vowel(c) {
            cluster = 0;
        } else {
            cluster += 1;
            longest = longest.max(cluster);
        }
    }
    vowels * 5 < w.len() || longest >= 5
}

/// Common abbreviations without vowels that identifiers use as humps (`HttpClient`, `PvtApi`).
const VOWELLESS_HUMPS: &[&[u8]] = &[
    b"http", b"sdk", b"xml", b"pvt", b"cms", b"src", b"cfg", b"msg", b"pkg", b"std", b"str", b"ctx", b"btn", b"img", b"qty", b"pct",
    b"rgb", b"dns", b"smtp", b"ssl", b"tls", b"jwt", b"csv", b"pdf", b"sql",
];

/// A camelCase or PascalCase identifier: up to 64 letters in humps of a capital (or a short
/// acronym) and lower-case letters, each hump short and with a vowel or a known abbreviation
/// (`Http`), four letters a hump on average. A random mixed-case string fails at once: about
/// half of its humps have no vowel.
fn camel(w: &[u8]) -> bool {
    let is_vowel = |c: &u8| matches!(c | 0x20, b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
    if w.len() > 64 {
        return false;
    }
    let (mut humps, mut acronyms) = (0, 0);
    let mut i = 0;
    while i < w.len() {
        let caps = w[i..].iter().take_while(|c| c.is_ascii_uppercase()).count();
        // Identifiers have an acronym or so (`XMLHttpRequest`); random case has them everywhere.
        acronyms += usize::from(caps >= 2);
        if caps > 4 || acronyms > 1 {
            return false;
        }
        let small = w[i + caps..].iter().take_while(|c| c.is_ascii_lowercase()).count();
        if small == 0 {
            // A trailing acronym ("...ByID") ends the identifier.
            return i + caps == w.len() && humps >= 2 && w.len() >= 4 * humps;
        }
        // The hump is its last capital and the lower-case letters after it.
        let hump = lower(&w[i + caps.saturating_sub(1)..i + caps + small]);
        let mut cluster = 0;
        let clustered = hump.iter().any(|c| {
            cluster = if is_vowel(c) { 0 } else { cluster + 1 };
            cluster >= 4
        });
        let wordlike = (hump.iter().any(is_vowel) && !clustered) || VOWELLESS_HUMPS.contains(&hump.as_slice());
        if hump.len() > 14 || !wordlike {
            return false;
        }
        humps += 1;
        i += caps + small;
    }
    humps >= 2 && w.len() >= 4 * humps
}

/// The pieces of a chain, if they are groups of one length ("QWER TYUI OPAS ..."): all but the
/// last the same length, and at least three of them.
fn equal_groups(lens: &[usize]) -> bool {
    lens.len() >= 3 && lens[..lens.len() - 1].iter().all(|l| *l == lens[0]) && lens[lens.len() - 1] <= lens[0]
}

/// What rule 1 masks of one long run: its upper-case core, or all of it.
fn long_run_mask(w: &[u8]) -> Option<Range<usize>> {
    // The longest stretch of capitals.
    let (mut best, mut at) = (0..0, 0);
    while at < w.len() {
        let len = w[at..].iter().take_while(|c| c.is_ascii_uppercase()).count();
        if len > best.len() {
            best = at..at + len;
        }
        at += len.max(1);
    }
    if best.len() >= 16 {
        let (head, tail) = (&w[..best.start], &w[best.end..]);
        // A label or word glued in front is kept when it is short; a lower-case word glued behind
        // ("thanks") too. Anything longer may be the rest of a token that changed case.
        let start = if head.len() <= 20 { best.start } else { 0 };
        let end = if tail.len() <= 12 && tail.iter().all(u8::is_ascii_lowercase) { best.end } else { w.len() };
        return Some(start..end);
    }
    (!camel(w)).then_some(0..w.len())
}

/// The answer of [`worth_scanning`], found with fewer looks at each byte, given where `tok`
/// occurs in `raw` in any case (every token label holds it): the shared keyword pass has found
/// that already.
///
/// Each of the first look's reasons is decided on its own: full-width forms and a run of 24
/// letters as before; a label from the `tok`s; three long pieces in a row from the runs of 8
/// letters or more, found by probing one byte in eight, and the bytes between them. Text with a
/// backslash (where an escape may join or split pieces) or with 32 capitals (a chain of capitals
/// may cross pieces) is rare, and goes to [`worth_scanning`] itself. The test
/// `the_quick_look_agrees_with_the_first_look_everywhere` holds the two to the same answers.
fn quick_look(raw: &str, tok_starts: impl Iterator<Item = usize>) -> bool {
    let b = raw.as_bytes();
    if memchr::memchr(0xEF, b).is_some() {
        return true;
    }
    if memchr::memchr(b'\\', b).is_some() || b.iter().filter(|c| c.is_ascii_uppercase()).count() >= 32 {
        return worth_scanning(raw);
    }
    if super::has_run(b, LONG_RUN, |c| c.is_ascii_alphabetic()) || long_pieces_in_a_row(b) {
        return true;
    }
    let mut checked_to = 0;
    for at in tok_starts {
        if at < checked_to || !b.get(at).is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        let (start, end) = letter_run(b, at);
        checked_to = end;
        if is_label(&b[start..end]) && value_may_follow(b, end) {
            return true;
        }
    }
    false
}

/// The run of ASCII letters around byte `at`.
fn letter_run(b: &[u8], at: usize) -> (usize, usize) {
    let mut start = at;
    while start > 0 && b[start - 1].is_ascii_alphabetic() {
        start -= 1;
    }
    let mut end = at;
    while end < b.len() && b[end].is_ascii_alphabetic() {
        end += 1;
    }
    (start, end)
}

/// Three runs of 8 letters or more one after the other, with only joining bytes between them
/// (no other letters, no punctuation), the third not at the very end of the text: what
/// [`worth_scanning`] counts as three long pieces in a row, in text without a backslash.
fn long_pieces_in_a_row(b: &[u8]) -> bool {
    const LONG: usize = 8;
    // The long runs in order, found by probes: a run of 8 covers one of every 8 positions.
    let (mut in_row, mut last_end) = (0, None::<usize>);
    let mut i = LONG - 1;
    while i < b.len() {
        if !b[i].is_ascii_alphabetic() {
            i += LONG;
            continue;
        }
        let (start, end) = letter_run(b, i);
        if end - start < LONG {
            i = end + LONG;
            continue;
        }
        let joined = last_end.is_some_and(|e| b[e..start].iter().all(|c| BYTE_CLASS[*c as usize] == JOINS));
        in_row = if joined { in_row + 1 } else { 1 };
        if in_row >= 3 && end < b.len() {
            return true;
        }
        last_end = Some(end);
        i = end + LONG;
    }
    false
}

/// Every appToken, or run of letters that could be part of one, in `raw`.
pub fn find(raw: &str) -> Vec<Hit> {
    if !worth_scanning(raw) {
        return Vec::new();
    }
    scan(raw)
}

/// [`find`], given where `tok` occurs in `raw` in any case, for a quicker first look.
pub fn find_surveyed(raw: &str, tok_starts: impl Iterator<Item = usize>) -> Vec<Hit> {
    if !quick_look(raw, tok_starts) {
        return Vec::new();
    }
    scan(raw)
}

/// The full scan, on text the first look let through.
fn scan(raw: &str) -> Vec<Hit> {
    let runs = scan_runs(raw);
    let n = runs.len();
    if n == 0 {
        return Vec::new();
    }
    let gaps: Vec<Gap> = (0..n.saturating_sub(1)).map(|i| gap(&raw[runs[i].end..runs[i + 1].start])).collect();
    let words: Vec<Cow<[u8]>> = runs.iter().map(|r| r.ascii(raw)).collect();
    // Per run: the part of it that is masked (offsets into the run's letters), and how sure.
    let mut masked: Vec<Option<(Range<usize>, Kind)>> = vec![None; n];
    let mut labelled = vec![false; n];

    // 2. Values after a label. First, so that their pieces are known to be a token's.
    for i in 0..n {
        if !is_label(&words[i]) {
            continue;
        }
        let Some(j) = value_start(raw, &runs, &words, i) else { continue };
        if let Some(last) = label_chain(&runs, &words, &gaps, j) {
            for k in j..=last {
                labelled[k] = true;
                masked[k] = Some((0..runs[k].letters, Kind::AppToken));
            }
        }
    }
    // 1. Long runs, whatever they are.
    for (i, r) in runs.iter().enumerate() {
        if r.letters < LONG_RUN || masked[i].is_some() {
            continue;
        }
        if let Some(part) = long_run_mask(&words[i]) {
            let w = &words[i][part.clone()];
            let upper = w.iter().filter(|c| c.is_ascii_uppercase()).count();
            let label_before = i > 0 && is_label(&words[i - 1]) && gaps[i - 1] != Gap::Other;
            // Capitals that look random are a token, or part of one; capitals that read like words
            // (a long SKU) are only masked.
            let capitals = upper * 10 >= w.len() * 9 && (w.len() >= 48 || random_looking(w));
            // Letters glued to digits or base64 symbols are part of a longer blob (base64, a key
            // with digits): masked, but no appToken has digits in it.
            let blob = |b: Option<&u8>| b.is_some_and(|c| c.is_ascii_digit() || matches!(c, b'+' | b'/' | b'='));
            let in_blob = blob(raw.as_bytes().get(r.end)) || (r.start > 0 && blob(raw.as_bytes().get(r.start - 1)));
            // 48 letters in a row, in any case, are no word and no identifier: a token, or most of one.
            let kind = if !in_blob && (capitals || w.len() >= 48 || label_before) { Kind::AppToken } else { Kind::Secret };
            // A label glued in front ("AppTokenQWER...") makes the core a token whatever its case.
            let glued_label = part.start > 0 && is_label(&words[i][..part.start]);
            masked[i] = Some((part, if glued_label { Kind::AppToken } else { kind }));
        }
    }
    // 3. Chains without a label: capitals, random pieces or equal groups, long enough.
    let mut i = 0;
    while i < n {
        // A chain starts at a piece that could be a token's, or at the first of two long groups
        // of one length (lower-case groups of eight look like words one by one).
        let groups_start = i + 1 < n && runs[i].letters >= 8 && runs[i + 1].letters == runs[i].letters && gaps[i] != Gap::Other;
        let chain = if masked[i].is_none() && (token_piece(&runs[i], &words[i]) || groups_start) {
            walk(&runs, &words, &gaps, i, groups_start)
        } else {
            None
        };
        let Some(c) = chain.filter(|c| c.last > i) else {
            i += 1;
            continue;
        };
        let total = c.total();
        let long_pieces = c.lens.iter().all(|l| *l >= 8);
        // Short groups without a label are a token's when they are mostly capitals, as tokens are:
        // lower-case groups of four read like text. (Found by `cargo fuzz run redact`: capitals
        // in groups of four and one more group "iiii" were masked nowhere.)
        let groups = equal_groups(&c.lens) && total >= 64 && (c.upper * 4 >= c.lens.len() * 3 || c.lens[0] >= 8);
        if total >= 32 && ((long_pieces && c.random * 2 >= c.lens.len()) || groups) {
            for k in i..=c.last {
                if masked[k].is_none() {
                    masked[k] = Some((0..runs[k].letters, Kind::AppToken));
                }
            }
            i = c.last + 1;
        } else {
            i += 1;
        }
    }
    // 4. The short half of a wrapped token.
    extend_wraps(&runs, &words, &gaps, &mut masked);
    // A piece between two masked parts of a token, joined to both, is a part of it too.
    for k in 1..n.saturating_sub(1) {
        let token = |m: &Option<(Range<usize>, Kind)>| m.as_ref().is_some_and(|(_, kind)| *kind == Kind::AppToken);
        let sides = (token(&masked[k - 1]) && masked[k + 1].is_some()) || (masked[k - 1].is_some() && token(&masked[k + 1]));
        if masked[k].is_none() && sides && gaps[k - 1] != Gap::Other && gaps[k] != Gap::Other {
            masked[k] = Some((0..runs[k].letters, Kind::AppToken));
        }
    }

    // One hit per chain of masked runs, so that a token cut in four is masked once.
    let mut hits: Vec<Hit> = Vec::new();
    let mut k = 0;
    while k < n {
        let Some((part, kind)) = masked[k].clone() else {
            k += 1;
            continue;
        };
        let start = byte_at(raw, &runs[k], part.start);
        let mut end = byte_at(raw, &runs[k], part.end);
        let mut kind = kind;
        let mut whole = part.end == runs[k].letters;
        while whole && k + 1 < n && gaps[k] != Gap::Other {
            match masked[k + 1].clone() {
                Some((p, kd)) if p.start == 0 => {
                    k += 1;
                    end = byte_at(raw, &runs[k], p.end);
                    whole = p.end == runs[k].letters;
                    if kd == Kind::AppToken {
                        kind = Kind::AppToken;
                    }
                }
                _ => break,
            }
        }
        hits.push(Hit { range: start..end, kind });
        k += 1;
    }
    hits
}

/// The byte offset of letter `n` of a run (its end when `n` is the letter count).
fn byte_at(raw: &str, run: &Run, n: usize) -> usize {
    if !run.fullwidth {
        return run.start + n;
    }
    raw[run.start..run.end].char_indices().nth(n).map_or(run.end, |(o, _)| run.start + o)
}

/// The run where the value of the label at `i` starts, past separators and a few small words.
fn value_start(raw: &str, runs: &[Run], words: &[Cow<[u8]>], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let mut fillers = 0;
    while j < runs.len() {
        let lead = &raw[runs[j - 1].end..runs[j].start];
        if lead.len() > 24 || !lead.chars().all(lead_char) || runs[j].start - runs[i].end > 40 {
            return None;
        }
        if fillers < 3 && FILLERS.iter().any(|f| f.eq_ignore_ascii_case(&words[j])) {
            fillers += 1;
            j += 1;
            continue;
        }
        return Some(j);
    }
    None
}

/// A chain of pieces that could be parts of one token, from run `j`: what it holds.
struct Chain {
    last: usize,
    lens: Vec<usize>,
    random: usize,
    all_upper: bool,
    /// Pieces all in capitals.
    upper: usize,
}

impl Chain {
    fn total(&self) -> usize {
        self.lens.iter().sum()
    }
}

/// Whether a piece on its own could be part of a token: capitals, random letters, or a run too
/// long for a word that is not an identifier.
fn token_piece(run: &Run, w: &[u8]) -> bool {
    run.all_upper() || random_looking(w) || (run.letters >= 16 && !camel(w))
}

/// Walks the pieces joined to run `j` by separators while they could be parts of one token:
/// each a token piece on its own, or a group as long as the first (`qwer tyui opas`), or the
/// shorter last group. After a label, any first piece of four letters or more may start the
/// chain: what follows it decides. Stops at a token's length.
fn walk(runs: &[Run], words: &[Cow<[u8]>], gaps: &[Gap], j: usize, labelled: bool) -> Option<Chain> {
    let mut chain = Chain { last: j, lens: Vec::new(), random: 0, all_upper: true, upper: 0 };
    let mut k = j;
    loop {
        let (run, w) = (&runs[k], &words[k]);
        if starts_with_ci(w, b"vtexappkey") {
            break;
        }
        let first = chain.lens.first().copied();
        let last3 = &chain.lens[chain.lens.len().saturating_sub(3)..];
        let running_groups = last3.len() == 3 && last3[0] >= 4 && last3.iter().all(|l| *l == last3[0]) && run.letters == last3[0];
        let group = running_groups || first.is_some_and(|g| g >= 4 && run.letters == g && chain.lens.iter().all(|l| *l == g));
        // The last group is shorter when the group length does not divide 128; it completes the token.
        let last_group = first.is_some_and(|g| {
            chain.lens.len() >= 2 && run.letters < g && chain.lens.iter().all(|l| *l == g) && chain.total() + run.letters == TOKEN_LEN
        });
        let opens = labelled && first.is_none() && run.letters >= 4;
        // Groups, once they are groups, end at the first piece of another length.
        let grouped = chain.lens.len() >= 2 && first.is_some_and(|g| chain.lens.iter().all(|l| *l == g));
        if grouped && !group && !last_group {
            break;
        }
        if !(token_piece(run, w) || group || last_group || opens) {
            break;
        }
        chain.random += usize::from(random_looking(w) || run.letters >= LONG_RUN);
        chain.all_upper &= run.all_upper();
        chain.upper += usize::from(run.all_upper());
        chain.lens.push(run.letters);
        chain.last = k;
        // A chain stops at a token's length, unless it is groups of one length: then it goes on
        // while the groups do, because it may have started on letters before the token.
        // (Found by `cargo fuzz run redact`: junk before a grouped token used up the 128 letters,
        // and its last three groups stayed.)
        let tail = &chain.lens[chain.lens.len().saturating_sub(3)..];
        let groups_go_on = tail.len() == 3 && tail[0] >= 4 && tail.iter().all(|l| *l == tail[0]);
        if last_group
            || (chain.total() >= TOKEN_LEN && !groups_go_on)
            || chain.total() >= 3 * TOKEN_LEN
            || k + 1 >= runs.len()
            || gaps[k] == Gap::Other
        {
            break;
        }
        k += 1;
    }
    (!chain.lens.is_empty()).then_some(chain)
}

/// The last run of the value that starts at `j`, if the value looks like (part of) a token.
fn label_chain(runs: &[Run], words: &[Cow<[u8]>], gaps: &[Gap], j: usize) -> Option<usize> {
    let c = walk(runs, words, gaps, j, true)?;
    let token_like = (c.random > 0 && c.total() >= 12) || (equal_groups(&c.lens) && c.total() >= 48);
    token_like.then_some(c.last)
}

/// Rule 4: masks the pieces that a line wrap (or a space, when they look random) joins to a
/// masked token, while the whole stays within a token's length.
fn extend_wraps(runs: &[Run], words: &[Cow<[u8]>], gaps: &[Gap], masked: &mut [Option<(Range<usize>, Kind)>]) {
    let n = runs.len();
    let mut i = 0;
    while i < n {
        if masked[i].is_none() {
            i += 1;
            continue;
        }
        // The chain of masked runs around i.
        let mut j = i;
        while j + 1 < n && gaps[j] != Gap::Other && masked[j + 1].is_some() {
            j += 1;
        }
        let letters = |k: usize| masked[k].as_ref().map_or(0, |(p, _)| p.len());
        let mut total: usize = (i..=j).map(letters).sum();
        let upper = (i..=j).all(|k| runs[k].all_upper());
        // A chain of equal groups takes in its neighbours of the same length: the groups that did
        // not look random on their own.
        let group = (j > i && (i..=j).all(|k| runs[k].letters == runs[i].letters)).then_some(runs[i].letters);
        let accept = |k: usize, g: Gap, total: usize| {
            let r = &runs[k];
            let fits = total + r.letters <= TOKEN_LEN;
            let shape = if upper { r.all_upper() } else { random_looking(&words[k]) || (r.letters >= 16 && !camel(&words[k])) }
                || group == Some(r.letters);
            fits && match g {
                Gap::Wrap => shape,
                Gap::Space => shape && (random_looking(&words[k]) || r.letters >= 8),
                Gap::Other => false,
            }
        };
        // Only whole runs extend a chain: a run masked in part kept a word glued to it.
        let (mut a, mut b) = (i, j);
        while a > 0 && masked[a].as_ref().is_some_and(|(p, _)| p.start == 0) && masked[a - 1].is_none() && accept(a - 1, gaps[a - 1], total)
        {
            a -= 1;
            total += runs[a].letters;
            masked[a] = Some((0..runs[a].letters, Kind::AppToken));
        }
        while b + 1 < n
            && masked[b].as_ref().is_some_and(|(p, _)| p.end == runs[b].letters)
            && masked[b + 1].is_none()
            && accept(b + 1, gaps[b], total)
        {
            b += 1;
            total += runs[b].letters;
            masked[b] = Some((0..runs[b].letters, Kind::AppToken));
        }
        // A good part of a token whose neighbours hold exactly the letters it lacks: they are the
        // rest of it, whatever they look like ("...104 letters hhnqabar bdtpplbnxeuvafuh").
        let token_part = (a..=b).any(|k| masked[k].as_ref().is_some_and(|(_, kind)| *kind == Kind::AppToken));
        if token_part && (48..TOKEN_LEN).contains(&total) {
            // Only a side whose edge run is masked whole may grow: a kept glued word ends it.
            let open_left = masked[a].as_ref().is_some_and(|(p, _)| p.start == 0);
            let open_right = masked[b].as_ref().is_some_and(|(p, _)| p.end == runs[b].letters);
            if let Some((left, right)) = complete(runs, gaps, masked, (a, open_left), (b, open_right), TOKEN_LEN - total) {
                for k in a - left..a {
                    masked[k] = Some((0..runs[k].letters, Kind::AppToken));
                }
                for k in b + 1..=b + right {
                    masked[k] = Some((0..runs[k].letters, Kind::AppToken));
                }
                b += right;
            }
        }
        i = b + 1;
    }
}

/// How many unmasked runs to the left of `a` and to the right of `b` hold exactly `deficit`
/// letters, joined by separators; the fewest runs that do.
fn complete(
    runs: &[Run],
    gaps: &[Gap],
    masked: &[Option<(Range<usize>, Kind)>],
    (a, open_left): (usize, bool),
    (b, open_right): (usize, bool),
    deficit: usize,
) -> Option<(usize, usize)> {
    let sums = |mut next: Box<dyn FnMut(usize) -> Option<usize> + '_>| {
        let mut out = vec![0usize];
        for step in 1..=6 {
            match next(step) {
                Some(k) if masked[k].is_none() && out[step - 1] + runs[k].letters <= deficit => out.push(out[step - 1] + runs[k].letters),
                _ => break,
            }
        }
        out
    };
    let left = sums(Box::new(|step| (open_left && a >= step && gaps[a - step] != Gap::Other).then(|| a - step)));
    let right = sums(Box::new(|step| (open_right && b + step < runs.len() && gaps[b + step - 1] != Gap::Other).then_some(b + step)));
    let mut best: Option<(usize, usize)> = None;
    for (l, ls) in left.iter().enumerate() {
        for (r, rs) in right.iter().enumerate() {
            if ls + rs == deficit && l + r > 0 && best.is_none_or(|(bl, br)| l + r < bl + br) {
                best = Some((l, r));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `tok` occurs in any case, found the plain way.
    fn tok_starts(text: &str) -> Vec<usize> {
        let lower = text.to_ascii_lowercase();
        (0..lower.len()).filter(|i| lower.as_bytes()[*i..].starts_with(b"tok")).collect()
    }

    /// Text made of what the first look reacts to: labels and near-labels, long and short words,
    /// capitals, groups, joining and separating bytes, escapes, accents and full-width forms.
    fn hostile_text(rng: &mut fastrand::Rng) -> String {
        const PIECES: &[&str] = &[
            "token",
            "Token",
            "TOKEN",
            "appToken",
            "tokens",
            "tokem",
            "apptoke",
            "toke",
            "tok",
            "stoke",
            "tokenize",
            "is",
            "the",
            "my",
            "value",
            ":",
            "=",
            " ",
            " ",
            " ",
            "\n",
            "\n",
            "-",
            ">",
            "\t",
            ",",
            ".",
            "\\",
            "\\n",
            "\\u200b",
            "\\x",
            "ã",
            "é",
            "Ｑ",
            "1",
            "42",
            "\"",
            "'",
            "authentication",
            "integration",
            "credentials",
            "configuration",
            "abc",
            "QWER",
            "TYUI",
            "OPAS",
            "qwertyuiopasdfghjklzxcvbnm",
            "ABCDEFGHIJKLMNOP",
            "ZXCVBNMQWERTYUIOPASDFGHJKLZXCV",
            "bcdfghjk",
            "mnbvcxzl",
        ];
        (0..rng.usize(0..40)).map(|_| PIECES[rng.usize(0..PIECES.len())]).collect()
    }

    #[test]
    fn the_quick_look_agrees_with_the_first_look_everywhere() {
        let mut rng = fastrand::Rng::with_seed(17);
        let mut scanned = 0;
        for _ in 0..200_000 {
            let text = hostile_text(&mut rng);
            let want = worth_scanning(&text);
            assert_eq!(quick_look(&text, tok_starts(&text).into_iter()), want, "{text:?}");
            scanned += usize::from(want);
        }
        // Both answers must be common, or the comparison proves little.
        assert!((20_000..180_000).contains(&scanned), "{scanned} of 200,000 texts scanned");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let corpus = std::fs::read_to_string(root.join("tests/data/probe_messages.jsonl")).unwrap_or_default();
        for line in corpus.lines() {
            let text = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v["text"].as_str().map(str::to_string));
            let text = text.unwrap_or_default();
            assert_eq!(quick_look(&text, tok_starts(&text).into_iter()), worth_scanning(&text), "{text:?}");
        }
    }

    #[test]
    fn the_keyword_pass_reports_every_tok_the_quick_look_needs() {
        let keywords = super::super::keywords::builtin().expect("the shared keyword pass builds");
        let mut rng = fastrand::Rng::with_seed(23);
        for _ in 0..20_000 {
            let text = hostile_text(&mut rng);
            let found: Vec<usize> = keywords.survey(&text).tok_starts().collect();
            assert_eq!(found, tok_starts(&text), "{text:?}");
        }
    }

    #[test]
    fn labels_are_told_by_their_ending_in_any_case() {
        for w in ["token", "AppToken", "VTEXAPPTOKEN", "tokens", "tokem", "apptoke", "toke"] {
            assert!(is_label(w.as_bytes()), "{w}");
        }
        for w in ["tok", "taken", "broken", "spoken", "tokenize", "poke", "items", "xxxxxxxxxxxxxxxxxxxx"] {
            assert!(!is_label(w.as_bytes()), "{w}");
        }
        assert!(!is_label("a".repeat(25).replace("aaaaa", "token").as_bytes()), "longer than any label");
    }

    const T: &str =
        "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";

    fn masked(raw: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for h in find(raw) {
            out.push_str(&raw[at..h.range.start]);
            out.push('#');
            at = h.range.end;
        }
        out.push_str(&raw[at..]);
        out
    }

    #[test]
    fn a_label_glued_to_the_token_stays_and_the_token_goes() {
        assert_eq!(masked(&format!("X-VTEX-API-AppToken{T} fails")), "X-VTEX-API-AppToken# fails");
        assert_eq!(masked(&format!("{T}thanks")), "#thanks");
    }

    #[test]
    fn underscores_and_markdown_around_a_token_do_not_hide_it() {
        for raw in [format!("_{T}_"), format!("__{T}__"), format!("{T}_"), format!("my_{T}"), format!("**{T}**")] {
            assert!(!masked(&raw).contains(&T[..24]), "{raw}");
        }
    }

    #[test]
    fn a_token_cut_into_short_pieces_after_a_label_is_masked_whole() {
        let groups: Vec<&str> = (0..128).step_by(16).map(|i| &T[i..i + 16]).collect();
        for sep in [" ", "-", "\n", "\u{200B}", "\\n"] {
            let raw = format!("appToken: {} and then 401", groups.join(sep));
            assert_eq!(masked(&raw), "appToken: # and then 401", "{sep:?}");
        }
        let fours: Vec<&str> = (0..128).step_by(4).map(|i| &T[i..i + 4]).collect();
        assert_eq!(masked(&format!("token: {}", fours.join("-"))), "token: #");
    }

    #[test]
    fn groups_of_capitals_followed_by_a_lower_case_group_are_still_masked() {
        // Found by `cargo fuzz run redact`: the lower-case "iiii" was taken for one more group,
        // and a chain of mixed case was then not masked at all.
        let groups: Vec<&str> = (0..128).step_by(4).map(|i| &T[i..i + 4]).collect();
        let raw = format!("\u{1a}i{}-iiii\u{b}^", groups.join("\u{200b}"));
        let out = masked(&raw);
        assert!(!out.contains(&T[4..8]) && !out.contains(&T[120..124]), "{out}");
    }

    #[test]
    fn letters_before_a_grouped_token_do_not_use_up_its_length() {
        // Found by `cargo fuzz run redact`.
        let groups: Vec<&str> = (0..128).step_by(8).map(|i| &T[i..i + 8]).collect();
        let raw = format!("TO\u{ad}PPTTOOOHTOOOOOOO\u{ad}NDYUKENMSDNMOy{}EEEE,s'f", groups.join("-"));
        let out = masked(&raw);
        assert!(!out.contains(&T[104..112]) && !out.contains(&T[112..120]), "{out}");
    }

    #[test]
    fn capitals_after_a_backslash_u_are_letters_not_an_escape() {
        // Found by `cargo fuzz run classify`: `\uCEEE` was read as an escape, which cut 26
        // capitals to 22, under the length that is always masked.
        let raw = ",-EEEEutoke\\\\\\uCEEEEEEAEEEEEEEEEAEEECCECC9C";
        assert!(!masked(raw).contains("EEEEEEAEEEEEEEEEAEEECC"), "{}", masked(raw));
        assert_eq!(escape_len(b"\\u200b"), Some(6));
        assert_eq!(escape_len(b"\\uCEEE"), None);
    }

    #[test]
    fn the_short_half_of_a_wrapped_token_goes_with_the_long_half() {
        assert_eq!(masked(&format!("here it is\n{}\n{}\nthanks", &T[..20], &T[20..])), "here it is\n#\nthanks");
        assert_eq!(masked(&format!("{}\n{}", &T[..108], &T[108..])), "#");
    }

    #[test]
    fn lower_and_mixed_case_tokens_are_masked_without_a_label() {
        let mixed: String = T.chars().enumerate().map(|(i, c)| if i % 3 == 0 { c.to_ascii_lowercase() } else { c }).collect();
        for t in [T.to_ascii_lowercase(), mixed] {
            assert_eq!(find(&format!("my token is {t}"))[0].kind, Kind::AppToken);
        }
    }

    #[test]
    fn prose_shouting_identifiers_and_app_keys_are_left_alone() {
        for raw in [
            "The appKey vtexappkey-acme-ABCDEF gets 401 on every call, please help",
            "TOKEN IS INVALID BECAUSE THE SIGNATURE WAS REVOKED YESTERDAY AND NOTHING WORKS ANYMORE",
            "token: incorrecto, dice el servidor",
            "client.DefaultRequestHeaders.Add(\"X-VTEX-API-AppToken\", token); getOrderConfigurationByAccountName()",
            "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "Anticonstitucionalmente o appToken não funciona.",
        ] {
            assert!(find(raw).is_empty(), "{raw}: {:?}", find(raw));
        }
    }

    #[test]
    fn full_width_letters_are_letters() {
        let fw: String = T.chars().map(|c| char::from_u32(c as u32 - 'A' as u32 + 0xFF21).unwrap_or(c)).collect();
        assert_eq!(masked(&format!("appToken：{fw}")), "appToken：#");
    }
}
