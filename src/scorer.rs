//! The learned scorer: a second opinion when the rules cannot tell the causes apart.
//!
//! When the gate has passed and no specific rule fired, the pack answers with its fallback
//! category (the generic checklist), or with nothing. The scorer then reads the same masked,
//! normalised text as character 3–5-grams within words (TF-IDF, logistic regression), and if it
//! puts one specific cause at or above its threshold, that cause is answered instead. Where the
//! rules had nothing, it answers past [`crate::classify::SILENT_THRESHOLD`] only if the gate
//! passed on the person's own words (not only on pasted configuration), and only with a cause
//! whose `learned_when` words the message has. It is never asked anything else: it cannot answer
//! a message the gate or an exclusion turned away, overrule an `unless`, or change a cause the
//! rules found. `explain` shows what it said and which n-grams said it.
//!
//! The model is data, `rules/scorer.tsv`, written by `triage rules train` from labelled corpora
//! and the pack's own examples. It is plain text: one n-gram per line with its IDF and one weight
//! per class, so a change to it shows in a diff.

use std::collections::HashMap;
use std::fmt::Write as _;

/// The shortest and longest n-grams, in bytes of the normalised (ASCII) text. Pairs of letters
/// were tried too: on the probe batches they changed no answer and cost a fifth more time.
const MIN_N: usize = 3;
const MAX_N: usize = 5;

/// [`TrainOptions::default`], also the defaults of `triage rules train`.
pub const DEFAULT_C: f64 = 10.0;
pub const DEFAULT_MIN_DF: usize = 2;
pub const DEFAULT_ITERATIONS: usize = 400;
pub const DEFAULT_THRESHOLD: f64 = 0.7;
/// The file's first line.
const MAGIC: &str = "triage-scorer\t1";

/// A trained scorer.
#[derive(Debug, Clone)]
pub struct Scorer {
    /// Class labels: categories of the pack, and `none`.
    pub classes: Vec<String>,
    /// The probability a specific cause needs to replace the fallback answer.
    pub threshold: f64,
    bias: Vec<f32>,
    /// N-gram -> its row in `keys`, `idf` and `weights`.
    vocabulary: Vocabulary,
    /// The n-gram of each row, in the file's order (see [`key_text`]).
    keys: Vec<Key>,
    idf: Vec<f32>,
    /// Row-major, [`stride`] weights per n-gram: one per class, then zeros, so that a row is
    /// whole vectors of eight and adding one up is a few vector instructions.
    weights: Vec<f32>,
}

/// What the scorer said about one message.
#[derive(Debug, Clone)]
pub struct Opinion {
    /// One probability per class of [`Scorer::classes`].
    pub probabilities: Vec<f64>,
    /// Each n-gram of the message that the model knows, with its TF-IDF value.
    features: Vec<(u32, f32)>,
}

/// A labelled message for training, its text already masked and normalised.
pub struct Labelled {
    pub text: String,
    pub label: String,
}

/// Options of [`Scorer::train`].
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Inverse regularisation strength, as scikit-learn's `C`: larger fits the data closer.
    pub c: f64,
    /// An n-gram must occur in this many messages to be kept.
    pub min_df: usize,
    pub iterations: usize,
    pub threshold: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { c: DEFAULT_C, min_df: DEFAULT_MIN_DF, iterations: DEFAULT_ITERATIONS, threshold: DEFAULT_THRESHOLD }
    }
}

/// Weights per row in memory: the classes, rounded up to a multiple of eight.
fn stride(classes: usize) -> usize {
    classes.div_ceil(8).max(1) * 8
}

/// An n-gram as one number: its bytes, low byte first, and its length in the top byte. N-grams
/// are at most [`MAX_N`] bytes, so no two share a number, and looking one up hashes a `u64`
/// instead of a string: the scorer reads hundreds of them per message.
type Key = u64;

/// The longest word whose n-grams are all read; a longer one (a URL, a pasted blob) gives those
/// of its first bytes only.
const MAX_WORD: usize = 48;

/// `LOW[n]` keeps the low `n` bytes of a number.
const LOW: [u64; 9] = [0, 0xff, 0xffff, 0xff_ffff, 0xffff_ffff, 0xff_ffff_ffff, 0xffff_ffff_ffff, 0xff_ffff_ffff_ffff, u64::MAX];

