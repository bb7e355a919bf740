//! The permission matrix of access-token users: for each permission, a user
//! whose role holds it succeeds and one whose role lacks it is refused (403
//! code 50107 naming the permission) with nothing changed; conversations a
//! user is not in do not exist for it (404); admin-only actions and
//! parameters answer 403 code 20403; role changes apply at once.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::{ApiKey, Resp, TestApp, access_token, bearer};
use actix_web::test;
use serde_json::{Value, json};

/// Every permission a service role may hold.
const ALL_SERVICE_PERMISSIONS: &[&str] = &[
    "addParticipant",
    "createConversation",
    "deleteAnyMessage",
    "deleteConversation",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyUserInfo",
    "editConversationAttributes",
    "editConversationName",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnUserInfo",
    "joinConversation",
    "removeParticipant",
];

/// A fresh app with an API key for signing tokens in its default service.
struct World {
    app: TestApp,
    key: ApiKey,
    service: String,
    roles_made: AtomicUsize,
}

impl World {
    async fn new() -> World {
        let app = TestApp::new().await;
        let key = app.api_key().await;
        let service = app.default_service().await;
        World { app, key, service, roles_made: AtomicUsize::new(0) }
    }

    fn token(&self, identity: &str) -> String {
        access_token(&self.key, &self.app.account.sid, identity, &self.service)
    }

    /// A request as the user `identity`.
    async fn user(&self, identity: &str, method: &str, path: &str, form: &[(&str, &str)]) -> Resp {
        self.app.as_user(&self.token(identity), method, path, form).await
    }

    /// A new custom role of this type (`conversation` or `service`).
    async fn role(&self, kind: &str, perms: &[&str]) -> String {
        let n = self.roles_made.fetch_add(1, Ordering::Relaxed);
        let name = format!("custom {kind} role {n}");
        let mut form = vec![("FriendlyName", name.as_str()), ("Type", kind)];
        form.extend(perms.iter().map(|p| ("Permission", *p)));
        sid(&self.app.post("/v1/Roles", &form).await.expect(201))
    }

    /// The default role with this friendly name.
    async fn default_role(&self, name: &str) -> String {
        let body = self.app.get("/v1/Roles").await.expect(200);
        let role = body["roles"].as_array().unwrap().iter().find(|r| r["friendly_name"] == name);
        sid(role.unwrap_or_else(|| panic!("no role {name}: {body}")))
    }

    /// Gives `identity` this service role, creating its user if need be.
    async fn service_role(&self, identity: &str, role: &str) {
        let path = format!("/v1/Users/{identity}");
        if self.app.get(&path).await.status == 404 {
            self.app.post("/v1/Users", &[("Identity", identity), ("RoleSid", role)]).await.expect(201);
        } else {
            self.app.post(&path, &[("RoleSid", role)]).await.expect(200);
        }
        assert_eq!(self.app.get(&path).await.expect(200)["role_sid"], role);
    }

    /// A conversation the admin creates, with nobody in it.
    async fn conversation(&self) -> String {
        sid(&self.app.conversation(&[("FriendlyName", "original")]).await)
    }

    /// Adds `identity` (with `role`, or the default one) as the admin;
    /// returns the participant SID.
    async fn add(&self, conversation: &str, identity: &str, role: Option<&str>) -> String {
        let mut form = vec![("Identity", identity)];
        if let Some(role) = role {
            form.push(("RoleSid", role));
        }
        let p = self.app.post(&participants(conversation), &form).await.expect(201);
        if let Some(role) = role {
            assert_eq!(p["role_sid"], role, "{p}");
        }
        sid(&p)
    }

    /// A message the admin sends on behalf of `author`; returns its SID.
    async fn message(&self, conversation: &str, author: &str, body: &str) -> String {
        let form = [("Author", author), ("Body", body)];
        sid(&self.app.post(&messages(conversation), &form).await.expect(201))
    }

    /// The admin's view of a resource.
    async fn admin(&self, path: &str) -> Value {
        self.app.get(path).await.expect(200)
    }

    /// The identities in a conversation, as the admin sees them.
    async fn members(&self, conversation: &str) -> Vec<String> {
        let page = self.admin(&participants(conversation)).await;
        let mut ids: Vec<String> = page["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["identity"].as_str().unwrap_or_default().to_owned())
            .collect();
        ids.sort();
        ids
    }

    async fn message_count(&self, conversation: &str) -> usize {
        self.admin(&messages(conversation)).await["messages"].as_array().unwrap().len()
    }

    /// A raw media upload with a user's token.
    async fn upload(&self, identity: &str, bytes: &[u8]) -> Resp {
        let srv = test::init_service(confab::app::build(self.app.state.clone())).await;
        let req = test::TestRequest::post()
            .uri(&format!("/v1/Services/{}/Media", self.service))
            .insert_header(("Authorization", bearer(&self.token(identity))))
            .insert_header(("Content-Type", "image/png"))
            .set_payload(bytes.to_vec());
        let res = test::call_service(&srv, req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let raw = test::read_body(res).await.to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp { status, headers, body, raw }
    }

    fn media(&self, media: &str) -> String {
        format!("/v1/Services/{}/Media/{media}", self.service)
    }
}

/// A request: method, path and form.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
type Form<'a> = &'a [(&'a str, &'a str)];

fn sid(v: &Value) -> String {
    v["sid"].as_str().unwrap_or_else(|| panic!("no sid: {v}")).to_owned()
}

fn conversation_path(conversation: &str) -> String {
    format!("/v1/Conversations/{conversation}")
}

fn participants(conversation: &str) -> String {
    format!("/v1/Conversations/{conversation}/Participants")
}

fn messages(conversation: &str) -> String {
    format!("/v1/Conversations/{conversation}/Messages")
}

/// 403 code 50107 whose message names exactly `permission` (not merely a
/// longer name that contains it).
#[track_caller]
fn denied(resp: Resp, permission: &str) {
    let body = resp.expect_error(403, 50107);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| word == permission),
        "message should name {permission}: {body}"
    );
}

