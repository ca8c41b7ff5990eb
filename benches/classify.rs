//! Classification throughput on varied, realistic traffic, one thread, redaction and diagnosis
//! included: `cargo bench --bench classify`. Messages/second is criterion's elements/s.
//!
//! The traffic is `../shared/bench/stream.py` (100,000 lines, seed 7) over the labelled corpora
//! and the probe messages, in its helpdesk and community mixes: no two messages alike, so that no
//! cache makes the figure lie. Each iteration classifies a different window of 10,000 lines.
//! The streams are made once into `target/bench-streams/`; set `TRIAGE_BENCH_STREAM_DIR` to use
//! others.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use triage::Classifier;

const LINES: usize = 100_000;
const WINDOW: usize = 10_000;

fn stream(mix: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("TRIAGE_BENCH_STREAM_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target/bench-streams"));
    let file = dir.join(format!("{mix}.jsonl"));
    if !file.exists() {
        std::fs::create_dir_all(&dir).expect("stream folder");
        let shared = root.join("../shared");
        let mut sources: Vec<PathBuf> =
            ["corpus/dev.jsonl", "corpus/train2.jsonl"].iter().map(|s| shared.join(s)).filter(|p| p.exists()).collect();
        sources.push(root.join("tests/data/probe_messages.jsonl"));
        let status = Command::new("python3")
            .arg(shared.join("bench/stream.py"))
            .arg(LINES.to_string())
            .arg(&file)
            .args(&sources)
            .args(["--mix", mix, "--seed", "7"])
            .status()
            .expect("python3 runs ../shared/bench/stream.py");
        assert!(status.success(), "stream.py failed");
    }
    std::fs::read_to_string(&file)
        .expect("stream file")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?.get("text")?.as_str().map(str::to_string))
        .collect()
}

fn bench(c: &mut Criterion) {
    let classifier = Classifier::load(None).expect("built-in pack");
    let mut group = c.benchmark_group("classify");
    for mix in ["helpdesk", "community"] {
        let texts = stream(mix);
        let mut at = 0;
        group.throughput(Throughput::Elements(WINDOW as u64));
        group.bench_function(format!("{mix}_stream"), |b| {
            b.iter(|| {
                // A different window each time, around the whole stream.
                for t in texts.iter().cycle().skip(at).take(WINDOW) {
                    black_box(classifier.classify(black_box(t)));
                }
                at = (at + WINDOW) % texts.len();
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
