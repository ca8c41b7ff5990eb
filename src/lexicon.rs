//! The concepts' words, indexed for one look-up per word of a message.
//!
//! After tokenisation a message is a short list of words, and nearly every lexicon entry is one
//! word: a hash look-up per word finds them. Phrases are kept under their first word and checked
//! only where it occurs, and prefixes (`vincul*`) under their first three letters. The cost is a
//! few look-ups per word, whatever the size of the pack.

use rustc_hash::FxHashMap;

use crate::rules::Pack;
use crate::tokens::Tokens;

/// A phrase of two or more words, kept under its first.
#[derive(Debug)]
struct Phrase {
    /// The words after the first.
    rest: Vec<Box<str>>,
    /// The last word is a prefix (`... vincul*`).
    last_prefix: bool,
    group: u32,
}

#[derive(Debug)]
struct Prefix {
    text: Box<str>,
    group: u32,
}

/// What one word can start: an entry of its own, phrases, and prefixes that it may match.
#[derive(Debug, Default)]
struct Slot {
    exact: Option<u32>,
    phrases: Vec<Phrase>,
}

/// Where each concept's words are, and which concepts each entry counts for.
#[derive(Debug, Default)]
pub struct Lexicon {
    words: FxHashMap<Box<str>, Slot>,
    /// Prefixes by their first three letters (as a number); shorter ones in `short`.
    prefixes: FxHashMap<u32, Vec<Prefix>>,
    short: Vec<Prefix>,
    /// Concept lists: an entry counts for its own concept and every concept that includes that
    /// one, directly or not.
    groups: Vec<Vec<u32>>,
    group_of: FxHashMap<Vec<u32>, u32>,
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
        let mut entries: std::collections::BTreeMap<&str, Vec<u32>> = std::collections::BTreeMap::new();
        for (c, concept) in pack.concepts.iter().enumerate() {
            for w in &concept.words {
                let e = entries.entry(w.as_str()).or_default();
                e.extend(&counts_for[c]);
                e.sort_unstable();
                e.dedup();
            }
        }
        let mut lex = Lexicon::default();
        for (entry, concepts) in entries {
            let group = lex.group(concepts);
            let (body, prefix) = match entry.strip_suffix('*') {
                Some(b) => (b, true),
                None => (entry, false),
            };
            let words: Vec<&str> = body.split(' ').filter(|w| !w.is_empty()).collect();
            match words.as_slice() {
                [] => {}
                [one] if !prefix => lex.words.entry((*one).into()).or_default().exact = Some(group),
                [one] => {
                    let p = Prefix { text: (*one).into(), group };
                    match key3(one.as_bytes()) {
                        Some(k) => lex.prefixes.entry(k).or_default().push(p),
                        None => lex.short.push(p),
                    }
                }
                [first, rest @ ..] => {
                    let phrase = Phrase { rest: rest.iter().map(|w| (*w).into()).collect(), last_prefix: prefix, group };
                    lex.words.entry((*first).into()).or_default().phrases.push(phrase);
                }
            }
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

    /// Every concept found in the words, as `(concept, first word, last word)`, in the order of
    /// their first words.
    pub fn find(&self, tokens: &Tokens, out: &mut Vec<(u32, u32, u32)>) {
        let n = tokens.words.len();
        let mut push = |group: u32, first: usize, last: usize| {
            for &c in &self.groups[group as usize] {
                out.push((c, first as u32, last as u32));
            }
        };
        for i in 0..n {
            let word = tokens.text(i);
            if let Some(slot) = self.words.get(word) {
                if let Some(g) = slot.exact {
                    push(g, i, i);
                }
                for p in &slot.phrases {
                    let len = p.rest.len();
                    if i + len >= n {
                        continue;
                    }
                    let fits = p.rest.iter().enumerate().all(|(k, w)| {
                        let next = tokens.text(i + 1 + k);
                        if p.last_prefix && k + 1 == len {
                            next.starts_with(&**w)
                        } else {
                            next == &**w
                        }
                    });
                    if fits {
                        push(p.group, i, i + len);
                    }
                }
            }
            if let Some(list) = key3(word.as_bytes()).and_then(|k| self.prefixes.get(&k)) {
                for p in list.iter().filter(|p| word.starts_with(&*p.text)) {
                    push(p.group, i, i);
                }
            }
            for p in self.short.iter().filter(|p| word.starts_with(&*p.text)) {
                push(p.group, i, i);
            }
        }
    }
}
