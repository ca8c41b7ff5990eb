//! The concepts' words, indexed for one look-up per word of a message.
//!
//! After tokenisation a message is a short list of words, and nearly every lexicon entry is one
//! word: one hash probe per word finds what that word is. A word's slot says, all at once, which
//! concepts the word is an entry of, which prefixes (`vincul*`) it matches, which languages it is
//! a stop word of, and whether any phrase starts with it. Phrases are indexed by their first two
//! words, which the token stream holds side by side (`"no role"`), so a common first word such as
//! `no` or `i` costs one more probe, not a comparison with each of its phrases. Words that are in
//! no entry are checked against the prefixes, behind a bitmap of their first three letters. The
//! cost is one or two probes per word, whatever the size of the pack.

use rustc_hash::FxHashMap;

use crate::rules::Pack;
use crate::tokens::{pack16, Tokens};

/// The words of a phrase after its first two (each with its packed key, see [`pack16`]), and
/// whether its last word is a prefix.
#[derive(Debug)]
struct Phrase {
    rest: Vec<(Option<u128>, Box<str>)>,
    last_prefix: bool,
    group: u32,
}

/// A phrase of two words whose second one is a prefix (`nao vincul*`): few, so kept in a list
/// under the first word.
#[derive(Debug)]
struct PrefixPair {
    second: Box<str>,
    group: u32,
}

#[derive(Debug)]
struct Prefix {
    text: Box<str>,
    group: u32,
}

/// Everything one known word means, as it is built.
#[derive(Debug, Default)]
struct Entry {
    /// Concept groups this word is an entry of (the prefixes it matches are added to its
    /// slot's concepts when the lexicon is built).
    groups: Vec<u32>,
    /// Some phrase starts with this word.
    starts_phrase: bool,
    prefix_pairs: Vec<PrefixPair>,
    /// Stop word of: 1 = English, 2 = Portuguese, 4 = Spanish.
    languages: u8,
}

/// [`Entry`] packed into 8 bytes, for a table that stays in the cache.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The concepts the word counts for on its own: `concepts[at..at + len]`.
    at: u32,
    len: u16,
    languages: u8,
    /// [`STARTS_PHRASE`], [`HAS_PREFIX_PAIRS`].
    flags: u8,
}

const STARTS_PHRASE: u8 = 1;
const HAS_PREFIX_PAIRS: u8 = 2;

/// Words (or pairs of words) to dense numbers. A key of up to 16 bytes is packed into one
/// integer: the probe hashes two machine words and compares integers, with no pointer to follow,
/// which is what a look-up per word of every message needs. Longer keys go by their text.
#[derive(Debug, Default)]
struct WordMap<V = u32> {
    short: FxHashMap<u128, V>,
    long: FxHashMap<Box<str>, V>,
}

impl<V: Copy> WordMap<V> {
    #[cfg(test)]
    fn get(&self, key: &str) -> Option<V> {
        match pack16(key.as_bytes()) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(key).copied(),
        }
    }

    /// [`WordMap::get`] for a key already packed: `packed` is `pack16(text)`, or 0 when `text`
    /// is longer than 16 bytes.
    fn get_packed<'t>(&self, packed: u128, text: impl FnOnce() -> Option<&'t str>) -> Option<V> {
        if packed != 0 {
            return self.short.get(&packed).copied();
        }
        self.long.get(text()?).copied()
    }

    fn insert(&mut self, key: &str, value: V) {
        match pack16(key.as_bytes()) {
            Some(k) => self.short.insert(k, value),
            None => self.long.insert(key.into(), value),
        };
    }
}

/// Stop-word votes of a message, for [`crate::language::decide`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Votes {
    pub en: u32,
    pub pt: u32,
    pub es: u32,
}

