//! The learned scorer: asked only when a message passed the gate and the rules answered with the
//! generic checklist or with nothing, and then allowed to name a specific cause (when the rules
//! had nothing: past its bar, on the person's own words, and a cause whose words the message
//! has); never to answer what the gate or an exclusion turned away, nor to change a cause the
//! rules found.

use std::process::Command;

use triage::classify::{Gate, LEARNED_RULE, SILENT_THRESHOLD};
use triage::rules::Pack;
use triage::Classifier;

const BIN: &str = env!("CARGO_BIN_EXE_triage");
/// A key made and never put in a role ("pefil" for "perfil"): the rules see a refused key and
/// nothing more, the scorer reads the rest.
const NO_ROLE_MISSPELT: &str = "A chave foi criada mas não está em nenhum pefil, a API responde não autorizado.";

fn with_scorer() -> Classifier {
    Classifier::load(None).expect("built-in pack and scorer")
}

fn rules_only() -> Classifier {
    Classifier::new(Pack::embedded().expect("built-in pack")).expect("compiles")
}

fn corpus_texts() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("tests/data/probe_messages.jsonl")];
    files.extend(["../shared/corpus/dev.jsonl", "../shared/corpus/train2.jsonl"].map(|f| root.join(f)).into_iter().filter(|p| p.exists()));
    let mut texts: Vec<String> = files
        .iter()
        .flat_map(|f| std::fs::read_to_string(f).expect("corpus").lines().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok()?["text"].as_str().map(str::to_string))
        .collect();
    // The same messages cut short and run together: answers the rules are less sure of.
    let more: Vec<String> = texts.iter().map(|t| t.chars().take(t.chars().count() * 2 / 3).collect()).collect();
    texts.extend(more);
    texts.push(NO_ROLE_MISSPELT.to_string());
    texts
}

#[test]
fn the_scorer_only_ever_turns_a_generic_or_missing_answer_past_the_gate_into_a_specific_cause() {
    let (with, without) = (with_scorer(), rules_only());
    let fallback: Vec<String> = without.pack().categories.iter().filter(|c| c.fallback).map(|c| c.id.clone()).collect();
    let (mut changed, mut from_silence) = (0, 0);
    for text in corpus_texts() {
        let (a, b) = (without.classify(&text), with.classify(&text));
        assert_eq!(a.gate, b.gate, "{text}");
        assert_eq!(a.secrets_found, b.secrets_found, "{text}");
        if a.category == b.category {
            assert!(!b.rules.iter().any(|r| r.ends_with(LEARNED_RULE)), "{text}: {:?}", b.rules);
            continue;
        }
        changed += 1;
        let (before, after) = (a.category_id(), b.category_id());
        let silent = before == "none";
        assert!(silent || fallback.iter().any(|f| f == before), "{text}: the scorer changed `{before}`, which is not the generic answer");
        assert!(after != "none" && !fallback.iter().any(|f| f == after), "{text}: `{after}`");
        assert_eq!(a.gate, Gate::Passed, "{text}: the scorer answered past the gate");
        assert_eq!(b.rules.first().map(String::as_str), Some(format!("{after}/{LEARNED_RULE}").as_str()), "{text}");
        let threshold = with.scorer().expect("scorer").threshold;
        let bar = if silent { threshold.max(SILENT_THRESHOLD) } else { threshold };
        assert!(b.confidence >= bar - 1e-3, "{text}: {} under {bar}", b.confidence);
        from_silence += usize::from(silent);
    }
    assert!(changed >= 1, "the scorer changed nothing: is it loaded?");
    assert!(from_silence >= 1 && from_silence < changed, "{from_silence} of {changed} from a silence");
}

#[test]
fn a_generic_answer_is_refined_and_explain_says_by_what() {
    let c = with_scorer();
    let got = c.classify(NO_ROLE_MISSPELT);
    assert_eq!(rules_only().classify(NO_ROLE_MISSPELT).category_id(), "auth-unspecified");
    assert_eq!(got.category_id(), "key-not-linked-to-role");
    let e = c.explain(NO_ROLE_MISSPELT);
    let learned = e.learned.expect("the scorer was asked");
    assert!(learned.used && learned.category == "key-not-linked-to-role", "{learned:?}");
    assert!(learned.probability >= learned.threshold);
    assert!(!learned.evidence.is_empty() && learned.evidence.iter().all(|x| occurs_in(&e.normalised_text, &x.ngram)), "{learned:?}");
    let shown = triage::cli::explain::render(&c.explain(NO_ROLE_MISSPELT));
    assert!(shown.contains("learned:    key-not-linked-to-role"), "{shown}");
}

