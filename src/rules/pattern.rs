//! The pattern language of rule packs: which concepts occur together, and how close.
//!
//! ```text
//! lose token                 both concepts in one sentence, in any order
//! [clause] checked spaces    both in one clause
//! [message] cred             anywhere in the message
//! [8] new key                both within a window of 8 words
//! lose > token               `token` after `lose`, in one sentence
//! lose >6 token              `token` at most 6 words after `lose`
//! negation >3:linkword role  `role` at most 3 words after `negation`, every word between them
//!                            a `linkword` ("is not linked to any role", not "can't edit the role")
//! role ~4 missing            within 4 words of each other, either order
//! (token | key) failing      one of the two, and `failing`
//! 'license manager' role     a literal phrase, for a word no concept needs to own
//! token !checked             `token`, and no `checked` in the same sentence
//! ```
//!
//! A link (`>`, `>N`, `>N:concept`, `~N`) ties an item to the item before it; items without
//! one only share the scope. Each item is a concept name, a choice of concepts in parentheses,
//! or a quoted phrase, optionally negated with `!`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Sentence,
    Clause,
    Message,
    /// All positive items within this many words, first word to last.
    Window(u32),
}

/// A reference to a concept by name, or a literal phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Concept(String),
    Literal(String),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Concept(n) => f.write_str(n),
            Ref::Literal(l) => write!(f, "'{l}'"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link<C> {
    /// Only the scope is shared.
    Free,
    /// After the previous item: at most `max` words between them (any number if `None`), and
    /// every word between belonging to `between` when it is set.
    Then { max: Option<u32>, between: Option<C> },
    /// Within this many words of the previous item, before or after it.
    Near(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<C> {
    pub negated: bool,
    /// The item matches where any of these does.
    pub alts: Vec<C>,
    pub link: Link<C>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern<C> {
    pub source: String,
    pub scope: Scope,
    /// The positive items first, in order, then the negated ones: a negated item has no link,
    /// so where it was written does not matter.
    pub items: Vec<Item<C>>,
    /// How many of `items` are positive.
    pub positives: usize,
}

impl<C> Pattern<C> {
    /// The same pattern with every reference replaced.
    pub fn map<D, E>(self, mut f: impl FnMut(C) -> Result<D, E>) -> Result<Pattern<D>, E> {
        let mut items = Vec::with_capacity(self.items.len());
        for it in self.items {
            let alts = it.alts.into_iter().map(&mut f).collect::<Result<Vec<_>, _>>()?;
            let link = match it.link {
                Link::Free => Link::Free,
                Link::Near(n) => Link::Near(n),
                Link::Then { max, between: None } => Link::Then { max, between: None },
                Link::Then { max, between: Some(b) } => Link::Then { max, between: Some(f(b)?) },
            };
            items.push(Item { negated: it.negated, alts, link });
        }
        Ok(Pattern { source: self.source, scope: self.scope, items, positives: self.positives })
    }
}

/// Splits a pattern into its pieces: words, quoted phrases kept whole, parentheses apart.
fn lex(src: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '\'' => {
                let rest = &src[i + 1..];
                let end = rest.find('\'').ok_or("a quoted phrase is not closed with '")?;
                out.push(format!("'{}'", &rest[..end]));
                for _ in 0..=rest[..end].chars().count() {
                    chars.next();
                }
            }
            '(' | ')' | '|' => out.push(c.to_string()),
            _ => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '|' | '\'') {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                out.push(src[i..end].to_string());
            }
        }
    }
    Ok(out)
}

fn number(s: &str, what: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|n| *n > 0 && *n <= 1000)
        .ok_or_else(|| format!("`{s}` after {what} must be a number of words from 1 to 1000"))
}

fn reference(piece: &str) -> Result<Ref, String> {
    if let Some(inner) = piece.strip_prefix('\'').and_then(|p| p.strip_suffix('\'')) {
        if inner.trim().is_empty() {
            return Err("a quoted phrase is empty".into());
        }
        return Ok(Ref::Literal(inner.to_string()));
    }
    let ok = piece.starts_with(|c: char| c.is_ascii_alphabetic()) && piece.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(format!("`{piece}` is not a concept name (letters, digits and _, starting with a letter) or a 'quoted phrase'"));
    }
    Ok(Ref::Concept(piece.to_string()))
}

