//! Participants (`MB…`): chat participants by identity (each backed by a
//! User) and messaging-binding participants by address, on both path families.

use crate::util::{TestApp, assert_keys, assert_twilio_date};
use serde_json::{Value, json};

/// Account family (`/v1/Conversations/…`): no `chat_service_sid`.
const PARTICIPANT_KEYS: &[&str] = &[
    "account_sid",
    "conversation_sid",
    "sid",
    "identity",
    "attributes",
    "messaging_binding",
    "role_sid",
    "date_created",
    "date_updated",
    "url",
    "last_read_message_index",
    "last_read_timestamp",
];

#[track_caller]
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

fn service_keys() -> Vec<&'static str> {
    let mut keys = PARTICIPANT_KEYS.to_vec();
    keys.push("chat_service_sid");
    keys
}

/// Exact keys, SID shape and absolute URL of a participant under `prefix`
/// (`http://localhost/v1` or `…/v1/Services/{IS}`).
#[track_caller]
fn assert_participant(p: &Value, prefix: &str, conversation: &str) {
    if prefix.contains("/Services/") {
        assert_keys(p, &service_keys());
        let service = prefix.rsplit('/').next().unwrap();
        assert_eq!(p["chat_service_sid"], service, "{p}");
    } else {
        assert_keys(p, PARTICIPANT_KEYS);
    }
    let sid = text(&p["sid"]);
    assert!(
        sid.len() == 34 && sid.starts_with("MB") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "not an MB SID: {sid}"
    );
    assert_eq!(p["conversation_sid"], conversation);
    assert_eq!(p["url"], format!("{prefix}/Conversations/{conversation}/Participants/{sid}"));
    assert!(text(&p["role_sid"]).starts_with("RL"), "{p}");
    assert!(p["attributes"].is_string(), "{p}");
    assert_twilio_date(&p["date_created"]);
    assert_twilio_date(&p["date_updated"]);
}

async fn create_service(app: &TestApp, name: &str) -> String {
    text(&app.post("/v1/Services", &[("FriendlyName", name)]).await.expect(201)["sid"])
}

/// The service's configuration (default role SIDs).
async fn service_config(app: &TestApp, service: &str) -> Value {
    app.get(&format!("/v1/Services/{service}/Configuration")).await.expect(200)
}

async fn conversation_sid(app: &TestApp, form: &[(&str, &str)]) -> String {
    text(&app.conversation(form).await["sid"])
}

async fn create_role(app: &TestApp, base: &str, name: &str, kind: &str) -> String {
    let permission = if kind == "service" { "createConversation" } else { "sendMessage" };
    let role = app
        .post(&format!("{base}/Roles"), &[("FriendlyName", name), ("Type", kind), ("Permission", permission)])
        .await
        .expect(201);
    text(&role["sid"])
}

#[track_caller]
fn message_names(body: &Value, name: &str) {
    assert!(body["message"].as_str().is_some_and(|m| m.contains(name)), "error should name {name}: {body}");
}

#[actix_web::test]
async fn chat_participant_by_identity_creates_a_user_with_the_default_role() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let config = service_config(&app, &service).await;
    let ch = conversation_sid(&app, &[]).await;
    app.get("/v1/Users/alice").await.expect_error(404, 20404);

    let p =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    assert_participant(&p, "http://localhost/v1", &ch);
    assert_eq!(p["account_sid"], app.account.sid);
    assert_eq!(p["identity"], "alice");
    assert!(p["messaging_binding"].is_null(), "{p}");
    assert_eq!(p["attributes"], "{}");
    assert_eq!(p["role_sid"], config["default_conversation_role_sid"]);
    assert!(p["last_read_message_index"].is_null());
    assert!(p["last_read_timestamp"].is_null());

    // A User now exists for the identity, with the service's default user role.
    let user = app.get("/v1/Users/alice").await.expect(200);
    assert_eq!(user["identity"], "alice");
    assert_eq!(user["chat_service_sid"], service);
    assert_eq!(user["role_sid"], config["default_chat_service_role_sid"]);

    // Joining a second conversation reuses that User.
    let ch2 = conversation_sid(&app, &[]).await;
    app.post(&format!("/v1/Conversations/{ch2}/Participants"), &[("Identity", "alice")]).await.expect(201);
    assert_eq!(app.get("/v1/Users/alice").await.expect(200)["sid"], user["sid"]);
    let users = app.get("/v1/Users").await.expect(200);
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
    let mine = app.get(&format!("/v1/Users/{}/Conversations", text(&user["sid"]))).await.expect(200);
    let convs: Vec<String> =
        mine["conversations"].as_array().unwrap().iter().map(|c| text(&c["conversation_sid"])).collect();
    assert_eq!(convs, vec![ch, ch2]);
}