#[test]
fn a_message_past_the_gate_that_no_rule_places_is_answered_only_past_the_bar() {
    let c = with_scorer();
    // The stream generator's slips ("guarou" for "guardou") hide the rules' words; the gate still
    // sees a token, and the scorer reads the rest.
    let text = "Ninguém guarou o token quando a chave foi criada. Onde consigo vê-lo outra vez?";
    let alone = rules_only().classify(text);
    assert_eq!((alone.category_id(), &alone.gate), ("none", &Gate::Passed));
    let got = c.classify(text);
    assert_eq!(got.category_id(), "apptoken-lost");
    assert!(got.escalate_to_sponsor && got.confidence >= SILENT_THRESHOLD, "{got:?}");
    let learned = c.explain(text).learned.expect("the scorer was asked");
    assert!(learned.used && learned.rules_silent && learned.threshold >= SILENT_THRESHOLD, "{learned:?}");
    let shown = triage::cli::explain::render(&c.explain(text));
    assert!(shown.contains("the rules found no cause; it clears the bar, and the message has the words of this cause"), "{shown}");
    // About keys, nothing to place, and the scorer far from sure: no answer, and explain says why.
    let quiet = "Is there a webhook when a new order is created? We already have our appKey and appToken.";
    let e = c.explain(quiet);
    assert_eq!(e.classification.category_id(), "none");
    let learned = e.learned.expect("asked, as the message passed the gate");
    assert!(!learned.used && learned.rules_silent && learned.probability < learned.threshold, "{learned:?}");
}

#[test]
fn a_key_named_only_in_pasted_headers_does_not_let_the_scorer_answer_alone() {
    let c = with_scorer();
    // The same question: once with the token in the person's words, once with the key and token
    // named only in the headers pasted under it.
    let said = "Ninguém guarou quando foi criada. Onde consigo vê-lo outra vez? O token também.";
    assert_eq!(rules_only().classify(said).category_id(), "none");
    assert_eq!(c.classify(said).category_id(), "apptoken-lost");
    let pasted = "Ninguém guarou quando foi criada. Onde consigo vê-lo outra vez? \
                  headers = {'X-VTEX-API-AppKey': 'vtexappkey-loja-ABCDEF', 'X-VTEX-API-AppToken': '<redacted>'}";
    let e = c.explain(pasted);
    assert_eq!((e.classification.category_id(), &e.classification.gate), ("none", &Gate::Passed));
    assert!(e.learned.is_none(), "the scorer was asked: {:?}", e.learned);
    // Pasted under chat that says nothing, the headers are not a question either.
    for text in [
        "thanks everyone, solved! headers = {'X-VTEX-API-AppKey': 'vtexappkey-loja-ABCDEF', 'X-VTEX-API-AppToken': '<redacted>'}",
        "brb X-VTEX-API-AppKey: vtexappkey-loja-ABCDEF X-VTEX-API-AppToken: <redacted>",
    ] {
        assert_eq!(c.classify(text).category_id(), "none", "{text}");
    }
}

#[test]
fn the_scorer_names_a_cause_alone_only_when_the_message_has_that_cause_s_words() {
    // The built-in pack and scorer, with the lost token's `learned_when` asking for a word no
    // message has: the same message the scorer answered alone is now left unanswered.
    let text = "Ninguém guarou o token quando a chave foi criada. Onde consigo vê-lo outra vez?";
    assert_eq!(with_scorer().classify(text).category_id(), "apptoken-lost");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let dir = tempfile::tempdir().expect("temp dir");
    for f in ["vtex-app-keys.toml", "scorer.tsv", "secrets.toml"] {
        std::fs::copy(root.join(f), dir.path().join(f)).expect("copies the pack");
    }
    let pack = std::fs::read_to_string(dir.path().join("vtex-app-keys.toml")).expect("reads");
    let at = pack.find("id = \"apptoken-lost\"").expect("the category");
    let from = at + pack[at..].find("learned_when = [").expect("its learned_when");
    let to = from + pack[from..].find("]\n").expect("its end") + 1;
    let edited = format!("{}learned_when = [\"'zorblat'\"]{}", &pack[..from], &pack[to..]);
    std::fs::write(dir.path().join("vtex-app-keys.toml"), edited).expect("writes");
    let c = Classifier::load(Some(dir.path())).expect("the edited pack loads");
    let e = c.explain(text);
    assert_eq!(e.classification.category_id(), "none", "{:?}", e.learned);
}

