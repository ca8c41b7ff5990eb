//! The `triage` binary, driven as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_triage");
const TOKEN: &str =
    "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";

fn triage(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("DATABASE_URL").env_remove("TRIAGE_CONFIG").env_remove("TRIAGE_RULES");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("binary runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn classify_prints_category_and_the_remediation_to_post() {
    let out = triage(&["classify", "Esqueci de copiar o appToken, como vejo de novo?"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("category:   apptoken-lost"), "{stdout}");
    assert!(stdout.contains("language:   pt"));
    assert!(stdout.contains("usuário Sponsor"), "{stdout}");
}

#[test]
fn jsonl_keeps_order_reports_bad_lines_and_never_echoes_text() {
    let input = format!(
        "{}\nnot json\n{}\n{}\n",
        r#"{"id": 1, "text": "Can someone who isn't the Sponsor create keys?", "extra": true}"#,
        serde_json::json!({"id": "leak", "text": format!("appToken: {TOKEN} fails")}),
        r#"{"id": "no-text"}"#
    );
    let out = triage(&["classify", "--jsonl"], Some(input.as_bytes()));
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["category"], "sponsor-required");
    assert_eq!(lines[0]["escalate_to_sponsor"], true);
    for key in ["id", "category", "confidence", "language", "escalate_to_sponsor", "secrets_found", "rules"] {
        assert!(lines[0].get(key).is_some(), "missing {key}");
    }
    assert!(lines[1]["id"].is_null() && lines[1]["error"].as_str().unwrap().contains("invalid JSON"));
    assert_eq!(lines[2]["secrets_found"], 1);
    assert_eq!(lines[3]["id"], "no-text");
    assert!(lines[3]["error"].as_str().unwrap().contains("text"));
    assert!(!stdout.contains("Sponsor create") && !stdout.contains(&TOKEN[..20]));
}

#[test]
fn invalid_utf8_and_huge_messages_get_one_line_errors() {
    let out = triage(&["classify"], Some(&[0x61, 0xff, 0xfe]));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("not valid UTF-8") && err.lines().count() == 1, "{err}");
    let huge = "a".repeat(70 * 1024);
    let out = triage(&["classify", &huge], None);
    assert!(text(&out.stderr).contains("over the 65536-byte limit"));
}

#[test]
fn a_reader_that_stops_early_ends_the_output_without_an_error_or_a_panic() {
    use std::io::{BufRead, BufReader};
    // `triage classify --jsonl < big | head -1`: head exits after one line.
    let mut child = Command::new(BIN)
        .args(["classify", "--jsonl"])
        .env_remove("TRIAGE_RULES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..200_000 {
            // The writer stops when triage is gone; that is the point of the test.
            if writeln!(stdin, r#"{{"id": {i}, "text": "appKey 401 on every call"}}"#).is_err() {
                break;
            }
        }
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("auth-unspecified"), "{first}");
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.is_empty(), "nothing on stderr when the reader goes away: {stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    }
}