#[actix_web::test]
async fn create_takes_attributes_role_and_dates() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let role = create_role(&app, "/v1", "speaker", "conversation").await;
    let attributes = "{ \"seat\" : 12,\n \"vip\": true }";
    let p = app
        .post(
            &format!("/v1/Conversations/{ch}/Participants"),
            &[
                ("Identity", "bob"),
                ("Attributes", attributes),
                ("RoleSid", &role),
                ("DateCreated", "2019-05-06T07:08:09Z"),
                ("DateUpdated", "2019-05-06T07:08:10Z"),
            ],
        )
        .await
        .expect(201);
    assert_participant(&p, "http://localhost/v1", &ch);
    assert_eq!(p["attributes"], attributes, "kept verbatim");
    assert_eq!(p["role_sid"], role);
    assert_eq!(p["date_created"], "2019-05-06T07:08:09Z");
    assert_eq!(p["date_updated"], "2019-05-06T07:08:10Z");

    let body = app
        .post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "carol"), ("Attributes", "{x")])
        .await
        .expect_error(400, 20001);
    message_names(&body, "Attributes");
    let list = app.get(&format!("/v1/Conversations/{ch}/Participants")).await.expect(200);
    assert_eq!(list["participants"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn sms_participant_has_a_messaging_binding_and_no_identity() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let config = service_config(&app, &service).await;
    let ch = conversation_sid(&app, &[]).await;
    let p = app
        .post(
            &format!("/v1/Conversations/{ch}/Participants"),
            &[
                ("MessagingBinding.Address", "+15558675310"),
                ("MessagingBinding.ProxyAddress", "+15017122661"),
            ],
        )
        .await
        .expect(201);
    assert_participant(&p, "http://localhost/v1", &ch);
    assert!(p["identity"].is_null(), "{p}");
    assert_eq!(
        p["messaging_binding"],
        json!({"type": "sms", "address": "+15558675310", "proxy_address": "+15017122661"})
    );
    assert_eq!(p["role_sid"], config["default_conversation_role_sid"]);
    // No User for an SMS participant.
    assert_eq!(app.get("/v1/Users").await.expect(200)["users"], json!([]));

    let w = app
        .post(
            &format!("/v1/Conversations/{ch}/Participants"),
            &[
                ("MessagingBinding.Address", "whatsapp:+15558675311"),
                ("MessagingBinding.ProxyAddress", "whatsapp:+15017122661"),
            ],
        )
        .await
        .expect(201);
    assert_eq!(w["messaging_binding"]["type"], "whatsapp");
    assert_eq!(w["messaging_binding"]["address"], "whatsapp:+15558675311");

    // Fetched, the binding is the same.
    let fetched = app.get(&format!("/v1/Conversations/{ch}/Participants/{}", text(&p["sid"]))).await;
    assert_eq!(fetched.expect(200), p);
}

#[actix_web::test]
async fn identity_and_address_are_exclusive_and_one_is_required() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let path = format!("/v1/Conversations/{ch}/Participants");
    app.post(&path, &[("Identity", "alice"), ("MessagingBinding.Address", "+15558675310")])
        .await
        .expect_error(400, 20001);
    app.post(&path, &[]).await.expect_error(400, 20001);
    app.post(&path, &[("Identity", "")]).await.expect_error(400, 20001);
    app.post(&path, &[("MessagingBinding.ProxyAddress", "+15017122661")]).await.expect_error(400, 20001);
    app.post(&path, &[("Attributes", "{}")]).await.expect_error(400, 20001);
    assert_eq!(app.get(&path).await.expect(200)["participants"], json!([]));
    // No User was created on the way.
    app.get("/v1/Users/alice").await.expect_error(404, 20404);
}