/// Whether an n-gram (with its word padding) occurs in the normalised text.
fn occurs_in(normalised: &str, ngram: &str) -> bool {
    format!(" {} ", normalised.split_whitespace().collect::<Vec<_>>().join(" ")).contains(ngram)
}

#[test]
fn a_cause_the_message_rules_out_is_never_the_scorer_s_answer() {
    let c = with_scorer();
    for text in [
        "I checked, there are no spaces in the appToken and it is still 401.",
        "Ya revisé las mayúsculas del appToken y sigue dando 401.",
        "We did not swap the fields, the appKey goes in its own header and we still get 401.",
    ] {
        let got = c.classify(text);
        assert_ne!(got.category_id(), "key-mistyped", "{text}: {:?}", got.rules);
    }
}

#[test]
fn off_topic_and_excluded_messages_are_never_shown_to_the_scorer() {
    let c = with_scorer();
    for text in [
        "How do I change the store logo?",
        "I lost my Stripe API token, how do I get a new one?",
        "Esqueci minha senha e o token do 2FA não chega.",
    ] {
        let e = c.explain(text);
        assert!(e.learned.is_none(), "{text}");
        assert_eq!(e.classification.category_id(), "none", "{text}");
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env_remove("TRIAGE_RULES").env_remove("TRIAGE_CONFIG").output().expect("binary runs")
}

#[test]
fn rules_train_writes_a_scorer_that_the_pack_folder_then_uses() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("rules");
    std::fs::create_dir(&pack).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/vtex-app-keys.toml"), pack.join("vtex-app-keys.toml")).unwrap();
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/probe_messages.jsonl");
    let pack_s = pack.to_str().unwrap();

    // Without a scorer the folder's pack answers with the rules alone.
    let out = run(&["explain", "--json", "--rules", pack_s, NO_ROLE_MISSPELT]);
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(e.get("learned").is_none(), "{e}");

    let out = run(&["rules", "train", "--rules", pack_s, "--iterations", "150", corpus]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.starts_with(&format!("wrote {}", pack.join("scorer.tsv").display())), "{said}");
    let first = std::fs::read(pack.join("scorer.tsv")).unwrap();
    assert!(run(&["rules", "train", "--rules", pack_s, "--iterations", "150", corpus]).status.success());
    assert_eq!(first, std::fs::read(pack.join("scorer.tsv")).unwrap(), "training twice on the same data writes the same file");

    let out = run(&["rules", "check", pack_s]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("learned scorer:"));
    let out = run(&["explain", "--json", "--rules", pack_s, NO_ROLE_MISSPELT]);
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(e["learned"]["category"].is_string(), "{e}");
}

#[test]
fn a_damaged_scorer_file_or_a_bad_label_gets_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/vtex-app-keys.toml"), dir.path().join("vtex-app-keys.toml")).unwrap();
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/scorer.tsv")).unwrap();
    let d = dir.path().to_str().unwrap();

    // A weight of one n-gram made unreadable, and the first line replaced.
    let at = shipped.lines().position(|l| l.starts_with('"')).expect("an n-gram line") + 1;
    let damaged: Vec<String> =
        shipped.lines().enumerate().map(|(i, l)| if i + 1 == at { format!("{l}x") } else { l.to_string() }).collect();
    for (text, says) in [(damaged.join("\n"), format!("line {at}: ")), (shipped.replacen("triage-scorer", "scorer", 1), "line 1: ".into())]
    {
        std::fs::write(dir.path().join("scorer.tsv"), text).unwrap();
        let out = run(&["classify", "--rules", d, "my appkey gives 401"]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{err}");
        assert!(err.lines().count() == 1 && err.contains("scorer.tsv") && err.contains(&says), "{err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }

    std::fs::write(dir.path().join("scorer.tsv"), shipped.replacen("key-mistyped", "key-misspelt", 1)).unwrap();
    let out = run(&["classify", "--rules", d, "my appkey gives 401"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("scorer.tsv") && err.contains("class `key-misspelt` is not a category"), "{err}");

    let corpus = dir.path().join("c.jsonl");
    std::fs::write(&corpus, "{\"id\":\"1\",\"text\":\"my key\",\"expected\":\"key-misspelt\"}\n").unwrap();
    let out = run(&["rules", "train", "--rules", d, corpus.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("c.jsonl: message 1: label `key-misspelt` is not a category"), "{err}");
}
