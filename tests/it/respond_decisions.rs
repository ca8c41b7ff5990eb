//! The reply decision is a pure function of classification, history and policy: tested here
//! without a database.

use triage::respond::{decide, split_message, Channel, History, Policy, Suppression};
use triage::Classifier;

fn classifier() -> Classifier {
    Classifier::load(None).expect("built-in pack")
}

const NOW: i64 = 1_800_000_000;

fn channel() -> Channel {
    Channel { now: NOW, ..Channel::default() }
}

#[test]
fn confident_support_message_gets_its_remediation_in_its_own_language() {
    let c = classifier();
    let cls = c.classify("A appKey nova não está em nenhum perfil e todas as chamadas dão 403.");
    let d = decide(c.pack(), &cls, &History::default(), &Policy::default(), &channel());
    assert!(d.posts());
    let text = d.text.expect("reply text");
    let remediation = c.pack().category("key-not-linked-to-role").unwrap().remediation.pt.trim();
    assert!(text.contains(remediation), "{text}");
    assert!(!d.recurring && !d.recurrence_escalation);
}

#[test]
fn off_topic_message_gets_no_reply_at_all() {
    let c = classifier();
    let d = decide(c.pack(), &c.classify("Good morning folks, happy friday"), &History::default(), &Policy::default(), &channel());
    assert_eq!(d.suppressed, Some(Suppression::NotSupport));
    assert!(d.text.is_none());
}

#[test]
fn weak_match_below_the_reply_threshold_is_recorded_but_not_posted() {
    let c = classifier();
    let cls = c.classify("Does an app key need a role before it can call the API?");
    let policy = Policy { reply_threshold: 0.95, ..Policy::default() };
    let d = decide(c.pack(), &cls, &History::default(), &policy, &channel());
    assert_eq!(d.suppressed, Some(Suppression::BelowThreshold));
    assert!(d.text.is_some(), "the would-be reply is kept for review");
}

#[test]
fn same_author_same_category_within_cooldown_gets_no_second_reply() {
    let c = classifier();
    let cls = c.classify("We lost the appToken of our ERP key, where can we see it again?");
    let history = History { prior_cases: 1, last_reply_at: Some(NOW - 60), last_reply_escalated: false, ..History::default() };
    let d = decide(c.pack(), &cls, &history, &Policy::default(), &channel());
    assert_eq!(d.suppressed, Some(Suppression::Cooldown));
    let later = History { last_reply_at: Some(NOW - 2 * 3600), ..history };
    assert!(decide(c.pack(), &cls, &later, &Policy::default(), &channel()).posts());
}

#[test]
fn third_case_in_the_window_hands_over_to_staff_instead_of_repeating() {
    let c = classifier();
    let cls = c.classify("We lost the appToken of our ERP key, where can we see it again?");
    let history = History { prior_cases: 2, last_reply_at: Some(NOW - 60), last_reply_escalated: false, ..History::default() };
    let ch = Channel { staff_mention: Some("<@&42>".into()), ..channel() };
    let d = decide(c.pack(), &cls, &history, &Policy::default(), &ch);
    assert!(d.posts(), "the hand-over says something new, so cooldown does not hold it back");
    assert!(d.recurrence_escalation && d.mention_staff);
    let text = d.text.unwrap();
    assert!(text.contains("<@&42>") && text.contains("case 3"), "{text}");
    let remediation = c.pack().category("apptoken-lost").unwrap().remediation.en.trim();
    assert!(!text.contains(remediation), "the same remediation is not repeated");
    let again = History { prior_cases: 3, last_reply_at: Some(NOW - 60), last_reply_escalated: true, ..History::default() };
    assert_eq!(decide(c.pack(), &cls, &again, &Policy::default(), &ch).suppressed, Some(Suppression::Cooldown));
}

#[test]
fn shadow_mode_composes_the_reply_but_posts_nothing() {
    let c = classifier();
    let cls = c.classify("My user can't generate application keys. Who in our account can?");
    let d = decide(c.pack(), &cls, &History::default(), &Policy { shadow: true, ..Policy::default() }, &channel());
    assert_eq!(d.suppressed, Some(Suppression::ShadowMode));
    assert!(d.text.unwrap().contains("Sponsor"));
    assert!(!d.mention_staff);
}

#[test]
fn leaked_token_is_always_answered_with_a_renewal_warning_and_never_repeated() {
    let c = classifier();
    let token = "QWERTYUIOPASDFGHJKLZXCVBNM".repeat(5)[..128].to_string();
    let cls = c.classify(&format!("hello {token}"));
    let history = History { prior_cases: 0, last_reply_at: Some(NOW - 10), last_reply_escalated: false, ..History::default() };
    let ch = Channel { leak_deleted: Some(true), ..channel() };
    let d = decide(c.pack(), &cls, &history, &Policy::default(), &ch);
    assert!(d.posts());
    let text = d.text.unwrap();
    assert!(!text.contains(&token[..30]));
    assert!(text.contains("Sponsor") && text.contains(c.pack().message("leak_deleted", triage::Language::En)));
    assert!(d.escalate_to_sponsor);
}