#[actix_web::test]
async fn service_family_participants_carry_chat_service_sid() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let ch = conversation_sid(&app, &[]).await;

    // The default service's conversation, through both families.
    let prefix = format!("http://localhost/v1/Services/{default}");
    let p = app
        .post(&format!("/v1/Services/{default}/Conversations/{ch}/Participants"), &[("Identity", "bob")])
        .await
        .expect(201);
    assert_participant(&p, &prefix, &ch);
    let sid = text(&p["sid"]);
    let short = app.get(&format!("/v1/Conversations/{ch}/Participants/{sid}")).await.expect(200);
    assert_participant(&short, "http://localhost/v1", &ch);
    for key in PARTICIPANT_KEYS.iter().filter(|k| **k != "url") {
        assert_eq!(short[*key], p[*key], "{key}");
    }
    let listed =
        app.get(&format!("/v1/Services/{default}/Conversations/{ch}/Participants")).await.expect(200);
    assert_eq!(listed["participants"], json!([p]));
    assert!(text(&listed["meta"]["url"]).starts_with(&format!("{prefix}/Conversations/{ch}/Participants?")));

    // A second service: its own default role and its own Users.
    let other = create_service(&app, "second").await;
    let config = service_config(&app, &other).await;
    let oc = app.post(&format!("/v1/Services/{other}/Conversations"), &[]).await.expect(201);
    let och = text(&oc["sid"]);
    let q = app
        .post(&format!("/v1/Services/{other}/Conversations/{och}/Participants"), &[("Identity", "zed")])
        .await
        .expect(201);
    assert_participant(&q, &format!("http://localhost/v1/Services/{other}"), &och);
    assert_eq!(q["role_sid"], config["default_conversation_role_sid"]);
    assert_ne!(q["role_sid"], p["role_sid"]);
    assert_eq!(
        app.get(&format!("/v1/Services/{other}/Users/zed")).await.expect(200)["chat_service_sid"],
        other
    );
    app.get("/v1/Users/zed").await.expect_error(404, 20404);
    // That conversation is not reachable through the default family.
    app.get(&format!("/v1/Conversations/{och}/Participants")).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn duplicate_identity_conflicts() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let path = format!("/v1/Conversations/{ch}/Participants");
    let first = app.post(&path, &[("Identity", "alice")]).await.expect(201);
    let body = app.post(&path, &[("Identity", "alice")]).await.expect_error(409, 50433);
    message_names(&body, "alice");
    let list = app.get(&path).await.expect(200);
    assert_eq!(list["participants"], json!([first]));
    // The same identity in another conversation is fine.
    let ch2 = conversation_sid(&app, &[]).await;
    app.post(&format!("/v1/Conversations/{ch2}/Participants"), &[("Identity", "alice")]).await.expect(201);
}

#[actix_web::test]
async fn duplicate_address_conflicts() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let path = format!("/v1/Conversations/{ch}/Participants");
    let form =
        [("MessagingBinding.Address", "+15558675310"), ("MessagingBinding.ProxyAddress", "+15017122661")];
    let first = app.post(&path, &form).await.expect(201);
    app.post(&path, &form).await.expect_error(409, 50416);
    app.post(&path, &form[..1]).await.expect_error(409, 50416);
    assert_eq!(app.get(&path).await.expect(200)["participants"], json!([first]));
    let ch2 = conversation_sid(&app, &[]).await;
    app.post(&format!("/v1/Conversations/{ch2}/Participants"), &form).await.expect(201);
}

#[actix_web::test]
async fn fetch_by_sid_and_by_identity() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[("UniqueName", "room")]).await;
    let p = app.post("/v1/Conversations/room/Participants", &[("Identity", "alice")]).await.expect(201);
    assert_participant(&p, "http://localhost/v1", &ch);
    let sid = text(&p["sid"]);
    for path in [
        format!("/v1/Conversations/{ch}/Participants/{sid}"),
        format!("/v1/Conversations/{ch}/Participants/alice"),
        "/v1/Conversations/room/Participants/alice".to_string(),
    ] {
        assert_eq!(app.get(&path).await.expect(200), p, "{path}");
    }
    app.get(&format!("/v1/Conversations/{ch}/Participants/bob")).await.expect_error(404, 20404);
    app.get(&format!("/v1/Conversations/{ch}/Participants/MB{}", "0".repeat(32)))
        .await
        .expect_error(404, 20404);
    // A participant belongs to its conversation only.
    let other = conversation_sid(&app, &[]).await;
    app.get(&format!("/v1/Conversations/{other}/Participants/{sid}")).await.expect_error(404, 20404);
    app.get(&format!("/v1/Conversations/{other}/Participants/alice")).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn update_changes_attributes_role_and_read_horizon() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let p =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let path = format!("/v1/Conversations/{ch}/Participants/{}", text(&p["sid"]));

    let attributes = "{ \"mood\": \"busy\" ,\n\"n\": [] }";
    let a = app.post(&path, &[("Attributes", attributes)]).await.expect(200);
    assert_participant(&a, "http://localhost/v1", &ch);
    assert_eq!(a["attributes"], attributes);
    assert_eq!(a["role_sid"], p["role_sid"]);
    assert_eq!(a["identity"], "alice");

    let role = create_role(&app, "/v1", "moderator", "conversation").await;
    let r = app.post(&path, &[("RoleSid", &role)]).await.expect(200);
    assert_eq!(r["role_sid"], role);
    assert_eq!(r["attributes"], attributes);

    let l = app
        .post(&path, &[("LastReadMessageIndex", "5"), ("LastReadTimestamp", "2021-03-04T05:06:07Z")])
        .await
        .expect(200);
    assert_eq!(l["last_read_message_index"], 5);
    assert_eq!(l["last_read_timestamp"], "2021-03-04T05:06:07Z");
    assert_eq!(l["role_sid"], role);

    let d = app.post(&path, &[("DateUpdated", "2022-01-02T03:04:05Z")]).await.expect(200);
    assert_eq!(d["date_updated"], "2022-01-02T03:04:05Z");
    assert_eq!(d["last_read_message_index"], 5);

    // All of it stuck; by identity too.
    assert_eq!(app.get(&path).await.expect(200), d);
    assert_eq!(app.get(&format!("/v1/Conversations/{ch}/Participants/alice")).await.expect(200), d);

    // Bad values are refused, naming the parameter, and change nothing.
    for (name, value) in
        [("Attributes", "{nope"), ("LastReadMessageIndex", "five"), ("LastReadTimestamp", "tomorrow")]
    {
        let body = app.post(&path, &[(name, value)]).await.expect_error(400, 20001);
        message_names(&body, name);
    }
    assert_eq!(app.get(&path).await.expect(200), d);
    app.post(&format!("/v1/Conversations/{ch}/Participants/nobody"), &[("Attributes", "{}")])
        .await
        .expect_error(404, 20404);
}

