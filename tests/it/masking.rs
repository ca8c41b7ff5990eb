//! No appToken variant survives masking, in any output of the pipeline: masked text, findings,
//! reply, explanation, errors, the ticket API and the database file. The variants of the
//! security review are a table here; property tests generate the rest.

use proptest::prelude::*;
use serde_json::{json, Value};
use triage::redact::rules::{example_token, token_fragment_in};
use triage::redact::{redact, MASK_APPTOKEN};
use triage::respond::{decide, Channel, History, Policy};
use triage::Classifier;

use crate::support::app::{spawn_app, API_TOKEN};

fn classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(|| Classifier::load(None).expect("built-in pack"))
}

/// The variants the security review found leaking (issue "Security hardening", items 1 to 5).
fn reported_variants(t: &str) -> Vec<(&'static str, String)> {
    let lower = t.to_ascii_lowercase();
    let mixed: String = t.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_lowercase() } else { c }).collect();
    let groups = |sep: &str| (0..128).step_by(32).map(|i| &t[i..i + 32]).collect::<Vec<_>>().join(sep);
    vec![
        (
            "1 glued to the header name",
            format!("curl -H 'X-VTEX-API-AppToken{t}' https://acme.vtexcommercestable.com.br/api/oms/pvt/orders gives 401"),
        ),
        ("2 discord italics", format!("my appToken is _{t}_ and it fails")),
        ("2 discord underline", format!("__{t}__")),
        ("2 trailing underscore", format!("{t}_ gets 401")),
        ("2 snake prefix", format!("my_{t}")),
        ("3 four groups of 32 with spaces", format!("appToken: {} returns 401", groups(" "))),
        ("3 four groups of 32 with hyphens", format!("appToken: {} returns 401", groups("-"))),
        ("3 three lines of 43/43/42", format!("X-VTEX-API-AppToken:\n{}\n{}\n{}", &t[..43], &t[43..86], &t[86..])),
        ("3 wrapped at 20/108", format!("X-VTEX-API-AppToken: {}\n{}\nstill 401", &t[..20], &t[20..])),
        ("3 wrapped at 47/81", format!("X-VTEX-API-AppToken: {}\n{}", &t[..47], &t[47..])),
        ("3 zero-width space at 40", format!("appToken: {}\u{200B}{}", &t[..40], &t[40..])),
        ("4 lower case without a label", format!("my token is {lower}, why 401?")),
        ("4 mixed case without a label", format!("here: {mixed}")),
        ("4 after a full-width colon", format!("appToken：{t}")),
        ("5 glued to lower-case letters", format!("{t}thanks")),
    ]
}

/// Every text the pipeline makes from `raw` without a store: masked text, findings, the reply
/// (as posted on Discord, where the leak could not be deleted) and the explanation.
fn outputs(raw: &str) -> Vec<(&'static str, String)> {
    let c = classifier();
    let cls = c.classify(raw);
    let channel = Channel { now: 1_800_000_000, leak_deleted: Some(false), ..Channel::default() };
    let reply = decide(c.pack(), &cls, &History::default(), &Policy::default(), &channel).text.unwrap_or_default();
    let explanation = serde_json::to_string(&c.explain(raw)).unwrap_or_default();
    let rendered = triage::cli::render_explanation(&c.explain(raw));
    vec![
        ("masked text", cls.masked_text.clone()),
        ("findings", serde_json::to_string(&cls.findings).unwrap_or_default()),
        ("classification", serde_json::to_string(&cls).unwrap_or_default()),
        ("reply", reply),
        ("explanation", explanation),
        ("explain output", rendered),
    ]
}

fn assert_no_fragment(raw: &str, token: &str, what: &str) {
    for (name, text) in outputs(raw) {
        if let Some(w) = token_fragment_in(&text, token) {
            panic!("{what}: `{w}` of the token is in the {name}: {text}");
        }
    }
}

#[test]
fn every_reported_token_variant_is_masked_counted_and_absent_from_every_output() {
    let t = example_token();
    for (what, raw) in reported_variants(&t) {
        let r = redact(&raw);
        assert!(r.apptokens_found >= 1 && r.secrets_found >= 1, "{what}: not counted ({} secrets): {}", r.secrets_found, r.text);
        assert!(r.text.contains(MASK_APPTOKEN), "{what}: {}", r.text);
        assert!(classifier().classify(&raw).escalate_to_sponsor, "{what}: a leaked token must go to the Sponsor");
        assert_no_fragment(&raw, &t, what);
    }
}

