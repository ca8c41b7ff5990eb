//! The credential diagnosis never panics, its spans are valid, and no finding quotes more than a
//! header name's worth of letters.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let scan = triage::diagnose::scan(text);
    for span in &scan.secret_spans {
        assert!(span.start <= span.end && span.end <= text.len());
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
    }
    for f in &scan.findings {
        assert!(triage::diagnose::safe_detail(&f.detail), "{f:?}");
    }
});
