//! `GET /v1/Events` over a real socket: who receives what, replay with
//! `since`, resync, the account firehose, token expiry.

use std::time::Duration;

use awc::ws;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;

use super::text;
use crate::util::{ApiKey, TestServer, access_token};

type Socket = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

struct Client {
    server: TestServer,
    http: awc::Client,
}

impl Client {
    async fn start() -> Client {
        Client::on(TestServer::start().await)
    }

    fn on(server: TestServer) -> Client {
        let http = server.client();
        Client { server, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    async fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let req = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .insert_header(("Authorization", self.server.account.basic()));
        let mut res = req.send_form(&form).await.expect("request");
        let body = res.body().await.expect("body");
        assert!(res.status().is_success(), "{method} {path}: {} {body:?}", res.status());
        if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() }
    }

    async fn service(&self) -> String {
        text(&self.call("GET", "/v1/Configuration", &[]).await["default_chat_service_sid"])
    }

    async fn key(&self) -> ApiKey {
        let path = format!("/2010-04-01/Accounts/{}/Keys.json", self.server.account.sid);
        let key = self.call("POST", &path, &[("FriendlyName", "stream")]).await;
        ApiKey { sid: text(&key["sid"]), secret: text(&key["secret"]) }
    }

    async fn conversation(&self) -> String {
        text(&self.call("POST", "/v1/Conversations", &[]).await["sid"])
    }

    async fn join(&self, ch: &str, identity: &str) -> String {
        text(
            &self
                .call("POST", &format!("/v1/Conversations/{ch}/Participants"), &[("Identity", identity)])
                .await["sid"],
        )
    }

    async fn say(&self, ch: &str, body: &str) -> String {
        text(&self.call("POST", &format!("/v1/Conversations/{ch}/Messages"), &[("Body", body)]).await["sid"])
    }

    /// Opens the stream; `query` without the `?`.
    async fn open(&self, query: &str, basic: bool) -> Result<Socket, u16> {
        // A client without the server's default Basic credentials.
        let bare = awc::Client::default();
        let mut req = bare.ws(self.url(&format!("/v1/Events?{query}")));
        if basic {
            req = req.header("Authorization", self.server.account.basic());
        }
        match req.connect().await {
            Ok((_, socket)) => Ok(socket),
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }
}

/// What the socket said next: a frame, or how it closed.
#[derive(Debug)]
enum Next {
    Frame(Value),
    Closed(Option<u16>),
    Quiet,
}

async fn next(socket: &mut Socket, wait: Duration) -> Next {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let item = match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Next::Quiet,
            Ok(item) => item,
        };
        match item {
            Some(Ok(ws::Frame::Text(bytes))) => return Next::Frame(serde_json::from_slice(&bytes).unwrap()),
            Some(Ok(ws::Frame::Ping(p))) => socket.send(ws::Message::Pong(p)).await.unwrap(),
            Some(Ok(ws::Frame::Close(reason))) => return Next::Closed(reason.map(|r| r.code.into())),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return Next::Closed(None),
        }
    }
}

#[track_caller]
fn frame(n: Next) -> Value {
    match n {
        Next::Frame(v) => v,
        other => panic!("expected a frame, got {other:?}"),
    }
}

async fn frame_of(socket: &mut Socket) -> Value {
    frame(next(socket, Duration::from_secs(5)).await)
}