#[actix_web::test]
async fn role_sid_must_be_a_conversation_role_of_the_service() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let config = service_config(&app, &service).await;
    let service_role = text(&config["default_chat_service_role_sid"]);
    let custom_service_role = create_role(&app, "/v1", "staff", "service").await;
    let other = create_service(&app, "elsewhere").await;
    let foreign_role = create_role(&app, &format!("/v1/Services/{other}"), "guest", "conversation").await;
    let unknown = format!("RL{}", "0".repeat(32));

    let ch = conversation_sid(&app, &[]).await;
    let p =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let path = format!("/v1/Conversations/{ch}/Participants/{}", text(&p["sid"]));
    for bad in [&service_role, &custom_service_role, &foreign_role, &unknown, &"admin".to_string()] {
        let body = app.post(&path, &[("RoleSid", bad)]).await.expect_error(400, 20001);
        message_names(&body, "RoleSid");
        // On create too: nothing is added.
        let body = app
            .post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "bob"), ("RoleSid", bad)])
            .await
            .expect_error(400, 20001);
        message_names(&body, "RoleSid");
    }
    assert_eq!(app.get(&path).await.expect(200), p);
    let list = app.get(&format!("/v1/Conversations/{ch}/Participants")).await.expect(200);
    assert_eq!(list["participants"], json!([p]));
}

#[actix_web::test]
async fn delete_removes_the_participant() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let base = format!("/v1/Conversations/{ch}/Participants");
    let alice = app.post(&base, &[("Identity", "alice")]).await.expect(201);
    let bob = app.post(&base, &[("Identity", "bob")]).await.expect(201);
    let sms = app.post(&base, &[("MessagingBinding.Address", "+15558675310")]).await.expect(201);

    let res = app.delete(&format!("{base}/{}", text(&alice["sid"]))).await;
    assert_eq!(res.status.as_u16(), 204, "body: {}", res.body);
    assert!(res.raw.is_empty(), "204 with a body");
    app.get(&format!("{base}/{}", text(&alice["sid"]))).await.expect_error(404, 20404);
    app.get(&format!("{base}/alice")).await.expect_error(404, 20404);
    app.delete(&format!("{base}/{}", text(&alice["sid"]))).await.expect_error(404, 20404);
    assert_eq!(app.get(&base).await.expect(200)["participants"], json!([bob, sms]));

    // By identity, and an SMS participant by SID.
    assert_eq!(app.delete(&format!("{base}/bob")).await.status.as_u16(), 204);
    assert_eq!(app.delete(&format!("{base}/{}", text(&sms["sid"]))).await.status.as_u16(), 204);
    assert_eq!(app.get(&base).await.expect(200)["participants"], json!([]));

    // The User stays; the identity and the address can join again.
    app.get("/v1/Users/alice").await.expect(200);
    let again = app.post(&base, &[("Identity", "alice")]).await.expect(201);
    assert_ne!(again["sid"], alice["sid"]);
    app.post(&base, &[("MessagingBinding.Address", "+15558675310")]).await.expect(201);
}

