//! One pass of one automaton over the raw text, for the keywords of every first look that
//! masking takes: the credential diagnosis' field names ([`crate::diagnose`]), the secret rules'
//! keywords ([`super::rules`]) and the reply-header markers ([`crate::quoted`]).
//!
//! Each of them used to run an automaton of its own over every message, and together they were
//! the largest single cost of classifying one. The pass reports every occurrence of every
//! keyword, overlapping ones included, so each reader gets at least what its own search found
//! and decides from that.

use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};

/// Whose keyword a match is, and its index in that reader's own list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Diagnose(u8),
    Secret(u16),
    Quoted,
}

/// One occurrence of a keyword in the raw text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub owner: Owner,
    pub start: usize,
    pub end: usize,
}

/// Every keyword occurrence of one message, in the order of their ends.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub hits: Vec<Hit>,
}

impl Survey {
    /// The hits that lie wholly in the first `len` bytes: what a search of that prefix finds.
    pub fn within(&self, len: usize) -> impl Iterator<Item = &Hit> + '_ {
        self.hits.iter().filter(move |h| h.end <= len)
    }

    pub fn has_quoted_marker(&self) -> bool {
        self.hits.iter().any(|h| h.owner == Owner::Quoted)
    }

    /// Where `tok` occurs, in any case, in order.
    pub fn tok_starts(&self) -> impl Iterator<Item = usize> + '_ {
        self.hits.iter().filter(|h| h.owner == Owner::Diagnose(crate::diagnose::TOK_WORD)).map(|h| h.start)
    }

    /// The secret rules' keywords that occur, as indexes into their list.
    pub fn secret_keywords(&self) -> impl Iterator<Item = usize> + '_ {
        self.hits.iter().filter_map(|h| match h.owner {
            Owner::Secret(k) => Some(usize::from(k)),
            _ => None,
        })
    }
}

/// The keywords of all three readers in one automaton.
pub struct Keywords {
    dfa: DFA,
    /// The start state of an unanchored search.
    start: aho_corasick::automaton::StateID,
    /// For each distinct (lower-case) keyword, every reader that listed it.
    owners: Vec<Vec<Owner>>,
}

impl Keywords {
    /// Keywords are matched in any ASCII case. `secret` are the secret rules' keywords, in the
    /// order of their own list.
    pub fn new(diagnose: &[&str], secret: &[String], quoted: &[&str]) -> Result<Keywords, String> {
        let mut words: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<Owner>> = Vec::new();
        let mut add = |word: &str, owner: Owner| {
            let word = word.to_ascii_lowercase();
            match words.iter().position(|w| *w == word) {
                Some(i) => owners[i].push(owner),
                None => {
                    words.push(word);
                    owners.push(vec![owner]);
                }
            }
        };
        for (i, w) in diagnose.iter().enumerate() {
            let i = u8::try_from(i).map_err(|_| "more than 256 diagnosis keywords".to_string())?;
            add(w, Owner::Diagnose(i));
        }
        for (i, w) in secret.iter().enumerate() {
            let i = u16::try_from(i).map_err(|_| "more than 65,536 secret keywords".to_string())?;
            add(w, Owner::Secret(i));
        }
        for w in quoted {
            add(w, Owner::Quoted);
        }
        // A DFA walked by hand, one table look-up per byte: the search loops of the crate stop
        // at every match, and a prefilter cannot skip much when some keywords are two common
        // bytes (`-u`) and the text is short.
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&words)
            .map_err(|e| format!("the first looks' keywords do not compile together: {e}"))?;
        let start = dfa.start_state(Anchored::No).map_err(|e| format!("the keyword automaton has no unanchored start: {e}"))?;
        Ok(Keywords { dfa, start, owners })
    }

    /// Every occurrence of every keyword in `raw`.
    pub fn survey(&self, raw: &str) -> Survey {
        let mut hits = Vec::new();
        let dfa = &self.dfa;
        let mut sid = self.start;
        for (at, b) in raw.bytes().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, b);
            // With no prefilter only dead and match states are special, and an unanchored
            // search never dies.
            if dfa.is_special(sid) {
                self.record(sid, at + 1, &mut hits);
            }
        }
        Survey { hits }
    }

    /// The keywords that end at `end`, in match state `sid`. Kept out of the search loop, which
    /// then holds all it needs in registers.
    #[inline(never)]
    fn record(&self, sid: aho_corasick::automaton::StateID, end: usize, hits: &mut Vec<Hit>) {
        let dfa = &self.dfa;
        if !dfa.is_match(sid) {
            return;
        }
        for i in 0..dfa.match_len(sid) {
            let pattern = dfa.match_pattern(sid, i);
            let start = end - dfa.pattern_len(pattern);
            for owner in &self.owners[pattern.as_usize()] {
                hits.push(Hit { owner: *owner, start, end });
            }
        }
    }
}

/// The pass for the built-in secret rules, the diagnosis and the reply markers. `None` only if
/// it failed to build, which the tests rule out; each reader then assumes the worst and runs its
/// full search.
pub fn builtin() -> Option<&'static Keywords> {
    static KEYWORDS: OnceLock<Option<Keywords>> = OnceLock::new();
    KEYWORDS
        .get_or_init(|| {
            let secret = super::rules::SecretRules::builtin().map(|r| r.keywords()).unwrap_or_default();
            Keywords::new(&crate::diagnose::FIRST_LOOK_WORDS, secret, &crate::quoted::MARKERS).ok()
        })
        .as_ref()
}

/// Every keyword occurrence in `raw`, by the built-in pass; `None` if it did not build.
pub fn survey(raw: &str) -> Option<Survey> {
    builtin().map(|k| k.survey(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_keywords_of_different_readers_are_all_reported() {
        let k = Keywords::new(&["apptoken", "tok"], &["token".to_string(), "app".to_string()], &["wrote:"]).expect("builds");
        let s = k.survey("My AppToken? she wrote: no");
        let owners: Vec<Owner> = s.hits.iter().map(|h| h.owner).collect();
        assert!(owners.contains(&Owner::Diagnose(0)), "{owners:?}");
        assert!(owners.contains(&Owner::Diagnose(1)), "{owners:?}");
        assert!(owners.contains(&Owner::Secret(0)), "{owners:?}");
        assert!(owners.contains(&Owner::Secret(1)), "{owners:?}");
        assert!(s.has_quoted_marker());
        let app = s.hits.iter().find(|h| h.owner == Owner::Secret(1)).map(|h| (h.start, h.end));
        assert_eq!(app, Some((3, 6)));
    }

    #[test]
    fn a_keyword_listed_by_two_readers_is_reported_for_both() {
        let k = Keywords::new(&["secret"], &["secret".to_string()], &[]).expect("builds");
        let owners: Vec<Owner> = k.survey("a SECRET").hits.iter().map(|h| h.owner).collect();
        assert_eq!(owners, [Owner::Diagnose(0), Owner::Secret(0)]);
    }

    #[test]
    fn hits_within_a_prefix_are_those_that_end_inside_it() {
        let k = Keywords::new(&["key"], &[], &[]).expect("builds");
        let s = k.survey("key and key");
        assert_eq!(s.within(3).count(), 1);
        assert_eq!(s.within(10).count(), 1);
        assert_eq!(s.within(11).count(), 2);
    }
}
