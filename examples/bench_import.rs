//! End-to-end import benchmark: generates N realistic ~200-byte messages, imports them into a
//! fresh file-backed database, then imports the same file again (all duplicates).
//!
//! cargo run --release --example bench_import -- [MESSAGES]   (default 1,000,000)
//!
//! Each import also prints CPU time per message, in all and for its busiest threads. The
//! database writer (a `tokio-rt-worker` blocking thread) and the reader (`triage-import`, which
//! parses and classifies, and has ended by then) run in parallel, so the larger of the two
//! bounds the throughput.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use triage::cli::import::import_file;
use triage::pipeline::Pipeline;
use triage::respond::Policy;
use triage::store::Store;
use triage::Classifier;

const TEMPLATES: &[&str] = &[
    "Hi all, we created a new appKey for the ERP integration and every call to the orders API comes back 403. Does the key need to be linked to a role first?",
    "Bom dia pessoal! Nossa chave de API está num perfil, consigo ler o catálogo mas quando tento alterar preço dá acesso negado. Qual recurso falta no perfil?",
    "Hola, copié el appToken desde un PDF y creo que se coló un salto de línea al final, la API responde 401 no autorizado en todas las llamadas.",
    "I'm an admin but the Generate key button is missing on the Application Keys page. Our Sponsor user is on vacation, who else can create keys?",
    "We never saved the appToken when the key was created and the developer who set it up is gone. Can support resend it or can we see it again?",
    "Good morning everyone! Does anyone know how to change the checkout button colour in the store theme? I could not find the setting anywhere.",
    "¿Alguien sabe cómo configurar el envío gratis para pedidos de más de 100 pesos? Ya revisé la logística pero no encuentro dónde se pone la regla.",
    "Thanks a lot for the help yesterday, the promotion is live now and the team is happy with the result of the campaign so far, great work!",
];

/// CPU seconds each thread of this process has used, by thread id, with its name.
fn thread_cpu() -> std::collections::HashMap<u64, (String, f64)> {
    let mut out = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u64>().ok()) else { continue };
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default().trim().to_string();
        out.insert(tid, (name, cpu_secs(&task.path().join("stat"))));
    }
    out
}

/// CPU seconds of the whole process, including threads that have ended (the import's reader).
fn process_cpu() -> f64 {
    cpu_secs(std::path::Path::new("/proc/self/stat"))
}

/// User plus system CPU seconds from a `/proc/.../stat` file: after the parenthesised name,
/// utime and stime are the 12th and 13th fields, in ticks of 1/100 s.
fn cpu_secs(stat: &std::path::Path) -> f64 {
    let stat = std::fs::read_to_string(stat).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The busiest threads between two snapshots, in CPU microseconds per message.
fn busiest(before: &std::collections::HashMap<u64, (String, f64)>, n: usize) -> String {
    let mut used: Vec<(String, f64)> = thread_cpu()
        .into_iter()
        .map(|(tid, (name, secs))| (name, secs - before.get(&tid).map_or(0.0, |b| b.1)))
        .filter(|(_, secs)| *secs > 0.0)
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    used.iter().take(3).map(|(name, secs)| format!("{name} {:.1}", secs * 1e6 / n as f64)).collect::<Vec<_>>().join(", ")
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("export.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for i in 0..n {
        let text = TEMPLATES[i % TEMPLATES.len()];
        let line = serde_json::json!({
            "id": format!("T-{i}"),
            "text": format!("{text} (ref {i})"),
            "author": format!("user{}", i % 50_000),
            "account": format!("store{}", i % 5_000),
            "created_at": 1_790_000_000 + (i as i64) * 5,
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let size = std::fs::metadata(&file)?.len();
    println!("generated {n} messages, {:.1} MB", size as f64 / 1e6);

    let classifier = Arc::new(Classifier::load(None)?);
    let store = Store::open(&dir.path().join("bench.db")).await?;
    let pipeline = Pipeline::new(classifier.clone(), store.clone(), Policy::default());
    let rss_before = peak_rss_mb();
    for (label, expect_new) in [("first import", true), ("re-import (all duplicates)", false)] {
        let (cpu, total) = (thread_cpu(), process_cpu());
        let t = Instant::now();
        let s = import_file(&pipeline, classifier.clone(), file.clone(), triage::cli::import::DEFAULT_BATCH, |_, _| {}).await?;
        let secs = t.elapsed().as_secs_f64();
        let count = if expect_new { s.inserted } else { s.duplicates };
        println!("{label}: {count} of {n} in {secs:.1}s = {:.0} messages/s; peak RSS {:.0} MB", n as f64 / secs, peak_rss_mb());
        let all = (process_cpu() - total) * 1e6 / n as f64;
        println!("  CPU µs per message: {all:.1} in all; busiest threads still running: {}", busiest(&cpu, n));
        assert_eq!(count as usize, n, "every message accounted for");
    }
    println!("cases in store: {}; peak RSS before import {:.0} MB", store.count_cases().await?, rss_before);
    store.close().await;
    Ok(())
}
