//! Load test of `POST /v1/tickets` over loopback: N distinct tickets from C concurrent clients,
//! plus re-deliveries of earlier ids racing the originals. Reports throughput, latency
//! percentiles, and checks that the store ends with exactly N cases.
//!
//! cargo run --release --example bench_http -- [TICKETS] [CONCURRENCY]   (default 100000 32)
//!
//! Each client sends its next ticket as soon as the previous answer arrives, so beyond the
//! point where both cores are busy more clients only queue: 32 is about where throughput stops
//! growing on a 2-core machine while latency has not started to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use triage::config::Config;
use triage::startup::{Application, Settings};

const BODIES: &[&str] = &[
    "We created a new appKey for the ERP and every call to the orders API comes back 403. Does the key need a role?",
    "Nossa chave de API está num perfil, consigo ler o catálogo mas alterar preço dá acesso negado.",
    "Copié el appToken desde un PDF y creo que se coló un salto de línea, la API responde 401.",
    "The Generate key button is missing on the Application Keys page. Who else can create keys?",
    "We never saved the appToken when the key was created. Can support resend it?",
    "How do I change the checkout button colour in the store theme?",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        api_token: Some("bench-token".into()),
        discord_token: None,
        database: dir.path().join("bench.db").into(),
        rules: None,
        config: Config::default(),
        connectors: None,
    };
    let app = Application::build(settings).await?;
    let url = format!("http://{}/v1/tickets", app.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let redeliveries = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, url, next, redeliveries, errors) = (client.clone(), url.clone(), next.clone(), redeliveries.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n / concurrency + 16);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = serde_json::json!({
                    "id": format!("T-{i}"), "body": BODIES[i % BODIES.len()],
                    "requester": format!("agent{}", i % 2000), "account": format!("store{}", i % 300)
                });
                let t = Instant::now();
                let ok =
                    client.post(&url).bearer_auth("bench-token").json(&body).send().await.map(|r| r.status().is_success()).unwrap_or(false);
                latencies.push(t.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                // Every 20th ticket, a helpdesk retry of a recent id races the original.
                if i % 20 == 0 && i > concurrency {
                    let dup = serde_json::json!({"id": format!("T-{}", i - 1 - worker % 8), "body": "retry"});
                    let t = Instant::now();
                    let _ = client.post(&url).bearer_auth("bench-token").json(&dup).send().await;
                    latencies.push(t.elapsed());
                    redeliveries.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut all: Vec<Duration> = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    let requests = all.len();
    println!(
        "{n} tickets + {} re-deliveries = {requests} requests, {concurrency} concurrent, in {:.1}s",
        redeliveries.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    );
    println!("throughput: {:.0} tickets/s ({:.0} requests/s)", n as f64 / elapsed.as_secs_f64(), requests as f64 / elapsed.as_secs_f64());
    println!(
        "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(pct(0.99)),
        ms(all[all.len() - 1])
    );
    println!("errors: {}", errors.load(Ordering::Relaxed));
    let _ = stop.send(());
    server.await??;
    let store = triage::store::Store::open(&dir.path().join("bench.db")).await?;
    let cases = store.count_cases().await?;
    println!("cases in store: {cases} (expected {n}): {}", if cases as usize == n { "ok" } else { "MISMATCH" });
    anyhow::ensure!(cases as usize == n, "lost or doubled cases");
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