#[test]
fn a_header_glued_to_its_token_is_diagnosed_without_quoting_the_token() {
    let t = example_token();
    let cls = classifier().classify(&format!("X-VTEX-API-AppToken{t}"));
    let codes: Vec<&str> = cls.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains(&"separator-missing"), "{codes:?}");
    assert!(!codes.contains(&"header-misspelled"), "the name itself is right: {codes:?}");
    assert!(cls.findings.iter().all(|f| f.detail.len() <= 64));
}

#[test]
fn secrets_other_than_app_tokens_are_masked_and_warned_about_without_the_sponsor() {
    let cases = [
        ("client_secret=a8Kd93jfLq02mZx7Pw4sTn1v", "a8Kd93jfLq02mZx7Pw4sTn1v"),
        ("{\"client_secret\":\"f83Jdk29Lsm04Pqz\"}", "f83Jdk29Lsm04Pqz"),
        ("db:\n  user: app\n  password: Sup3rS3cret!x", "Sup3rS3cret!x"),
        ("DB_PASSWORD=hunter2hunter2", "hunter2hunter2"),
        ("{\"user\": \"api\", \"password\": \"p@ssw0rd99\"}", "p@ssw0rd99"),
        ("aws key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
    ];
    let c = classifier();
    for (raw, secret) in cases {
        let text = format!("our appKey gets 401, config below\n{raw}");
        let cls = c.classify(&text);
        assert!(!cls.masked_text.contains(secret), "{raw}: {}", cls.masked_text);
        assert!(cls.secrets_found >= 1 && cls.apptokens_found == 0, "{raw}: {} / {}", cls.secrets_found, cls.apptokens_found);
        for (name, out) in outputs(&text) {
            assert!(!out.contains(secret), "{raw}: the secret is in the {name}");
        }
        let reply = decide(c.pack(), &cls, &History::default(), &Policy::default(), &Channel::default()).text.unwrap_or_default();
        let warning = c.pack().message("leaked_secret", triage::Language::En);
        assert!(reply.starts_with(warning), "{raw}: {reply}");
        assert!(!reply.contains(c.pack().message("leaked_token", triage::Language::En)), "{raw}: {reply}");
        assert!(!cls.escalate_to_sponsor, "{raw}: only a leaked appToken is the Sponsor's to renew");
    }
}

#[test]
fn an_import_line_error_never_echoes_a_token() {
    let t = example_token();
    for line in [
        format!(r#"{{"id": "1", "text": "appKey 401", "created_at": "{t}"}}"#),
        format!(r#"{{"id": "1", "text": 5, "account": "{t}"}}"#),
        format!(r#"{{"id": "{t}", "text": {{"nested": "{t}"}}}}"#),
        format!(r#"{{"id": 1, "text": "appToken: {t}", "created_at": [1]"#),
    ] {
        if let Err(reason) = triage::cli::import::parse_line(line.as_bytes()) {
            assert!(token_fragment_in(&reason, &t).is_none(), "{reason}");
        }
    }
}

#[tokio::test]
async fn every_reported_token_variant_stays_out_of_the_ticket_api_and_the_database_file() {
    let t = example_token();
    let app = spawn_app(Some(API_TOKEN), "127.0.0.1:0").await;
    for (i, (what, raw)) in reported_variants(&t).into_iter().enumerate() {
        let r =
            app.post("/v1/tickets").json(&json!({"id": format!("v{i}"), "subject": "appToken problem", "body": raw})).send().await.unwrap();
        let body = r.text().await.unwrap();
        assert!(token_fragment_in(&body, &t).is_none(), "{what}: in the ticket response: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["escalate_to_sponsor"], true, "{what}: {body}");
        let case = app.get(&format!("/v1/cases/{}", v["case_id"])).send().await.unwrap().text().await.unwrap();
        assert!(token_fragment_in(&case, &t).is_none(), "{what}: in the stored case: {case}");
    }
    // A token in the path is not echoed in the error either.
    let r = app.get(&format!("/v1/cases/{t}")).send().await.unwrap().text().await.unwrap();
    assert!(token_fragment_in(&r, &t).is_none(), "{r}");
    let dir = app.stop().await;
    for name in ["cases.db", "cases.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(token_fragment_in(&text, &t).is_none(), "the token is in {name}");
        }
    }
}

/// Messages that hold no secret: nothing in them may be masked; and every planted one is. The
/// probe set ships with the repository; the two corpora are used when they are present.
#[test]
fn messages_without_planted_secrets_have_nothing_masked() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("tests/data/probe_messages.jsonl")];
    files.extend(["../shared/corpus/dev.jsonl", "../shared/corpus/train2.jsonl"].map(|f| root.join(f)).into_iter().filter(|p| p.exists()));
    // The probe set plants some (batch 16, ids `p20-`), and so do the corpora.
    let (mut messages, mut with_secrets) = (0, 0);
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap();
            let text = v["text"].as_str().unwrap();
            let planted: Vec<&str> = v["secrets"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let r = redact(text);
            messages += 1;
            if planted.is_empty() {
                assert_eq!(r.text, text, "{}: something was masked in a message without secrets", v["id"]);
            } else {
                with_secrets += 1;
                for s in &planted {
                    assert!(token_fragment_in(&r.text, s).is_none(), "{}: planted secret survives", v["id"]);
                }
                assert!(r.secrets_found >= 1, "{}", v["id"]);
            }
        }
    }
    assert!(messages >= 235 && with_secrets >= 6, "{messages} messages, {with_secrets} with secrets");
}

/// Where the line for false positives is, as `src/redact/letters.rs` and `rules/secrets.toml`
/// write it: each string with whether it is masked.
#[test]
fn the_false_positive_line_is_where_the_code_says() {
    let sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let base64_png =
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    let table: &[(&str, bool)] = &[
        ("SKU CAMISETA-POLO-AZUL-GG-7891234567890", false),
        ("SKU CAMISETAPOLOMANGACURTAAZULGG", true),
        (sha256, true),
        ("commit 3f2a9c1", false),
        ("uuid 123e4567-e89b-12d3-a456-426614174000", false),
        ("order 1234567890123-01", false),
        (base64_png, true),
        ("PLEASE HELP URGENT THE APPTOKEN AUTHENTICATION IS FAILING EVERYWHERE SINCE YESTERDAY", false),
        ("client.DefaultRequestHeaders.Add(\"X-VTEX-API-AppToken\", appToken); HttpRequestException", false),
        ("GET /api/catalog_system/pvt/products/GetProductAndSkuIds?categoryId=1&_from=1&_to=50", false),
        ("anticonstitucionalmente", false),
        ("Anticonstitucionalissimamente", true),
    ];
    for (text, masked) in table {
        let r = redact(text);
        assert_eq!(r.text != *text, *masked, "{text} -> {}", r.text);
        assert_eq!(r.apptokens_found, 0, "{text}: nothing here is an appToken, whatever is masked");
    }
}

// ---- property tests -----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Case {
    Upper,
    Lower,
    Mixed(u64),
}

#[derive(Debug, Clone)]
enum Layout {
    Whole,
    /// Groups of this many letters.
    Groups(usize),
    /// Cut once, or twice, at these letters.
    Wrap(Vec<usize>),
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::Whole),
        prop::sample::select(vec![4usize, 8, 16, 20, 32, 43, 64]).prop_map(Layout::Groups),
        prop::collection::btree_set(16usize..=112, 1..=2).prop_map(|s| Layout::Wrap(s.into_iter().collect())),
    ]
}

