//! The server against hostile clients: bounded metrics, timeouts, connection caps, brute force,
//! cookies and headers, exact ids, readiness that reflects writes. Each test is one finding of
//! the security review, and failed before its fix.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use triage::config::Config;

use crate::support::app::{spawn_app, spawn_app_with, API_TOKEN};

fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    edit(&mut c);
    c
}

/// A connection from a given loopback address (all of 127.0.0.0/8 is this machine).
async fn connect_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the server closes the connection or `wait` passes; what came, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    for i in 0..300 {
        let mut s = TcpStream::connect(app.address).await.unwrap();
        s.write_all(format!("M{i}X /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let _ = read_until_closed(&mut s, Duration::from_secs(5)).await;
    }
    let metrics = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    let methods: std::collections::BTreeSet<&str> =
        metrics.lines().filter_map(|l| l.split("method=\"").nth(1)).filter_map(|r| r.split('"').next()).collect();
    assert!(methods.len() <= 10, "{methods:?}");
    assert!(methods.contains("other"), "{methods:?}");
    assert!(metrics.len() < 64 * 1024, "/metrics is {} bytes", metrics.len());
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = spawn_app_with(config(|c| c.http.header_timeout = Duration::from_secs(1)), Some(API_TOKEN), "127.0.0.1:0").await;
    let mut s = TcpStream::connect(app.address).await.unwrap();
    s.write_all(b"POST /v1/tickets HTTP/1.1\r\nhost: x\r\ncontent-type: appl").await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed && started.elapsed() < Duration::from_secs(4), "closed: {closed} after {:?}", started.elapsed());
    app.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let app = spawn_app_with(config(|c| c.http.idle_timeout = Duration::from_secs(1)), Some(API_TOKEN), "127.0.0.1:0").await;
    let mut s = TcpStream::connect(app.address).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let (first, closed) = read_until_closed(&mut s, Duration::from_secs(4)).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(closed, "a keep-alive connection left idle must be closed");
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408() {
    let app = spawn_app_with(config(|c| c.http.request_timeout = Duration::from_secs(1)), Some(API_TOKEN), "127.0.0.1:0").await;
    let mut s = TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST /v1/tickets HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {API_TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"id\""
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (reply, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    app.stop().await;
}

#[tokio::test]
async fn a_client_over_its_connection_cap_is_refused_and_others_are_still_served() {
    let app = spawn_app_with(config(|c| c.http.max_connections_per_client = 4), Some(API_TOKEN), "127.0.0.1:0").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from([127, 0, 0, 9], app.address).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = connect_from([127, 0, 0, 9], app.address).await;
    let (reply, closed) = read_until_closed(&mut fifth, Duration::from_secs(3)).await;
    assert!(reply.starts_with("HTTP/1.1 503") && closed, "{reply}");
    // Another client, and the health probe, are unaffected.
    let ok = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let metrics = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert_eq!(crate::support::metric_value(&metrics, "triage_connections_refused_total"), Some(1.0), "{metrics}");
    drop(held);
    app.stop().await;
}

/// A connection that has been answered once, kept open.
async fn answered_connection(to: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(to).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let (reply, closed) = read_until_closed(&mut s, Duration::from_millis(500)).await;
    assert!(reply.starts_with("HTTP/1.1 200") && !closed, "{reply}");
    s
}

#[tokio::test]
async fn at_the_cap_in_all_a_new_client_takes_the_place_of_the_oldest_connection_never_answered() {
    let app = spawn_app_with(
        config(|c| {
            c.http.max_connections = 4;
            c.http.max_connections_per_client = 0;
        }),
        Some(API_TOKEN),
        "127.0.0.1:0",
    )
    .await;
    let mut answered = answered_connection(app.address).await;
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(app.address).await.unwrap();
        s.write_all(b"POST /v1/tickets HTTP/1.1\r\nhost: x\r\nx-slow: ").await.unwrap();
        stalled.push(s);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut newcomer = TcpStream::connect(app.address).await.unwrap();
    newcomer.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let (reply, _) = read_until_closed(&mut newcomer, Duration::from_secs(3)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "the newcomer got: {reply}");
    let (oldest, closed) = read_until_closed(&mut stalled[0], Duration::from_secs(2)).await;
    assert!(closed && oldest.is_empty(), "the oldest stalled connection must be closed, without a reply: {oldest:?}");
    let (_, closed) = read_until_closed(&mut stalled[1], Duration::from_millis(300)).await;
    assert!(!closed, "only one place was needed, so only one stalled connection goes");
    answered.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let (again, _) = read_until_closed(&mut answered, Duration::from_millis(500)).await;
    assert!(again.starts_with("HTTP/1.1 200"), "an answered connection keeps its place: {again}");
    let metrics = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    let evicted = crate::support::metric_value(&metrics, "triage_connections_evicted_total");
    assert_eq!(evicted, Some(1.0), "{metrics}");
    drop(stalled);
    app.stop().await;
}

#[tokio::test]
async fn at_the_cap_in_all_with_every_connection_answered_a_new_one_is_refused() {
    let app = spawn_app_with(
        config(|c| {
            c.http.max_connections = 3;
            c.http.max_connections_per_client = 0;
        }),
        Some(API_TOKEN),
        "127.0.0.1:0",
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(answered_connection(app.address).await);
    }
    let mut fourth = TcpStream::connect(app.address).await.unwrap();
    let (reply, closed) = read_until_closed(&mut fourth, Duration::from_secs(3)).await;
    assert!(reply.starts_with("HTTP/1.1 503") && closed, "{reply}");
    for s in &mut held {
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let (again, _) = read_until_closed(s, Duration::from_millis(500)).await;
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    }
    app.stop().await;
}

#[tokio::test]
async fn numeric_ids_are_kept_exactly_or_refused() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let post = |id: Value| app.post("/v1/tickets").json(&json!({"id": id, "body": "appKey 401 on every call"})).send();
    for too_big in [json!(1e30), serde_json::from_str::<Value>("100000000000000000000001").unwrap(), json!(1.5)] {
        let r = post(too_big.clone()).await.unwrap();
        assert_eq!(r.status(), 422, "{too_big}");
        assert!(r.text().await.unwrap().contains("as strings"));
    }
    assert_eq!(post(json!(18446744073709551615u64)).await.unwrap().status(), 201);
    assert_eq!(post(json!("100000000000000000000001")).await.unwrap().status(), 201);
    assert_eq!(post(json!("100000000000000000000002")).await.unwrap().status(), 201, "a different id is a different ticket");
    app.stop().await;
}

#[tokio::test]
async fn an_api_token_with_a_trailing_newline_still_lets_clients_in() {
    let app = spawn_app(Some(&format!("  {API_TOKEN}\n")), "127.0.0.1:0").await;
    assert_eq!(app.get("/v1/stats").send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn guessing_the_token_is_slowed_to_a_few_tries_a_minute() {
    let app = spawn_app_with(config(|c| c.http.auth_failures_per_minute = 5), Some(API_TOKEN), "127.0.0.1:0").await;
    for _ in 0..5 {
        let r = app.client.get(format!("{}/v1/stats", app.base)).bearer_auth("guess").send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = app.client.get(format!("{}/v1/stats", app.base)).bearer_auth("guess").send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // While locked out, even the right token waits: a guess that happens to be right is no help.
    assert_eq!(app.get("/v1/stats").send().await.unwrap().status(), 429);
    let login = app.client.post(format!("{}/login", app.base)).form(&[("token", "guess")]).send().await.unwrap();
    assert_eq!(login.status(), 429);
    let metrics_app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let _ = metrics_app.client.get(format!("{}/v1/stats", metrics_app.base)).bearer_auth("guess").send().await.unwrap();
    let m = metrics_app.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert_eq!(crate::support::metric_value(&m, "triage_auth_failures_total"), Some(1.0), "{m}");
    metrics_app.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn the_login_refuses_other_sites_marks_cookies_secure_behind_tls_and_logs_out() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let url = format!("{}/login", app.base);
    let csrf = app.client.post(&url).header("origin", "https://evil.example").form(&[("token", API_TOKEN)]).send().await.unwrap();
    assert_eq!(csrf.status(), 403);
    let plain = app.client.post(&url).header("origin", app.base.clone()).form(&[("token", API_TOKEN)]).send().await.unwrap();
    let cookie = plain.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(!cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let tls = app.client.post(&url).header("x-forwarded-proto", "https").form(&[("token", API_TOKEN)]).send().await.unwrap();
    assert!(tls.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
    let session = cookie.split(';').next().unwrap().to_string();
    let page = app.client.get(format!("{}/", app.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status(), 200);
    for (name, want) in [("content-security-policy", "default-src 'none'"), ("x-frame-options", "DENY"), ("cache-control", "no-store")] {
        let got = page.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(got.contains(want), "{name}: {got}");
    }
    let out = app.client.post(format!("{}/logout", app.base)).header("cookie", &session).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let after = app.client.get(format!("{}/", app.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(after.status(), 303, "the session must be gone after logout");
    app.stop().await;
}

#[tokio::test]
async fn input_echoed_in_an_error_is_capped() {
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    let long = "x".repeat(5000);
    let r = app.post("/v1/tickets").json(&json!({"id": "e1", "body": "appKey 401", "language": long})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().chars().count() <= 301, "{v}");
    // A token sent where a language goes is masked in the error that quotes it.
    let r = app.post("/v1/tickets").json(&json!({"id": "e2", "body": "appKey 401", "language": TOKEN})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("unknown language") && !text.contains(&TOKEN[..24]), "{text}");
    app.stop().await;
}

const TOKEN: &str =
    "QWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOPASDFGHJKLZ";

#[tokio::test]
async fn a_token_in_a_request_path_is_masked_in_the_logs() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(dir.path().join("cases.db"))
        .env("TRIAGE_API_TOKEN", API_TOKEN)
        .env("RUST_LOG", "debug")
        .env_remove("DISCORD_TOKEN")
        .env_remove("TRIAGE_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let base = loop {
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "the server ended before it listened");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(rest) = text.split("http://").nth(1).filter(|r| r.contains(' ')) {
            break format!("http://{}", rest.split_whitespace().next().unwrap().trim_end_matches('/'));
        }
    };
    let client = reqwest::Client::new();
    client.get(format!("{base}/v1/cases/{TOKEN}")).bearer_auth(API_TOKEN).send().await.unwrap();
    client.get(format!("{base}/v1/cases/{TOKEN}")).bearer_auth("wrong").send().await.unwrap();
    // SIGTERM: the server logs its shutdown and exits, closing stderr.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    stderr.read_to_end(&mut seen).unwrap();
    child.wait().unwrap();
    let logs = String::from_utf8_lossy(&seen);
    assert!(logs.contains("/v1/cases/"), "the request was logged: {logs}");
    assert!(!logs.contains(&TOKEN[..24]), "a token in a path reached the log");
}

#[tokio::test]
async fn readiness_turns_false_when_writes_fail_for_lack_of_space() {
    let app = spawn_app_with(config(|c| c.database_max_mb = Some(1)), Some(API_TOKEN), "127.0.0.1:0").await;
    assert_eq!(app.client.get(format!("{}/readyz", app.base)).send().await.unwrap().status(), 200);
    let body = format!("appKey 401 {}", "lorem ipsum dolor sit amet ".repeat(2300));
    let mut refused = false;
    for i in 0..200 {
        let r = app.post("/v1/tickets").json(&json!({"id": format!("f{i}"), "body": body})).send().await.unwrap();
        if r.status() == 503 {
            refused = true;
            break;
        }
        assert_eq!(r.status(), 201);
    }
    assert!(refused, "a 1 MiB database must fill up");
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("full"));
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), 200, "liveness is not readiness");
    app.stop().await;
}