async fn quiet(socket: &mut Socket) {
    match next(socket, Duration::from_millis(1500)).await {
        Next::Quiet => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

#[actix_web::test]
async fn a_user_receives_its_conversations_and_follows_joins_and_removals() {
    let c = Client::start().await;
    let service = c.service().await;
    let key = c.key().await;
    let mine = c.conversation().await;
    let theirs = c.conversation().await;
    c.join(&mine, "alice").await;
    c.join(&theirs, "bob").await;
    let token = access_token(&key, &c.server.account.sid, "alice", &service);
    let mut alice = c.open(&format!("token={token}"), false).await.expect("alice connects");

    c.say(&theirs, "not for alice").await;
    let im = c.say(&mine, "for alice").await;
    let f = frame_of(&mut alice).await;
    assert_eq!(
        (f["type"].as_str(), f["data"]["sid"].as_str()),
        (Some("messageAdded"), Some(im.as_str())),
        "{f}"
    );
    assert_eq!(f["conversation_sid"], mine.as_str());
    assert_eq!(f["data"]["body"], "for alice");
    assert!(f["position"].as_i64().unwrap() > 0);

    // Added to their conversation: it appears, then its events.
    let mb = c.join(&theirs, "alice").await;
    let added = frame_of(&mut alice).await;
    assert_eq!(
        (added["type"].as_str(), added["data"]["sid"].as_str()),
        (Some("conversationAdded"), Some(theirs.as_str()))
    );
    let joined = frame_of(&mut alice).await;
    assert_eq!(
        (joined["type"].as_str(), joined["data"]["sid"].as_str()),
        (Some("participantJoined"), Some(mb.as_str()))
    );
    c.say(&theirs, "now alice hears").await;
    assert_eq!(frame_of(&mut alice).await["data"]["body"], "now alice hears");

    // Removed: told so, then nothing more from there.
    c.call("DELETE", &format!("/v1/Conversations/{theirs}/Participants/{mb}"), &[]).await;
    assert_eq!(frame_of(&mut alice).await["type"], "participantLeft");
    let removed = frame_of(&mut alice).await;
    assert_eq!(
        (removed["type"].as_str(), removed["conversation_sid"].as_str()),
        (Some("conversationRemoved"), Some(theirs.as_str()))
    );
    c.say(&theirs, "after alice left").await;
    c.say(&mine, "still mine").await;
    assert_eq!(frame_of(&mut alice).await["data"]["body"], "still mine");
    quiet(&mut alice).await;
}

#[actix_web::test]
async fn since_replays_what_was_missed_once_and_in_order() {
    let c = Client::start().await;
    let ch = c.conversation().await;
    let mut socket = c.open("", true).await.expect("connect");
    c.say(&ch, "seen").await;
    let seen = frame_of(&mut socket).await;
    let position = seen["position"].as_i64().unwrap();
    drop(socket);
    let missed = [c.say(&ch, "one").await, c.say(&ch, "two").await, c.say(&ch, "three").await];
    let mut socket = c.open(&format!("since={position}"), true).await.expect("reconnect");
    let mut last = position;
    for sid in &missed {
        let f = frame_of(&mut socket).await;
        assert_eq!(f["data"]["sid"], sid.as_str(), "{f}");
        assert!(f["position"].as_i64().unwrap() > last);
        last = f["position"].as_i64().unwrap();
    }
    let live = c.say(&ch, "live").await;
    assert_eq!(frame_of(&mut socket).await["data"]["sid"], live.as_str(), "live follows the replay");
    quiet(&mut socket).await;
}

#[actix_web::test]
async fn a_user_removed_while_away_gets_what_came_before_and_the_removal_on_reconnect() {
    let c = Client::start().await;
    let service = c.service().await;
    let key = c.key().await;
    let ch = c.conversation().await;
    let mb = c.join(&ch, "alice").await;
    let token = access_token(&key, &c.server.account.sid, "alice", &service);
    let mut socket = c.open(&format!("token={token}"), false).await.unwrap();
    c.say(&ch, "seen").await;
    let position = frame_of(&mut socket).await["position"].as_i64().unwrap();
    drop(socket);
    let missed = c.say(&ch, "said before she was removed").await;
    c.call("DELETE", &format!("/v1/Conversations/{ch}/Participants/{mb}"), &[]).await;
    c.say(&ch, "said after").await;
    let mut socket = c.open(&format!("token={token}&since={position}"), false).await.unwrap();
    let f = frame_of(&mut socket).await;
    assert_eq!(
        (f["type"].as_str(), f["data"]["sid"].as_str()),
        (Some("messageAdded"), Some(missed.as_str()))
    );
    let f = frame_of(&mut socket).await;
    assert_eq!((f["type"].as_str(), f["data"]["sid"].as_str()), (Some("participantLeft"), Some(mb.as_str())));
    let f = frame_of(&mut socket).await;
    assert_eq!(
        (f["type"].as_str(), f["conversation_sid"].as_str()),
        (Some("conversationRemoved"), Some(ch.as_str()))
    );
    quiet(&mut socket).await;
}

#[actix_web::test]
async fn a_since_older_than_the_log_gets_resync_first() {
    let c = Client::start().await;
    let ch = c.conversation().await;
    c.say(&ch, "old").await;
    c.say(&ch, "old too").await;
    let now = confab::testing::time::now();
    confab::testing::event_log::prune(&c.server.state, now + 1).await.unwrap();
    let mut socket = c.open("since=1", true).await.expect("connect");
    assert_eq!(frame_of(&mut socket).await, serde_json::json!({"type": "resync"}));
    let next_one = c.say(&ch, "new").await;
    assert_eq!(frame_of(&mut socket).await["data"]["sid"], next_one.as_str());
}

#[actix_web::test]
async fn the_account_firehose_can_be_narrowed_to_one_service() {
    let c = Client::start().await;
    let other = text(&c.call("POST", "/v1/Services", &[("FriendlyName", "other")]).await["sid"]);
    let mut only_other = c.open(&format!("service={other}"), true).await.expect("connect");
    let mut all = c.open("", true).await.expect("connect");
    let ch = c.conversation().await;
    let there = text(&c.call("POST", &format!("/v1/Services/{other}/Conversations"), &[]).await["sid"]);
    assert_eq!(frame_of(&mut all).await["data"]["sid"], ch.as_str());
    assert_eq!(frame_of(&mut all).await["data"]["sid"], there.as_str());
    let f = frame_of(&mut only_other).await;
    assert_eq!(
        (f["type"].as_str(), f["data"]["sid"].as_str()),
        (Some("conversationAdded"), Some(there.as_str()))
    );
    quiet(&mut only_other).await;
    assert_eq!(c.open("service=ISffffffffffffffffffffffffffffffff", true).await.err(), Some(404));
}

#[actix_web::test]
async fn no_credentials_no_stream_and_an_expiring_token_closes_it() {
    let c = Client::start().await;
    assert_eq!(c.open("", false).await.err(), Some(401));
    assert_eq!(c.open("token=not-a-token", false).await.err(), Some(401));
    let service = c.service().await;
    let key = c.key().await;
    let claims = crate::util::token_claims(&key, &c.server.account.sid, "carol", &service, 2);
    let token = crate::util::sign_token(&claims, &key.secret);
    let mut socket = c.open(&format!("token={token}"), false).await.expect("connect");
    match next(&mut socket, Duration::from_secs(8)).await {
        Next::Closed(code) => assert_eq!(code, Some(4001)),
        other => panic!("expected the close, got {other:?}"),
    }
}

#[actix_web::test]
async fn typing_reaches_the_other_participants_and_ends_by_itself() {
    let c = Client::start().await;
    let service = c.service().await;
    let key = c.key().await;
    let ch = c.conversation().await;
    let elsewhere = c.conversation().await;
    c.join(&ch, "alice").await;
    let bob_mb = c.join(&ch, "bob").await;
    c.join(&elsewhere, "carol").await;
    let token = |who: &str| access_token(&key, &c.server.account.sid, who, &service);
    let mut alice = c.open(&format!("token={}", token("alice")), false).await.unwrap();
    let mut bob = c.open(&format!("token={}", token("bob")), false).await.unwrap();
    let mut carol = c.open(&format!("token={}", token("carol")), false).await.unwrap();

    let typing = serde_json::json!({"type": "typing", "conversation_sid": ch}).to_string();
    bob.send(ws::Message::Text(typing.clone().into())).await.unwrap();
    let started = frame_of(&mut alice).await;
    assert_eq!(started["type"], "typingStarted", "{started}");
    assert_eq!(started["conversation_sid"], ch.as_str());
    assert_eq!(started["data"]["identity"], "bob");
    assert_eq!(started["data"]["participant_sid"], bob_mb.as_str());
    assert!(started.get("position").is_none(), "typing is not in the log");
    // Typing again within the timeout keeps it going, without a second start.
    bob.send(ws::Message::Text(typing.into())).await.unwrap();
    let ended = frame(next(&mut alice, Duration::from_secs(9)).await);
    assert_eq!(
        (ended["type"].as_str(), ended["data"]["identity"].as_str()),
        (Some("typingEnded"), Some("bob"))
    );
    quiet(&mut carol).await;
    quiet(&mut bob).await;

    // Only into one's own conversations.
    let there = serde_json::json!({"type": "typing", "conversation_sid": elsewhere}).to_string();
    bob.send(ws::Message::Text(there.into())).await.unwrap();
    let refused = frame_of(&mut bob).await;
    assert_eq!(
        (refused["type"].as_str(), refused["status"].as_u64()),
        (Some("error"), Some(404)),
        "{refused}"
    );
    quiet(&mut carol).await;
}

/// A second `confab serve` process on the same database.
struct OtherInstance {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for OtherInstance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A second `confab serve` process on the same database. On PostgreSQL it
/// polls the log once a minute only, so whatever reaches its streams within
/// seconds came by `NOTIFY`.
async fn other_instance(c: &Client) -> OtherInstance {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(crate::util::confab_bin())
        .arg("serve")
        .env_clear()
        .env(
            "DATABASE_URL",
            match &c.server.db.url {
                confab::config::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
                confab::config::DatabaseUrl::Postgres(url) => url.clone(),
            },
        )
        .env("CONFAB_BIND", format!("127.0.0.1:{port}"))
        .env("CONFAB_DATA_DIR", dir.path())
        .env("CONFAB_BACKGROUND", "off")
        .env("CONFAB_STREAM_POLL_MS", if c.server.db.is_postgres() { "60000" } else { "1000" })
        // The cluster's master key, so API key secrets (and tokens) verify.
        .env(
            "CONFAB_MASTER_KEY",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]),
        )
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn confab");
    // Owned at once: killed and waited for however the test ends.
    let instance = OtherInstance { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
    let http = awc::Client::default();
    for _ in 0..200 {
        let health = http.get(format!("{}/healthz", instance.base)).send().await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return instance;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the second instance did not start");
}

#[actix_web::test]
async fn an_event_committed_through_one_instance_reaches_a_stream_on_another() {
    let c = Client::start().await;
    let other = other_instance(&c).await;
    let url = format!("{}/v1/Events", other.base);
    let (_, mut socket) = awc::Client::default()
        .ws(url)
        .header("Authorization", c.server.account.basic())
        .connect()
        .await
        .expect("connect to the second instance");
    let ch = c.conversation().await;
    let im = c.say(&ch, "across instances").await;
    let added = frame(next(&mut socket, Duration::from_secs(5)).await);
    assert_eq!(
        (added["type"].as_str(), added["data"]["sid"].as_str()),
        (Some("conversationAdded"), Some(ch.as_str()))
    );
    let sent = frame(next(&mut socket, Duration::from_secs(5)).await);
    assert_eq!(sent["data"]["sid"], im.as_str(), "{sent}");
    assert!(
        sent["data"]["url"].as_str().unwrap().starts_with(&other.base),
        "rendered by the second instance"
    );
    // Each later send arrives well inside the other instance's poll: woken
    // by the commit's notification (on SQLite, by its 1 s poll).
    for n in 0..3 {
        let im = c.say(&ch, &format!("again {n}")).await;
        let started = std::time::Instant::now();
        let sent = frame(next(&mut socket, Duration::from_secs(5)).await);
        assert_eq!(sent["data"]["sid"], im.as_str(), "{sent}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
}

#[actix_web::test]
async fn typing_crosses_instances_on_postgres() {
    let c = Client::start().await;
    if !c.server.db.is_postgres() {
        return; // SQLite: one instance per database file, nothing to cross.
    }
    let other = other_instance(&c).await;
    let service = c.service().await;
    let key = c.key().await;
    let ch = c.conversation().await;
    c.join(&ch, "alice").await;
    c.join(&ch, "bob").await;
    let token = |who: &str| access_token(&key, &c.server.account.sid, who, &service);
    let bare = awc::Client::default();
    let (_, mut alice) = bare
        .ws(format!("{}/v1/Events?token={}", other.base, token("alice")))
        .connect()
        .await
        .expect("alice, on the second instance");
    let mut bob = c.open(&format!("token={}", token("bob")), false).await.unwrap();
    // The second instance starts listening as alice's stream opens; bob
    // types (at most once a second is passed on) until she hears it.
    let typing = serde_json::json!({"type": "typing", "conversation_sid": ch}).to_string();
    let mut heard = None;
    for _ in 0..5 {
        bob.send(ws::Message::Text(typing.clone().into())).await.unwrap();
        if let Next::Frame(f) = next(&mut alice, Duration::from_millis(1200)).await {
            heard = Some(f);
            break;
        }
    }
    let started = heard.expect("bob's typing reaches alice on the other instance");
    assert_eq!(
        (started["type"].as_str(), started["data"]["identity"].as_str()),
        (Some("typingStarted"), Some("bob")),
        "{started}"
    );
    let ended = frame(next(&mut alice, Duration::from_secs(9)).await);
    assert_eq!(ended["type"], "typingEnded", "ended by alice's own instance: {ended}");
    quiet(&mut bob).await;
}

#[actix_web::test]
async fn a_revoked_api_key_closes_its_streams() {
    let server =
        crate::util::TestApp::builder().config(|c| c.stream_recheck = Duration::from_secs(1)).server().await;
    let c = Client::on(server);
    let key = c.key().await;
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", key.sid, key.secret)
        )
    );
    let (_, mut socket) = awc::Client::default()
        .ws(c.url("/v1/Events"))
        .header("Authorization", basic)
        .connect()
        .await
        .unwrap();
    let ch = c.conversation().await;
    assert_eq!(frame_of(&mut socket).await["data"]["sid"], ch.as_str(), "the key streams");
    let path = format!("/2010-04-01/Accounts/{}/Keys/{}.json", c.server.account.sid, key.sid);
    c.call("DELETE", &path, &[]).await;
    match next(&mut socket, Duration::from_secs(5)).await {
        Next::Closed(code) => assert_eq!(code, Some(4003)),
        other => panic!("expected the close, got {other:?}"),
    }
}

#[actix_web::test]
async fn a_stream_that_does_not_read_is_closed_and_recovers_everything_with_since() {
    let limits =
        confab::config::StreamConfig { queue_frames: 16, queue_bytes: 64 << 10, ..Default::default() };
    let server = crate::util::TestApp::builder().config(move |c| c.stream = limits).server().await;
    let c = Client::on(server);
    let mut socket = c.open("", true).await.unwrap();
    let ch = c.conversation().await;
    // The client reads nothing meanwhile. Loopback buffers take a few MB
    // before the server's queue for this stream fills.
    let body = "x".repeat(30_000);
    let mut said = Vec::new();
    for n in 0..400 {
        said.push(c.say(&ch, &format!("{n} {body}")).await);
    }
    let mut got = Vec::new();
    let mut last = 0;
    let code = loop {
        match next(&mut socket, Duration::from_secs(10)).await {
            Next::Frame(f) => {
                last = f["position"].as_i64().unwrap();
                if f["type"] == "messageAdded" {
                    got.push(text(&f["data"]["sid"]));
                }
            }
            Next::Closed(code) => break code,
            Next::Quiet => panic!("neither closed nor sending, after {} messages", got.len()),
        }
    };
    assert_eq!(code, Some(4008), "closed as too slow");
    assert!(got.len() < said.len(), "closed before it had everything: {}", got.len());
    let mut again = c.open(&format!("since={last}"), true).await.unwrap();
    while got.len() < said.len() {
        let f = frame(next(&mut again, Duration::from_secs(10)).await);
        assert_eq!(f["type"], "messageAdded", "{f}");
        got.push(text(&f["data"]["sid"]));
    }
    assert_eq!(got, said, "every message once, in order");
    quiet(&mut again).await;
}