const SEPARATORS: &[&str] = &[" ", "-", "\n", "\r\n", "\u{200B}", "\u{00AD}", "\u{2060}", "\\n", " \n", "\n> "];
const LABELS: &[&str] = &[
    "appToken: ",
    "X-VTEX-API-AppToken: ",
    "\"appToken\":\"",
    "VTEX_APP_TOKEN=",
    "appToken：",
    "token=",
    "o token é ",
    "el token es ",
    "-H 'X-VTEX-API-AppToken: ",
];
const NEIGHBOURS: &[(&str, &str)] = &[
    ("", ""),
    ("_", "_"),
    ("__", "__"),
    ("**", "**"),
    ("`", "`"),
    ("||", "||"),
    ("(", ")"),
    ("<", ">"),
    ("'", "'"),
    ("my_", "_x"),
    ("", "thanks"),
    ("", ". Any idea?"),
];

/// 128 capitals, uniformly random as VTEX makes them.
fn token_from(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..128)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'A' + (x % 26) as u8)
        })
        .collect()
}

fn shape(token: &str, case: &Case) -> String {
    match case {
        Case::Upper => token.to_string(),
        Case::Lower => token.to_ascii_lowercase(),
        Case::Mixed(seed) => {
            let mut x = *seed | 1;
            token
                .chars()
                .map(|c| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x & 1 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect()
        }
    }
}

fn cut(value: &str, layout: &Layout, sep: &str) -> String {
    let cuts: Vec<usize> = match layout {
        Layout::Whole => vec![],
        Layout::Groups(w) => (1..).map(|k| k * w).take_while(|c| *c < value.chars().count()).collect(),
        Layout::Wrap(at) => at.clone(),
    };
    // Cut by letters, not bytes: the token may be in full-width letters.
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut from = 0;
    for c in cuts {
        out.extend(&chars[from..c]);
        out.push_str(sep);
        from = c;
    }
    out.extend(&chars[from..]);
    out
}

fn fullwidth(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphabetic() { char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c) } else { c }).collect()
}

