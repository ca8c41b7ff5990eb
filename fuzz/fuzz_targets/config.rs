//! Configuration files, rule packs and secret rules: any text gets a value or an error, never a
//! panic, and errors are one line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = triage::config::Config::parse(text) {
        assert!(!e.contains('\n'), "a config error spans lines: {e}");
    }
    if let Err(e) = triage::rules::Pack::from_sources(vec![("fuzz.toml".into(), text.to_string())]) {
        assert!(!e.to_string().contains('\n'), "a rule pack error spans lines: {e}");
    }
    let _ = triage::redact::rules::SecretRules::parse("fuzz.toml", text);
});