/// 403 code 20403: account credentials only.
#[track_caller]
fn admin_only(resp: Resp) {
    resp.expect_error(403, 20403);
}

/// 404 code 20404: does not exist for this caller.
#[track_caller]
fn not_found(resp: Resp) {
    resp.expect_error(404, 20404);
}

/// A field as the API renders it equals `want` (JSON texts compared parsed).
#[track_caller]
fn assert_field(v: &Value, field: &str, want: &str) {
    let got = &v[field];
    let same = got == want
        || got
            .as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .is_some_and(|g| serde_json::from_str::<Value>(want).is_ok_and(|w| w.is_object() && g == w));
    assert!(same, "{field} should be {want}: {v}");
}

// ---------------------------------------------------------------------------
// Conversations

#[actix_web::test]
async fn creating_a_conversation_takes_create_conversation_and_joins_the_creator() {
    let w = World::new().await;
    let channel_admin = w.default_role("channel admin").await;

    let c = w.user("alice", "POST", "/v1/Conversations", &[("FriendlyName", "mine")]).await.expect(201);
    let ch = sid(&c);
    // The Conversation resource has no created_by; the user's view of it does.
    let membership = w.admin(&format!("/v1/Users/alice/Conversations/{ch}")).await;
    assert_eq!(membership["created_by"], "alice", "{membership}");
    let page = w.admin(&participants(&ch)).await;
    let list = page["participants"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{page}");
    assert_eq!(list[0]["identity"], "alice");
    assert_eq!(list[0]["role_sid"], channel_admin.as_str());
    // The creator sees it, and can use it.
    w.user("alice", "GET", &conversation_path(&ch), &[]).await.expect(200);
    w.user("alice", "POST", &messages(&ch), &[("Body", "hi")]).await.expect(201);

    // Without the permission: refused, nothing created.
    let lurker = w.role("service", &["joinConversation", "editOwnUserInfo"]).await;
    w.service_role("bob", &lurker).await;
    denied(
        w.user("bob", "POST", "/v1/Conversations", &[("FriendlyName", "theirs")]).await,
        "createConversation",
    );
    let all = w.admin("/v1/Conversations").await;
    assert_eq!(all["conversations"].as_array().unwrap().len(), 1, "{all}");
    let bobs = w.admin("/v1/Users/bob/Conversations").await;
    assert_eq!(bobs["conversations"], json!([]), "{bobs}");
}

#[actix_web::test]
async fn users_list_and_fetch_only_their_conversations() {
    let w = World::new().await;
    let (a, b, none) = (w.conversation().await, w.conversation().await, w.conversation().await);
    w.add(&a, "alice", None).await;
    w.add(&b, "bob", None).await;
    let _ = none;

    let page = w.user("alice", "GET", "/v1/Conversations", &[]).await.expect(200);
    let sids: Vec<&str> =
        page["conversations"].as_array().unwrap().iter().map(|c| c["sid"].as_str().unwrap()).collect();
    assert_eq!(sids, vec![a.as_str()], "{page}");
    w.user("alice", "GET", &conversation_path(&a), &[]).await.expect(200);
    not_found(w.user("alice", "GET", &conversation_path(&b), &[]).await);
    not_found(w.user("alice", "GET", &conversation_path(&none), &[]).await);

    // The service path family agrees.
    let service_path = format!("/v1/Services/{}/Conversations", w.service);
    let page = w.user("alice", "GET", &service_path, &[]).await.expect(200);
    assert_eq!(page["conversations"].as_array().unwrap().len(), 1, "{page}");
    not_found(w.user("alice", "GET", &format!("{service_path}/{b}"), &[]).await);

    // Someone in nothing sees nothing.
    let page = w.user("carol", "GET", "/v1/Conversations", &[]).await.expect(200);
    assert_eq!(page["conversations"], json!([]), "{page}");
}

#[actix_web::test]
async fn conversations_a_user_is_not_in_are_404_on_every_path_whatever_its_service_role() {
    let w = World::new().await;
    // Alice holds every service permission, but is in no conversation.
    let mighty = w.role("service", ALL_SERVICE_PERMISSIONS).await;
    w.service_role("alice", &mighty).await;
    let ch = sid(&w.app.conversation(&[("FriendlyName", "secret"), ("UniqueName", "secret")]).await);
    let bob = w.add(&ch, "bob", None).await;
    let im = w.message(&ch, "bob", "private").await;

    let conversation_before = w.admin(&conversation_path(&ch)).await;
    let participants_before = w.admin(&participants(&ch)).await;
    let messages_before = w.admin(&messages(&ch)).await;

    let c = conversation_path(&ch);
    let p = participants(&ch);
    let m = messages(&ch);
    let cases: Vec<Case> = vec![
        ("GET", c.clone(), vec![]),
        ("GET", "/v1/Conversations/secret".into(), vec![]),
        ("POST", c.clone(), vec![("FriendlyName", "mine now")]),
        ("POST", c.clone(), vec![("Attributes", "{\"x\":1}")]),
        ("DELETE", c.clone(), vec![]),
        ("GET", p.clone(), vec![]),
        ("GET", format!("{p}/{bob}"), vec![]),
        ("POST", p.clone(), vec![("Identity", "carol")]),
        ("POST", format!("{p}/{bob}"), vec![("LastReadMessageIndex", "0")]),
        ("DELETE", format!("{p}/{bob}"), vec![]),
        ("GET", m.clone(), vec![]),
        ("GET", format!("{m}/{im}"), vec![]),
        ("POST", m.clone(), vec![("Body", "let me in")]),
        ("POST", format!("{m}/{im}"), vec![("Body", "edited")]),
        ("POST", format!("{m}/{im}"), vec![("Attributes", "{\"x\":1}")]),
        ("DELETE", format!("{m}/{im}"), vec![]),
    ];
    for (method, path, form) in &cases {
        let resp = w.user("alice", method, path, form).await;
        assert_eq!(resp.status, 404, "{method} {path} {form:?}: {}", resp.body);
        not_found(resp);
    }
    assert_eq!(w.admin(&conversation_path(&ch)).await, conversation_before);
    assert_eq!(w.admin(&participants(&ch)).await, participants_before);
    assert_eq!(w.admin(&messages(&ch)).await, messages_before);
}

#[actix_web::test]
async fn conversation_names_and_attributes_take_their_permissions() {
    let w = World::new().await;
    let cases = [
        ("FriendlyName", "friendly_name", "renamed", "editConversationName"),
        ("UniqueName", "unique_name", "renamed-uniquely", "editConversationName"),
        ("Attributes", "attributes", "{\"topic\":\"rust\"}", "editConversationAttributes"),
    ];
    let name_role = w.role("conversation", &["editConversationName"]).await;
    let attributes_role = w.role("conversation", &["editConversationAttributes"]).await;
    for (param, field, value, permission) in cases {
        let ch = w.conversation().await;
        let (holds, lacks) = if permission == "editConversationName" {
            (&name_role, &attributes_role)
        } else {
            (&attributes_role, &name_role)
        };
        w.add(&ch, "holder", Some(holds)).await;
        w.add(&ch, "lacker", Some(lacks)).await;
        // A plain channel user lacks both.
        w.add(&ch, "plain", None).await;
        let path = conversation_path(&ch);
        let before = w.admin(&path).await;
        for who in ["lacker", "plain"] {
            denied(w.user(who, "POST", &path, &[(param, value)]).await, permission);
            assert_eq!(w.admin(&path).await, before, "{who} changed {param}");
        }
        let after = w.user("holder", "POST", &path, &[(param, value)]).await.expect(200);
        assert_field(&after, field, value);
        assert_field(&w.admin(&path).await, field, value);
    }
}

#[actix_web::test]
async fn admin_only_conversation_fields_are_refused_even_to_the_creator() {
    let w = World::new().await;
    let c = w.user("alice", "POST", "/v1/Conversations", &[("FriendlyName", "mine")]).await.expect(201);
    let path = conversation_path(&sid(&c));
    let before = w.admin(&path).await;
    for form in [
        vec![("State", "closed")],
        vec![("State", "inactive")],
        vec![("Timers.Inactive", "PT5M")],
        vec![("Timers.Closed", "P1D")],
        vec![("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef")],
        vec![("DateCreated", "2020-01-01T00:00:00Z")],
        // A permitted change alongside does not go through either.
        vec![("FriendlyName", "renamed"), ("State", "closed")],
    ] {
        let resp = w.user("alice", "POST", &path, &form).await;
        assert_eq!(resp.status, 403, "{form:?}: {}", resp.body);
        admin_only(resp);
        assert_eq!(w.admin(&path).await, before, "{form:?}");
    }
    // What the creator role does allow.
    w.user("alice", "POST", &path, &[("FriendlyName", "renamed")]).await.expect(200);
}

#[actix_web::test]
async fn admin_only_fields_are_refused_when_a_user_creates_a_conversation() {
    let w = World::new().await;
    for path in ["/v1/Conversations", "/v1/ConversationWithParticipants"] {
        for form in [
            vec![("State", "inactive")],
            vec![("Timers.Inactive", "PT5M")],
            vec![("Timers.Closed", "P1D")],
            vec![("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef")],
            vec![("Bindings.Email.Address", "alice@example.com")],
            vec![("DateCreated", "2020-01-01T00:00:00Z")],
            vec![("FriendlyName", "mine"), ("DateUpdated", "2020-01-01T00:00:00Z")],
        ] {
            let resp = w.user("alice", "POST", path, &form).await;
            assert_eq!(resp.status, 403, "{path} {form:?}: {}", resp.body);
            admin_only(resp);
        }
    }
    let page = w.admin("/v1/Conversations").await;
    assert_eq!(page["conversations"], json!([]), "nothing was created");
    // Without them both creates work.
    w.user("alice", "POST", "/v1/Conversations", &[("FriendlyName", "mine")]).await.expect(201);
    let form = [("FriendlyName", "ours"), ("Participant", "{\"identity\":\"alice\"}")];
    w.user("alice", "POST", "/v1/ConversationWithParticipants", &form).await.expect(201);
}

#[actix_web::test]
async fn a_users_empty_update_changes_nothing() {
    let w = World::new().await;
    let ch = w.conversation().await;
    w.add(&ch, "alice", None).await;
    let m = w.message(&ch, "bob", "hello").await;
    let conversation = conversation_path(&ch);
    let message = format!("{}/{m}", messages(&ch));
    let before = (w.admin(&conversation).await, w.admin(&message).await);
    // Let a second pass, so a write would show in date_updated.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(w.user("alice", "POST", &conversation, &[]).await.expect(200), before.0);
    assert_eq!(w.user("alice", "POST", &message, &[]).await.expect(200), before.1);
    assert_eq!((w.admin(&conversation).await, w.admin(&message).await), before);
}

#[actix_web::test]
async fn deleting_a_conversation_takes_delete_conversation() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let deleter = w.role("conversation", &["deleteConversation"]).await;
    w.add(&ch, "plain", None).await;
    w.add(&ch, "deleter", Some(&deleter)).await;
    let path = conversation_path(&ch);
    denied(w.user("plain", "DELETE", &path, &[]).await, "deleteConversation");
    w.admin(&path).await;
    w.user("deleter", "DELETE", &path, &[]).await.expect(204);
    not_found(w.app.get(&path).await);

    // The creator's role includes it.
    let c = w.user("alice", "POST", "/v1/Conversations", &[]).await.expect(201);
    w.user("alice", "DELETE", &conversation_path(&sid(&c)), &[]).await.expect(204);
    not_found(w.app.get(&conversation_path(&sid(&c))).await);
}

