//! Latency of the case browser on a large database: the release `triage serve` (its own process)
//! on an existing database, asked for `/cases` and `/v1/cases` pages with varied filters, one
//! request at a time, each a different query, following pages with `before`. Reports p50/p99/max
//! per kind of filter and overall.
//!
//! ```sh
//! python3 ../shared/bench/stream.py 1000000 /tmp/helpdesk1m.jsonl ../shared/corpus/*.jsonl --mix helpdesk --seed 7
//! cargo build --release
//! target/release/triage import --database /tmp/cases1m.db /tmp/helpdesk1m.jsonl
//! cargo run --release --example bench_cases -- /tmp/cases1m.db [REQUESTS]
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

const CATEGORIES: &[&str] =
    &["key-not-linked-to-role", "role-lacks-permission", "key-mistyped", "sponsor-required", "apptoken-lost", "auth-unspecified", "none"];
const OUTCOMES: &[&str] = &["sent", "suppressed", "failed", "below_threshold", "backlog", "not_support"];
const WORDS: &[&str] = &["token", "perdi", "role", "403", "sponsor", "espacio", "header", "copiar", "integration", "masked"];
const LANGUAGES: &[&str] = &["en", "pt", "es"];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The i-th query of a kind: every request differs, so no cache answers twice.
fn query(kind: usize, i: usize) -> String {
    let cat = CATEGORIES[i % CATEGORIES.len()];
    let lang = LANGUAGES[(i / 7) % LANGUAGES.len()];
    match kind {
        0 => format!("category={cat}"),
        1 => format!("outcome={}&language={lang}", OUTCOMES[i % OUTCOMES.len()]),
        2 => format!("q={}", WORDS[i % WORDS.len()]),
        3 => format!("q={}&category={cat}", WORDS[(i / 3) % WORDS.len()]),
        4 => format!("min_confidence=0.{}&max_confidence=0.{}&language={lang}", 3 + i % 4, 7 + i % 3),
        _ => format!("recurring=yes&category={cat}&period=3650d"),
    }
}

const KINDS: [&str; 6] = ["category", "outcome+language", "text", "text+category", "confidence+language", "recurring+category"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let db = args.get(1).expect("usage: bench_cases DATABASE [REQUESTS]");
    let requests: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1200);
    // TRIAGE_BIN picks another build, to compare two side by side.
    let bin = std::env::var_os("TRIAGE_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/triage"));
    let mut child = Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db])
        .env_remove("TRIAGE_API_TOKEN")
        .env_remove("DISCORD_TOKEN")
        .env("RUST_LOG", "warn,triage=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // The address is in the start-up log line.
    let stderr = tokio::process::ChildStderr::from_std(child.stderr.take().expect("stderr"))?;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next_line().await?.ok_or_else(|| anyhow::anyhow!("triage serve ended before listening"))?;
        if let Some(at) = line.find("http://127.0.0.1:") {
            let url: String = line[at..].chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
            break url.trim_end_matches('/').to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client = reqwest::Client::new();
    let mut all = Vec::new();
    let mut per_kind: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
    let mut pages_followed = 0;
    for i in 0..requests {
        let kind = i % KINDS.len();
        let q = query(kind, i / KINDS.len());
        // JSON and HTML alternate; every third request of a kind goes one page further.
        let json = i % 2 == 0;
        let path = if json { "/v1/cases" } else { "/cases" };
        let t = Instant::now();
        let r = client.get(format!("{base}{path}?{q}&limit=50")).send().await?;
        let status = r.status();
        let body = r.text().await?;
        let mut took = t.elapsed();
        anyhow::ensure!(status.is_success(), "{path}?{q}: {status} {body}");
        if json && (i / KINDS.len()) % 3 == 0 {
            let v: Value = serde_json::from_str(&body)?;
            if let Some(before) = v["next_before"].as_i64() {
                let t = Instant::now();
                let r = client.get(format!("{base}/v1/cases?{q}&limit=50&before={before}")).send().await?;
                anyhow::ensure!(r.status().is_success());
                r.bytes().await?;
                took = took.max(t.elapsed());
                pages_followed += 1;
            }
        }
        per_kind[kind].push(took);
        all.push(took);
    }
    let _ = child.kill();
    let _ = child.wait();
    let show = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        println!(
            "{name:<22} {:>6} requests  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            v.len(),
            percentile(v, 0.5).as_secs_f64() * 1e3,
            percentile(v, 0.99).as_secs_f64() * 1e3,
            v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    };
    for (name, v) in KINDS.iter().zip(per_kind.iter_mut()) {
        show(name, v);
    }
    show("all", &mut all);
    println!("({pages_followed} second pages followed with `before`; a request's time is the slower of its pages)");
    Ok(())
}
