//! The Discord bot end to end: the real `triage serve` binary (its serenity client), connected to a
//! fake Discord on loopback (tests/it/support/fake_discord.rs).

use std::time::Duration;

use crate::support::assert_not_on_disk;
use crate::support::fake_discord::{message, slash_command, user, FakeDiscord, BOT_ID, GUILD_ID, OWNER_ID, SOLVED_TAG};
use serde_json::{json, Value};
use triage::store::{ReplyStatus, Source, Store};

const CHANNEL: u64 = 100_000_000_000_000_001;
const OTHER_CHANNEL: u64 = 100_000_000_000_000_002;
const FORUM: u64 = 100_000_000_000_000_003;
const STAFF_ROLE: u64 = 300_000_000_000_000_001;
const TOKEN: &str =
    "RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV";

struct Harness {
    fake: FakeDiscord,
    store: Store,
    dir: tempfile::TempDir,
    /// The real `triage serve` binary, connected to the fake Discord.
    child: std::process::Child,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Every message is answered at once: most tests are about one message, not bursts.
async fn start() -> Harness {
    start_with("debounce = \"0s\"\n").await
}

/// `discord` holds more `[discord]` settings.
async fn start_with(discord: &str) -> Harness {
    let starting = spawn(FakeDiscord::start().await, discord);
    starting.fake.wait_ready().await;
    starting.open().await
}

/// A `triage serve` started but not known to be connected yet.
struct Starting {
    fake: FakeDiscord,
    dir: tempfile::TempDir,
    child: std::process::Child,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Starting {
    /// Once the bot has identified (so the server has set up its database), opens that too.
    async fn open(self) -> Harness {
        let store = Store::open(&self.dir.path().join("cases.db")).await.unwrap();
        Harness { fake: self.fake, store, dir: self.dir, child: self.child, logs: self.logs }
    }
}

/// The real `triage serve` binary connected to `fake`, without waiting for it to be ready.
fn spawn(fake: FakeDiscord, discord: &str) -> Starting {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[discord]\nchannels = [{CHANNEL}]\nforums = [{FORUM}]\nstaff_role = {STAFF_ROLE}\ndelete_leaks = true\nproxy_url = \"{}\"\n{discord}",
        fake.rest_base
    );
    std::fs::write(dir.path().join("triage.toml"), config).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(dir.path().join("cases.db"))
        .arg("--config")
        .arg(dir.path().join("triage.toml"))
        .env("DISCORD_TOKEN", "fake-bot-token")
        .env("RUST_LOG", "info")
        .env_remove("TRIAGE_API_TOKEN")
        .env_remove("TRIAGE_CONFIG")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Everything the server logs is kept, so that tests can check no token reached a log line.
    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (sink, stderr) = (logs.clone(), child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    Starting { fake, dir, child, logs }
}

impl Harness {
    /// SIGTERM, as a service manager stops it, then waits for the process to end.
    async fn stop(mut self) -> tempfile::TempDir {
        self.terminate().await;
        self.store.close().await;
        self.dir
    }