// ---------------------------------------------------------------------------
// Participants

#[actix_web::test]
async fn joining_takes_join_conversation_and_no_role_of_ones_choosing() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let p = participants(&ch);

    let joined = w.user("alice", "POST", &p, &[("Identity", "alice")]).await.expect(201);
    assert_eq!(joined["identity"], "alice", "{joined}");
    w.user("alice", "GET", &conversation_path(&ch), &[]).await.expect(200);

    let no_join = w.role("service", &["createConversation"]).await;
    w.service_role("bob", &no_join).await;
    denied(w.user("bob", "POST", &p, &[("Identity", "bob")]).await, "joinConversation");
    not_found(w.user("bob", "GET", &conversation_path(&ch), &[]).await);

    // Choosing one's role is the admin's business.
    let channel_admin = w.default_role("channel admin").await;
    admin_only(w.user("carol", "POST", &p, &[("Identity", "carol"), ("RoleSid", &channel_admin)]).await);
    assert_eq!(w.members(&ch).await, vec!["alice"]);
}

/// A unique name can be guessed (the README's own `support-42`): a user
/// joins a conversation it is not in by its SID only, which someone in it
/// gave it; by name the conversation does not exist for it. Chat's public
/// channels are there for anyone to find, by name too.
#[actix_web::test]
async fn a_guessed_unique_name_does_not_let_a_user_in() {
    let w = World::new().await;
    let ch = sid(&w.app.conversation(&[("UniqueName", "support-42")]).await);
    w.add(&ch, "agent", None).await;
    w.app
        .post(&format!("{}/Messages", conversation_path(&ch)), &[("Author", "agent"), ("Body", "private")])
        .await
        .expect(201);

    not_found(w.user("mallory", "POST", &participants("support-42"), &[("Identity", "mallory")]).await);
    not_found(w.user("mallory", "GET", &messages("support-42"), &[]).await);
    assert_eq!(w.members(&ch).await, vec!["agent"]);
    // Given the SID, the same user joins (holding joinConversation), and then
    // reaches it by name like any member.
    w.user("mallory", "POST", &participants(&ch), &[("Identity", "mallory")]).await.expect(201);
    w.user("mallory", "GET", &messages("support-42"), &[]).await.expect(200);

    // A public channel (Chat) is found and joined by name.
    let lobby = w
        .app
        .post(&format!("/v2/Services/{}/Channels", w.app.default_service().await), &[("UniqueName", "lobby")])
        .await
        .expect(201);
    w.user("mallory", "POST", &participants("lobby"), &[("Identity", "mallory")]).await.expect(201);
    assert_eq!(w.members(&sid(&lobby)).await, vec!["mallory"]);
}

