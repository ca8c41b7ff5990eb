//! Load test of the Zendesk connector end to end: N signed webhooks over loopback against the
//! release `triage serve` (its own process), which posts every reply to a fake Zendesk API in
//! this process. Reports webhooks/s, the time to acknowledge, the time from webhook to posted
//! reply, and checks that exactly N replies were posted.
//!
//! ```sh
//! python3 ../shared/bench/stream.py 100000 /tmp/helpdesk.jsonl ../shared/corpus/*.jsonl --mix helpdesk --seed 7
//! cargo build --release && cargo run --release --example bench_helpdesk -- /tmp/helpdesk.jsonl [WEBHOOKS] [CONCURRENCY]
//! ```
//!
//! Ticket texts come from the stream, in order, keeping those the pack answers (a webhook whose
//! message is off topic is stored and acknowledged, but posts nothing, so it could not be
//! counted against the posts). Each ticket has its own requester and no organisation, so that
//! cooldowns do not hold replies back.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::put;
use axum::Router;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use triage::helpdesk::zendesk;

const API_TOKEN: &str = "bench-helpdesk-api";
const HOOK_SECRET: &str = "bench-helpdesk-hook";

type Posts = Arc<Mutex<HashMap<u64, Instant>>>;

async fn fake_put(State(posts): State<Posts>, Path(file): Path<String>) -> axum::Json<Value> {
    let id: u64 = file.trim_end_matches(".json").parse().unwrap_or(0);
    posts.lock().unwrap().entry(id).or_insert_with(Instant::now);
    axum::Json(json!({ "ticket": { "id": id }, "audit": { "id": id, "events": [ { "type": "Comment", "id": id } ] } }))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let stream = args.next().ok_or_else(|| anyhow::anyhow!("usage: bench_helpdesk STREAM.jsonl [WEBHOOKS] [CONCURRENCY]"))?;
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);

    let classifier = triage::Classifier::load(None)?;
    let mut texts = Vec::with_capacity(n);
    for line in std::io::BufReader::new(std::fs::File::open(&stream)?).lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(text) = v.get("text").and_then(Value::as_str) else { continue };
        let c = classifier.classify(text);
        if c.category.is_some() && c.confidence >= triage::respond::Policy::default().reply_threshold {
            texts.push(text.to_string());
        }
        if texts.len() == n {
            break;
        }
    }
    anyhow::ensure!(texts.len() == n, "the stream has only {} answered messages; make a longer one", texts.len());
    let distinct = texts.iter().collect::<std::collections::HashSet<_>>().len();

    let posts: Posts = Arc::default();
    let fake = Router::new().route("/api/v2/tickets/{file}", put(fake_put)).with_state(posts.clone());
    let fake_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fake_address = fake_listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(fake_listener, fake).await;
    });

    let exe = std::env::current_exe()?;
    let binary = exe.parent().and_then(|p| p.parent()).map(|p| p.join("triage")).filter(|p| p.exists());
    let Some(binary) = binary else { anyhow::bail!("build the server first: cargo build --release") };
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("triage.toml"),
        format!("[helpdesk.zendesk]\nurl = \"http://{fake_address}\"\nemail = \"bench@acme.com\"\n"),
    )?;
    let mut child = tokio::process::Command::from({
        let mut c = Command::new(&binary);
        c.args(["serve", "--listen", "127.0.0.1:0", "--database"])
            .arg(dir.path().join("bench.db"))
            .arg("--config")
            .arg(dir.path().join("triage.toml"))
            .env("TRIAGE_API_TOKEN", "bench")
            .env("ZENDESK_API_TOKEN", API_TOKEN)
            .env("ZENDESK_WEBHOOK_SECRET", HOOK_SECRET)
            .env("RUST_LOG", "warn")
            .env_remove("DISCORD_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    })
    .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?).lines();
    let address: SocketAddr = loop {
        let Some(line) = lines.next_line().await? else { anyhow::bail!("the server ended before it listened") };
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().trim_end_matches('/').parse()?;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let url = format!("http://{address}/v1/webhooks/zendesk");
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let texts = Arc::new(texts);
    let next = Arc::new(AtomicUsize::new(0));
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, texts, next, sent_at) = (client.clone(), url.clone(), texts.clone(), next.clone(), sent_at.clone());
        workers.push(tokio::spawn(async move {
            let (mut acks, mut errors) = (Vec::new(), 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= texts.len() {
                    return (acks, errors);
                }
                let ticket = 100_000 + i as u64;
                let body = serde_json::to_vec(&json!({
                    "ticket_id": ticket.to_string(), "event": "created", "subject": "", "comment": texts[i],
                    "author_role": "end-user", "requester_id": format!("r{ticket}"), "locale": ""
                }))
                .unwrap_or_default();
                let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let t = Instant::now();
                sent_at.lock().unwrap().insert(ticket, t);
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-zendesk-webhook-signature-timestamp", &ts)
                    .header("x-zendesk-webhook-signature", zendesk::sign(HOOK_SECRET, &ts, &body))
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => acks.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
        }));
    }
    let mut acks = Vec::with_capacity(n);
    let mut errors = 0;
    for w in workers {
        let (a, e) = w.await?;
        acks.extend(a);
        errors += e;
    }
    let acked_in = started.elapsed();
    // Every reply is posted by the outbox worker; wait for the last one.
    let deadline = Instant::now() + Duration::from_secs(300);
    while posts.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_posted_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let posts = posts.lock().unwrap().clone();
    let sent_at = sent_at.lock().unwrap().clone();
    let mut to_post: Vec<Duration> =
        posts.iter().filter_map(|(id, at)| sent_at.get(id).map(|s| at.saturating_duration_since(*s))).collect();
    to_post.sort();
    acks.sort();
    println!("{n} signed Zendesk webhooks ({distinct} distinct texts from {stream}), {concurrency} concurrent clients");
    println!(
        "acknowledged: {} in {:.2} s = {:.0} webhooks/s, errors {errors}; p50 {:.1} ms, p99 {:.1} ms",
        acks.len(),
        acked_in.as_secs_f64(),
        acks.len() as f64 / acked_in.as_secs_f64(),
        percentile(&acks, 0.5).as_secs_f64() * 1e3,
        percentile(&acks, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "posted: {} replies (expected {n}) in {:.2} s from the first webhook; webhook to post p50 {:.1} ms, p99 {:.1} ms",
        posts.len(),
        all_posted_in.as_secs_f64(),
        percentile(&to_post, 0.5).as_secs_f64() * 1e3,
        percentile(&to_post, 0.99).as_secs_f64() * 1e3
    );
    let _ = child.kill().await;
    anyhow::ensure!(posts.len() == n, "{} replies were posted, not {n}", posts.len());
    Ok(())
}