/// What a person could paste: the token in some case, laid out in some way, after a label or
/// not, between some neighbours, maybe in full-width letters, maybe inside a JSON string.
#[derive(Debug, Clone)]
struct Plant {
    case: Case,
    layout: Layout,
    sep: &'static str,
    label: Option<&'static str>,
    neighbours: (&'static str, &'static str),
    fullwidth: bool,
    json: bool,
}

impl Plant {
    /// Whether the text stays within what the detector promises to find (src/redact/letters.rs):
    /// a token that is lower- or mixed-cased cannot be told from text when it is also cut into
    /// groups shorter than 8 letters without a label, or cut and glued to a word (`...thanks`).
    fn in_scope(&self) -> bool {
        let short_groups = matches!(self.layout, Layout::Groups(w) if w < 8);
        let cased = !matches!(self.case, Case::Upper);
        let cut = !matches!(self.layout, Layout::Whole);
        let glued_word = self.neighbours.1.starts_with(|c: char| c.is_ascii_alphabetic());
        !(cased && ((short_groups && self.label.is_none()) || (cut && glued_word)))
    }

    fn render(&self, token: &str) -> String {
        let mut letters = shape(token, &self.case);
        if self.fullwidth {
            letters = fullwidth(&letters);
        }
        let value = cut(&letters, &self.layout, self.sep);
        let (before, after) = self.neighbours;
        let text = format!("Hi team, {}{before}{value}{after} still gives 401", self.label.unwrap_or(""));
        if self.json {
            serde_json::to_string(&json!({"headers": text})).unwrap_or(text)
        } else {
            text
        }
    }
}

fn plant() -> impl Strategy<Value = Plant> {
    (
        prop_oneof![Just(Case::Upper), Just(Case::Lower), any::<u64>().prop_map(Case::Mixed)],
        layout(),
        prop::sample::select(SEPARATORS),
        prop::option::of(prop::sample::select(LABELS)),
        prop::sample::select(NEIGHBOURS),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(case, layout, sep, label, neighbours, fullwidth, json)| Plant { case, layout, sep, label, neighbours, fullwidth, json })
        .prop_filter("within the detector's promise", Plant::in_scope)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn a_planted_token_never_leaves_24_letters_in_any_output(seed in any::<u64>(), plant in plant()) {
        // From a seed rather than "[A-Z]{128}": shrinking must not turn the token into 128 As,
        // which no token is.
        let token = token_from(seed);
        let raw = plant.render(&token);
        let r = redact(&raw);
        prop_assert!(r.secrets_found >= 1, "not counted: {:?} -> {}", plant, r.text);
        for (name, text) in outputs(&raw) {
            prop_assert!(token_fragment_in(&text, &token).is_none(), "{:?}: in the {}: {}", plant, name, text);
        }
    }

    #[test]
    fn masking_never_panics_and_keeps_text_it_does_not_mask(text in "\\PC{0,300}") {
        let r = redact(&text);
        // Masking only ever replaces: what is left of the text is in the original, in order.
        let mut rest = text.as_str();
        for piece in r.text.split(MASK_APPTOKEN).flat_map(|p| p.split(triage::redact::MASK_SECRET)) {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => prop_assert!(false, "{:?} is not in the original {:?}", piece, text),
            }
        }
    }
}
