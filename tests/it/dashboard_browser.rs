//! The dashboard in a real browser: headless Chromium (Debian's `chromium`) loads the page from
//! the app on port 0 and saves a screenshot; the rendered DOM must hold labelled charts.
//!
//! Without Chromium the test says so and passes, except under CI (`CI` set), where `.ci/run`
//! installs it and its absence is a failure.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use triage::config::Config;
use triage::startup::{Application, Settings};

/// The browser to test with; without one, says the test is skipped (and fails under CI, which
/// must have it).
fn chromium_or_skip() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("which").arg(name).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium (see .ci/run)");
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
    }
    found
}

fn browser(bin: &PathBuf, profile: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(args);
    cmd.output().expect("chromium runs")
}

/// The app on port 0 with a temporary database and no token: its base URL, the sender that
/// stops it, its task, and the folder to keep alive while it runs.
async fn serve() -> (String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        api_token: None,
        discord_token: None,
        database: dir.path().join("cases.db").into(),
        rules: None,
        config: Config::default(),
        connectors: None,
    };
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    (base, stop, server, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_visible_labelled_charts_in_headless_chromium() {
    let Some(bin) = chromium_or_skip() else { return };
    let (base, stop, server, _dir) = serve().await;
    let client = reqwest::Client::new();
    let bodies = [
        "I made a new app key and every call gets 403. Does the key need a role?",
        "Key is in a role, catalog calls work, but the orders endpoint gives 403.",
        "Could a trailing space in my appKey cause 401?",
        "Meu usuário não consegue criar chave de aplicação, quem pode?",
        "Olvidé copiar el appToken, ¿puedo verlo de nuevo?",
        "App key authentication isn't working for us.",
        "How do I add a banner to the home page?",
    ];
    for i in 0..40 {
        let body = json!({"id": i, "body": bodies[i % bodies.len()], "account": format!("store-{}", i % 4), "requester": format!("agent-{}", i % 6)});
        client.post(format!("{base}/v1/tickets")).json(&body).send().await.unwrap();
    }
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shots);
    let profile = tempfile::tempdir().unwrap();
    let (bin2, url, shot_arg) = (bin.clone(), format!("{base}/?days=30"), format!("--screenshot={}", shots.display()));
    let profile_path = profile.path().to_path_buf();
    let dom = tokio::task::spawn_blocking(move || {
        let shot = browser(&bin2, &profile_path, &[&shot_arg, "--window-size=1280,2200", &url]);
        assert!(shot.status.success(), "screenshot failed: {}", String::from_utf8_lossy(&shot.stderr));
        let dom = browser(&bin2, &profile_path, &["--dump-dom", "--virtual-time-budget=2000", &url]);
        String::from_utf8_lossy(&dom.stdout).into_owned()
    })
    .await
    .unwrap();
    let png = std::fs::read(&shots).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 30_000, "a real rendered page, {} bytes", png.len());
    assert!(dom.matches("<svg").count() >= 3, "charts in the rendered DOM");
    for label in ["Cases per day by category", "Category share", "key-not-linked-to-role", "Top recurring accounts", "store-1"] {
        assert!(dom.contains(label), "rendered page lacks {label}");
    }
    eprintln!("screenshot: {}", shots.display());
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_browser_filters_and_a_case_page_shows_its_highlighted_spans_in_headless_chromium() {
    let Some(bin) = chromium_or_skip() else { return };
    let (base, stop, server, _dir) = serve().await;
    let client = reqwest::Client::new();
    let bodies = [
        "I made a new app key an hour ago and all my requests get 403. Does the key need a role? Header: X-VTEX-API-AppToken: RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV",
        "Esqueci de copiar o appToken, como vejo de novo?",
        "How do I add a banner to the home page?",
    ];
    for i in 0..9 {
        let body = json!({"id": i, "body": bodies[i % bodies.len()], "account": "store-1", "requester": format!("agent-{}", i % 2)});
        client.post(format!("{base}/v1/tickets")).json(&body).send().await.unwrap();
    }
    let profile = tempfile::tempdir().unwrap();
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("case-page.png");
    let _ = std::fs::remove_file(&shot);
    let (bin2, profile_path, base2, shot2) = (bin.clone(), profile.path().to_path_buf(), base.clone(), shot.clone());
    let (list, page) = tokio::task::spawn_blocking(move || {
        let list_url = format!("{base2}/cases?category=key-not-linked-to-role&period=7d");
        let list = String::from_utf8_lossy(&browser(&bin2, &profile_path, &["--dump-dom", &list_url]).stdout).into_owned();
        // Follow the first case link, as a reviewer would click it.
        let at = list.find("href=\"/cases/").expect("a case link in the filtered list") + "href=\"".len();
        let href = &list[at..at + list[at..].find('"').unwrap()];
        let url = format!("{base2}{href}");
        let done = browser(&bin2, &profile_path, &[&format!("--screenshot={}", shot2.display()), "--window-size=1280,1500", &url]);
        assert!(done.status.success(), "screenshot failed: {}", String::from_utf8_lossy(&done.stderr));
        let page = String::from_utf8_lossy(&browser(&bin2, &profile_path, &["--dump-dom", &url]).stdout).into_owned();
        (list, page)
    })
    .await
    .unwrap();
    assert_eq!(list.matches("<tr><td><a href=\"/cases/").count(), 3, "only the filtered category's cases");
    assert!(!list.contains("banner"), "other categories are filtered out");
    assert!(page.matches("<mark").count() >= 3, "the spans are highlighted");
    assert!(page.contains("[masked:apptoken]") && !page.contains("RDLSBQGBCNN"), "the token is masked on the page");
    assert!(page.contains("key-not-linked-to-role/"));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 30_000, "a real rendered page, {} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