#[test]
fn shipped_rules_pass_their_own_check() {
    let out = triage(&["rules", "check", concat!(env!("CARGO_MANIFEST_DIR"), "/rules")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok: "));
}

fn broken_pack(edit: impl Fn(String) -> String) -> (tempfile::TempDir, String) {
    let original = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/vtex-app-keys.toml")).unwrap();
    let edited = edit(original.clone());
    assert_ne!(edited, original, "the edit applies");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack.toml");
    std::fs::write(&path, edited).unwrap();
    let out = triage(&["rules", "check", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    (dir, text(&out.stderr))
}

#[test]
fn broken_rule_files_are_reported_with_file_category_and_rule() {
    let (_d, err) = broken_pack(|s| s.replacen("when = [\"need >5:linkword role\"]", "when = [\"need >5:linkword rol\"]", 1));
    assert!(
        err.contains("pack.toml: category `key-not-linked-to-role`, rule `key-needs-a-role`") && err.contains("unknown concept `rol`"),
        "{err}"
    );
    let (_d, err) = broken_pack(|s| s.replacen("when = [\"need >5:linkword role\"]", "when = [\"need >5:linkword (role\"]", 1));
    assert!(err.contains("rule `key-needs-a-role`: pattern `need >5:linkword (role`: `(` is not closed"), "{err}");
    let (_d, err) = broken_pack(|s| s.replacen("include = [\"appkey_named\"]", "include = [\"appkey_named\", \"cred\"]", 1));
    assert!(err.contains("concept appkey") && err.contains("includes itself: appkey -> cred -> key -> appkey"), "{err}");

    let (_d, err) = broken_pack(|s| s.replacen("id = \"quotes-around-value\"", "id = \"case-sensitivity\"", 1));
    assert!(err.contains("rule `case-sensitivity`: duplicate rule id"), "{err}");

    let (_d, err) = broken_pack(|s| s.replacen("\nes = \"\"\"\nUn appToken **no se puede", "\nfr = \"\"\"\nUn appToken **no se puede", 1));
    assert!(err.contains("pack.toml") && (err.contains("missing field `es`") || err.contains("unknown field `fr`")), "{err}");

    let (_d, err) = broken_pack(|s| s.replacen("weight = 0.85\nunless = [", "weight = 0.85\nwieght = 1\nunless = [", 1));
    assert!(err.contains("unknown field `wieght`"), "{err}");

    let (_d, err) = broken_pack(|s| {
        s.replacen(
            "\"We misplaced the appToken of our ERP integration, what now?\",",
            "\"We misplaced the appToken of our ERP integration, what now?\", \"How do I change the store logo?\",",
            1,
        )
    });
    assert!(
        err.contains("category `apptoken-lost`, rule `token-lost-or-not-saved`: example \"How do I change the store logo?\" does not fire"),
        "{err}"
    );
}

#[test]
fn eval_on_the_development_corpus_meets_the_bar() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/dev.jsonl");
    if !corpus.exists() {
        eprintln!("skipped: {} not present", corpus.display());
        return;
    }
    let out = triage(&["eval", corpus.to_str().unwrap(), "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["macro_f1"].as_f64().unwrap() >= 0.95, "{report}");
    assert!(report["none_false_positive_rate"].as_f64().unwrap() <= 0.02, "{report}");
    assert_eq!(report["secrets_leaked"], 0);
}

#[test]
fn eval_on_the_probe_messages_meets_the_bar_and_never_answers_off_topic() {
    // tests/data/probe_messages.jsonl: messages written for this project in en/pt/es, each batch
    // before the pack saw it (README, "Measuring the classifier"). Rules were then fixed from
    // the FAQ's meaning, so this guards against regressions; it is not a held-out score.
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/probe_messages.jsonl");
    let out = triage(&["eval", corpus, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["messages"].as_u64().unwrap() >= 230, "{report}");
    assert!(report["accuracy"].as_f64().unwrap() >= 0.97, "{report}");
    assert_eq!(report["none_false_positive_rate"].as_f64(), Some(0.0), "{report}");
    // The escalation count behind the ratio, which benches/untuned.py pools.
    let (right, labelled) = (report["escalation_right"].as_u64().unwrap(), report["escalation_labelled"].as_u64().unwrap());
    assert!(labelled > 0 && right * 100 >= labelled * 97, "{report}");
    assert!((report["escalation_accuracy"].as_f64().unwrap() - right as f64 / labelled as f64).abs() < 1e-12, "{report}");
}

#[test]
fn missing_files_and_configs_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let out = triage(&["import", "/no/such/export.jsonl", "--database", db.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("cannot open /no/such/export.jsonl") && err.lines().count() == 1, "{err}");
    let out = triage(&["stats", "--config", "/no/such/triage.toml"], None);
    assert!(text(&out.stderr).contains("config file /no/such/triage.toml not found"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[reply]\nshadoww = true\n").unwrap();
    let out = triage(&["stats", "--config", bad.to_str().unwrap()], None);
    let err = text(&out.stderr);
    assert!(err.contains("line 2") && err.contains("shadoww"), "{err}");
    // Statistics of a database that isn't there: an error, and no empty file left behind.
    let typo = dir.path().join("typo.db");
    let out = triage(&["stats", "--database", typo.to_str().unwrap()], None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("no database at") && err.lines().count() == 1, "{err}");
    assert!(!typo.exists());
}

#[test]
fn a_shard_range_that_cannot_run_is_refused_in_one_line_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("triage.toml");
    std::fs::write(&conf, "[discord]\nshards = \"4/4\"\n").unwrap();
    let out = triage(&["serve", "--listen", "127.0.0.1:0", "--config", conf.to_str().unwrap()], None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("numbered 0 to 3") && err.contains("0-1/4") && err.lines().count() == 1, "{err}");
    let out = triage(&["serve", "--listen", "127.0.0.1:0", "--shards", "2-1/4"], None);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("first shard is after the last"), "{err}");
}

#[test]
fn a_windows_export_with_a_byte_order_mark_and_crlf_imports_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let (file, db) = (dir.path().join("export.jsonl"), dir.path().join("t.db"));
    let lines = "\u{feff}{\"id\": 1, \"text\": \"We lost the appToken\"}\r\n{\"id\": 2, \"text\": \"hello\"}\r\n";
    std::fs::write(&file, lines).unwrap();
    let out = triage(&["import", file.to_str().unwrap(), "--database", db.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("imported 2 new cases, 0 already present, 0 bad lines"), "{}", text(&out.stderr));
    assert_eq!(count_cases(&db), (2, 2));
    let out = triage(&["classify", "--jsonl"], Some(lines.as_bytes()));
    assert!(!text(&out.stdout).contains("error"), "{}", text(&out.stdout));
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

fn try_count_cases(db: &std::path::Path) -> Result<(i64, i64), sqlx::Error> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Row};
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
        let r = sqlx::query("SELECT COUNT(*), COUNT(DISTINCT source_id) FROM cases").fetch_one(&mut c).await?;
        Ok((r.get(0), r.get(1)))
    })
}

fn count_cases(db: &std::path::Path) -> (i64, i64) {
    try_count_cases(db).expect("the database has its cases table")
}

#[test]
fn import_killed_halfway_and_rerun_ends_with_one_case_per_id() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    let db = dir.path().join("t.db");
    let n = 20_000;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..n {
        let line = serde_json::json!({"id": format!("H-{i}"), "text": format!("Our appKey gets 401 on every call, ticket {i}"), "author": format!("a{}", i % 300)});
        writeln!(f, "{line}").unwrap();
    }
    writeln!(f, "{{broken").unwrap();
    drop(f);
    let mut child = Command::new(BIN)
        .args(["import", file.to_str().unwrap(), "--database", db.to_str().unwrap(), "--batch", "500"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill as soon as some batches are in, well before the end.
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(20));
        // The child may have created the file but not yet its tables: that counts as empty.
        let partial = db.exists() && try_count_cases(&db).map(|(n, _)| n > 0).unwrap_or(false);
        if partial || started.elapsed().as_secs() > 60 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (partial, _) = count_cases(&db);
    assert!(partial > 0 && partial < n, "killed halfway: {partial}");
    let out = triage(&["import", file.to_str().unwrap(), "--database", db.to_str().unwrap()], None);
    let err = text(&out.stderr);
    assert!(err.contains(&format!("export.jsonl:{}: skipped: invalid JSON", n + 1)), "{err}");
    assert_eq!(count_cases(&db), (n, n));
    let again = triage(&["import", file.to_str().unwrap(), "--database", db.to_str().unwrap()], None);
    assert!(text(&again.stderr).contains(&format!("imported 0 new cases, {n} already present")));
    assert_eq!(count_cases(&db), (n, n));
}

#[test]
fn serve_without_tokens_says_so_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db.to_str().unwrap()])
        .env_remove("DISCORD_TOKEN")
        .env_remove("TRIAGE_API_TOKEN")
        .env_remove("TRIAGE_LISTEN")
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let address = first.split("http://").nth(1).and_then(|s| s.split('/').next()).expect("prints where the dashboard is").to_string();
    let mut second = String::new();
    stderr.read_line(&mut second).unwrap();
    assert!(second.contains("Discord is off"), "{second}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("http://{address}/v1/tickets"))
            .json(&serde_json::json!({"id": "s1", "body": "App key authentication isn't working for us."}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 201);
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed().as_secs() < 15, "did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(exit.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
    assert_eq!(count_cases(&db), (1, 1));
}

#[test]
fn an_import_of_a_missing_file_or_a_folder_leaves_no_database_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    for source in ["/no/such/export.jsonl".to_string(), dir.path().display().to_string()] {
        let out = triage(&["import", &source, "--database", db.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(2), "{source}");
        assert!(!db.exists(), "{source}: an empty database was created");
    }
}

/// Peak resident memory of a running process, from /proc.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_huge_line_is_refused_without_being_held_in_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc");
        return;
    }
    let mut child = Command::new(BIN)
        .args(["classify", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    // What the process holds once the pack is loaded and a line answered: the baseline.
    stdin.write_all(b"{\"id\": 0, \"text\": \"hello\"}\n").unwrap();
    stdin.flush().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let base = peak_rss_kb(child.id()).unwrap_or(0);
    let chunk = vec![b'a'; 1 << 20];
    stdin.write_all(b"{\"id\": 1, \"text\": \"").unwrap();
    for _ in 0..50 {
        stdin.write_all(&chunk).unwrap();
    }
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let peak = peak_rss_kb(child.id()).unwrap_or(0);
    stdin.write_all(b"\"}\n{\"id\": 2, \"text\": \"our appKey gets 401\"}\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    child.wait().unwrap();
    let lines: Vec<serde_json::Value> = rest.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0]["error"].as_str().unwrap().contains("over the"), "{}", lines[0]);
    assert_eq!(lines[1]["id"], 2, "the stream goes on after the long line");
    // A 50 MB line held whole would take 50 MB and more on top of the baseline.
    assert!(base > 0 && peak < base + 16 * 1024, "peak RSS {peak} kB while reading a 50 MB line, {base} kB before");
}

#[test]
fn an_import_that_runs_out_of_space_says_how_much_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (file, db, conf) = (dir.path().join("export.jsonl"), dir.path().join("t.db"), dir.path().join("triage.toml"));
    let body = "lorem ipsum dolor sit amet ".repeat(1500);
    let lines: String = (0..400).map(|i| format!("{{\"id\": {i}, \"text\": \"appKey 401 {body}\"}}\n")).collect();
    std::fs::write(&file, lines).unwrap();
    std::fs::write(&conf, "database_max_mb = 2\n").unwrap();
    let out = triage(
        &["import", file.to_str().unwrap(), "--batch", "20", "--database", db.to_str().unwrap(), "--config", conf.to_str().unwrap()],
        None,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stopped after") && err.contains("batches") && err.contains("full"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn coverage_runs_the_pack_over_an_export_without_storing_anything_and_its_parts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl");
    let lines = [
        r#"{"id": 1, "text": "I made a new app key an hour ago and all my requests get 403. Does the key need a role?"}"#,
        r#"{"id": 2, "text": "Esqueci de copiar o appToken, como vejo de novo?"}"#,
        r#"{"id": 3, "text": "Good morning folks, how do I add a banner to the home page?"}"#,
        "not json",
    ];
    std::fs::write(&export, lines.join("\n")).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["rules", "coverage", "--json"])
        .arg(&export)
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("TRIAGE_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &r["total"];
    assert_eq!(t["messages"], 3, "the bad line is skipped, and said so: {}", text(&out.stderr));
    let parts: i64 = ["answered", "below_threshold", "silent_on_topic", "off_topic"].iter().map(|k| t[k].as_i64().unwrap()).sum();
    assert_eq!(parts, 3);
    assert_eq!(t["answered"], 2);
    assert_eq!(r["per_language"]["pt"]["answered"], 1);
    assert!(text(&out.stderr).contains(":4: skipped"));
    assert!(std::fs::read_dir(dir.path()).unwrap().count() == 1, "nothing but the export: no database was created");
}

#[test]
fn suggest_lists_recurring_phrases_of_missed_messages_per_category() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("reviewed.jsonl");
    let mut lines = Vec::new();
    // Said in words the pack does not know, so that the pack (and its scorer) misses all three.
    for (i, t) in ["the zorblat widget ate it again", "zorblat widget again, all gone", "after the zorblat widget update nothing is left"]
        .iter()
        .enumerate()
    {
        lines.push(serde_json::json!({"id": format!("m{i}"), "text": t, "expected": "apptoken-lost"}).to_string());
    }
    lines.push(serde_json::json!({"id": "n1", "text": "How do I add a banner to the home page?", "expected": "none"}).to_string());
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let out = triage(&["rules", "suggest", corpus.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("apptoken-lost") && stdout.contains("zorblat widget"), "{stdout}");
}

#[test]
fn stats_by_rule_on_a_missing_database_is_a_one_line_error() {
    let out = triage(&["stats", "--by-rule", "--database", "/nonexistent/x.db"], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("no database at") && err.lines().count() == 1, "{err}");
}