/// Where each concept's words are, and which concepts each entry counts for.
#[derive(Debug, Default)]
pub struct Lexicon {
    /// Each known word's number and slot, in the table itself: one memory access per word.
    words: WordMap<(u32, Slot)>,
    /// How many words are known: the next one's number.
    known: u32,
    /// Every slot's concepts, end to end.
    concepts: Vec<u32>,
    /// Two-word phrases whose second word is a prefix, by slot.
    prefix_pairs: FxHashMap<u32, Vec<PrefixPair>>,
    /// Phrases by their first two words, joined by one space as the token stream has them.
    pairs: WordMap,
    phrases: Vec<Vec<Phrase>>,
    /// Prefixes by their first three letters (as a number); shorter ones in `short`.
    prefixes: FxHashMap<u32, Vec<Prefix>>,
    /// One bit per `key3 % PREFIX_BITS`: whether any prefix may start with those three letters.
    prefix_bits: Vec<u64>,
    short: Vec<Prefix>,
    /// Concept lists: an entry counts for its own concept and every concept that includes that
    /// one, directly or not.
    groups: Vec<Vec<u32>>,
    group_of: FxHashMap<Vec<u32>, u32>,
}

const PREFIX_BITS: u32 = 1 << 14;

/// The slips of a word of six letters or more: each one letter left out, doubled or replaced
/// (not the first), and each pair of neighbours swapped. None for a phrase, a prefix or a
/// shorter word, where one slip is too often another word.
fn one_slip(word: &str) -> Vec<String> {
    let b = word.as_bytes();
    if b.len() < 6 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(28 * b.len());
    let mut push = |v: Vec<u8>| out.extend(String::from_utf8(v).ok());
    for i in 0..b.len() {
        let mut v = b.to_vec();
        v.remove(i);
        push(v);
        // A key held down a moment too long: "apptokken", "sponssor".
        let mut v = b.to_vec();
        v.insert(i, b[i]);
        push(v);
    }
    for i in 0..b.len() - 1 {
        if b[i] != b[i + 1] {
            let mut v = b.to_vec();
            v.swap(i, i + 1);
            push(v);
        }
    }
    // One letter typed for another ("sponsar", "appkei"), but never the first: people rarely
    // miss the letter a word starts with, and a different first letter is most often a
    // different word.
    for i in 1..b.len() {
        if !b[i].is_ascii_lowercase() {
            continue;
        }
        for c in b'a'..=b'z' {
            if c != b[i] {
                let mut v = b.to_vec();
                v[i] = c;
                push(v);
            }
        }
    }
    // Deleting either of two equal neighbours gives the same slip ("apptoken" → "aptoken"
    // twice): kept once. None of them gives the word back.
    out.sort_unstable();
    out.dedup();
    out
}

/// Where `key3` is in [`Lexicon::prefix_bits`]: the word and the bit.
fn prefix_bit(k: u32) -> (usize, u64) {
    let at = k % PREFIX_BITS;
    ((at / 64) as usize, 1 << (at % 64))
}

fn key3(b: &[u8]) -> Option<u32> {
    match b {
        [a, c, d, ..] => Some(u32::from_le_bytes([*a, *c, *d, 0])),
        _ => None,
    }
}