/// Parses one pattern. `default` is the scope when the pattern does not name one.
pub fn parse(src: &str, default: Scope) -> Result<Pattern<Ref>, String> {
    let pieces = lex(src)?;
    let mut at = 0;
    let mut scope = default;
    if let Some(first) = pieces.first().filter(|p| p.starts_with('[')) {
        let name = first.trim_start_matches('[').trim_end_matches(']');
        if !first.ends_with(']') {
            return Err(format!("scope `{first}` is not closed with ]"));
        }
        scope = match name {
            "sentence" => Scope::Sentence,
            "clause" => Scope::Clause,
            "message" => Scope::Message,
            n => Scope::Window(
                number(n, "[ as a window")
                    .map_err(|_| format!("unknown scope `{first}`: use [sentence], [clause], [message] or [N] words"))?,
            ),
        };
        at = 1;
    }
    let mut items: Vec<Item<Ref>> = Vec::new();
    let mut link = Link::Free;
    while at < pieces.len() {
        let piece = pieces[at].as_str();
        at += 1;
        if let Some(rest) = piece.strip_prefix('>') {
            if !matches!(link, Link::Free) {
                return Err(format!("two links in a row before `{}`", pieces.get(at).map_or("the end", |s| s.as_str())));
            }
            let (max, between) = match rest.split_once(':') {
                Some((n, b)) => (Some(number(n, ">")?), Some(reference(b)?)),
                None if rest.is_empty() => (None, None),
                None => (Some(number(rest, ">")?), None),
            };
            link = Link::Then { max, between };
            continue;
        }
        if let Some(rest) = piece.strip_prefix('~') {
            if !matches!(link, Link::Free) {
                return Err(format!("two links in a row before `{}`", pieces.get(at).map_or("the end", |s| s.as_str())));
            }
            link = Link::Near(number(rest, "~")?);
            continue;
        }
        let (negated, body) = match piece.strip_prefix('!') {
            Some("") => {
                let next = pieces.get(at).ok_or("`!` at the end of the pattern")?;
                at += 1;
                (true, next.as_str())
            }
            Some(rest) => (true, rest),
            None => (false, piece),
        };
        let alts = if body == "(" {
            let mut alts = Vec::new();
            loop {
                let p = pieces.get(at).ok_or("`(` is not closed with )")?;
                at += 1;
                match p.as_str() {
                    ")" => break,
                    "|" => continue,
                    other => alts.push(reference(other)?),
                }
            }
            if alts.is_empty() {
                return Err("`()` holds no concept".into());
            }
            alts
        } else if body == ")" || body == "|" {
            return Err(format!("`{body}` outside parentheses"));
        } else {
            vec![reference(body)?]
        };
        if negated && !matches!(link, Link::Free) {
            return Err(format!("a negated item (`!{}`) cannot have a link: it says what is absent, not where", alts[0]));
        }
        let is_first_positive = !negated && !items.iter().any(|i| !i.negated);
        if is_first_positive && !matches!(link, Link::Free) {
            return Err("a link needs an item before it".into());
        }
        items.push(Item { negated, alts, link: std::mem::replace(&mut link, Link::Free) });
    }
    if !matches!(link, Link::Free) {
        return Err("the pattern ends with a link and no item after it".into());
    }
    if !items.iter().any(|i| !i.negated) {
        return Err(if items.is_empty() { "the pattern is empty".into() } else { "the pattern only says what is absent".into() });
    }
    let (mut positive, negated): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| !i.negated);
    let positives = positive.len();
    positive.extend(negated);
    Ok(Pattern { source: src.trim().to_string(), scope, items: positive, positives })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: &str) -> Ref {
        Ref::Concept(n.into())
    }

    #[test]
    fn items_links_and_scopes_parse() {
        let p = parse("[clause] negation >3:linkword (role | 'license manager') !checked ~4 cred", Scope::Sentence).unwrap();
        assert_eq!(p.scope, Scope::Clause);
        assert_eq!((p.items.len(), p.positives), (4, 3));
        assert_eq!(p.items[1].alts, vec![c("role"), Ref::Literal("license manager".into())]);
        assert_eq!(p.items[1].link, Link::Then { max: Some(3), between: Some(c("linkword")) });
        assert_eq!(p.items[2].link, Link::Near(4));
        assert!(p.items[3].negated, "negated items come last");
        assert_eq!(parse("lose > token", Scope::Message).unwrap().scope, Scope::Message);
        assert_eq!(parse("[8] a b", Scope::Sentence).unwrap().scope, Scope::Window(8));
    }

    #[test]
    fn mistakes_get_a_message_that_says_what_is_wrong() {
        for (src, says) in [
            ("lose >", "ends with a link"),
            ("> lose", "needs an item before"),
            ("a >x b", "number of words"),
            ("a (b | c", "not closed"),
            ("[paragraph] a", "unknown scope"),
            ("!a", "only says what is absent"),
            ("a 'open", "not closed"),
            ("a-b", "not a concept name"),
            ("a > !b", "cannot have a link"),
            ("", "empty"),
        ] {
            let err = parse(src, Scope::Sentence).unwrap_err();
            assert!(err.contains(says), "{src:?}: {err}");
        }
    }
}