/// Every n-gram of every word of `text`, each word padded with a space on both sides so that
/// word starts and ends are features of their own (" tok", "ken ").
fn ngrams(text: &str, mut f: impl FnMut(Key)) {
    // The padded word, then zeros: every n-gram starting at `i` is the low bytes of the eight
    // bytes read at `i`.
    let mut buf = [0u8; MAX_WORD + 2 + 8];
    for word in prose_words(text) {
        let w = &word.as_bytes()[..word.len().min(MAX_WORD)];
        let len = w.len() + 2;
        buf[0] = b' ';
        buf[1..=w.len()].copy_from_slice(w);
        buf[len - 1] = b' ';
        buf[len..len + 8].fill(0);
        for start in 0..len - 1 {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(&buf[start..start + 8]);
            let window = u64::from_le_bytes(eight);
            let top = MAX_N.min(len - start);
            let mut n = MIN_N;
            while n <= top {
                f(window & LOW[n] | (n as u64) << 56);
                n += 1;
            }
        }
    }
}

/// The words of `text` that read as the person's own prose: not code or pasted configuration.
/// Pasted code says little about the cause (`VTEX_APP_KEY=...` comes with every kind of
/// question, `headers = {'X-VTEX-API-AppKey': ...}` with "thanks, solved!" too), and the model
/// would otherwise learn which causes people paste code for.
pub fn prose_words(text: &str) -> impl Iterator<Item = &str> {
    words_read_as_prose(text).filter_map(|(word, prose)| prose.then_some(word))
}

/// Every whitespace-separated word of `text`, with whether it reads as prose (see
/// [`prose_words`]).
pub fn words_read_as_prose(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut words = text.split_ascii_whitespace().peekable();
    std::iter::from_fn(move || {
        let word = words.next()?;
        // `headers = {...}`, `token: "..."`: the name a value is given to is code too.
        let named = words.peek().is_some_and(|next| next.starts_with(['=', ':']));
        Some((word, !named && is_prose(word)))
    })
}

/// Whether a word reads as prose: no code marks, and not a pasted header line's parts (a quoted
/// name or value in a list, `X-VTEX-API-AppKey:`, a key's own value `vtexappkey-store-ABCDEF`).
fn is_prose(word: &str) -> bool {
    const CODE: [bool; 256] = {
        let mut t = [false; 256];
        let marks = b"_=/<>{}()$`\\|&%;";
        let mut i = 0;
        while i < marks.len() {
            t[marks[i] as usize] = true;
            i += 1;
        }
        t
    };
    let b = word.as_bytes();
    let mut hyphen = false;
    for &c in b {
        if CODE[c as usize] {
            return false;
        }
        hyphen |= c == b'-';
    }
    // Header labels and key values have hyphens: most words skip both tests.
    if hyphen && (word.ends_with(':') || word.contains("vtexappkey-")) {
        return false;
    }
    // A quoted name or value in a list: `'X-VTEX-API-AppKey':`, `"value",`. Not a quoted word of
    // prose: "the 'Generate' button".
    let listed = matches!(b.first(), Some(b'\'' | b'"')) && ["':", "',", "\":", "\","].iter().any(|end| word.ends_with(end));
    !listed
}

/// The n-gram a key stands for. The text is normalised to ASCII, so each byte is a character.
fn key_text(k: Key) -> String {
    let n = ((k >> 56) as usize).min(MAX_N);
    (0..n).map(|j| ((k >> (8 * j)) & 0xff) as u8 as char).collect()
}

/// The key of an n-gram read from a file; `None` if it could not have come from [`ngrams`].
fn text_key(g: &str) -> Option<Key> {
    let b = g.as_bytes();
    if !(MIN_N..=MAX_N).contains(&b.len()) || !g.is_ascii() {
        return None;
    }
    Some(b.iter().enumerate().fold((b.len() as u64) << 56, |k, (j, c)| k | (*c as u64) << (8 * j)))
}