impl Lexicon {
    pub fn new(pack: &Pack) -> Lexicon {
        let n = pack.concepts.len();
        // Who includes whom, turned around.
        let mut counts_for: Vec<Vec<u32>> = (0..n).map(|c| vec![c as u32]).collect();
        for (c, slot) in counts_for.iter_mut().enumerate() {
            let mut stack = vec![c];
            let mut seen = vec![false; n];
            seen[c] = true;
            while let Some(x) = stack.pop() {
                for (d, concept) in pack.concepts.iter().enumerate() {
                    if !seen[d] && concept.includes.contains(&x) {
                        seen[d] = true;
                        slot.push(d as u32);
                        stack.push(d);
                    }
                }
            }
            slot.sort_unstable();
        }
        // Entry -> every concept it counts for.
        let mut entries: std::collections::BTreeMap<std::borrow::Cow<str>, Vec<u32>> = std::collections::BTreeMap::new();
        for (c, concept) in pack.concepts.iter().enumerate() {
            for w in &concept.words {
                let e = entries.entry(w.as_str().into()).or_default();
                e.extend(&counts_for[c]);
                e.sort_unstable();
                e.dedup();
            }
        }
        // Stop words as the token stream has them (no apostrophes), with their language bits.
        let stop_words: std::collections::HashMap<String, u8> = crate::language::stop_words()
            .into_iter()
            .flat_map(|(list, bit)| list.iter().map(move |w| (w.replace('\'', ""), bit)))
            .fold(std::collections::HashMap::new(), |mut m, (w, bit)| {
                *m.entry(w).or_default() |= bit;
                m
            });
        // A fuzzy concept's slips, unless the slip is a word of its own: an entry of any concept,
        // or a stop word ("sponsor" minus a letter is no word, "token" minus one is "toke").
        let mut slips: std::collections::BTreeMap<String, Vec<u32>> = std::collections::BTreeMap::new();
        for (c, concept) in pack.concepts.iter().enumerate().filter(|(_, c)| c.fuzzy) {
            for w in &concept.words {
                for slip in one_slip(w) {
                    if !entries.contains_key(slip.as_str()) && !stop_words.contains_key(&slip) {
                        slips.entry(slip).or_default().extend(&counts_for[c]);
                    }
                }
            }
        }
        for (slip, mut concepts) in slips {
            concepts.sort_unstable();
            concepts.dedup();
            entries.insert(slip.into(), concepts);
        }
        let mut lex = Lexicon { prefix_bits: vec![0; (PREFIX_BITS / 64) as usize], ..Lexicon::default() };
        let mut known: std::collections::BTreeMap<String, Entry> = std::collections::BTreeMap::new();
        let mut phrases: std::collections::BTreeMap<String, Vec<Phrase>> = std::collections::BTreeMap::new();
        for (entry, concepts) in entries {
            let entry: &str = &entry;
            let group = lex.group(concepts);
            let (body, prefix) = match entry.strip_suffix('*') {
                Some(b) => (b, true),
                None => (entry, false),
            };
            let words: Vec<&str> = body.split(' ').filter(|w| !w.is_empty()).collect();
            match words.as_slice() {
                [] => {}
                [one] if !prefix => known.entry((*one).into()).or_default().groups.push(group),
                [one] => {
                    let p = Prefix { text: (*one).into(), group };
                    match key3(one.as_bytes()) {
                        Some(k) => {
                            let (word, bit) = prefix_bit(k);
                            lex.prefix_bits[word] |= bit;
                            lex.prefixes.entry(k).or_default().push(p)
                        }
                        None => lex.short.push(p),
                    }
                }
                [first, second] if prefix => {
                    known.entry((*first).into()).or_default().prefix_pairs.push(PrefixPair { second: (*second).into(), group });
                }
                [first, second, rest @ ..] => {
                    known.entry((*first).into()).or_default().starts_phrase = true;
                    let rest = rest.iter().map(|w| (pack16(w.as_bytes()), (*w).into())).collect();
                    let phrase = Phrase { rest, last_prefix: prefix, group };
                    phrases.entry(format!("{first} {second}")).or_default().push(phrase);
                }
            }
        }
        for (word, bits) in stop_words {
            known.entry(word).or_default().languages |= bits;
        }
        for (word, entry) in known {
            // A known word's prefixes are the same in every message: found now, not per word.
            let groups: Vec<u32> = entry.groups.iter().copied().chain(lex.prefix_groups(&word)).collect();
            let mut concepts: Vec<u32> = groups.iter().flat_map(|g| lex.groups[*g as usize].iter().copied()).collect();
            concepts.sort_unstable();
            concepts.dedup();
            let n = lex.known;
            let at = lex.concepts.len() as u32;
            lex.concepts.extend(&concepts);
            let mut flags = if entry.starts_phrase { STARTS_PHRASE } else { 0 };
            if !entry.prefix_pairs.is_empty() {
                flags |= HAS_PREFIX_PAIRS;
                lex.prefix_pairs.insert(n, entry.prefix_pairs);
            }
            lex.known += 1;
            lex.words.insert(&word, (n, Slot { at, len: concepts.len() as u16, languages: entry.languages, flags }));
        }
        for (pair, list) in phrases {
            let n = lex.phrases.len() as u32;
            lex.phrases.push(list);
            lex.pairs.insert(&pair, n);
        }
        lex
    }

    fn group(&mut self, concepts: Vec<u32>) -> u32 {
        if let Some(g) = self.group_of.get(&concepts) {
            return *g;
        }
        let g = self.groups.len() as u32;
        self.groups.push(concepts.clone());
        self.group_of.insert(concepts, g);
        g
    }

