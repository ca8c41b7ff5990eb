//! Classifying, explaining and deciding the reply never panic on any text, and no run of 24
//! capitals in the input (the shape of an appToken) reaches any output.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use triage::respond::{decide, Channel, History, Policy};
use triage::Classifier;

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::load(None).expect("built-in pack"))
}

/// Every run of 24 or more capitals in `text`.
fn capital_runs(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = b[i..].iter().take_while(|c| c.is_ascii_uppercase()).count();
        if n >= 24 {
            out.push(&text[i..i + n]);
        }
        i += n.max(1);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let c = classifier();
    let cls = c.classify(text);
    let explanation = c.explain(text);
    let reply = decide(c.pack(), &cls, &History::default(), &Policy::default(), &Channel { leak_deleted: Some(false), ..Channel::default() });
    let outputs = [
        cls.masked_text.clone(),
        serde_json::to_string(&cls).unwrap_or_default(),
        serde_json::to_string(&explanation).unwrap_or_default(),
        triage::cli::render_explanation(&explanation),
        reply.text.unwrap_or_default(),
    ];
    for run in capital_runs(text) {
        for out in &outputs {
            for w in 0..=run.len() - 24 {
                assert!(!out.contains(&run[w..w + 24]), "24 capitals of the input reach an output: {:?}", &run[w..w + 24]);
            }
        }
    }
});