    /// SIGTERM, and waits for the process to end; the fake and the database stay to be read.
    async fn terminate(&mut self) {
        // SAFETY: a signal to the child this harness started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..750 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    async fn case_of(&self, message_id: u64) -> triage::store::CaseRecord {
        for _ in 0..500 {
            if let Some(c) = self.store.case_by_source(Source::Discord, &message_id.to_string()).await.unwrap() {
                if c.reply_status != ReplyStatus::Pending {
                    return c;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no settled case for message {message_id}");
    }
}

fn person(id: u64) -> Value {
    user(id, &format!("member{id}"), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_question_gets_the_remediation_posted_as_a_reply() {
    let h = start().await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(5001, CHANNEL, person(42), "I made a new app key an hour ago and all my requests get 403. Does the key need a role?"),
    );
    let posts = h.fake.wait_for(|r| r.method == "POST" && r.path.ends_with(&format!("{CHANNEL}/messages")), 1).await;
    let body = &posts[0].body;
    let content = body["content"].as_str().unwrap();
    assert!(content.contains("The application key is not linked to any role"), "{content}");
    assert!(content.contains("Account settings > Roles"));
    assert!(content.chars().count() <= 2000);
    assert_eq!(body["message_reference"]["message_id"], "5001");
    assert_eq!(body["allowed_mentions"]["parse"], json!([]), "nothing may ping @everyone or roles");
    assert!(body["allowed_mentions"]["roles"].as_array().is_none_or(|r| r.is_empty()));
    let case = h.case_of(5001).await;
    assert_eq!(case.category, "key-not-linked-to-role");
    assert_eq!(case.reply_status, ReplyStatus::Sent);
    assert!(case.reply_ref.is_some());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_self_off_topic_and_unwatched_messages_get_nothing() {
    let h = start().await;
    let support = "Can someone who isn't the Sponsor create keys?";
    h.fake.dispatch("MESSAGE_CREATE", message(6001, CHANNEL, user(77, "otherbot", true), support));
    h.fake.dispatch("MESSAGE_CREATE", message(6002, CHANNEL, user(BOT_ID, "triage", true), support));
    h.fake.dispatch("MESSAGE_CREATE", message(6003, CHANNEL, person(43), "Good morning folks, how do I add a banner to the home page?"));
    h.fake.dispatch("MESSAGE_CREATE", message(6004, OTHER_CHANNEL, person(43), support));
    // A sentinel that must be answered proves the earlier events were processed.
    h.fake.dispatch("MESSAGE_CREATE", message(6005, CHANNEL, person(44), support));
    h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "6005", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let posts: Vec<_> = h.fake.requests().into_iter().filter(|r| r.method == "POST" && r.path.contains("/channels/")).collect();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(h.case_of(6003).await.suppressed_reason.map(|r| r.as_str()), Some("not_support"));
    assert!(h.store.case_by_source(Source::Discord, "6001").await.unwrap().is_none(), "bots are not even recorded");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaked_token_is_deleted_and_its_author_warned_by_direct_message_with_the_token_masked_everywhere() {
    let h = start().await;
    let text = format!("here's what I send, still 401:\nX-VTEX-API-AppKey: vtexappkey-demo-LAOLFT\nX-VTEX-API-AppToken:  {TOKEN}");
    h.fake.dispatch("MESSAGE_CREATE", message(7001, CHANNEL, person(45), &text));
    h.fake.wait_for(|r| r.method == "DELETE" && r.path == format!("/api/v10/channels/{CHANNEL}/messages/7001"), 1).await;
    h.fake.wait_for(|r| r.method == "POST" && r.path == "/api/v10/users/@me/channels" && r.body["recipient_id"] == "45", 1).await;
    let dm = h.fake.wait_for(|_| !h.fake.direct_messages().is_empty(), 1).await;
    assert!(!dm.is_empty());
    let dm = h.fake.direct_messages().remove(0);
    let content = dm.body["content"].as_str().unwrap();
    assert!(!content.contains(&TOKEN[..20]));
    assert!(content.contains("Your message contained an appToken") && content.contains("I deleted your message"), "{content}");
    assert!(content.contains("Sponsor"), "the renewal needs the Sponsor user: {content}");
    let case = h.case_of(7001).await;
    assert_eq!(case.secrets_found, 1);
    assert!(case.escalate_to_sponsor);
    assert!(case.text.contains("[masked:apptoken]") && !case.text.contains(&TOKEN[..20]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.fake.posts_to(CHANNEL).is_empty(), "no public warning points at the leak when the DM went through");
    assert!(h.fake.requests().iter().all(|r| !r.body.to_string().contains(&TOKEN[..20])));
    let logs = h.logs();
    assert!(logs.contains("connected to Discord"), "the server's log was read: {logs}");
    assert!(!logs.contains(&TOKEN[..20]), "the token reached a log line");
    let dir = h.stop().await;
    assert_not_on_disk(dir.path(), &TOKEN.as_bytes()[..20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_authors_dms_are_closed_the_leak_warning_is_posted_in_the_channel() {
    let h = start().await;
    h.fake.deny_dms(true);
    h.fake.dispatch("MESSAGE_CREATE", message(7051, CHANNEL, person(49), &format!("still 401 with appToken {TOKEN}")));
    h.fake.wait_for(|r| r.method == "DELETE" && r.path.ends_with("/messages/7051"), 1).await;
    let post = h.fake.wait_for(|r| r.method == "POST" && r.path.ends_with(&format!("{CHANNEL}/messages")), 1).await.remove(0);
    let content = post.body["content"].as_str().unwrap();
    assert!(
        content.contains("<@49>") && content.contains("Your message contained an appToken") && !content.contains(&TOKEN[..20]),
        "{content}"
    );
    assert!(post.body.get("message_reference").is_none_or(Value::is_null), "the leaked message is gone: no reply to it");
    assert_eq!(post.body["allowed_mentions"]["users"], json!(["49"]));
    assert_eq!(h.fake.direct_messages().len(), 1, "the refused DM was tried first");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_manage_messages_the_author_is_asked_privately_to_delete_the_leak() {
    let h = start().await;
    h.fake.deny_deletes(true);
    h.fake.dispatch("MESSAGE_CREATE", message(7101, CHANNEL, person(46), &format!("my appToken is {TOKEN}, why 401?")));
    h.fake.wait_for(|_| !h.fake.direct_messages().is_empty(), 1).await;
    let dm = h.fake.direct_messages().remove(0);
    let content = dm.body["content"].as_str().unwrap();
    assert!(content.contains("Please delete your message") && !content.contains(&TOKEN[..20]), "{content}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_recurrence_pings_the_staff_role() {
    let h = start().await;
    let text = "We lost the token for our ERP key, where can we find it?";
    for (i, id) in [8001u64, 8002, 8003].into_iter().enumerate() {
        h.fake.dispatch("MESSAGE_CREATE", message(id, CHANNEL, person(47), text));
        h.case_of(id).await;
        assert!(i < 3);
    }
    let posts = h.fake.posts_to(CHANNEL);
    assert_eq!(posts.len(), 2, "first answer, second held by cooldown, third hands over: {posts:#?}");
    let handover = &posts[1].body;
    assert!(handover["content"].as_str().unwrap().contains(&format!("<@&{STAFF_ROLE}>")));
    assert_eq!(handover["allowed_mentions"]["roles"], json!([STAFF_ROLE.to_string()]));
    assert_eq!(handover["allowed_mentions"]["parse"], json!([]));
    assert_eq!(h.case_of(8002).await.suppressed_reason.map(|r| r.as_str()), Some("cooldown"));
    assert!(h.case_of(8003).await.recurrence_escalation);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_forum_thread_is_answered_in_the_thread() {
    let h = start().await;
    let thread: u64 = 9001;
    h.fake.add_starter(message(thread, thread, person(48), "Esqueci de copiar o appToken, como vejo de novo?"));
    h.fake.dispatch(
        "THREAD_CREATE",
        json!({"id": thread.to_string(), "type": 11, "guild_id": GUILD_ID.to_string(), "parent_id": FORUM.to_string(), "name": "appToken perdido",
               "owner_id": "48", "thread_metadata": {"archived": false, "auto_archive_duration": 1440, "archive_timestamp": "2026-11-28T12:00:00.000000+00:00", "locked": false},
               "newly_created": true, "message_count": 0, "member_count": 1}),
    );
    let post = h.fake.wait_for(|r| r.method == "POST" && r.path == format!("/api/v10/channels/{thread}/messages"), 1).await.remove(0);
    assert!(post.body["content"].as_str().unwrap().contains("usuário Sponsor"), "answered in Portuguese");
    assert_eq!(post.body["message_reference"]["message_id"], thread.to_string());
    let case = h.case_of(thread).await;
    assert_eq!(case.category, "apptoken-lost");
    assert_eq!(case.thread_id.as_deref(), Some("9001"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbs_reaction_on_a_reply_becomes_feedback() {
    let h = start().await;
    h.fake.dispatch("MESSAGE_CREATE", message(9101, CHANNEL, person(49), "Could a trailing space in my appKey cause 401?"));
    let case = h.case_of(9101).await;
    let reply = case.reply_ref.clone().expect("reply id recorded");
    let reaction = |user_id: &str, emoji: &str| {
        json!({"user_id": user_id, "channel_id": CHANNEL.to_string(), "message_id": reply, "guild_id": GUILD_ID.to_string(),
               "emoji": {"id": null, "name": emoji}, "burst": false, "type": 0})
    };
    h.fake.dispatch("MESSAGE_REACTION_ADD", reaction("49", "👍"));
    h.fake.dispatch("MESSAGE_REACTION_ADD", reaction("50", "👎"));
    h.fake.dispatch("MESSAGE_REACTION_ADD", reaction(&BOT_ID.to_string(), "👍"));
    for _ in 0..250 {
        if h.store.feedback_counts(case.id).await.unwrap() == (1, 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.store.feedback_counts(case.id).await.unwrap(), (1, 1), "the bot's own reaction is not a vote");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_rest_500_does_not_crash_the_bot_and_the_case_is_kept() {
    let h = start().await;
    h.fake.fail_posts(true);
    h.fake
        .dispatch("MESSAGE_CREATE", message(9201, CHANNEL, person(51), "My user can't generate application keys. Who in our account can?"));
    let case = h.case_of(9201).await;
    assert_eq!(case.reply_status, ReplyStatus::Failed);
    assert_eq!(case.category, "sponsor-required");
    h.fake.fail_posts(false);
    h.fake.dispatch("MESSAGE_CREATE", message(9202, CHANNEL, person(52), "I never saved the appToken. Can I look it up somewhere?"));
    assert_eq!(h.case_of(9202).await.reply_status, ReplyStatus::Sent, "still alive and answering");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_stats_is_deferred_then_answered_privately_and_only_for_server_managers() {
    let h = start().await;
    h.fake.dispatch("MESSAGE_CREATE", message(9301, CHANNEL, person(53), "I never saved the appToken. Can I look it up somewhere?"));
    h.case_of(9301).await;

    // The server owner may; the statistics can take longer than Discord's three seconds on a
    // large store, so the bot acknowledges first and answers in a follow-up.
    let days = json!([{"name": "days", "type": 4, "value": 7}]);
    h.fake.dispatch("INTERACTION_CREATE", slash_command(9401, CHANNEL, user(OWNER_ID, "owner", false), "stats", days.clone()));
    let callback = h.fake.wait_for(|r| r.path.contains("/interactions/9401/"), 1).await;
    assert_eq!(callback[0].body["type"], 5, "deferred: {:?}", callback[0].body);
    assert_eq!(callback[0].body["data"]["flags"], 64, "ephemeral");
    let followup = h.fake.wait_for(|r| r.method == "POST" && r.path.ends_with("/token-9401"), 1).await;
    let text = followup[0].body["content"].as_str().unwrap_or_default();
    assert!(text.contains("**Triage, last 7 days**: 1 cases, 1 support cases"), "{text}");
    assert!(text.contains("`apptoken-lost`: 1"), "{text}");

    // Anyone else is turned away, and is told so only privately.
    h.fake.dispatch("INTERACTION_CREATE", slash_command(9402, CHANNEL, person(54), "stats", days));
    let refused = h.fake.wait_for(|r| r.path.contains("/interactions/9402/"), 1).await;
    let body = &refused[0].body;
    assert_eq!(body["type"], 4, "{body:?}");
    assert_eq!(body["data"]["flags"], 64, "{body:?}");
    assert!(!body.to_string().contains("Triage, last"), "{body:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!h.fake.requests().iter().any(|r| r.path.ends_with("/token-9402")), "no statistics follow for a refused member");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_explain_and_case_never_show_a_pasted_token() {
    let h = start().await;
    let text = format!("X-VTEX-API-AppToken: {TOKEN} still gives 401");
    h.fake.dispatch("MESSAGE_CREATE", message(9501, CHANNEL, person(55), &text));
    let case = h.case_of(9501).await;

    let explain = json!([{"name": "text", "type": 3, "value": text}]);
    h.fake.dispatch("INTERACTION_CREATE", slash_command(9601, CHANNEL, person(56), "explain", explain));
    let id = json!([{"name": "id", "type": 4, "value": case.id}]);
    h.fake.dispatch("INTERACTION_CREATE", slash_command(9602, CHANNEL, user(OWNER_ID, "owner", false), "case", id));
    for interaction in [9601, 9602] {
        let answer = h.fake.wait_for(|r| r.path.contains(&format!("/interactions/{interaction}/")), 1).await;
        let body = answer[0].body.to_string();
        assert_eq!(answer[0].body["data"]["flags"], 64, "only the caller sees it: {body}");
        assert!(body.contains("[masked:apptoken]"), "{body}");
        assert!(!body.contains(&TOKEN[..20]), "token in the answer to {interaction}: {body}");
    }
    h.stop().await;
}

fn with_attachments(mut m: Value, files: Vec<Value>) -> Value {
    m["attachments"] = Value::Array(files);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_pasted_as_message_txt_is_answered() {
    let h = start().await;
    let file = h.fake.add_file(1, "message.txt", Some("text/plain; charset=utf-8"),
        b"Hi all. We created an appKey yesterday for the ERP and every request to the orders API gets 403 Forbidden. Does the new key need a role?");
    h.fake.dispatch("MESSAGE_CREATE", with_attachments(message(9101, CHANNEL, person(51), ""), vec![file]));
    let post = h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "9101", 1).await.remove(0);
    assert!(post.body["content"].as_str().unwrap().contains("The application key is not linked to any role"), "{}", post.body);
    assert_eq!(h.case_of(9101).await.category, "key-not-linked-to-role");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_an_attached_file_gets_the_message_deleted_and_is_masked_everywhere() {
    let h = start().await;
    let curl = format!("curl -H 'X-VTEX-API-AppKey: vtexappkey-demo-LAOLFT' -H 'X-VTEX-API-AppToken: {TOKEN}' https://demo.vtexcommercestable.com.br/api/oms/pvt/orders\n{{\"error\": \"forbidden\"}}");
    let file = h.fake.add_file(2, "curl.sh", None, curl.as_bytes());
    h.fake.dispatch("MESSAGE_CREATE", with_attachments(message(9201, CHANNEL, person(52), "this is what I run, 403"), vec![file]));
    h.fake.wait_for(|r| r.method == "DELETE" && r.path == format!("/api/v10/channels/{CHANNEL}/messages/9201"), 1).await;
    let case = h.case_of(9201).await;
    assert!(case.secrets_found >= 1);
    assert!(!case.text.contains(&TOKEN[..24]));
    for r in h.fake.requests().iter().filter(|r| r.method != "GET") {
        assert!(!r.body.to_string().contains(&TOKEN[..24]), "the token went to Discord: {:?}", r.path);
    }
    let logs = h.logs();
    assert!(logs.contains("connected to Discord"), "the server's log was read: {logs}");
    assert!(!logs.contains(&TOKEN[..20]), "the token reached a log line");
    let dir = h.stop().await;
    assert_not_on_disk(dir.path(), &TOKEN.as_bytes()[..24]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_or_non_text_attachment_is_not_downloaded() {
    let h = start().await;
    let big = h.fake.add_file(3, "server.log", Some("text/plain"), &vec![b'a'; 300 * 1024]);
    let image = h.fake.add_file(4, "screenshot.png", Some("image/png"), b"\x89PNG not really");
    let m = message(9301, CHANNEL, person(53), "Can someone who isn't the Sponsor create keys?");
    h.fake.dispatch("MESSAGE_CREATE", with_attachments(m, vec![big, image]));
    h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "9301", 1).await;
    let downloads: Vec<_> = h.fake.requests().into_iter().filter(|r| r.path.starts_with("/attachments/")).collect();
    assert!(downloads.is_empty(), "{downloads:?}");
    h.stop().await;
}

fn edited(mut m: Value) -> Value {
    m["edited_timestamp"] = json!("2026-11-28T12:05:00.000000+00:00");
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_adds_a_token_is_deleted_its_author_told_by_dm_and_the_token_is_nowhere() {
    let h = start().await;
    let question = "I made a new app key an hour ago and all my requests get 403. Does the key need a role?";
    h.fake.dispatch("MESSAGE_CREATE", message(9401, CHANNEL, person(61), question));
    let first = h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "9401", 1).await.remove(0);
    let reply_id = h.case_of(9401).await.reply_ref.unwrap();
    assert!(first.body["content"].as_str().unwrap().contains("not linked to any role"));
    let with_token = format!("{question}\nheaders:\nX-VTEX-API-AppKey: vtexappkey-demo-LAOLFT\nX-VTEX-API-AppToken: {TOKEN}");
    h.fake.dispatch("MESSAGE_UPDATE", edited(message(9401, CHANNEL, person(61), &with_token)));
    h.fake.wait_for(|r| r.method == "DELETE" && r.path == format!("/api/v10/channels/{CHANNEL}/messages/9401"), 1).await;
    h.fake.wait_for(|_| !h.fake.direct_messages().is_empty(), 1).await;
    let dm = h.fake.direct_messages().remove(0);
    let content = dm.body["content"].as_str().unwrap();
    assert!(content.contains("Your message contained an appToken") && content.contains("Sponsor"), "{content}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.fake.posts_to(CHANNEL).len(), 1, "an edit never gets a second reply");
    let patched = h.fake.requests().into_iter().any(|r| r.method == "PATCH" && r.path.ends_with(&format!("/messages/{reply_id}")));
    assert!(!patched, "the answer did not change, so our public reply stays as it was: no public word about the leak");
    for _ in 0..100 {
        if h.store.case_by_source(Source::Discord, "9401").await.unwrap().unwrap().secrets_found > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let case = h.case_of(9401).await;
    assert!(case.secrets_found >= 1 && case.text.contains("X-VTEX-API-AppToken") && !case.text.contains(&TOKEN[..24]), "{}", case.text);
    for r in h.fake.requests() {
        assert!(!r.body.to_string().contains(&TOKEN[..24]), "the token went to Discord: {}", r.path);
    }
    let logs = h.logs();
    assert!(logs.contains("connected to Discord"), "the server's log was read: {logs}");
    assert!(!logs.contains(&TOKEN[..20]), "the token reached a log line");
    let dir = h.stop().await;
    assert_not_on_disk(dir.path(), &TOKEN.as_bytes()[..24]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_changes_the_category_edits_our_reply_and_posts_nothing_new() {
    let h = start().await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(9501, CHANNEL, person(62), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "9501", 1).await;
    let reply_id = h.case_of(9501).await.reply_ref.unwrap();
    let lost = "Sorry, wrong question: I lost the appToken we created last month, can VTEX send it to me again?";
    h.fake.dispatch("MESSAGE_UPDATE", edited(message(9501, CHANNEL, person(62), lost)));
    let patch = h.fake.wait_for(|r| r.method == "PATCH" && r.path.ends_with(&format!("/messages/{reply_id}")), 1).await.remove(0);
    let content = patch.body["content"].as_str().unwrap();
    assert!(!content.contains("not linked to any role"), "{content}");
    let mut category = String::new();
    for _ in 0..100 {
        category = h.store.case_by_source(Source::Discord, "9501").await.unwrap().unwrap().category.clone();
        if category != "key-not-linked-to-role" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(category, "apptoken-lost");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.fake.posts_to(CHANNEL).len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_dms_are_closed_an_edit_that_adds_a_token_gets_the_warning_in_our_edited_reply() {
    let h = start().await;
    h.fake.deny_dms(true);
    let question = "I made a new app key an hour ago and all my requests get 403. Does the key need a role?";
    h.fake.dispatch("MESSAGE_CREATE", message(9601, CHANNEL, person(63), question));
    h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "9601", 1).await;
    let reply_id = h.case_of(9601).await.reply_ref.unwrap();
    h.fake.dispatch("MESSAGE_UPDATE", edited(message(9601, CHANNEL, person(63), &format!("{question} token: {TOKEN}"))));
    let patch = h.fake.wait_for(|r| r.method == "PATCH" && r.path.ends_with(&format!("/messages/{reply_id}")), 1).await.remove(0);
    let content = patch.body["content"].as_str().unwrap();
    assert!(
        content.contains("Your message contained an appToken") && content.contains("<@63>") && !content.contains(&TOKEN[..20]),
        "{content}"
    );
    assert_eq!(h.fake.posts_to(CHANNEL).len(), 1, "an edit never gets a second reply");
    h.stop().await;
}

fn text_thread(thread: u64, owner: u64) -> Value {
    json!({"id": thread.to_string(), "type": 11, "guild_id": GUILD_ID.to_string(), "parent_id": CHANNEL.to_string(), "name": "keys",
           "owner_id": owner.to_string(), "thread_metadata": {"archived": false, "auto_archive_duration": 1440,
           "archive_timestamp": "2026-11-28T12:00:00.000000+00:00", "locked": false},
           "newly_created": true, "message_count": 0, "member_count": 1})
}

fn by_staff(mut m: Value) -> Value {
    m["member"] = json!({"roles": [STAFF_ROLE.to_string()], "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false});
    m
}

/// Waits until the message's case is stored (settled or not).
async fn stored(h: &Harness, id: u64) -> triage::store::CaseRecord {
    for _ in 0..500 {
        if let Some(c) = h.store.case_by_source(Source::Discord, &id.to_string()).await.unwrap() {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("message {id} was never stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_in_a_text_channel_is_answered_once_and_a_new_question_in_it_again() {
    let h = start().await;
    let thread = 9701u64;
    h.fake.dispatch("THREAD_CREATE", text_thread(thread, 71));
    // Serenity handles each event in a task of its own; on Discord a thread's first message comes
    // well after the thread.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(9702, thread, person(71), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    h.fake.wait_for(|r| r.method == "POST" && r.path == format!("/api/v10/channels/{thread}/messages"), 1).await;
    assert_eq!(h.case_of(9702).await.thread_id.as_deref(), Some("9701"));
    h.fake.dispatch("MESSAGE_CREATE", message(9703, thread, person(71), "still 403 with the new key, it has no role I think"));
    let follow_up = stored(&h, 9703).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(follow_up.category, "key-not-linked-to-role");
    assert_eq!(follow_up.suppressed_reason.map(|r| r.as_str()), Some("already_answered"));
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(9704, thread, person(71), "Also: I lost the appToken we created last month, can VTEX send it again?"),
    );
    h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "9704", 1).await;
    assert_eq!(h.fake.posts_to(thread).len(), 2, "the first question and the new one; the follow-up is not answered again");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_reply_in_a_thread_silences_the_bot_and_only_the_threads_poster_is_answered() {
    let h = start().await;
    let (helped, other) = (9801u64, 9811u64);
    h.fake.dispatch("THREAD_CREATE", text_thread(helped, 72));
    h.fake.dispatch("THREAD_CREATE", text_thread(other, 73));
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.fake.dispatch("MESSAGE_CREATE", by_staff(message(9802, helped, person(74), "Hi! Can you share which API you call?")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(9803, helped, person(72), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    assert_eq!(stored(&h, 9803).await.suppressed_reason.map(|r| r.as_str()), Some("human_helping"));
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(9812, other, person(75), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    assert_eq!(stored(&h, 9812).await.suppressed_reason.map(|r| r.as_str()), Some("not_the_asker"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.fake.posts_to(helped).is_empty() && h.fake.posts_to(other).is_empty());
    assert!(h.store.case_by_source(Source::Discord, "9802").await.unwrap().is_none(), "a helper's answer is not a case");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_from_staff_is_stored_apart_and_a_member_without_the_role_is_refused() {
    let h = start().await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(9901, CHANNEL, person(81), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    let case = h.case_of(9901).await;
    let reply = case.reply_ref.clone().unwrap();
    let options = json!([{"name": "case", "type": 4, "value": case.id}, {"name": "category", "type": 3, "value": "role-lacks-permission"},
                         {"name": "delete_reply", "type": 5, "value": true}]);
    h.fake.dispatch("INTERACTION_CREATE", slash_command(9902, CHANNEL, person(82), "correct", options.clone()));
    let refused = h.fake.wait_for(|r| r.path.contains("/interactions/9902/"), 1).await.remove(0);
    assert!(refused.body.to_string().contains("Only members with the staff role"), "{}", refused.body);
    assert_eq!(h.store.latest_correction(case.id).await.unwrap(), None);

    let mut staff = slash_command(9903, CHANNEL, person(83), "correct", options);
    staff["member"]["roles"] = json!([STAFF_ROLE.to_string()]);
    h.fake.dispatch("INTERACTION_CREATE", staff);
    let answer = h.fake.wait_for(|r| r.path.contains("/interactions/9903/"), 1).await.remove(0);
    assert_eq!(answer.body["data"]["flags"], 64, "only the moderator sees it");
    assert!(answer.body.to_string().contains("Recorded"), "{}", answer.body);
    let correction = h.store.latest_correction(case.id).await.unwrap().expect("stored");
    assert_eq!((correction.category.as_str(), correction.corrected_by.as_str()), ("role-lacks-permission", "83"));
    assert_eq!(h.store.case(case.id).await.unwrap().unwrap().category, "key-not-linked-to-role", "the classifier's output is kept");
    h.fake.wait_for(|r| r.method == "DELETE" && r.path.ends_with(&format!("/messages/{reply}")), 1).await;
    let dir = h.stop().await;
    // The review export carries it, as it carries a label set on the dashboard.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["review", "export", "--since", "1d", "--database"])
        .arg(dir.path().join("cases.db"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(
        (line["id"].as_str(), line["expected"].as_str()),
        (Some(format!("case-{}", case.id).as_str()), Some("role-lacks-permission"))
    );
    assert_eq!((line["triaged"].as_str(), line["labelled_by"].as_str()), (Some("key-not-linked-to-role"), Some("83")));
}

fn forum_thread(thread: u64, owner: u64, tags: &[u64]) -> Value {
    json!({"id": thread.to_string(), "type": 11, "guild_id": GUILD_ID.to_string(), "parent_id": FORUM.to_string(), "name": "keys",
           "owner_id": owner.to_string(), "applied_tags": tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
           "thread_metadata": {"archived": false, "auto_archive_duration": 1440, "archive_timestamp": "2026-11-28T12:00:00.000000+00:00", "locked": false},
           "newly_created": true, "message_count": 0, "member_count": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forum_thread_tagged_solved_is_left_alone() {
    let h = start().await;
    let question = "All my requests with the new appKey get 403. Does the key need a role?";
    // Tagged when it was created: its first post gets no answer.
    h.fake.add_starter(message(9951, 9951, person(91), question));
    h.fake.dispatch("THREAD_CREATE", forum_thread(9951, 91, &[SOLVED_TAG]));
    // Tagged later: what comes after the tag gets no answer.
    h.fake.add_starter(message(9961, 9961, person(92), question));
    h.fake.dispatch("THREAD_CREATE", forum_thread(9961, 92, &[]));
    h.fake.wait_for(|r| r.method == "POST" && r.path == "/api/v10/channels/9961/messages", 1).await;
    h.fake.dispatch("THREAD_UPDATE", forum_thread(9961, 92, &[SOLVED_TAG]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(9962, 9961, person(92), "And I lost the appToken we created last month, can VTEX send it again?"),
    );
    assert_eq!(stored(&h, 9962).await.suppressed_reason.map(|r| r.as_str()), Some("quiet_thread"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.fake.posts_to(9951).is_empty(), "a solved thread is not answered");
    assert_eq!(h.fake.posts_to(9961).len(), 1);
    h.stop().await;
}

fn replying_to(mut m: Value, to: &str) -> Value {
    m["message_reference"] = json!({"type": 0, "message_id": to, "channel_id": m["channel_id"], "guild_id": GUILD_ID.to_string()});
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_short_messages_gets_one_answer_over_all_of_them_as_a_reply_to_the_last() {
    let h = start_with("debounce = \"1s\"\n").await;
    // Each line alone is nothing the bot would answer; together they are one question.
    let lines = ["hi", "I created a new appKey and appToken this morning", "every request with it gives 401 now, does it need a role?"];
    for (i, line) in lines.iter().enumerate() {
        h.fake.dispatch("MESSAGE_CREATE", message(10_001 + i as u64, CHANNEL, person(91), line));
        if i == 0 {
            // Someone else asks in the same seconds: a burst is one person's.
            h.fake.dispatch("MESSAGE_CREATE", message(10_010, CHANNEL, person(92), "Can someone who isn't the Sponsor create keys?"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let posts = h.fake.wait_for(|r| r.method == "POST" && r.path.ends_with(&format!("{CHANNEL}/messages")), 2).await;
    let mut answered: Vec<&str> = posts.iter().filter_map(|p| p.body["message_reference"]["message_id"].as_str()).collect();
    answered.sort();
    assert_eq!(answered, vec!["10003", "10010"]);
    let last = h.case_of(10_003).await;
    assert_eq!(last.category, "key-not-linked-to-role");
    assert_eq!(last.reply_status, ReplyStatus::Sent);
    assert!(last.text.contains("hi") && last.text.contains("this morning"), "the answer's case holds the burst's text: {}", last.text);
    for id in [10_001u64, 10_002] {
        let part = h.case_of(id).await;
        // Held back as not support on its own ("hi"), or as in_burst when it was on topic.
        assert_eq!(part.reply_status, ReplyStatus::Suppressed, "message {id}");
        assert_eq!(part.burst_of.as_deref(), Some("10003"));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.fake.posts_to(CHANNEL).len(), 2, "one answer for the burst, one for the other person");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_reply_to_a_message_the_bot_is_holding_silences_the_bot() {
    let h = start_with("debounce = \"2s\"\n").await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(10_101, CHANNEL, person(93), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let staff = by_staff(message(10_102, CHANNEL, person(94), "Hi! Check that the key has a role in Account settings > Roles."));
    h.fake.dispatch("MESSAGE_CREATE", replying_to(staff, "10101"));
    let case = h.case_of(10_101).await;
    assert_eq!(case.category, "key-not-linked-to-role");
    assert_eq!(case.suppressed_reason.map(|r| r.as_str()), Some("human_helping"));
    assert!(h.fake.posts_to(CHANNEL).is_empty());
    assert!(h.store.case_by_source(Source::Discord, "10102").await.unwrap().is_none(), "a helper's answer is not a case");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_who_replies_soon_after_our_answer_is_recorded_as_taking_over() {
    let h = start().await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(10_201, CHANNEL, person(95), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    let case = h.case_of(10_201).await;
    let ours = case.reply_ref.clone().expect("answered");
    // A member without a helper role replying is not a takeover; the staff member after them is.
    h.fake.dispatch("MESSAGE_CREATE", replying_to(message(10_202, CHANNEL, person(97), "same here"), &ours));
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.fake.dispatch("MESSAGE_CREATE", replying_to(by_staff(message(10_203, CHANNEL, person(96), "I'll take it from here.")), &ours));
    let mut taken = None;
    for _ in 0..250 {
        taken = h.store.case(case.id).await.unwrap().and_then(|c| c.taken_over_by);
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(taken.as_deref(), Some("96"));
    let stats = triage::stats::compute(&h.store, Duration::from_secs(86_400), 5, triage::pipeline::now()).await.unwrap();
    assert_eq!(stats.replies.taken_over, 1);
    assert_eq!(stats.replies.taken_over_by_category.get("key-not-linked-to-role"), Some(&1));
    h.stop().await;
}

fn direct(id: u64, from: u64, content: &str) -> Value {
    let mut m = message(id, crate::support::fake_discord::DM_BASE + from, person(from), content);
    m.as_object_mut().unwrap().remove("guild_id");
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_is_answered_there_and_a_token_in_one_gets_the_renewal_advice() {
    let h = start().await;
    let dm = crate::support::fake_discord::DM_BASE + 98;
    h.fake.dispatch("MESSAGE_CREATE", direct(10_301, 98, "Can someone who isn't the Sponsor create keys?"));
    let posts = h.fake.wait_for(|r| r.method == "POST" && r.path == format!("/api/v10/channels/{dm}/messages"), 1).await;
    assert_eq!(posts[0].body["message_reference"]["message_id"], "10301");
    assert_eq!(h.case_of(10_301).await.reply_status, ReplyStatus::Sent);
    h.fake.dispatch("MESSAGE_CREATE", direct(10_302, 98, &format!("is this right? X-VTEX-API-AppToken: {TOKEN}")));
    let posts = h.fake.wait_for(|r| r.method == "POST" && r.body["message_reference"]["message_id"] == "10302", 1).await;
    let content = posts[0].body["content"].as_str().unwrap();
    assert!(content.contains("renew"), "{content}");
    assert!(!content.contains("I deleted"), "nothing can be deleted in a direct message: {content}");
    assert!(!h.fake.requests().iter().any(|r| r.method == "DELETE"), "no delete is tried in a direct message");
    assert!(h.fake.requests().iter().all(|r| !r.body.to_string().contains(TOKEN)));
    assert_eq!(h.case_of(10_302).await.secrets_found, 1);
    assert!(!h.logs().contains(TOKEN));
    let dir = h.stop().await;
    assert_not_on_disk(dir.path(), TOKEN.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_held_for_its_burst_is_answered_when_the_bot_is_stopped() {
    let mut h = start_with("debounce = \"1h\"\n").await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(10_401, CHANNEL, person(99), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.fake.posts_to(CHANNEL).is_empty(), "held for an hour");
    h.terminate().await;
    assert_eq!(h.fake.posts_to(CHANNEL).len(), 1, "answered on the way out");
    assert_eq!(h.case_of(10_401).await.reply_status, ReplyStatus::Sent);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_answer_on_our_reply_asks_for_the_right_category_records_it_and_deletes_the_reply_for_staff_only() {
    use crate::support::fake_discord::{menu_choice, message_command};
    let h = start().await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(10_501, CHANNEL, person(84), "All my requests with the new appKey get 403. Does the key need a role?"),
    );
    let case = h.case_of(10_501).await;
    let reply = case.reply_ref.clone().unwrap();
    let ours = message(reply.parse().unwrap(), CHANNEL, user(BOT_ID, "triage", true), "The application key is not linked to any role");
    h.fake.dispatch("INTERACTION_CREATE", message_command(10_502, CHANNEL, person(85), "Triage: wrong answer", ours.clone()));
    let refused = h.fake.wait_for(|r| r.path.contains("/interactions/10502/"), 1).await.remove(0);
    assert!(refused.body.to_string().contains("Only members with the staff role"), "{}", refused.body);

    let mut staff = message_command(10_503, CHANNEL, person(86), "Triage: wrong answer", ours);
    staff["member"]["roles"] = json!([STAFF_ROLE.to_string()]);
    h.fake.dispatch("INTERACTION_CREATE", staff);
    let asked = h.fake.wait_for(|r| r.path.contains("/interactions/10503/"), 1).await.remove(0);
    assert_eq!(asked.body["data"]["flags"], 64, "only the moderator sees it");
    let menu = &asked.body["data"]["components"][0]["components"][0];
    let values: Vec<&str> = menu["options"].as_array().unwrap().iter().filter_map(|o| o["value"].as_str()).collect();
    assert!(values.contains(&"role-lacks-permission") && values.contains(&"none"), "{values:?}");
    assert!(!values.contains(&"key-not-linked-to-role"), "the category triage chose is not offered back");
    assert!(h.store.latest_correction(case.id).await.unwrap().is_none(), "nothing is recorded before the choice");

    let prompt = message(10_504, CHANNEL, user(BOT_ID, "triage", true), "Case: what is the right category?");
    let mut choice = menu_choice(10_505, CHANNEL, person(86), menu["custom_id"].as_str().unwrap(), "role-lacks-permission", prompt);
    choice["member"]["roles"] = json!([STAFF_ROLE.to_string()]);
    h.fake.dispatch("INTERACTION_CREATE", choice);
    let done = h.fake.wait_for(|r| r.path.contains("/interactions/10505/"), 1).await.remove(0);
    assert_eq!(done.body["type"], 7, "the menu message is updated in place");
    assert!(done.body.to_string().contains("Recorded"), "{}", done.body);
    let correction = h.store.latest_correction(case.id).await.unwrap().expect("stored");
    assert_eq!((correction.category.as_str(), correction.corrected_by.as_str()), ("role-lacks-permission", "86"));
    assert_eq!(h.store.case(case.id).await.unwrap().unwrap().category, "key-not-linked-to-role", "the classifier's output is kept");
    h.fake.wait_for(|r| r.method == "DELETE" && r.path.ends_with(&format!("/messages/{reply}")), 1).await;
    h.stop().await;
}

/// Asks a question in the test guild as message `id`, waits for its answer, and returns how
/// many times the slash commands were registered by then (the setup that registers them runs
/// before any event is handled).
async fn answer_then_count_registrations(h: &Harness, id: u64) -> usize {
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(id, CHANNEL, person(42), "I made a new app key an hour ago and all my requests get 403. Does the key need a role?"),
    );
    h.fake.wait_for(|r| r.method == "POST" && r.path.ends_with(&format!("{CHANNEL}/messages")), 1).await;
    assert_eq!(h.case_of(id).await.reply_status, ReplyStatus::Sent);
    h.fake.requests().into_iter().filter(|r| r.method == "PUT" && r.path.ends_with("/commands")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_given_one_shard_identifies_as_it_answers_its_guild_and_leaves_the_commands_to_shard_zero() {
    // The test guild's events go to shard (GUILD_ID >> 22) % 2, as Discord routes them.
    let ours = ((GUILD_ID >> 22) % 2) as u32;
    let starting = spawn(FakeDiscord::start().await, &format!("debounce = \"0s\"\nshards = \"{ours}/2\"\n"));
    assert_eq!(starting.fake.wait_identified(1).await, [[ours, 2]]);
    let h = starting.open().await;
    let registered = answer_then_count_registrations(&h, 12001).await;
    assert_eq!(registered, usize::from(ours == 0), "only the process holding shard 0 registers commands");
    assert_eq!(h.fake.wait_identified(1).await.len(), 1, "no other shard was started");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_shard_setting_the_bot_runs_every_shard_discord_recommends_and_registers_commands_once() {
    let starting = spawn(FakeDiscord::start_with_shards(2).await, "debounce = \"0s\"\n");
    assert_eq!(starting.fake.wait_identified(2).await, [[0, 2], [1, 2]]);
    starting.fake.wait_ready().await;
    let h = starting.open().await;
    let registered = answer_then_count_registrations(&h, 12101).await;
    assert_eq!(registered, 1, "one registration for the application, not one per shard");
    h.stop().await;
}
