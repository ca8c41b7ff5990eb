//! Load test against hostile clients: `triage serve` (the release binary, as its own process)
//! holds 20,000 hostile connections while a normal client's tickets keep getting answers.
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench_hostile -- [CONNECTIONS] [SECONDS] [ADDRESSES]
//! ```
//!
//! The hostile connections come from 100 loopback addresses by default (127.0.1.2 and up, all of
//! them this machine), each client bounded by the server's per-client cap and timeouts:
//! - 45% send half of a request's headers and stall (slowloris);
//! - 45% send headers announcing a body, then a byte every two seconds (slow body);
//! - 10% send requests with made-up methods, one new connection after another.
//!
//! Every hostile connection reconnects as soon as it is dropped, so the attack keeps the server
//! at its caps for the whole run. The normal client (127.0.0.1) posts tickets with unique ids on
//! four keep-alive connections from a process of its own, and a probe opens a new connection to `/healthz` every second.
//! The report gives the normal client's tickets/s and latency percentiles, the probe's results,
//! the server's peak RSS, and what the hostile connections met.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

const API_TOKEN: &str = "bench-hostile-token";

#[derive(Default)]
struct Tally {
    connects: AtomicU64,
    connect_errors: AtomicU64,
    refused_503: AtomicU64,
    timed_out_408: AtomicU64,
    closed_by_server: AtomicU64,
    answered: AtomicU64,
}

fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed to them.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        // Root may raise the hard limit too; anyone else gets the hard limit they have.
        let wanted = libc::rlimit { rlim_cur: lim.rlim_max.max(65_536), rlim_max: lim.rlim_max.max(65_536) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            lim = wanted;
        } else {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

async fn hostile(kind: usize, source: [u8; 4], server: SocketAddr, until: Instant, tally: Arc<Tally>, seq: Arc<AtomicU64>) {
    while Instant::now() < until {
        let Ok(socket) = TcpSocket::new_v4() else { return };
        if socket.bind(SocketAddr::from((source, 0))).is_err() {
            return;
        }
        let mut stream = match tokio::time::timeout(Duration::from_secs(5), socket.connect(server)).await {
            Ok(Ok(s)) => s,
            _ => {
                tally.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        tally.connects.fetch_add(1, Ordering::Relaxed);
        let request = match kind {
            0 => "POST /v1/tickets HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-slow: ".to_string(),
            1 => format!(
                "POST /v1/tickets HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {API_TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{{"
            ),
            _ => format!("M{}X /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", seq.fetch_add(1, Ordering::Relaxed)),
        };
        if stream.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 512];
        let mut got = Vec::new();
        loop {
            let wait = if kind == 1 { Duration::from_secs(2) } else { until.saturating_duration_since(Instant::now()) };
            match tokio::time::timeout(wait, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                // A slow body: one more byte.
                Err(_) if kind == 1 && Instant::now() < until => {
                    if stream.write_all(b" ").await.is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
            if got.len() > 4096 {
                break;
            }
        }
        let head = String::from_utf8_lossy(&got);
        let counter = if head.starts_with("HTTP/1.1 503") {
            &tally.refused_503
        } else if head.starts_with("HTTP/1.1 408") {
            &tally.timed_out_408
        } else if head.starts_with("HTTP/1.1") {
            &tally.answered
        } else {
            &tally.closed_by_server
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn attack(address: SocketAddr, connections: usize, seconds: u64, addresses: u32) -> anyhow::Result<()> {
    raise_fd_limit();
    let until = Instant::now() + Duration::from_secs(seconds);
    let tally = Arc::new(Tally::default());
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let kind = match i % 20 {
            0..=8 => 0,
            9..=17 => 1,
            _ => 2,
        };
        let n = i as u32 % addresses;
        let source = [127, 0, (1 + n / 250) as u8, (2 + n % 250) as u8];
        tasks.push(tokio::spawn(hostile(kind, source, address, until, tally.clone(), seq.clone())));
    }
    for task in tasks {
        let _ = task.await;
    }
    let t = &tally;
    println!(
        "  connects {} (errors {}), refused with 503: {}, request timed out (408): {}, closed by the server: {}, answered: {}",
        t.connects.load(Ordering::Relaxed),
        t.connect_errors.load(Ordering::Relaxed),
        t.refused_503.load(Ordering::Relaxed),
        t.timed_out_408.load(Ordering::Relaxed),
        t.closed_by_server.load(Ordering::Relaxed),
        t.answered.load(Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--attack") {
        args.next();
        let address: SocketAddr = args.next().unwrap_or_default().parse()?;
        let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
        let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
        let addresses: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
        return attack(address, connections, seconds, addresses).await;
    }
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let addresses: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100).clamp(1, 250 * 200);
    let fds = raise_fd_limit();
    let exe = std::env::current_exe()?;
    let binary = exe.parent().and_then(|p| p.parent()).map(|p| p.join("triage")).filter(|p| p.exists());
    let Some(binary) = binary else { anyhow::bail!("build the server first: cargo build --release") };
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(&binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(dir.path().join("bench.db"))
        .env("TRIAGE_API_TOKEN", API_TOKEN)
        .env_remove("DISCORD_TOKEN")
        .env("RUST_LOG", "warn,triage=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(tokio::process::ChildStderr::from_std(stderr)?).lines();
    let address: SocketAddr = loop {
        let Some(line) = lines.next_line().await? else { anyhow::bail!("the server ended before it listened") };
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().trim_end_matches('/').parse()?;
        }
    };
    // Keep draining the server's log, and count its refusal warnings.
    let refusal_logs = Arc::new(AtomicU64::new(0));
    let logs = refusal_logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("are refused") {
                logs.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let base = format!("http://{address}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(8).build()?;
    let ticket = |i: u64| serde_json::json!({"id": format!("n{i}"), "body": "Our new appKey gets 403 on every call, does it need a role?"});
    // Warm the normal client's connections before the attack.
    for i in 0..8 {
        client.post(format!("{base}/v1/tickets")).bearer_auth(API_TOKEN).json(&ticket(1_000_000 + i)).send().await?;
    }
    let base_rss = rss_kb(pid);
    println!("server pid {pid} on {address}; fd limit {fds}; RSS before the attack {} MB", base_rss / 1024);

    // The attack runs in a process of its own, so that its 20,000 sockets do not use up the normal
    // client's descriptors: a client that cannot open a socket would be measuring itself.
    let mut attack = Command::new(&exe)
        .args(["--attack", &address.to_string(), &connections.to_string(), &seconds.to_string(), &addresses.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    // Let the attack reach the server's caps before the normal client starts measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds.saturating_sub(3).max(1));
    let peak = Arc::new(AtomicU64::new(base_rss));
    let sampler_peak = peak.clone();
    tokio::spawn(async move {
        while Instant::now() < until {
            sampler_peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let probe = tokio::spawn({
        let base = base.clone();
        async move {
            let mut results = Vec::new();
            while Instant::now() < until {
                // A new connection each time, as a load balancer's health check makes.
                let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().ok();
                let t = Instant::now();
                let ok = match fresh {
                    Some(c) => {
                        c.get(format!("{base}/healthz")).timeout(Duration::from_secs(5)).send().await.is_ok_and(|r| r.status() == 200)
                    }
                    None => false,
                };
                results.push((ok, t.elapsed()));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            results
        }
    });
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0u64, None::<String>);
            while Instant::now() < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let body =
                    serde_json::json!({"id": format!("n{i}"), "body": "Our new appKey gets 403 on every call, does it need a role?"});
                let t = Instant::now();
                match client
                    .post(format!("{base}/v1/tickets"))
                    .bearer_auth(API_TOKEN)
                    .json(&body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 201 => latencies.push(t.elapsed()),
                    Ok(r) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("status {}", r.status()));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:?}"));
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_errors = Vec::new();
    for w in workers {
        let (l, e, first) = w.await?;
        latencies.extend(l);
        errors += e;
        if let Some(first) = first {
            first_errors.push(first);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let probes = probe.await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = client.get(format!("{base}/metrics")).bearer_auth(API_TOKEN).send().await?.text().await?;
    let series = metrics.lines().filter(|l| l.starts_with("triage_http_requests_total")).count();
    let refused: String =
        metrics.lines().find(|l| l.starts_with("triage_connections_refused_total")).unwrap_or("triage_connections_refused_total ?").into();
    latencies.sort();
    let mut attack_report = String::new();
    if let Some(mut out) = attack.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut attack_report)?;
    }
    let _ = attack.wait();
    println!("hostile connections: {connections} from {addresses} addresses for {seconds} s");
    print!("{attack_report}");
    println!(
        "normal client: {} tickets in {elapsed:.1} s = {:.0}/s, errors {errors}; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    for first in &first_errors {
        println!("  first error of a normal worker: {first}");
    }
    let ok = probes.iter().filter(|(ok, _)| *ok).count();
    let worst = probes.iter().map(|(_, d)| *d).max().unwrap_or_default();
    println!("/healthz on a new connection every second: {ok} of {} answered, slowest {:.1} ms", probes.len(), worst.as_secs_f64() * 1e3);
    println!(
        "server: peak RSS {} MB (before: {} MB); {refused}; {series} request series in /metrics; {} refusal log lines",
        peak.load(Ordering::Relaxed) / 1024,
        base_rss / 1024,
        refusal_logs.load(Ordering::Relaxed)
    );
    // SAFETY: sending SIGTERM to the child we started.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    Ok(())
}