#[actix_web::test]
async fn list_pages_through_participants_in_order() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let base = format!("/v1/Conversations/{ch}/Participants");
    let mut want = Vec::new();
    for i in 0..7 {
        let p = app.post(&base, &[("Identity", &format!("user{i}"))]).await.expect(201);
        want.push(text(&p["sid"]));
    }
    // Walk forward, following next_page_url verbatim.
    let mut pages: Vec<Value> = Vec::new();
    let mut next = Some(format!("{base}?PageSize=3"));
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        assert_eq!(body["meta"]["key"], "participants");
        assert_eq!(body["meta"]["page_size"], 3);
        assert_eq!(body["meta"]["page"], pages.len());
        assert_eq!(
            body["meta"]["first_page_url"],
            format!("http://localhost/v1/Conversations/{ch}/Participants?PageSize=3&Page=0")
        );
        next = body["meta"]["next_page_url"].as_str().map(TestApp::path_of);
        pages.push(body);
        assert!(pages.len() < 10, "paging does not end");
    }
    let got: Vec<String> = pages
        .iter()
        .flat_map(|b| b["participants"].as_array().unwrap().clone())
        .map(|p| text(&p["sid"]))
        .collect();
    assert_eq!(got, want, "every participant once, in creation order");
    assert_eq!(pages.len(), 3);
    assert!(pages[0]["meta"]["previous_page_url"].is_null());
    for page in &pages {
        for p in page["participants"].as_array().unwrap() {
            assert_participant(p, "http://localhost/v1", &ch);
        }
    }
    // Back from the last page: the middle page again.
    let prev = TestApp::path_of(pages[2]["meta"]["previous_page_url"].as_str().expect("previous_page_url"));
    let back = app.get(&prev).await.expect(200);
    assert_eq!(back["participants"], pages[1]["participants"]);
    assert_eq!(back["meta"]["page"], 1);

    // The page size is capped at 100.
    assert_eq!(app.get(&format!("{base}?PageSize=1000")).await.expect(200)["meta"]["page_size"], 100);
}

#[actix_web::test]
async fn another_accounts_conversation_is_not_found() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = conversation_sid(&app, &[("UniqueName", "mine")]).await;
    let p =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let sid = text(&p["sid"]);
    let other = app.create_account().await;

    for conv in [format!("/v1/Conversations/{ch}"), format!("/v1/Services/{service}/Conversations/{ch}")] {
        let base = format!("{conv}/Participants");
        app.get_as(&other, &base).await.expect_error(404, 20404);
        app.post_as(&other, &base, &[("Identity", "mallory")]).await.expect_error(404, 20404);
        for key in [&sid, &"alice".to_string()] {
            let path = format!("{base}/{key}");
            app.get_as(&other, &path).await.expect_error(404, 20404);
            app.post_as(&other, &path, &[("Attributes", "{\"owned\": true}")]).await.expect_error(404, 20404);
            app.delete_as(&other, &path).await.expect_error(404, 20404);
        }
    }
    app.post_as(&other, "/v1/Conversations/mine/Participants", &[("Identity", "mallory")])
        .await
        .expect_error(404, 20404);

    // Untouched.
    let list = app.get(&format!("/v1/Conversations/{ch}/Participants")).await.expect(200);
    assert_eq!(list["participants"], json!([p]));
    app.get_as(&other, "/v1/Users/mallory").await.expect_error(404, 20404);
}

/// Nobody joins a closed conversation (Twilio: a closed conversation cannot
/// be modified; Flex error 45376 "Conversation was closed"). The exact code
/// is not documented, so this checks for a client error that is not a 404,
/// and that nothing was stored.
#[actix_web::test]
async fn closed_conversations_refuse_new_participants() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let base = format!("/v1/Conversations/{ch}/Participants");
    let alice = app.post(&base, &[("Identity", "alice")]).await.expect(201);
    app.post(&format!("/v1/Conversations/{ch}"), &[("State", "closed")]).await.expect(200);

    for form in [[("Identity", "bob")], [("MessagingBinding.Address", "+15558675310")]] {
        let res = app.post(&base, &form).await;
        let status = res.status.as_u16();
        assert!(
            (400..500).contains(&status) && status != 404,
            "joining a closed conversation was answered {status}: {}",
            res.body
        );
    }
    assert_eq!(app.get(&base).await.expect(200)["participants"], json!([alice]));
}
