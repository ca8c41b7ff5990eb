//! JSON lines in (`import` and `classify --jsonl`): never a panic, one output line per input line,
//! every output line valid JSON, and no 24 capitals of the input in an error.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use triage::Classifier;

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::load(None).expect("built-in pack"))
}

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Err(reason) = triage::cli::import::parse_line(line) {
            let text = String::from_utf8_lossy(line);
            let b = text.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let n = b[i..].iter().take_while(|c| c.is_ascii_uppercase()).count();
                if n >= 24 {
                    assert!(!reason.contains(&text[i..i + 24]), "an import error echoes 24 capitals: {reason}");
                }
                i += n.max(1);
            }
        }
    }
    let mut out = Vec::new();
    triage::cli::classify_jsonl(classifier(), data, &mut out).expect("writing to memory");
    let expected = data.split(|b| *b == b'\n').enumerate().filter(|(i, l)| {
        let l = if *i == 0 { l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l) } else { l };
        !l.iter().all(u8::is_ascii_whitespace)
    });
    let produced: Vec<&[u8]> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(produced.len(), expected.count(), "one output line per input line");
    for l in produced {
        serde_json::from_slice::<serde_json::Value>(l).expect("output lines are JSON");
    }
});