#[actix_web::test]
async fn adding_and_removing_others_take_add_and_remove_participant() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let p = participants(&ch);
    let adder = w.role("conversation", &["addParticipant", "sendMessage"]).await;
    let remover = w.role("conversation", &["removeParticipant", "sendMessage"]).await;
    w.add(&ch, "adder", Some(&adder)).await;
    let remover_sid = w.add(&ch, "remover", Some(&remover)).await;
    w.add(&ch, "plain", None).await;

    denied(w.user("plain", "POST", &p, &[("Identity", "dave")]).await, "addParticipant");
    denied(w.user("remover", "POST", &p, &[("Identity", "dave")]).await, "addParticipant");
    assert_eq!(w.members(&ch).await, vec!["adder", "plain", "remover"]);
    let carol = sid(&w.user("adder", "POST", &p, &[("Identity", "carol")]).await.expect(201));
    assert_eq!(w.members(&ch).await, vec!["adder", "carol", "plain", "remover"]);
    // Adding with a chosen role stays the admin's.
    let channel_admin = w.default_role("channel admin").await;
    admin_only(w.user("adder", "POST", &p, &[("Identity", "erin"), ("RoleSid", &channel_admin)]).await);

    denied(w.user("plain", "DELETE", &format!("{p}/{carol}"), &[]).await, "removeParticipant");
    denied(w.user("adder", "DELETE", &format!("{p}/{remover_sid}"), &[]).await, "removeParticipant");
    assert_eq!(w.members(&ch).await, vec!["adder", "carol", "plain", "remover"]);
    w.user("remover", "DELETE", &format!("{p}/{carol}"), &[]).await.expect(204);
    assert_eq!(w.members(&ch).await, vec!["adder", "plain", "remover"]);
}

#[actix_web::test]
async fn leaving_takes_leave_conversation() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let p = participants(&ch);
    let stuck = w.role("conversation", &["sendMessage"]).await;
    let stuck_sid = w.add(&ch, "stuck", Some(&stuck)).await;
    let alice = w.add(&ch, "alice", None).await;

    denied(w.user("stuck", "DELETE", &format!("{p}/{stuck_sid}"), &[]).await, "leaveConversation");
    assert_eq!(w.members(&ch).await, vec!["alice", "stuck"]);
    w.user("alice", "DELETE", &format!("{p}/{alice}"), &[]).await.expect(204);
    assert_eq!(w.members(&ch).await, vec!["stuck"]);
    not_found(w.user("alice", "GET", &conversation_path(&ch), &[]).await);
}

#[actix_web::test]
async fn participants_update_only_their_own_read_horizon() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let p = participants(&ch);
    let alice = w.add(&ch, "alice", None).await;
    let bob = w.add(&ch, "bob", None).await;
    w.message(&ch, "bob", "one").await;
    w.message(&ch, "bob", "two").await;

    let me =
        w.user("alice", "POST", &format!("{p}/{alice}"), &[("LastReadMessageIndex", "1")]).await.expect(200);
    assert_eq!(me["last_read_message_index"], 1, "{me}");

    let bob_before = w.admin(&format!("{p}/{bob}")).await;
    admin_only(w.user("alice", "POST", &format!("{p}/{bob}"), &[("LastReadMessageIndex", "1")]).await);
    assert_eq!(w.admin(&format!("{p}/{bob}")).await, bob_before);

    // One's own role is not one's own to choose.
    let alice_before = w.admin(&format!("{p}/{alice}")).await;
    let channel_admin = w.default_role("channel admin").await;
    admin_only(w.user("alice", "POST", &format!("{p}/{alice}"), &[("RoleSid", &channel_admin)]).await);
    assert_eq!(w.admin(&format!("{p}/{alice}")).await, alice_before);
}

// ---------------------------------------------------------------------------
// Messages