/// MurmurHash3's finaliser: every bit of the key moves the high bits, which pick the slot.
fn mix(x: u64) -> u64 {
    let mut h = x ^ (x >> 33);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// N-gram keys to rows: an open-addressing table at most 40% full, each slot a key and its row
/// side by side. A message asks it hundreds of times and most answers take one probe, where a
/// general map's hashing and grouping cost more than the rest of the scorer.
#[derive(Debug, Clone)]
struct Vocabulary {
    /// Key 0 marks an empty slot: no n-gram has it, since its length byte is never 0.
    slots: Vec<(Key, u32)>,
    shift: u32,
}

impl Vocabulary {
    /// The table of `keys`, each key's row its place in the list; or the first key listed twice.
    fn build(keys: &[Key]) -> Result<Vocabulary, Key> {
        let size = (keys.len() * 5 / 2).next_power_of_two().max(16);
        let mut v = Vocabulary { slots: vec![(0, 0); size], shift: 64 - size.trailing_zeros() };
        let mask = size - 1;
        for (row, &key) in keys.iter().enumerate() {
            let row = row as u32;
            let mut i = (mix(key) >> v.shift) as usize;
            loop {
                match v.slots[i].0 {
                    0 => break,
                    k if k == key => return Err(key),
                    _ => i = (i + 1) & mask,
                }
            }
            v.slots[i] = (key, row);
        }
        Ok(v)
    }

    fn get(&self, key: Key) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = (mix(key) >> self.shift) as usize;
        loop {
            let (k, row) = *self.slots.get(i)?;
            if k == key {
                return Some(row);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Sublinear TF times IDF, L2-normalised, for the n-grams `row_of` knows, by row.
fn vectorise(text: &str, row_of: impl Fn(Key) -> Option<u32>, idf: &[f32]) -> Vec<(u32, f32)> {
    thread_local! {
        // How often each row occurred, left all zero between calls: a message touches a few
        // hundred rows of thousands, and counting in place beats sorting them.
        static COUNTS: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut touched: Vec<u32> = Vec::with_capacity(text.len() * 2);
    let mut v: Vec<(u32, f32)> = COUNTS.with_borrow_mut(|counts| {
        if counts.len() < idf.len() {
            counts.resize(idf.len(), 0);
        }
        ngrams(text, |g| {
            if let Some(c) = row_of(g).and_then(|r| counts.get_mut(r as usize).map(|c| (r, c))) {
                if *c.1 == 0 {
                    touched.push(c.0);
                }
                *c.1 = c.1.saturating_add(1);
            }
        });
        touched
            .iter()
            .map(|&r| {
                let n = std::mem::take(&mut counts[r as usize]);
                (r, (1.0 + (n as f32).ln()) * idf.get(r as usize).copied().unwrap_or(0.0))
            })
            .collect()
    });
    let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|(_, x)| *x /= norm);
    }
    v
}

fn softmax(logits: &mut [f64]) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    logits.iter_mut().for_each(|l| *l /= sum);
}

impl Scorer {
    /// The model's opinion of a masked, normalised text.
    pub fn opinion(&self, normalised: &str) -> Opinion {
        let features = vectorise(normalised, |g| self.vocabulary.get(g), &self.idf);
        let st = stride(self.classes.len());
        let mut acc = vec![0f32; st];
        for lanes in 0..st / 8 {
            // Eight classes at a time in a fixed-size array: the compiler keeps them in two
            // vector registers instead of going through memory for each class.
            let mut a = [0f32; 8];
            for &(r, x) in &features {
                let at = r as usize * st + lanes * 8;
                let Some(w) = self.weights.get(at..at + 8) else { continue };
                let w: &[f32; 8] = w.try_into().unwrap_or(&[0.0; 8]);
                for i in 0..8 {
                    a[i] += w[i] * x;
                }
            }
            acc[lanes * 8..lanes * 8 + 8].copy_from_slice(&a);
        }
        let mut logits: Vec<f64> = self.bias.iter().zip(&acc).map(|(b, a)| (*b + *a) as f64).collect();
        softmax(&mut logits);
        Opinion { probabilities: logits, features }
    }

    /// The n-grams of `opinion` that pushed most toward class `class`, strongest first.
    pub fn evidence(&self, opinion: &Opinion, class: usize, top: usize) -> Vec<(String, f64)> {
        let k = stride(self.classes.len());
        let mut e: Vec<(String, f64)> = opinion
            .features
            .iter()
            .filter_map(|&(r, x)| {
                let w = self.weights.get(r as usize * k + class)?;
                Some((key_text(*self.keys.get(r as usize)?), (w * x) as f64))
            })
            .filter(|(_, c)| *c > 0.0)
            .collect();
        e.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        e.truncate(top);
        e
    }

    pub fn class(&self, label: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == label)
    }

    pub fn ngram_count(&self) -> usize {
        self.keys.len()
    }

    /// Trains a multinomial logistic regression on `data`: deterministic, so the same corpora
    /// give the same file.
    pub fn train(data: &[Labelled], options: &TrainOptions) -> Result<Scorer, String> {
        if data.is_empty() {
            return Err("no labelled messages to learn from".into());
        }
        let mut classes: Vec<String> = data.iter().map(|d| d.label.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(format!("every message is labelled `{}`; a scorer needs at least two labels", classes[0]));
        }
        // Document frequencies, then the n-grams kept, in sorted order for a stable file.
        let mut df: HashMap<Key, usize> = HashMap::new();
        for d in data {
            let mut seen = std::collections::HashSet::new();
            ngrams(&d.text, |g| {
                if seen.insert(g) {
                    *df.entry(g).or_insert(0) += 1;
                }
            });
        }
        let mut kept: Vec<(String, Key)> =
            df.iter().filter(|(_, n)| **n >= options.min_df.max(1)).map(|(g, _)| (key_text(*g), *g)).collect();
        kept.sort();
        let n_docs = data.len() as f32;
        let idf: Vec<f32> = kept.iter().map(|(_, g)| ((1.0 + n_docs) / (1.0 + df[g] as f32)).ln() + 1.0).collect();
        let keys: Vec<Key> = kept.into_iter().map(|(_, g)| g).collect();
        let vocabulary = Vocabulary::build(&keys).map_err(|k| format!("the n-gram {:?} was kept twice", key_text(k)))?;
        let rows: Vec<Vec<(u32, f32)>> = data.iter().map(|d| vectorise(&d.text, |g| vocabulary.get(g), &idf)).collect();
        let labels: Vec<usize> = data.iter().map(|d| classes.iter().position(|c| *c == d.label).unwrap_or(0)).collect();

        let (k, v) = (classes.len(), keys.len());
        let mut w = vec![0.0f64; v * k];
        let mut b = vec![0.0f64; k];
        // Mean cross-entropy plus |w|^2 / (2 C N): scikit-learn's objective divided by C N.
        let lambda = 1.0 / (options.c.max(1e-6) * data.len() as f64);
        // Adam on the full batch: few hundred steps on a thousand messages take a second or two.
        let (lr, beta1, beta2, eps): (f64, f64, f64, f64) = (0.05, 0.9, 0.999, 1e-8);
        let (mut mw, mut vw) = (vec![0.0f64; v * k], vec![0.0f64; v * k]);
        let (mut mb, mut vb) = (vec![0.0f64; k], vec![0.0f64; k]);
        let mut gw = vec![0.0f64; v * k];
        let mut gb = vec![0.0f64; k];
        let mut p = vec![0.0f64; k];
        for step in 1..=options.iterations.max(1) {
            gw.iter_mut().zip(&w).for_each(|(g, w)| *g = lambda * w);
            gb.iter_mut().for_each(|g| *g = 0.0);
            for (row, &y) in rows.iter().zip(&labels) {
                p.copy_from_slice(&b);
                for &(r, x) in row {
                    for (pc, wc) in p.iter_mut().zip(&w[r as usize * k..(r as usize + 1) * k]) {
                        *pc += wc * x as f64;
                    }
                }
                softmax(&mut p);
                p[y] -= 1.0;
                let scale = 1.0 / data.len() as f64;
                for (c, pc) in p.iter().enumerate() {
                    gb[c] += pc * scale;
                }
                for &(r, x) in row {
                    for (g, pc) in gw[r as usize * k..(r as usize + 1) * k].iter_mut().zip(&p) {
                        *g += pc * x as f64 * scale;
                    }
                }
            }
            let (c1, c2) = (1.0 - beta1.powi(step as i32), 1.0 - beta2.powi(step as i32));
            let adam = |x: &mut [f64], g: &[f64], m: &mut [f64], s: &mut [f64]| {
                for i in 0..x.len() {
                    m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                    s[i] = beta2 * s[i] + (1.0 - beta2) * g[i] * g[i];
                    x[i] -= lr * (m[i] / c1) / ((s[i] / c2).sqrt() + eps);
                }
            };
            adam(&mut w, &gw, &mut mw, &mut vw);
            adam(&mut b, &gb, &mut mb, &mut vb);
        }
        Ok(Scorer {
            classes,
            threshold: options.threshold,
            bias: b.iter().map(|x| *x as f32).collect(),
            vocabulary,
            keys,
            idf,
            weights: w.chunks(k).flat_map(|row| row.iter().map(|x| *x as f32).chain(std::iter::repeat_n(0.0, stride(k) - k))).collect(),
        })
    }

    /// The model as text: a header, then one n-gram per line (JSON-quoted, since n-grams start
    /// and end with spaces), its IDF, and one weight per class.
    pub fn to_text(&self, about: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{MAGIC}");
        for line in about.lines() {
            let _ = writeln!(out, "# {line}");
        }
        let _ = writeln!(out, "# Character {MIN_N}-{MAX_N}-grams within words, TF-IDF, logistic regression.");
        let _ = writeln!(out, "threshold\t{}", self.threshold);
        let _ = writeln!(out, "classes\t{}", self.classes.join("\t"));
        let bias: Vec<String> = self.bias.iter().map(|x| format!("{x:.4}")).collect();
        let _ = writeln!(out, "bias\t{}", bias.join("\t"));
        let k = self.classes.len();
        for (r, g) in self.keys.iter().enumerate() {
            let weights: Vec<String> = self.weights[r * stride(k)..r * stride(k) + k].iter().map(|x| format!("{x:.4}")).collect();
            let quoted = serde_json::to_string(&key_text(*g)).unwrap_or_default();
            let _ = writeln!(out, "{quoted}\t{:.4}\t{}", self.idf[r], weights.join("\t"));
        }
        out
    }

    /// Reads what [`Scorer::to_text`] wrote. The error says which line is wrong and why.
    pub fn parse(text: &str) -> Result<Scorer, String> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, l)) if l.trim_end() == MAGIC => {}
            _ => {
                return Err(format!(
                    "line 1: not a scorer file (it must start with `{}`); write one with `triage rules train`",
                    MAGIC.replace('\t', " ")
                ))
            }
        }
        let (mut threshold, mut classes, mut bias) = (None, None, None);
        let (mut keys, mut idf, mut weights) = (Vec::new(), Vec::new(), Vec::new());
        let number = |n: usize, s: &str| {
            s.trim().parse::<f32>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("line {n}: `{s}` is not a number"))
        };
        for (n, line) in lines {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let head = fields.next().unwrap_or("");
            match head {
                "threshold" => {
                    let field = fields.next().unwrap_or("");
                    let t = field.trim().parse::<f64>().map_err(|_| format!("line {n}: `{field}` is not a number"))?;
                    if !(0.0..=1.0).contains(&t) {
                        return Err(format!("line {n}: the threshold must be between 0 and 1, not {t}"));
                    }
                    threshold = Some(t);
                }
                "classes" => classes = Some(fields.map(str::to_string).collect::<Vec<_>>()),
                "bias" => bias = Some(fields.map(|f| number(n, f)).collect::<Result<Vec<_>, _>>()?),
                _ if head.starts_with('"') => {
                    let k = classes.as_ref().map(Vec::len).ok_or_else(|| format!("line {n}: an n-gram before the `classes` line"))?;
                    let g: String = serde_json::from_str(head).map_err(|_| format!("line {n}: the n-gram {head} is not a JSON string"))?;
                    let values = fields.map(|f| number(n, f)).collect::<Result<Vec<_>, _>>()?;
                    if values.len() != k + 1 {
                        return Err(format!(
                            "line {n}: `{g}` has {} numbers; it needs its IDF and one weight per class, {}",
                            values.len(),
                            k + 1
                        ));
                    }
                    let key =
                        text_key(&g).ok_or_else(|| format!("line {n}: {head} is not an n-gram of {MIN_N} to {MAX_N} ASCII characters"))?;
                    keys.push(key);
                    idf.push(values[0]);
                    weights.extend_from_slice(&values[1..]);
                    weights.resize(weights.len() + stride(k) - k, 0.0);
                }
                _ => return Err(format!("line {n}: unknown line `{}`", head.chars().take(40).collect::<String>())),
            }
        }
        let classes = classes.ok_or("no `classes` line")?;
        if classes.len() < 2 || classes.iter().any(String::is_empty) {
            return Err("the `classes` line must name at least two labels".into());
        }
        let bias = bias.ok_or("no `bias` line")?;
        if bias.len() != classes.len() {
            return Err(format!("the `bias` line has {} numbers for {} classes", bias.len(), classes.len()));
        }
        let vocabulary = Vocabulary::build(&keys).map_err(|k| format!("the n-gram {:?} is listed twice", key_text(k)))?;
        Ok(Scorer { classes, threshold: threshold.ok_or("no `threshold` line")?, bias, vocabulary, keys, idf, weights })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<Labelled> {
        let l = |text: &str, label: &str| Labelled { text: text.into(), label: label.into() };
        vec![
            l("there is a trailing space in the token", "key-mistyped"),
            l("a space at the end of the token value", "key-mistyped"),
            l("the token has a space before it", "key-mistyped"),
            l("i lost the token and never saved it", "apptoken-lost"),
            l("we lost the token, nobody saved it", "apptoken-lost"),
            l("the token was lost when the page closed", "apptoken-lost"),
        ]
    }

    #[test]
    fn pasted_header_lines_and_the_names_given_values_are_not_prose() {
        let text = "brb headers = {'x-vtex-api-appkey': 'vtexappkey-loja-abc', 'x-vtex-api-apptoken': '<redacted>'} \
                    x-vtex-api-appkey: vtexappkey-loja-abc and the 'generate' button, token: abc";
        let kept: Vec<&str> = prose_words(text).collect();
        assert_eq!(kept, ["brb", "and", "the", "'generate'", "button,", "token:", "abc"]);
    }

    #[test]
    fn ngrams_are_taken_within_padded_words() {
        let mut got = Vec::new();
        ngrams("ab c", |g| got.push(key_text(g)));
        assert!(got.iter().all(|g| text_key(g).is_some_and(|k| key_text(k) == *g)));
        got.sort();
        assert_eq!(got, [" ab", " ab ", " c ", "ab "]);
    }

    #[test]
    fn a_trained_scorer_tells_apart_what_it_was_taught() {
        let s = Scorer::train(&data(), &TrainOptions::default()).expect("trains");
        let lost = s.class("apptoken-lost").expect("class");
        let typo = s.class("key-mistyped").expect("class");
        let o = s.opinion("we lost our token");
        assert!(o.probabilities[lost] > o.probabilities[typo], "{:?}", o.probabilities);
        let o = s.opinion("maybe a space in the token?");
        assert!(o.probabilities[typo] > o.probabilities[lost], "{:?}", o.probabilities);
        let sum: f64 = o.probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        let evidence = s.evidence(&o, typo, 3);
        assert!(!evidence.is_empty() && evidence.iter().all(|(_, c)| *c > 0.0), "{evidence:?}");
    }

    #[test]
    fn the_same_corpus_trains_the_same_file() {
        let a = Scorer::train(&data(), &TrainOptions::default()).expect("trains").to_text("x");
        let b = Scorer::train(&data(), &TrainOptions::default()).expect("trains").to_text("x");
        assert_eq!(a, b);
    }

    #[test]
    fn a_written_scorer_reads_back_with_the_same_opinions() {
        let s = Scorer::train(&data(), &TrainOptions::default()).expect("trains");
        let back = Scorer::parse(&s.to_text("about\nit")).expect("parses");
        assert_eq!(back.classes, s.classes);
        assert_eq!(back.ngram_count(), s.ngram_count());
        let (a, b) = (s.opinion("we lost the token"), back.opinion("we lost the token"));
        for (x, y) in a.probabilities.iter().zip(&b.probabilities) {
            assert!((x - y).abs() < 1e-3, "{x} {y}");
        }
    }

    #[test]
    fn a_damaged_file_is_refused_with_the_line_and_the_reason() {
        let text = Scorer::train(&data(), &TrainOptions::default()).expect("trains").to_text("");
        assert!(Scorer::parse("hello").unwrap_err().contains("line 1"));
        let cut: String = text
            .lines()
            .map(|l| if l.starts_with("\" to") { l.rsplit_once('\t').map(|(a, _)| a).unwrap_or(l) } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(cut, text, "the edit applies");
        let err = Scorer::parse(&cut).unwrap_err();
        assert!(err.starts_with("line ") && err.contains("one weight per class"), "{err}");
        let unreadable = text.replace(&format!("threshold\t{}", TrainOptions::default().threshold), "threshold\tx");
        assert_ne!(unreadable, text, "the edit applies");
        let err = Scorer::parse(&unreadable).unwrap_err();
        assert!(err.contains("is not a number"), "{err}");
    }

    #[test]
    fn one_label_is_not_enough_to_learn_from() {
        let one = vec![Labelled { text: "a".into(), label: "none".into() }];
        assert!(Scorer::train(&one, &TrainOptions::default()).unwrap_err().contains("two labels"));
        assert!(Scorer::train(&[], &TrainOptions::default()).is_err());
    }
}