    /// The groups of the prefixes `word` starts with.
    fn prefix_groups<'a>(&'a self, word: &'a str) -> impl Iterator<Item = u32> + 'a {
        let listed = key3(word.as_bytes())
            .filter(|k| {
                let (word, bit) = prefix_bit(*k);
                self.prefix_bits[word] & bit != 0
            })
            .and_then(|k| self.prefixes.get(&k))
            .map(Vec::as_slice)
            .unwrap_or_default();
        listed.iter().chain(&self.short).filter(move |p| word.starts_with(&*p.text)).map(|p| p.group)
    }

    /// Every concept found in the words, as `(concept, first word, last word)`, in the order of
    /// their first words; and the stop-word votes of the words.
    pub fn find(&self, tokens: &Tokens, out: &mut Vec<(u32, u32, u32)>) -> Votes {
        let n = tokens.words.len();
        let mut votes = Votes::default();
        for i in 0..n {
            let Some((index, slot)) = self.words.get_packed(tokens.key(i, i), || Some(tokens.text(i))) else {
                for g in self.prefix_groups(tokens.text(i)) {
                    out.extend(self.groups[g as usize].iter().map(|c| (*c, i as u32, i as u32)));
                }
                continue;
            };
            let concepts = self.concepts.get(slot.at as usize..slot.at as usize + slot.len as usize).unwrap_or_default();
            out.extend(concepts.iter().map(|c| (*c, i as u32, i as u32)));
            votes.en += u32::from(slot.languages & 1);
            votes.pt += u32::from(slot.languages >> 1 & 1);
            votes.es += u32::from(slot.languages >> 2 & 1);
            if slot.flags == 0 || i + 1 >= n {
                continue;
            }
            let mut push = |group: u32, last: usize| {
                out.extend(self.groups[group as usize].iter().map(|c| (*c, i as u32, last as u32)));
            };
            if slot.flags & HAS_PREFIX_PAIRS != 0 {
                let next = tokens.text(i + 1);
                let pairs = self.prefix_pairs.get(&index).map(Vec::as_slice).unwrap_or_default();
                for p in pairs.iter().filter(|p| next.starts_with(&*p.second)) {
                    push(p.group, i + 1);
                }
            }
            if slot.flags & STARTS_PHRASE == 0 {
                continue;
            }
            let Some(phrases) =
                self.pairs.get_packed(tokens.key(i, i + 1), || tokens.span(i, i + 1)).and_then(|p| self.phrases.get(p as usize))
            else {
                continue;
            };
            for p in phrases {
                let len = p.rest.len();
                if i + 1 + len >= n {
                    continue;
                }
                let fits = p.rest.iter().enumerate().all(|(k, (packed, w))| {
                    let j = i + 2 + k;
                    if p.last_prefix && k + 1 == len {
                        tokens.text(j).starts_with(&**w)
                    } else {
                        match packed {
                            // A longer word's key is 0, which no packed word is.
                            Some(packed) => tokens.key(j, j) == *packed,
                            None => tokens.text(j) == &**w,
                        }
                    }
                });
                if fits {
                    push(p.group, i + 1 + len);
                }
            }
        }
        votes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_length_pack_to_their_zero_padded_bytes() {
        let text = b"abcdefghijklmnopq";
        for n in 0..=text.len() {
            let mut padded = [0u8; 16];
            let want = (n <= 16).then(|| {
                padded[..n].copy_from_slice(&text[..n]);
                u128::from_le_bytes(padded)
            });
            assert_eq!(pack16(&text[..n]), want, "{n} bytes");
        }
    }

    #[test]
    fn the_word_map_finds_what_it_holds_and_nothing_else() {
        let mut map = WordMap::default();
        let words: Vec<String> = (0..2000).map(|i| format!("w{i}{}", "x".repeat(i % 20))).collect();
        for (i, w) in words.iter().enumerate() {
            map.insert(w, i as u32);
        }
        for (i, w) in words.iter().enumerate() {
            assert_eq!(map.get(w), Some(i as u32), "{w}");
            let packed = pack16(w.as_bytes()).unwrap_or(0);
            assert_eq!(map.get_packed(packed, || Some(w.as_str())), Some(i as u32), "{w}, packed");
        }
        assert_eq!(map.get("absent"), None);
        assert_eq!(map.get(""), None);
    }

    fn pack(concepts: &str) -> Pack {
        let minimal = include_str!("../tests/data/minimal_pack.toml");
        Pack::from_sources(vec![("pack.toml".into(), format!("{minimal}\n{concepts}"))]).expect("test pack loads")
    }

    /// The concepts found in `text`, by name, with their word ranges.
    fn found(pack: &Pack, text: &str) -> (Vec<(String, u32, u32)>, Votes) {
        let lex = Lexicon::new(pack);
        let tokens = Tokens::new(&crate::normalize::normalise(text).0);
        let mut out = Vec::new();
        let votes = lex.find(&tokens, &mut out);
        let mut named: Vec<(String, u32, u32)> = out.into_iter().map(|(c, a, b)| (pack.concepts[c as usize].name.clone(), a, b)).collect();
        named.sort();
        (named, votes)
    }

    #[test]
    fn phrases_that_share_their_first_words_are_each_found_where_they_occur() {
        let pack = pack(
            "[concepts.denied]\nwords = [\"no role\", \"no role at all\", \"no access\", \"não vincul*\"]\n\
             [concepts.linking]\nwords = [\"vincul*\", \"link\"]\n",
        );
        let (hits, _) = found(&pack, "No role at all, no access, não vinculei");
        let denied: Vec<(u32, u32)> = hits.iter().filter(|h| h.0 == "denied").map(|h| (h.1, h.2)).collect();
        // "no role" and "no role at all" both start at word 0; "no access" at 4; "nao vinculei" at 6.
        assert_eq!(denied, [(0, 1), (0, 3), (4, 5), (6, 7)], "{hits:?}");
        let linking: Vec<u32> = hits.iter().filter(|h| h.0 == "linking").map(|h| h.1).collect();
        assert_eq!(linking, [7], "a prefix matches a word that is in no entry: {hits:?}");
    }

    #[test]
    fn a_prefix_is_found_on_a_word_that_is_also_an_entry_of_its_own() {
        let pack = pack("[concepts.keys]\nwords = [\"keys\"]\n[concepts.keyish]\nwords = [\"key*\"]\n");
        let (hits, _) = found(&pack, "keys keyboard");
        assert!(hits.contains(&("keys".into(), 0, 0)) && hits.contains(&("keyish".into(), 0, 0)), "{hits:?}");
        assert!(hits.contains(&("keyish".into(), 1, 1)), "{hits:?}");
    }

    #[test]
    fn a_fuzzy_concept_finds_its_long_words_with_one_letter_left_out_doubled_swapped_or_replaced() {
        let pack = pack(
            "[concepts.named]\nfuzzy = true\nwords = [\"apptoken\", \"sponsor\", \"key\"]\n\
             [concepts.plain]\nwords = [\"manager\"]\n[concepts.other]\nwords = [\"sposnor\"]\n",
        );
        let named = |text: &str| found(&pack, text).0.iter().filter(|h| h.0 == "named").map(|h| h.1).collect::<Vec<u32>>();
        assert_eq!(named("aptoken apptokne apptken"), [0, 1, 2], "one letter left out, two neighbours swapped");
        assert_eq!(named("sponssor sponsar apptokem"), [0, 1, 2], "one letter doubled, one replaced");
        assert_eq!(named("sponsr manger"), [0], "only a fuzzy concept's words");
        assert!(
            named("apptokn3 aptokn ky kee xponsor apptokens").is_empty(),
            "one slip only, six letters or more, not the first letter, no other added letter"
        );
        // A slip that is another concept's word stays that concept's alone.
        let (hits, _) = found(&pack, "sposnor");
        assert_eq!(hits.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(), ["other"], "{hits:?}");
    }

    #[test]
    fn stop_words_vote_for_their_languages_in_the_same_pass() {
        let pack = pack("");
        let (_, votes) = found(&pack, "A chave não tem nenhum perfil, isn't it?");
        assert!(votes.pt >= 2 && votes.en >= 1, "{votes:?}");
        assert_eq!(found(&pack, "xyzzy").1, Votes::default());
    }
}