#[actix_web::test]
async fn sending_takes_send_message_and_the_author_is_the_identity() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let alice = w.add(&ch, "alice", None).await;
    let mute = w.role("conversation", &["leaveConversation"]).await;
    w.add(&ch, "mute", Some(&mute)).await;

    let m =
        w.user("alice", "POST", &messages(&ch), &[("Body", "hi"), ("Author", "mallory")]).await.expect(201);
    assert_eq!(m["author"], "alice", "{m}");
    assert_eq!(m["participant_sid"], alice.as_str(), "{m}");
    let stored = w.admin(&format!("{}/{}", messages(&ch), sid(&m))).await;
    assert_eq!(stored["author"], "alice");

    denied(w.user("mute", "POST", &messages(&ch), &[("Body", "hello?")]).await, "sendMessage");
    assert_eq!(w.message_count(&ch).await, 1);
}

#[actix_web::test]
async fn media_messages_take_send_media_message_too() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let text_only = w.role("conversation", &["sendMessage"]).await;
    let media_only = w.role("conversation", &["sendMediaMessage"]).await;
    w.add(&ch, "texter", Some(&text_only)).await;
    w.add(&ch, "imager", Some(&media_only)).await;
    w.add(&ch, "alice", None).await;

    for (who, missing) in [("texter", "sendMediaMessage"), ("imager", "sendMessage")] {
        let media = w.upload(who, b"\x89PNG picture").await.expect(201);
        assert_eq!(media["author"], who, "{media}");
        let me = sid(&media);
        denied(w.user(who, "POST", &messages(&ch), &[("MediaSid", &me)]).await, missing);
        denied(w.user(who, "POST", &messages(&ch), &[("Body", "look"), ("MediaSid", &me)]).await, missing);
        assert_eq!(w.message_count(&ch).await, 0);
        let still = w.admin(&w.media(&me)).await;
        assert!(still["message_sid"].is_null(), "{still}");
    }

    let media = w.upload("alice", b"\x89PNG picture").await.expect(201);
    let me = sid(&media);
    let m = w.user("alice", "POST", &messages(&ch), &[("MediaSid", &me)]).await.expect(201);
    assert_eq!(m["author"], "alice", "{m}");
    let attached = w.admin(&w.media(&me)).await;
    assert_eq!(attached["message_sid"], m["sid"], "{attached}");
    assert_eq!(attached["channel_sid"], ch.as_str(), "{attached}");
}

#[actix_web::test]
async fn media_belongs_to_its_uploader_until_attached_then_to_the_participants() {
    let w = World::new().await;
    let ch = w.conversation().await;
    w.add(&ch, "alice", None).await;
    w.add(&ch, "bob", None).await;
    let bytes = b"\x89PNG only alice has this".to_vec();
    let media = w.upload("alice", &bytes).await.expect(201);
    assert_eq!(media["author"], "alice", "{media}");
    let me = sid(&media);
    let json_path = w.media(&me);
    let content = format!("{json_path}/Content");

    // Unattached: the uploader's alone.
    assert_eq!(w.user("alice", "GET", &json_path, &[]).await.expect(200)["sid"], me.as_str());
    let got = w.user("alice", "GET", &content, &[]).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.raw));
    assert_eq!(got.raw, bytes);
    for who in ["bob", "carol"] {
        not_found(w.user(who, "GET", &json_path, &[]).await);
        assert_eq!(w.user(who, "GET", &content, &[]).await.status, 404, "{who}");
    }

    // Nobody else can attach it.
    let resp = w.user("bob", "POST", &messages(&ch), &[("Body", "mine?"), ("MediaSid", &me)]).await;
    resp.expect_error(400, 50510);
    assert_eq!(w.message_count(&ch).await, 0);
    assert!(w.admin(&json_path).await["message_sid"].is_null());

    // Attached: the conversation's participants, nobody else.
    w.user("alice", "POST", &messages(&ch), &[("MediaSid", &me)]).await.expect(201);
    for who in ["alice", "bob"] {
        w.user(who, "GET", &json_path, &[]).await.expect(200);
        let got = w.user(who, "GET", &content, &[]).await;
        assert_eq!(got.status, 200, "{who}: {}", String::from_utf8_lossy(&got.raw));
        assert_eq!(got.raw, bytes, "{who}");
    }
    not_found(w.user("carol", "GET", &json_path, &[]).await);
    assert_eq!(w.user("carol", "GET", &content, &[]).await.status, 404);
}

/// Message edits by parameter: (parameter, field, new value, own, any).
const EDITS: [(&str, &str, &str, &str, &str); 2] = [
    ("Body", "body", "edited", "editOwnMessage", "editAnyMessage"),
    ("Attributes", "attributes", "{\"edited\":true}", "editOwnMessageAttributes", "editAnyMessageAttributes"),
];

#[actix_web::test]
async fn editing_messages_takes_own_or_any_permissions() {
    let w = World::new().await;
    for (param, field, value, own, any) in EDITS {
        let ch = w.conversation().await;
        let nothing = w.role("conversation", &["sendMessage"]).await;
        let owns = w.role("conversation", &[own]).await;
        let anys = w.role("conversation", &[any]).await;
        w.add(&ch, "nobody", Some(&nothing)).await;
        w.add(&ch, "owner", Some(&owns)).await;
        w.add(&ch, "anyone", Some(&anys)).await;
        w.add(&ch, "bob", None).await;
        let by = |author: &'static str| {
            let ch = ch.clone();
            let w = &w;
            async move { format!("{}/{}", messages(&ch), w.message(&ch, author, "original").await) }
        };
        let nobodys = by("nobody").await;
        let owners = by("owner").await;
        let anyones = by("anyone").await;
        let bobs = by("bob").await;

        // Refusals, each naming what was missing, leaving the message as it was.
        for (who, path, missing) in
            [("nobody", &nobodys, own), ("nobody", &bobs, any), ("owner", &bobs, any), ("bob", &owners, any)]
        {
            let before = w.admin(path).await;
            denied(w.user(who, "POST", path, &[(param, value)]).await, missing);
            assert_eq!(w.admin(path).await, before, "{param}: {who} on {path}");
        }
        // Own with own; anyone's (own included) with any.
        for (who, path) in [("owner", &owners), ("anyone", &bobs), ("anyone", &anyones)] {
            let m = w.user(who, "POST", path, &[(param, value)]).await.expect(200);
            assert_field(&m, field, value);
            assert_field(&w.admin(path).await, field, value);
        }
    }
}

