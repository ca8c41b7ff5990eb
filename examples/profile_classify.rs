//! Runs the classifier over a stream of messages on one thread, for profilers (perf,
//! valgrind --tool=callgrind) and quick single-core timings.
//!
//! python3 ../shared/bench/stream.py 100000 /tmp/t.jsonl ../shared/corpus/dev.jsonl --mix helpdesk
//! cargo run --release --example profile_classify -- /tmp/t.jsonl [PASSES]
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
}