#[test]
fn findings_are_listed_in_the_reply() {
    let c = classifier();
    let cls = c.classify("still 401:\nX-VTEX-API-AppKey: vtexappkey-acme-QWERTY \nX-VTEX-API-AppToken: <token>");
    let d = decide(c.pack(), &cls, &History::default(), &Policy::default(), &channel());
    let text = d.text.unwrap();
    assert!(text.contains(c.pack().message("findings_intro", triage::Language::En)), "{text}");
    assert!(text.contains("AppKey value has a space after it"), "{text}");
}

#[test]
fn configured_reply_language_overrides_the_message_language() {
    let c = classifier();
    let cls = c.classify("I never saved the appToken. Can I look it up somewhere?");
    let policy = Policy { reply_language: Some(triage::Language::Es), ..Policy::default() };
    let text = decide(c.pack(), &cls, &History::default(), &policy, &channel()).text.unwrap();
    assert!(text.contains(c.pack().category("apptoken-lost").unwrap().remediation.es.trim()));
}

#[test]
fn long_replies_split_under_the_limit_without_losing_text() {
    let text = format!("{}\n\n{}\n\n{}", "a ".repeat(900), "b".repeat(2500), "c d ".repeat(300));
    let chunks = split_message(&text, 2000);
    assert!(chunks.iter().all(|c| c.chars().count() <= 2000));
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(squash(&chunks.join(" ")), squash(&text));
}

#[test]
fn backlog_case_is_recorded_without_a_reply_and_keeps_only_what_the_message_says() {
    let c = classifier();
    let cls = c.classify("We lost the appToken of our ERP key, where can we see it again?");
    let backlog = Channel { backlog: true, ..channel() };
    // Cooldown and shadow mode are the live bot's state; a backlog case is just a backlog case.
    let cooling = History { prior_cases: 3, last_reply_at: Some(NOW - 60), last_reply_escalated: false, ..History::default() };
    let shadow = Policy { shadow: true, ..Policy::default() };
    let d = decide(c.pack(), &cls, &cooling, &shadow, &backlog);
    assert_eq!(d.suppressed, Some(Suppression::Backlog));
    assert!(d.text.is_none() && !d.mention_staff && !d.recurrence_escalation);
    assert!(d.recurring, "recurrence is still recorded");
    // Below the threshold is a property of the message itself, and is kept.
    let strict = Policy { reply_threshold: 0.99, ..Policy::default() };
    assert_eq!(decide(c.pack(), &cls, &History::default(), &strict, &backlog).suppressed, Some(Suppression::BelowThreshold));
    let off_topic = c.classify("Good morning folks, happy friday");
    assert_eq!(decide(c.pack(), &off_topic, &History::default(), &Policy::default(), &backlog).suppressed, Some(Suppression::NotSupport));
}

/// The shipped pack with `shadow = true` added under the given `id = "..."` lines (a category's
/// or a rule's).
fn shadowed(ids: &[&str]) -> Classifier {
    let mut pack = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/vtex-app-keys.toml")).unwrap();
    for id in ids {
        let line = format!("id = \"{id}\"\n");
        assert!(pack.contains(&line), "{id} is in the pack");
        pack = pack.replacen(&line, &format!("{line}shadow = true\n"), 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack.toml");
    std::fs::write(&path, pack).unwrap();
    Classifier::load(Some(&path)).expect("the edited pack loads")
}

const NEW_KEY: &str = "I made a new app key an hour ago and all my requests get 403. Does the key need a role?";

fn held(c: &Classifier, text: &str) -> Option<Suppression> {
    decide(c.pack(), &c.classify(text), &History::default(), &Policy::default(), &channel()).suppressed
}

#[test]
fn an_answer_that_rests_only_on_shadow_rules_is_decided_but_held_back() {
    let both = shadowed(&["key-needs-a-role", "new-key-refused"]);
    let c = both.classify(NEW_KEY);
    assert_eq!(c.category.as_deref(), Some("key-not-linked-to-role"), "the rule still decides");
    assert_eq!(held(&both, NEW_KEY), Some(Suppression::ShadowRule));
    // A shadow rule firing beside one that speaks holds nothing back.
    assert_eq!(held(&shadowed(&["key-needs-a-role"]), NEW_KEY), None);
    assert_eq!(held(&classifier(), NEW_KEY), None);
}

#[test]
fn a_shadow_category_holds_back_its_own_answers_only() {
    let c = shadowed(&["key-not-linked-to-role"]);
    assert_eq!(held(&c, NEW_KEY), Some(Suppression::ShadowRule));
    assert_eq!(held(&c, "Esqueci de copiar o appToken, como vejo de novo?"), None);
}