#[actix_web::test]
async fn message_authors_and_dates_are_admin_only() {
    let w = World::new().await;
    let c = w.user("alice", "POST", "/v1/Conversations", &[]).await.expect(201);
    let ch = sid(&c);
    let m = w.user("alice", "POST", &messages(&ch), &[("Body", "mine")]).await.expect(201);
    let path = format!("{}/{}", messages(&ch), sid(&m));
    let before = w.admin(&path).await;
    // Alice, the creator, holds editAnyMessage; still not these.
    for form in [
        vec![("Author", "bob")],
        vec![("DateCreated", "2020-01-01T00:00:00Z")],
        vec![("Body", "edited"), ("Author", "bob")],
    ] {
        let resp = w.user("alice", "POST", &path, &form).await;
        assert_eq!(resp.status, 403, "{form:?}: {}", resp.body);
        admin_only(resp);
        assert_eq!(w.admin(&path).await, before, "{form:?}");
    }
}

#[actix_web::test]
async fn deleting_messages_takes_own_or_any_permissions() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let nothing = w.role("conversation", &["sendMessage"]).await;
    let anys = w.role("conversation", &["deleteAnyMessage"]).await;
    w.add(&ch, "nobody", Some(&nothing)).await;
    w.add(&ch, "alice", None).await; // channel user: deleteOwnMessage
    w.add(&ch, "anyone", Some(&anys)).await;
    w.add(&ch, "bob", None).await;
    let path = |im: String| format!("{}/{im}", messages(&ch));
    let nobodys = path(w.message(&ch, "nobody", "n").await);
    let alices = path(w.message(&ch, "alice", "a").await);
    let anyones = path(w.message(&ch, "anyone", "y").await);
    let bobs = path(w.message(&ch, "bob", "b").await);

    for (who, target, missing) in [
        ("nobody", &nobodys, "deleteOwnMessage"),
        ("alice", &bobs, "deleteAnyMessage"),
        ("nobody", &bobs, "deleteAnyMessage"),
    ] {
        denied(w.user(who, "DELETE", target, &[]).await, missing);
        w.admin(target).await;
    }
    assert_eq!(w.message_count(&ch).await, 4);
    w.user("alice", "DELETE", &alices, &[]).await.expect(204);
    w.user("anyone", "DELETE", &bobs, &[]).await.expect(204);
    w.user("anyone", "DELETE", &anyones, &[]).await.expect(204);
    for gone in [&alices, &bobs, &anyones] {
        not_found(w.app.get(gone).await);
    }
    assert_eq!(w.message_count(&ch).await, 1);
}

// ---------------------------------------------------------------------------
// Users

#[actix_web::test]
async fn user_info_takes_edit_own_or_edit_any_user_info() {
    let w = World::new().await;
    // Bob exists (a default "service user").
    w.user("bob", "GET", "/v1/Conversations", &[]).await.expect(200);
    let bob_before = w.admin("/v1/Users/bob").await;

    let me = w.user("alice", "POST", "/v1/Users/alice", &[("FriendlyName", "Alice")]).await.expect(200);
    assert_eq!(me["friendly_name"], "Alice", "{me}");
    denied(w.user("alice", "POST", "/v1/Users/bob", &[("FriendlyName", "Bobby")]).await, "editAnyUserInfo");
    assert_eq!(w.admin("/v1/Users/bob").await, bob_before);
    // Reading another user is allowed.
    assert_eq!(w.user("alice", "GET", "/v1/Users/bob", &[]).await.expect(200)["identity"], "bob");

    let silent = w.role("service", &["createConversation"]).await;
    w.service_role("mute", &silent).await;
    let mute_before = w.admin("/v1/Users/mute").await;
    denied(w.user("mute", "POST", "/v1/Users/mute", &[("FriendlyName", "Loud")]).await, "editOwnUserInfo");
    assert_eq!(w.admin("/v1/Users/mute").await, mute_before);

    let moderator = w.role("service", &["editAnyUserInfo"]).await;
    w.service_role("moderator", &moderator).await;
    w.user("moderator", "POST", "/v1/Users/bob", &[("FriendlyName", "Bobby")]).await.expect(200);
    assert_eq!(w.admin("/v1/Users/bob").await["friendly_name"], "Bobby");
    w.user("moderator", "POST", "/v1/Users/moderator", &[("FriendlyName", "Mod")]).await.expect(200);

    // Roles, creating and deleting users stay the admin's.
    let service_admin = w.default_role("service admin").await;
    let alice_before = w.admin("/v1/Users/alice").await;
    admin_only(w.user("alice", "POST", "/v1/Users/alice", &[("RoleSid", &service_admin)]).await);
    assert_eq!(w.admin("/v1/Users/alice").await, alice_before);
    admin_only(w.user("alice", "POST", "/v1/Users", &[("Identity", "eve")]).await);
    assert_eq!(w.app.get("/v1/Users/eve").await.status, 404);
    admin_only(w.user("moderator", "DELETE", "/v1/Users/bob", &[]).await);
    w.admin("/v1/Users/bob").await;
}

