//! Runs the classifier over a stream of messages on one thread, for profilers (perf,
//! valgrind --tool=callgrind) and quick single-core timings.
//!
//! python3 ../shared/bench/stream.py 100000 /tmp/t.jsonl ../shared/corpus/dev.jsonl --mix helpdesk
//! cargo run --release --example profile_classify -- /tmp/t.jsonl [PASSES]
//!
//! `STAGES=all` (or a stage's name, `STAGES=letters`) then times each step of `classify` on its
//! own; `DUMP=1` prints every output instead (category, confidence, language, rules, findings,
//! counts, masked text, gate), one JSON line per message, so that two builds can be compared
//! with `cmp` before a speed change lands.
use std::io::BufRead;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/tmp/t.jsonl".into());
    let passes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let texts: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    let started = Instant::now();
    let c = triage::Classifier::load(None).expect("built-in pack");
    eprintln!("pack loaded and compiled in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
    if std::env::var_os("DUMP").is_some() {
        // Every output of the classifier, masked text included: diff two builds with it.
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for t in &texts {
            let r = c.classify(t);
            let line = serde_json::json!([
                r.category,
                r.confidence,
                r.language,
                r.rules,
                r.findings,
                r.secrets_found,
                r.apptokens_found,
                r.masked_text,
                format!("{:?}", r.gate)
            ]);
            let _ = writeln!(out, "{line}");
        }
        return;
    }
    // The secret rules compile on first use: not part of any message's cost.
    let _ = c.classify("warm-up");
    let started = Instant::now();
    let mut found = 0;
    for _ in 0..passes {
        for t in &texts {
            found += c.classify(t).rules.len();
        }
    }
    let n = texts.len() * passes;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{n} messages in {secs:.3} s: {:.0} messages/s on one thread ({found} rules fired)", n as f64 / secs);
    if std::env::var_os("STAGES").is_some() {
        stages(&texts, passes);
    }
}

/// Each step of `classify` on its own, in microseconds per message: where the time goes.
fn stages(texts: &[String], passes: usize) {
    use triage::{diagnose, normalize, quoted, redact, tokens};
    let rules = redact::rules::SecretRules::builtin().expect("secret rules");
    let only = std::env::var("STAGES").unwrap_or_default();
    let time = |name: &str, f: &dyn Fn(&str) -> usize| {
        if !only.is_empty() && only != "all" && !name.starts_with(only.as_str()) {
            return;
        }
        let started = Instant::now();
        let mut sink = 0;
        for _ in 0..passes {
            for t in texts {
                sink += f(t);
            }
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / (texts.len() * passes) as f64;
        eprintln!("{name:>22}: {us:6.2} us/message ({sink})");
    };
    time("diagnose::scan", &|t| diagnose::scan(t).findings.len());
    time("quoted::own_words", &|t| quoted::own_words(t).len());
    time("letters::find", &|t| redact::letters::find(t).len());
    time("SecretRules::find", &|t| {
        let mut v = Vec::new();
        rules.find(t, &mut v);
        v.len()
    });
    time("redact (all)", &|t| redact::redact(t).text.len());
    time("normalise", &|t| normalize::normalise(t).0.len());
    time("normalise+tokens", &|t| tokens::Tokens::new(&normalize::normalise(t).0).words.len());
    let c = triage::Classifier::load(None).expect("built-in pack");
    let redacted: Vec<redact::Redacted> = texts.iter().map(|t| redact::redact(t)).collect();
    let started = Instant::now();
    let mut sink = 0;
    for _ in 0..passes {
        for r in &redacted {
            sink += c.classify_redacted(r.clone()).rules.len();
        }
    }
    let us = started.elapsed().as_secs_f64() * 1e6 / (texts.len() * passes) as f64;
    eprintln!("{:>22}: {us:6.2} us/message ({sink})", "classify_redacted");
}