#[actix_web::test]
async fn user_conversations_are_listed_for_oneself_only() {
    let w = World::new().await;
    let a = w.conversation().await;
    let b = w.conversation().await;
    w.add(&a, "alice", None).await;
    w.add(&b, "bob", None).await;

    let page = w.user("alice", "GET", "/v1/Users/alice/Conversations", &[]).await.expect(200);
    let list = page["conversations"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{page}");
    assert_eq!(list[0]["conversation_sid"], a.as_str(), "{page}");
    not_found(w.user("alice", "GET", "/v1/Users/bob/Conversations", &[]).await);
    not_found(w.user("alice", "GET", &format!("/v1/Users/bob/Conversations/{b}"), &[]).await);
}

// ---------------------------------------------------------------------------
// Roles

#[actix_web::test]
async fn service_and_participant_roles_combine_per_conversation() {
    let w = World::new().await;
    let one = w.conversation().await;
    let two = w.conversation().await;
    // A service role's permission holds in every conversation the user is in.
    let namer = w.role("service", &["editConversationName", "createConversation"]).await;
    w.service_role("alice", &namer).await;
    w.add(&one, "alice", None).await;
    w.add(&two, "alice", None).await;
    for ch in [&one, &two] {
        w.user("alice", "POST", &conversation_path(ch), &[("FriendlyName", "named by alice")])
            .await
            .expect(200);
    }
    // A participant role's holds only in its own conversation.
    let adder = w.role("conversation", &["addParticipant"]).await;
    let alice_in_one = participants(&one);
    let bob_sid = w.add(&one, "bob", None).await;
    w.app.post(&format!("{alice_in_one}/{bob_sid}"), &[("RoleSid", &adder)]).await.expect(200);
    w.user("bob", "POST", &participants(&one), &[("Identity", "carol")]).await.expect(201);
    w.add(&two, "bob", None).await;
    denied(w.user("bob", "POST", &participants(&two), &[("Identity", "carol")]).await, "addParticipant");
    assert_eq!(w.members(&two).await, vec!["alice", "bob"]);
    // And service-level editConversationName is not bob's.
    denied(
        w.user("bob", "POST", &conversation_path(&two), &[("FriendlyName", "bob was here")]).await,
        "editConversationName",
    );
}

#[actix_web::test]
async fn assigned_roles_and_role_changes_apply_at_once() {
    let w = World::new().await;
    // A user the admin made beforehand with a role that cannot create.
    let joiner = w.role("service", &["joinConversation"]).await;
    w.app.post("/v1/Users", &[("Identity", "dave"), ("RoleSid", &joiner)]).await.expect(201);
    denied(w.user("dave", "POST", "/v1/Conversations", &[]).await, "createConversation");
    assert_eq!(w.admin("/v1/Conversations").await["conversations"], json!([]));
    // The role gains the permission: the next request may.
    w.app
        .post(
            &format!("/v1/Roles/{joiner}"),
            &[("Permission", "joinConversation"), ("Permission", "createConversation")],
        )
        .await
        .expect(200);
    w.user("dave", "POST", "/v1/Conversations", &[]).await.expect(201);
    // Another role assigned to the user: effective at once.
    let service_user = w.default_role("service user").await;
    let nothing = w.role("service", &["editOwnUserInfo"]).await;
    w.app.post("/v1/Users/dave", &[("RoleSid", &nothing)]).await.expect(200);
    denied(w.user("dave", "POST", "/v1/Conversations", &[]).await, "createConversation");
    w.app.post("/v1/Users/dave", &[("RoleSid", &service_user)]).await.expect(200);
    w.user("dave", "POST", "/v1/Conversations", &[]).await.expect(201);

    // A conversation role loses sendMessage: its holder's next send is refused.
    let ch = w.conversation().await;
    let talker = w.role("conversation", &["sendMessage", "leaveConversation"]).await;
    let alice = w.add(&ch, "alice", Some(&talker)).await;
    w.user("alice", "POST", &messages(&ch), &[("Body", "one")]).await.expect(201);
    let role_path = format!("/v1/Roles/{talker}");
    let updated = w.app.post(&role_path, &[("Permission", "leaveConversation")]).await.expect(200);
    assert_eq!(updated["permissions"], json!(["leaveConversation"]));
    denied(w.user("alice", "POST", &messages(&ch), &[("Body", "two")]).await, "sendMessage");
    assert_eq!(w.message_count(&ch).await, 1);
    w.app.post(&role_path, &[("Permission", "sendMessage")]).await.expect(200);
    w.user("alice", "POST", &messages(&ch), &[("Body", "three")]).await.expect(201);
    // So does another role given to the participant.
    let mute = w.role("conversation", &["leaveConversation"]).await;
    w.app.post(&format!("{}/{alice}", participants(&ch)), &[("RoleSid", &mute)]).await.expect(200);
    denied(w.user("alice", "POST", &messages(&ch), &[("Body", "four")]).await, "sendMessage");
    assert_eq!(w.message_count(&ch).await, 2);
}

#[actix_web::test]
async fn roles_in_use_cannot_be_deleted() {
    let w = World::new().await;
    let ch = w.conversation().await;
    let conversation_role = w.role("conversation", &["sendMessage"]).await;
    let service_role = w.role("service", &["createConversation"]).await;
    let alice = w.add(&ch, "alice", Some(&conversation_role)).await;
    w.service_role("bob", &service_role).await;

    for role in [&conversation_role, &service_role] {
        let path = format!("/v1/Roles/{role}");
        w.app.delete(&path).await.expect(400);
        w.admin(&path).await;
    }
    // Its holders keep working.
    w.user("alice", "POST", &messages(&ch), &[("Body", "still here")]).await.expect(201);
    w.user("bob", "POST", "/v1/Conversations", &[]).await.expect(201);

    // Unused, they go.
    w.app.delete(&format!("{}/{alice}", participants(&ch))).await.expect(204);
    let service_user = w.default_role("service user").await;
    w.app.post("/v1/Users/bob", &[("RoleSid", &service_user)]).await.expect(200);
    for role in [&conversation_role, &service_role] {
        let path = format!("/v1/Roles/{role}");
        w.app.delete(&path).await.expect(204);
        not_found(w.app.get(&path).await);
    }
}

#[actix_web::test]
async fn tokens_cannot_touch_roles_services_configuration_or_keys() {
    let w = World::new().await;
    let role = w.role("conversation", &["sendMessage"]).await;
    let role_before = w.admin(&format!("/v1/Roles/{role}")).await;
    let service = w.service.clone();
    let keys = format!("/2010-04-01/Accounts/{}/Keys.json", w.app.account.sid);
    let new_role: &[(&str, &str)] =
        &[("FriendlyName", "mine"), ("Type", "service"), ("Permission", "createConversation")];
    let everything: &[(&str, &str)] = &[("Permission", "sendMessage"), ("Permission", "deleteAnyMessage")];
    let cases: Vec<(&str, String, Form)> = vec![
        ("GET", "/v1/Roles".into(), &[]),
        ("POST", "/v1/Roles".into(), new_role),
        ("GET", format!("/v1/Roles/{role}"), &[]),
        ("POST", format!("/v1/Roles/{role}"), everything),
        ("DELETE", format!("/v1/Roles/{role}"), &[]),
        ("GET", format!("/v1/Services/{service}/Roles"), &[]),
        ("POST", format!("/v1/Services/{service}/Roles"), new_role),
        ("GET", format!("/v1/Services/{service}/Roles/{role}"), &[]),
        ("POST", format!("/v1/Services/{service}/Roles/{role}"), everything),
        ("DELETE", format!("/v1/Services/{service}/Roles/{role}"), &[]),
        ("GET", "/v1/Services".into(), &[]),
        ("POST", "/v1/Services".into(), &[("FriendlyName", "mine")]),
        ("GET", format!("/v1/Services/{service}"), &[]),
        ("DELETE", format!("/v1/Services/{service}"), &[]),
        ("GET", "/v1/Configuration".into(), &[]),
        ("POST", "/v1/Configuration".into(), &[("DefaultClosedTimer", "PT1H")]),
        ("GET", format!("/v1/Services/{service}/Configuration"), &[]),
        ("POST", format!("/v1/Services/{service}/Configuration"), &[("MediaCompatibilityMessage", "mine")]),
        ("GET", keys.clone(), &[]),
        ("POST", keys.clone(), &[("FriendlyName", "mine")]),
        ("DELETE", format!("/2010-04-01/Accounts/{}/Keys/{}.json", w.app.account.sid, w.key.sid), &[]),
    ];
    for (method, path, form) in &cases {
        let resp = w.user("alice", method, path, form).await;
        assert_eq!(resp.status, 403, "{method} {path}: {}", resp.body);
        admin_only(resp);
    }
    // Nothing changed: the role, the roles, the services, the key.
    assert_eq!(w.admin(&format!("/v1/Roles/{role}")).await, role_before);
    assert_eq!(w.admin("/v1/Roles").await["roles"].as_array().unwrap().len(), 5);
    assert_eq!(w.admin("/v1/Services").await["services"].as_array().unwrap().len(), 1);
    let listed = w.admin(&keys).await;
    assert!(listed["keys"].as_array().unwrap().iter().any(|k| k["sid"] == w.key.sid.as_str()), "{listed}");
    w.user("alice", "GET", "/v1/Conversations", &[]).await.expect(200);
}

// ---------------------------------------------------------------------------
// Other accounts and services

#[actix_web::test]
async fn other_accounts_and_other_services_do_not_exist_for_a_token() {
    let w = World::new().await;

    // Another account's conversation, where an "alice" even participates.
    let other = w.app.create_account().await;
    let theirs = sid(&w.app.post_as(&other, "/v1/Conversations", &[]).await.expect(201));
    w.app.post_as(&other, &participants(&theirs), &[("Identity", "alice")]).await.expect(201);
    let their_service =
        w.app.get_as(&other, "/v1/Configuration").await.expect(200)["default_chat_service_sid"]
            .as_str()
            .unwrap()
            .to_owned();

    // Another service of the same account, with alice in a conversation of it.
    let second = sid(&w.app.post("/v1/Services", &[("FriendlyName", "second")]).await.expect(201));
    let elsewhere = sid(&w.app.post(&format!("/v1/Services/{second}/Conversations"), &[]).await.expect(201));
    w.app
        .post(
            &format!("/v1/Services/{second}/Conversations/{elsewhere}/Participants"),
            &[("Identity", "alice")],
        )
        .await
        .expect(201);

    let mut cases: Vec<Case> = Vec::new();
    for (prefix, ch) in [
        ("/v1".to_owned(), &theirs),
        (format!("/v1/Services/{their_service}"), &theirs),
        ("/v1".to_owned(), &elsewhere),
        (format!("/v1/Services/{second}"), &elsewhere),
    ] {
        let c = format!("{prefix}/Conversations/{ch}");
        cases.push(("GET", c.clone(), vec![]));
        cases.push(("POST", c.clone(), vec![("FriendlyName", "x")]));
        cases.push(("GET", format!("{c}/Participants"), vec![]));
        cases.push(("POST", format!("{c}/Participants"), vec![("Identity", "alice")]));
        cases.push(("GET", format!("{c}/Messages"), vec![]));
        cases.push(("POST", format!("{c}/Messages"), vec![("Body", "hi")]));
        cases.push(("DELETE", c, vec![]));
    }
    cases.push(("GET", format!("/v1/Services/{second}/Conversations"), vec![]));
    cases.push(("POST", format!("/v1/Services/{second}/Conversations"), vec![]));
    cases.push(("GET", format!("/v1/Services/{their_service}/Conversations"), vec![]));
    cases.push(("GET", format!("/v1/Services/{second}/Users/alice"), vec![]));
    for (method, path, form) in &cases {
        let resp = w.user("alice", method, path, form).await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.body);
        not_found(resp);
    }
    // Untouched.
    let page = w.app.get_as(&other, &messages(&theirs)).await.expect(200);
    assert_eq!(page["messages"], json!([]));
    let page = w.admin(&format!("/v1/Services/{second}/Conversations/{elsewhere}/Messages")).await;
    assert_eq!(page["messages"], json!([]));
    let all = w.admin(&format!("/v1/Services/{second}/Conversations")).await;
    assert_eq!(all["conversations"].as_array().unwrap().len(), 1);
    // Its own service, by either path family, works.
    let own = format!("/v1/Services/{}/Conversations", w.service);
    w.user("alice", "GET", &own, &[]).await.expect(200);
    w.user("alice", "POST", &own, &[]).await.expect(201);
}
