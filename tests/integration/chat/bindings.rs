//! Push registrations (`BS…`): registered with `POST` on Chat's
//! `/v2/Services/{IS}/Bindings` or Conversations' `/v1/Services/{IS}/Bindings`
//! (an end user's token grant supplies the endpoint and the credential,
//! account credentials name the user), then listed, fetched and deleted
//! through both and through a user's `/Users/{US}/Bindings`. The device
//! token is never shown; an end user sees only their own; a binding goes
//! with its credential, its user, its service and its account.

use confab::testing::StoreError;
use confab::testing::schema::bindings as binding_rows;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl};

use crate::util::{Account, ApiKey, access_token, sign_token, token_claims};

use super::*;

const BINDING_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "service_sid",
    "date_created",
    "date_updated",
    "endpoint",
    "identity",
    "credential_sid",
    "binding_type",
    "message_types",
    "url",
    "links",
];

const USER_BINDING_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "service_sid",
    "date_created",
    "date_updated",
    "endpoint",
    "identity",
    "user_sid",
    "credential_sid",
    "binding_type",
    "message_types",
    "url",
];

/// Conversations v1's ServiceBinding.
const V1_BINDING_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "chat_service_sid",
    "credential_sid",
    "date_created",
    "date_updated",
    "endpoint",
    "identity",
    "binding_type",
    "message_types",
    "url",
];

/// What every shape carries alike (under the same name).
const COMMON_KEYS: [&str; 9] = [
    "sid",
    "account_sid",
    "date_created",
    "date_updated",
    "endpoint",
    "identity",
    "credential_sid",
    "binding_type",
    "message_types",
];

/// A binding's message types when the registration names none, in order.
const ALL_TYPES: [&str; 4] =
    ["new_message", "added_to_channel", "removed_from_channel", "invited_to_channel"];

/// One change to a registration's form: the parameter, and its new value
/// (`None`: left out).
type Change<'a> = (&'a str, Option<&'a str>);

const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----\nMIIFake\n-----END CERTIFICATE-----";
const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpFake\n-----END RSA PRIVATE KEY-----";

// ---------------------------------------------------------------------------
// Paths

fn bindings_path(service: &str) -> String {
    format!("/v2/Services/{service}/Bindings")
}

fn binding_path(service: &str, binding: &str) -> String {
    format!("/v2/Services/{service}/Bindings/{binding}")
}

/// `user` is a US SID or an identity.
fn user_bindings_path(service: &str, user: &str) -> String {
    format!("/v2/Services/{service}/Users/{user}/Bindings")
}

fn v1_bindings_path(service: &str) -> String {
    format!("/v1/Services/{service}/Bindings")
}

fn v1_binding_path(service: &str, binding: &str) -> String {
    format!("/v1/Services/{service}/Bindings/{binding}")
}

// ---------------------------------------------------------------------------
// Set-up

/// A push credential of `kind` (`apn`, `gcm` or `fcm`) in `account`.
async fn credential_of(app: &TestApp, account: &Account, kind: &str) -> String {
    let form: &[(&str, &str)] = match kind {
        "apn" => &[("Type", "apn"), ("Certificate", CERTIFICATE), ("PrivateKey", PRIVATE_KEY)],
        "gcm" => &[("Type", "gcm"), ("ApiKey", "gcm-api-key")],
        "fcm" => &[("Type", "fcm"), ("Secret", "fcm-server-key")],
        other => panic!("credential type {other}"),
    };
    sid(&app.post_as(account, "/v2/Credentials", form).await.expect(201))
}

/// The app's default service, an API key for tokens and one push
/// credential of each type.
struct Push {
    app: TestApp,
    is: String,
    key: ApiKey,
    apn: String,
    gcm: String,
    fcm: String,
}

impl Push {
    async fn new() -> Push {
        let app = TestApp::new().await;
        let is = app.default_service().await;
        let key = app.api_key().await;
        let apn = credential_of(&app, &app.account, "apn").await;
        let gcm = credential_of(&app, &app.account, "gcm").await;
        let fcm = credential_of(&app, &app.account, "fcm").await;
        Push { app, is, key, apn, gcm, fcm }
    }

    /// The credential of the type a binding of `kind` uses here.
    fn credential(&self, kind: &str) -> &str {
        match kind {
            "apn" => self.apn.as_str(),
            "gcm" => self.gcm.as_str(),
            _ => self.fcm.as_str(),
        }
    }

    /// `identity`'s token for `service` whose chat grant also carries
    /// `endpoint_id` and `push_credential_sid`, where given.
    fn token_in(
        &self,
        service: &str,
        identity: &str,
        endpoint: Option<&str>,
        credential: Option<&str>,
    ) -> String {
        let mut claims = token_claims(&self.key, &self.app.account.sid, identity, service, 3600);
        if let Some(endpoint) = endpoint {
            claims["grants"]["chat"]["endpoint_id"] = json!(endpoint);
        }
        if let Some(credential) = credential {
            claims["grants"]["chat"]["push_credential_sid"] = json!(credential);
        }
        sign_token(&claims, &self.key.secret)
    }

    fn token(&self, identity: &str, endpoint: Option<&str>, credential: Option<&str>) -> String {
        self.token_in(&self.is, identity, endpoint, credential)
    }

    /// `identity`'s token as their phone's app has it: endpoint
    /// `{identity}-phone`, the fcm credential.
    fn phone(&self, identity: &str) -> String {
        self.token(identity, Some(format!("{identity}-phone").as_str()), Some(self.fcm.as_str()))
    }

    /// `POST` on Chat's Bindings as `token`'s user.
    async fn register(&self, token: &str, form: &[(&str, &str)]) -> Resp {
        self.app.as_user(token, "POST", &bindings_path(&self.is), form).await
    }

    /// Account credentials register a device of `kind` for the (existing)
    /// user `identity`; its device token is `{identity}-{endpoint}-token`.
    async fn register_for(&self, identity: &str, kind: &str, endpoint: &str) -> Value {
        let address = format!("{identity}-{endpoint}-token");
        let form = [
            ("Identity", identity),
            ("BindingType", kind),
            ("Address", address.as_str()),
            ("Endpoint", endpoint),
            ("CredentialSid", self.credential(kind)),
        ];
        let created = self.app.post(&bindings_path(&self.is), &form).await.expect(201);
        assert_binding(&created, &self.is);
        assert_hidden(&created, &address);
        created
    }

    /// Creates the user `identity` in the service; returns its SID.
    async fn user(&self, identity: &str) -> String {
        sid(&self.app.post(&users_path(&self.is), &[("Identity", identity)]).await.expect(201))
    }

    async fn user_sid(&self, identity: &str) -> String {
        sid(&self.app.get(&format!("{}/{identity}", users_path(&self.is))).await.expect(200))
    }

    /// The SIDs a list answers the account.
    async fn listed(&self, path: &str) -> Vec<String> {
        sids(list(&self.app.get(path).await.expect(200), "bindings"))
    }

    /// The SIDs a list answers `token`'s user.
    async fn listed_as(&self, token: &str, path: &str) -> Vec<String> {
        sids(list(&self.app.as_user(token, "GET", path, &[]).await.expect(200), "bindings"))
    }
}

/// The device token stored for the binding `bs` (never shown), if its row
/// exists.
async fn stored_address(app: &TestApp, bs: &str) -> Option<String> {
    let bs = bs.to_owned();
    app.state
        .db
        .read(move |conn| {
            binding_rows::table
                .filter(binding_rows::sid.eq(&bs))
                .select(binding_rows::address)
                .get_result::<String>(conn)
                .optional()
                .map_err(StoreError::from)
        })
        .await
        .expect("read a binding row")
}

// ---------------------------------------------------------------------------
// Shapes

#[track_caller]
fn message_types(b: &Value) -> Vec<String> {
    let types = b["message_types"].as_array().unwrap_or_else(|| panic!("message_types: {b}"));
    types.iter().map(text).collect()
}

/// Fields every shape has alike.
#[track_caller]
fn assert_common(b: &Value) {
    assert!(is_sid(&b["sid"], "BS"), "{b}");
    assert!(is_sid(&b["account_sid"], "AC"), "{b}");
    assert_twilio_date(&b["date_created"]);
    assert_twilio_date(&b["date_updated"]);
    assert!(b["endpoint"].as_str().is_some_and(|e| !e.is_empty()), "{b}");
    assert!(b["identity"].as_str().is_some_and(|i| !i.is_empty()), "{b}");
    assert!(is_sid(&b["credential_sid"], "CR"), "{b}");
    assert!(["apn", "gcm", "fcm"].contains(&b["binding_type"].as_str().unwrap_or_default()), "{b}");
    let types = message_types(b);
    assert!(!types.is_empty(), "{b}");
    assert!(types.iter().all(|t| ALL_TYPES.contains(&t.as_str())), "{b}");
}

/// Chat's Binding.
#[track_caller]
fn assert_binding(b: &Value, service: &str) {
    assert_keys(b, BINDING_KEYS);
    assert_common(b);
    assert_eq!(b["service_sid"], service, "{b}");
    let service_url = format!("{HOST}/v2/Services/{service}");
    assert_eq!(b["url"], format!("{service_url}/Bindings/{}", text(&b["sid"])), "{b}");
    assert_keys(&b["links"], &["user"]);
    let identity = text(&b["identity"]);
    // Identities that need escaping: `the_user_link_escapes_the_identity`.
    if identity.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)) {
        assert_eq!(b["links"]["user"], format!("{service_url}/Users/{identity}"), "{b}");
    }
}

/// Chat's UserBinding; `user` is the US SID.
#[track_caller]
fn assert_user_binding(b: &Value, service: &str, user: &str) {
    assert_keys(b, USER_BINDING_KEYS);
    assert_common(b);
    assert_eq!(b["service_sid"], service, "{b}");
    assert_eq!(b["user_sid"], user, "{b}");
    let url = format!("{HOST}/v2/Services/{service}/Users/{user}/Bindings/{}", text(&b["sid"]));
    assert_eq!(b["url"], url, "{b}");
}

/// Conversations' ServiceBinding.
#[track_caller]
fn assert_v1_binding(b: &Value, service: &str) {
    assert_keys(b, V1_BINDING_KEYS);
    assert_common(b);
    assert_eq!(b["chat_service_sid"], service, "{b}");
    assert_eq!(b["url"], format!("{HOST}/v1/Services/{service}/Bindings/{}", text(&b["sid"])), "{b}");
}

/// The device token appears nowhere in a response.
#[track_caller]
fn assert_hidden(body: &Value, address: &str) {
    let raw = body.to_string();
    assert!(!raw.contains(address), "the device token is shown: {raw}");
    assert!(!raw.contains("\"address\""), "an address field: {raw}");
}

// ---------------------------------------------------------------------------
// Registering

#[actix_web::test]
async fn an_end_user_registers_a_device_with_the_grant_defaults() {
    let p = Push::new().await;
    let token = p.token("alice", Some("alice-phone"), Some(p.fcm.as_str()));
    let address = "fcm-device-token-of-alices-phone";
    let created = p.register(&token, &[("BindingType", "fcm"), ("Address", address)]).await.expect(201);
    assert_binding(&created, &p.is);
    assert_hidden(&created, address);
    assert_eq!(created["account_sid"], p.app.account.sid.as_str());
    assert_eq!(created["identity"], "alice");
    assert_eq!(created["endpoint"], "alice-phone");
    assert_eq!(created["credential_sid"], p.fcm.as_str());
    assert_eq!(created["binding_type"], "fcm");
    assert_eq!(message_types(&created), ALL_TYPES);
    assert_eq!(created["date_created"], created["date_updated"]);
    assert_eq!(created["links"]["user"], format!("{HOST}/v2/Services/{}/Users/alice", p.is));
    let bs = sid(&created);
    assert_eq!(stored_address(&p.app, &bs).await.as_deref(), Some(address));

    // The same object for her and for the account; never the token.
    let mine = p.app.as_user(&token, "GET", &binding_path(&p.is, &bs), &[]).await.expect(200);
    assert_eq!(mine, created);
    assert_eq!(p.app.get(&binding_path(&p.is, &bs)).await.expect(200), created);
    let listed = p.app.get(&bindings_path(&p.is)).await.expect(200);
    assert_eq!(list(&listed, "bindings"), std::slice::from_ref(&created));
    assert_hidden(&listed, address);

    // Her first request made her User: the binding is hers.
    let us = p.user_sid("alice").await;
    let theirs = p.app.get(&format!("{}/{bs}", user_bindings_path(&p.is, &us))).await.expect(200);
    assert_user_binding(&theirs, &p.is, &us);
    assert_hidden(&theirs, address);
    for key in COMMON_KEYS {
        assert_eq!(theirs[key], created[key], "{key}");
    }
}

#[actix_web::test]
async fn registering_the_same_device_again_updates_it_in_place() {
    let p = Push::new().await;
    let token = p.phone("alice");
    let first = p.register(&token, &[("BindingType", "fcm"), ("Address", "token-one")]).await.expect(201);
    let bs = sid(&first);

    // Same identity, type and endpoint: the same binding, its device token
    // and message types replaced.
    let form = [
        ("BindingType", "fcm"),
        ("Address", "token-two"),
        ("MessageTypes", "new_message"),
        ("MessageTypes", "invited_to_channel"),
    ];
    let again = p.register(&token, &form).await.expect(200);
    assert_binding(&again, &p.is);
    assert_hidden(&again, "token-two");
    assert_eq!(sid(&again), bs);
    assert_eq!(message_types(&again), ["new_message", "invited_to_channel"]);
    assert_eq!(again["date_created"], first["date_created"]);
    assert_eq!(again["endpoint"], "alice-phone");
    assert_eq!(stored_address(&p.app, &bs).await.as_deref(), Some("token-two"));
    assert_eq!(p.app.get(&binding_path(&p.is, &bs)).await.expect(200), again);

    // Comma-separated types, repeats dropped; another fitting credential.
    let form = [
        ("BindingType", "fcm"),
        ("Address", "token-three"),
        ("CredentialSid", p.gcm.as_str()),
        ("MessageTypes", "added_to_channel, removed_from_channel,added_to_channel"),
    ];
    let third = p.register(&token, &form).await.expect(200);
    assert_eq!(sid(&third), bs);
    assert_eq!(message_types(&third), ["added_to_channel", "removed_from_channel"]);
    assert_eq!(third["credential_sid"], p.gcm.as_str());
    assert_eq!(stored_address(&p.app, &bs).await.as_deref(), Some("token-three"));

    // No MessageTypes: all of them again.
    let fourth = p.register(&token, &[("BindingType", "fcm"), ("Address", "token-three")]).await.expect(200);
    assert_eq!(message_types(&fourth), ALL_TYPES);

    // Another endpoint, or another type on the same endpoint, is another binding.
    let tablet = p
        .register(
            &token,
            &[("BindingType", "fcm"), ("Address", "tablet-token"), ("Endpoint", "alice-tablet")],
        )
        .await
        .expect(201);
    assert_eq!(tablet["endpoint"], "alice-tablet");
    let apn = p
        .register(
            &token,
            &[("BindingType", "apn"), ("Address", "apn-token"), ("CredentialSid", p.apn.as_str())],
        )
        .await
        .expect(201);
    assert_eq!(apn["endpoint"], "alice-phone");
    assert_eq!(apn["binding_type"], "apn");
    // So is another user's device with the same endpoint.
    let bob = p.token("bob", Some("alice-phone"), Some(p.fcm.as_str()));
    let bobs = p.register(&bob, &[("BindingType", "fcm"), ("Address", "token-one")]).await.expect(201);
    assert_eq!(bobs["identity"], "bob");
    assert_ne!(sid(&bobs), bs);

    assert_eq!(p.listed(&bindings_path(&p.is)).await, [bs, sid(&tablet), sid(&apn), sid(&bobs)]);
}

#[actix_web::test]
async fn explicit_endpoint_and_credential_override_the_grant() {
    let p = Push::new().await;
    let token = p.phone("alice");
    let form = [
        ("BindingType", "apn"),
        ("Address", "ipad-token"),
        ("Endpoint", "alice-ipad"),
        ("CredentialSid", p.apn.as_str()),
    ];
    let ipad = p.register(&token, &form).await.expect(201);
    assert_binding(&ipad, &p.is);
    assert_eq!(ipad["endpoint"], "alice-ipad");
    assert_eq!(ipad["credential_sid"], p.apn.as_str());
    assert_eq!(ipad["binding_type"], "apn");

    // A token without push fields: both are given.
    let bare = p.token("bob", None, None);
    let form = [
        ("BindingType", "gcm"),
        ("Address", "android-token"),
        ("Endpoint", "bob-android"),
        ("CredentialSid", p.gcm.as_str()),
    ];
    let android = p.register(&bare, &form).await.expect(201);
    assert_binding(&android, &p.is);
    assert_eq!(android["identity"], "bob");
    assert_eq!(android["endpoint"], "bob-android");
    assert_eq!(android["credential_sid"], p.gcm.as_str());

    // gcm and fcm bindings take either of the two.
    let form = [
        ("BindingType", "gcm"),
        ("Address", "t"),
        ("Endpoint", "bob-old-android"),
        ("CredentialSid", p.fcm.as_str()),
    ];
    assert_eq!(p.register(&bare, &form).await.expect(201)["credential_sid"], p.fcm.as_str());
    let form = [
        ("BindingType", "fcm"),
        ("Address", "t"),
        ("Endpoint", "bob-pixel"),
        ("CredentialSid", p.gcm.as_str()),
    ];
    assert_eq!(p.register(&bare, &form).await.expect(201)["credential_sid"], p.gcm.as_str());
}

#[actix_web::test]
async fn registration_parameters_are_checked() {
    let p = Push::new().await;
    let bare = p.token("alice", None, None);
    let other = p.app.create_account().await;
    let foreign = credential_of(&p.app, &other, "fcm").await;
    let unknown = format!("CR{}", "0".repeat(32));
    let long_endpoint = "e".repeat(257);
    let long_address = "a".repeat(4097);
    let (fcm, apn, gcm) = (p.fcm.as_str(), p.apn.as_str(), p.gcm.as_str());
    let (unknown, foreign) = (unknown.as_str(), foreign.as_str());
    let (long_endpoint, long_address) = (long_endpoint.as_str(), long_address.as_str());
    // A good registration, then what each case changes in it (`None`:
    // left out) and the parameter the 400 names.
    let good = [("BindingType", "fcm"), ("Address", "t"), ("Endpoint", "e"), ("CredentialSid", fcm)];
    let cases: &[(&[Change<'_>], &str)] = &[
        (&[("BindingType", None)], "BindingType"),
        (&[("BindingType", Some(""))], "BindingType"),
        (&[("BindingType", Some("sms"))], "BindingType"),
        (&[("BindingType", Some("FCM"))], "BindingType"),
        (&[("Address", None)], "Address"),
        (&[("Address", Some(""))], "Address"),
        (&[("Address", Some(long_address))], "Address"),
        (&[("Endpoint", None)], "Endpoint"),
        (&[("Endpoint", Some(""))], "Endpoint"),
        (&[("Endpoint", Some(long_endpoint))], "Endpoint"),
        (&[("CredentialSid", None)], "CredentialSid"),
        (&[("CredentialSid", Some(""))], "CredentialSid"),
        (&[("CredentialSid", Some("not-a-sid"))], "CredentialSid"),
        (&[("CredentialSid", Some(unknown))], "CredentialSid"),
        // Another account's credential is no credential of this one.
        (&[("CredentialSid", Some(foreign))], "CredentialSid"),
        // An apn binding needs an apn credential, gcm and fcm ones a gcm or fcm one.
        (&[("BindingType", Some("apn"))], "CredentialSid"),
        (&[("BindingType", Some("apn")), ("CredentialSid", Some(gcm))], "CredentialSid"),
        (&[("CredentialSid", Some(apn))], "CredentialSid"),
        (&[("BindingType", Some("gcm")), ("CredentialSid", Some(apn))], "CredentialSid"),
        (&[("MessageTypes", Some("typing_started"))], "MessageTypes"),
        (
            &[("MessageTypes", Some("new_message")), ("MessageTypes", Some("new_message,NEW_MESSAGE"))],
            "MessageTypes",
        ),
    ];
    for &(changes, param) in cases {
        let mut form: Vec<(&str, &str)> =
            good.iter().copied().filter(|(k, _)| !changes.iter().any(|(c, _)| c == k)).collect();
        form.extend(changes.iter().filter_map(|&(k, v)| v.map(|v| (k, v))));
        let body = p.register(&bare, &form).await.expect_error(400, 20001);
        assert!(message(&body).contains(param), "{form:?}: {body}");
        let body =
            p.app.as_user(&bare, "POST", &v1_bindings_path(&p.is), &form).await.expect_error(400, 20001);
        assert!(message(&body).contains(param), "/v1 {form:?}: {body}");
    }

    // What a token's grant names is checked as if it were given.
    let bad_grant = p.token("alice", Some("alice-phone"), Some(unknown));
    let body =
        p.register(&bad_grant, &[("BindingType", "fcm"), ("Address", "t")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("CredentialSid"), "{body}");
    let fcm_grant = p.phone("alice");
    let body =
        p.register(&fcm_grant, &[("BindingType", "apn"), ("Address", "t")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("CredentialSid"), "{body}");

    // Nothing was registered.
    assert!(p.listed(&bindings_path(&p.is)).await.is_empty());
    assert!(p.listed(&v1_bindings_path(&p.is)).await.is_empty());
}

#[actix_web::test]
async fn account_credentials_register_a_device_for_an_existing_user() {
    let p = Push::new().await;
    let us = p.user("alice").await;
    let path = bindings_path(&p.is);
    let gcm = p.gcm.as_str();
    let form = [
        ("Identity", "alice"),
        ("BindingType", "gcm"),
        ("Address", "alice-android-token"),
        ("Endpoint", "alice-android"),
        ("CredentialSid", gcm),
    ];
    let created = p.app.post(&path, &form).await.expect(201);
    assert_binding(&created, &p.is);
    assert_hidden(&created, "alice-android-token");
    assert_eq!(created["identity"], "alice");
    assert_eq!(created["endpoint"], "alice-android");
    assert_eq!(created["binding_type"], "gcm");
    assert_eq!(created["credential_sid"], gcm);
    assert_eq!(message_types(&created), ALL_TYPES);
    let bs = sid(&created);
    let hers = p.app.get(&format!("{}/{bs}", user_bindings_path(&p.is, &us))).await.expect(200);
    assert_user_binding(&hers, &p.is, &us);

    // Again: the same binding.
    let form = [
        ("Identity", "alice"),
        ("BindingType", "gcm"),
        ("Address", "alice-android-token-2"),
        ("Endpoint", "alice-android"),
        ("CredentialSid", gcm),
        ("MessageTypes", "removed_from_channel"),
    ];
    let again = p.app.post(&path, &form).await.expect(200);
    assert_eq!(sid(&again), bs);
    assert_eq!(message_types(&again), ["removed_from_channel"]);

    // Account credentials have no grant: Identity, Endpoint and
    // CredentialSid are required.
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("BindingType", "gcm"), ("Address", "t"), ("Endpoint", "e"), ("CredentialSid", gcm)], "Identity"),
        (
            &[("Identity", "alice"), ("BindingType", "gcm"), ("Address", "t"), ("CredentialSid", gcm)],
            "Endpoint",
        ),
        (
            &[("Identity", "alice"), ("BindingType", "gcm"), ("Address", "t"), ("Endpoint", "e")],
            "CredentialSid",
        ),
    ];
    for (form, param) in cases {
        let body = p.app.post(&path, form).await.expect_error(400, 20001);
        assert!(message(&body).contains(param), "{form:?}: {body}");
    }

    // Identity names an existing user (it makes none).
    let ghost = [
        ("Identity", "ghost"),
        ("BindingType", "gcm"),
        ("Address", "t"),
        ("Endpoint", "e"),
        ("CredentialSid", gcm),
    ];
    p.app.post(&path, &ghost).await.expect_error(404, 50200);
    p.app.post(&v1_bindings_path(&p.is), &ghost).await.expect_error(404, 50200);
    // Nor is it a US SID.
    let by_sid = [
        ("Identity", us.as_str()),
        ("BindingType", "gcm"),
        ("Address", "t"),
        ("Endpoint", "e"),
        ("CredentialSid", gcm),
    ];
    p.app.post(&path, &by_sid).await.expect_error(404, 50200);
    p.app.get(&format!("{}/ghost", users_path(&p.is))).await.expect_error(404, 50200);
    assert_eq!(p.listed(&path).await, [bs]);
}

#[actix_web::test]
async fn an_end_user_registers_only_their_own_devices() {
    let p = Push::new().await;
    p.user("bob").await;
    let alice = p.phone("alice");
    for identity in ["bob", "ghost", "ALICE"] {
        let form = [("Identity", identity), ("BindingType", "fcm"), ("Address", "t")];
        p.register(&alice, &form).await.expect_error(403, 20403);
        p.app.as_user(&alice, "POST", &v1_bindings_path(&p.is), &form).await.expect_error(403, 20403);
    }
    assert!(p.listed(&bindings_path(&p.is)).await.is_empty());

    // Naming herself is the same as naming no one.
    let form = [("Identity", "alice"), ("BindingType", "fcm"), ("Address", "t")];
    let mine = p.register(&alice, &form).await.expect(201);
    assert_eq!(mine["identity"], "alice");
    let again = p.register(&alice, &[("BindingType", "fcm"), ("Address", "t2")]).await.expect(200);
    assert_eq!(sid(&again), sid(&mine));
    assert!(p.listed(&user_bindings_path(&p.is, "bob")).await.is_empty());
    p.app.get(&format!("{}/ghost", users_path(&p.is))).await.expect_error(404, 50200);
}

// ---------------------------------------------------------------------------
// Reading

#[actix_web::test]
async fn bindings_are_listed_with_type_and_identity_filters_and_paged() {
    let p = Push::new().await;
    for identity in ["alice", "bob", "carol"] {
        p.user(identity).await;
    }
    let alice_fcm = sid(&p.register_for("alice", "fcm", "alice-phone").await);
    let alice_apn = sid(&p.register_for("alice", "apn", "alice-ipad").await);
    let bob_gcm = sid(&p.register_for("bob", "gcm", "bob-phone").await);
    let carol_fcm = sid(&p.register_for("carol", "fcm", "carol-phone").await);
    let everything = [alice_fcm.clone(), alice_apn.clone(), bob_gcm.clone(), carol_fcm.clone()];
    let path = bindings_path(&p.is);

    let body = p.app.get(&path).await.expect(200);
    for b in list(&body, "bindings") {
        assert_binding(b, &p.is);
    }
    assert_eq!(sids(list(&body, "bindings")), everything);
    assert_eq!(body["meta"]["page_size"], 50);
    assert!(body["meta"]["next_page_url"].is_null(), "{body}");

    let cases: [(&str, &[&String]); 8] = [
        ("BindingType=fcm", &[&alice_fcm, &carol_fcm]),
        ("BindingType=fcm&BindingType=gcm", &[&alice_fcm, &bob_gcm, &carol_fcm]),
        ("Identity=alice", &[&alice_fcm, &alice_apn]),
        ("Identity=alice&Identity=bob", &[&alice_fcm, &alice_apn, &bob_gcm]),
        ("Identity=alice&BindingType=apn", &[&alice_apn]),
        ("BindingType=apn&Identity=carol", &[]),
        ("Identity=nobody", &[]),
        ("Identity=ALICE", &[]),
    ];
    for (query, want) in cases {
        let body = p.app.get(&format!("{path}?{query}")).await.expect(200);
        let got = sids(list(&body, "bindings"));
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{query}");
        // The filters stay in the page URLs.
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            assert!(text(&body["meta"]["url"]).contains(&format!("{k}={v}")), "{query}: {body}");
        }
    }
    let body = p.app.get(&format!("{path}?BindingType=sms")).await.expect_error(400, 20001);
    assert!(message(&body).contains("BindingType"), "{body}");

    // Pages of one, next_page_url followed as given.
    let (items, metas) = walk(&p.app, &format!("{path}?PageSize=1"), "bindings").await;
    assert_eq!(sids(&items), everything);
    assert_eq!(metas.len(), 4);
    assert!(metas.iter().all(|m| m["page_size"] == 1), "{metas:?}");
    let (items, metas) = walk(&p.app, &format!("{path}?BindingType=fcm&PageSize=1"), "bindings").await;
    assert_eq!(sids(&items), [alice_fcm.clone(), carol_fcm.clone()]);
    assert_eq!(metas.len(), 2);
    assert!(text(&metas[0]["next_page_url"]).contains("BindingType=fcm"), "{}", metas[0]);
    let (items, _) =
        walk(&p.app, &format!("{path}?Identity=alice&Identity=carol&PageSize=2"), "bindings").await;
    assert_eq!(sids(&items), [alice_fcm, alice_apn, carol_fcm]);

    // Chat pages at most 50.
    let capped = p.app.get(&format!("{path}?PageSize=1000")).await.expect(200);
    assert_eq!(capped["meta"]["page_size"], 50);
    assert_eq!(sids(list(&capped, "bindings")), everything);
    expect_status_error(p.app.get(&format!("{path}?PageSize=0")).await, 400);
}

#[actix_web::test]
async fn a_users_bindings_are_listed_fetched_and_deleted_by_sid_or_identity() {
    let p = Push::new().await;
    let alice = p.user("alice").await;
    let bob = p.user("bob").await;
    let carol = p.user("carol").await;
    let phone = sid(&p.register_for("alice", "fcm", "alice-phone").await);
    let ipad = sid(&p.register_for("alice", "apn", "alice-ipad").await);
    let bobs = sid(&p.register_for("bob", "gcm", "bob-phone").await);

    for key in [alice.as_str(), "alice"] {
        let body = p.app.get(&user_bindings_path(&p.is, key)).await.expect(200);
        let items = list(&body, "bindings");
        for b in items {
            assert_user_binding(b, &p.is, &alice);
            assert_eq!(b["identity"], "alice");
        }
        assert_eq!(sids(items), [phone.clone(), ipad.clone()], "{key}");
    }
    let apn_only = format!("{}?BindingType=apn", user_bindings_path(&p.is, "alice"));
    assert_eq!(p.listed(&apn_only).await, std::slice::from_ref(&ipad));
    let both = format!("{}?BindingType=apn&BindingType=fcm", user_bindings_path(&p.is, &alice));
    assert_eq!(p.listed(&both).await, [phone.clone(), ipad.clone()]);
    p.app
        .get(&format!("{}?BindingType=voip", user_bindings_path(&p.is, "alice")))
        .await
        .expect_error(400, 20001);
    assert_eq!(p.listed(&user_bindings_path(&p.is, &bob)).await, std::slice::from_ref(&bobs));
    assert!(p.listed(&user_bindings_path(&p.is, &carol)).await.is_empty());

    // Paged under the user.
    let (items, metas) =
        walk(&p.app, &format!("{}?PageSize=1", user_bindings_path(&p.is, &alice)), "bindings").await;
    assert_eq!(sids(&items), [phone.clone(), ipad.clone()]);
    assert_eq!(metas.len(), 2);
    let under = format!("{HOST}/v2/Services/{}/Users/", p.is);
    assert!(text(&metas[0]["next_page_url"]).starts_with(&under), "{}", metas[0]);

    // Fetched by SID or identity: the service's binding with user_sid.
    let one = p.app.get(&format!("{}/{phone}", user_bindings_path(&p.is, &alice))).await.expect(200);
    assert_user_binding(&one, &p.is, &alice);
    assert_eq!(one["endpoint"], "alice-phone");
    assert_hidden(&one, "alice-alice-phone-token");
    assert_eq!(p.app.get(&format!("{}/{phone}", user_bindings_path(&p.is, "alice"))).await.expect(200), one);
    let service_view = p.app.get(&binding_path(&p.is, &phone)).await.expect(200);
    for key in COMMON_KEYS {
        assert_eq!(one[key], service_view[key], "{key}");
    }

    // Someone else's binding is not under this user.
    let bobs_under_alice = format!("{}/{bobs}", user_bindings_path(&p.is, &alice));
    p.app.get(&bobs_under_alice).await.expect_error(404, 20404);
    p.app.delete(&bobs_under_alice).await.expect_error(404, 20404);
    p.app.get(&binding_path(&p.is, &bobs)).await.expect(200);
    // Unknown users.
    p.app.get(&user_bindings_path(&p.is, "ghost")).await.expect_error(404, 50200);
    p.app.get(&format!("{}/{phone}", user_bindings_path(&p.is, "ghost"))).await.expect_error(404, 50200);
    p.app.delete(&format!("{}/{phone}", user_bindings_path(&p.is, "ghost"))).await.expect_error(404, 50200);
    let no_user = format!("US{}", "0".repeat(32));
    p.app.get(&user_bindings_path(&p.is, &no_user)).await.expect_error(404, 50200);
    // Unknown bindings of a known user.
    let no_binding = format!("BS{}", "0".repeat(32));
    p.app.get(&format!("{}/{no_binding}", user_bindings_path(&p.is, &alice))).await.expect_error(404, 20404);

    // Deleted through the user (by identity): gone everywhere.
    let path = format!("{}/{phone}", user_bindings_path(&p.is, "alice"));
    let deleted = p.app.delete(&path).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.raw.is_empty());
    p.app.get(&path).await.expect_error(404, 20404);
    p.app.get(&binding_path(&p.is, &phone)).await.expect_error(404, 20404);
    p.app.get(&v1_binding_path(&p.is, &phone)).await.expect_error(404, 20404);
    assert_eq!(p.listed(&user_bindings_path(&p.is, "alice")).await, std::slice::from_ref(&ipad));
    assert_eq!(p.listed(&bindings_path(&p.is)).await, [ipad, bobs]);
}

#[actix_web::test]
async fn end_users_see_and_delete_only_their_own_bindings() {
    let p = Push::new().await;
    let alice = p.phone("alice");
    let bob = p.phone("bob");
    let phone = sid(&p.register(&alice, &[("BindingType", "fcm"), ("Address", "a1")]).await.expect(201));
    let form = [("BindingType", "fcm"), ("Address", "a2"), ("Endpoint", "alice-tablet")];
    let tablet = sid(&p.register(&alice, &form).await.expect(201));
    let bobs = sid(&p.register(&bob, &[("BindingType", "fcm"), ("Address", "b1")]).await.expect(201));
    let bob_us = p.user_sid("bob").await;
    let alice_us = p.user_sid("alice").await;
    let path = bindings_path(&p.is);

    // Lists: her own only; the account sees all.
    assert_eq!(p.listed_as(&alice, &path).await, [phone.clone(), tablet.clone()]);
    assert_eq!(p.listed_as(&bob, &path).await, std::slice::from_ref(&bobs));
    assert_eq!(p.listed(&path).await, [phone.clone(), tablet.clone(), bobs.clone()]);
    assert!(p.listed_as(&alice, &format!("{path}?Identity=bob")).await.is_empty());
    let both = format!("{path}?Identity=alice&Identity=bob");
    assert_eq!(p.listed_as(&alice, &both).await, [phone.clone(), tablet.clone()]);
    assert_eq!(p.listed_as(&alice, &v1_bindings_path(&p.is)).await, [phone.clone(), tablet.clone()]);
    assert_eq!(
        p.listed_as(&alice, &user_bindings_path(&p.is, "alice")).await,
        [phone.clone(), tablet.clone()]
    );
    assert_eq!(
        p.listed_as(&alice, &user_bindings_path(&p.is, &alice_us)).await,
        [phone.clone(), tablet.clone()]
    );
    // Her pages walk her own.
    let first = p.app.as_user(&alice, "GET", &format!("{path}?PageSize=1"), &[]).await.expect(200);
    assert_eq!(sids(list(&first, "bindings")), std::slice::from_ref(&phone));
    let next = TestApp::path_of(&text(&first["meta"]["next_page_url"]));
    let second = p.app.as_user(&alice, "GET", &next, &[]).await.expect(200);
    assert_eq!(sids(list(&second, "bindings")), std::slice::from_ref(&tablet));
    assert!(second["meta"]["next_page_url"].is_null(), "{second}");

    // Another user's bindings do not exist for her.
    for user in ["bob", bob_us.as_str()] {
        p.app.as_user(&alice, "GET", &user_bindings_path(&p.is, user), &[]).await.expect_error(404, 20404);
        let theirs = format!("{}/{bobs}", user_bindings_path(&p.is, user));
        p.app.as_user(&alice, "GET", &theirs, &[]).await.expect_error(404, 20404);
        p.app.as_user(&alice, "DELETE", &theirs, &[]).await.expect_error(404, 20404);
    }
    for theirs in [
        binding_path(&p.is, &bobs),
        v1_binding_path(&p.is, &bobs),
        format!("{}/{bobs}", user_bindings_path(&p.is, "alice")),
    ] {
        p.app.as_user(&alice, "GET", &theirs, &[]).await.expect_error(404, 20404);
        p.app.as_user(&alice, "DELETE", &theirs, &[]).await.expect_error(404, 20404);
    }
    assert_eq!(
        p.app.as_user(&bob, "GET", &binding_path(&p.is, &bobs), &[]).await.expect(200)["identity"],
        "bob"
    );

    // Her own she fetches and deletes, through either API.
    let mine = p.app.as_user(&alice, "GET", &v1_binding_path(&p.is, &phone), &[]).await.expect(200);
    assert_v1_binding(&mine, &p.is);
    let deleted = p.app.as_user(&alice, "DELETE", &binding_path(&p.is, &tablet), &[]).await;
    assert_eq!(deleted.status, 204);
    p.app.as_user(&alice, "GET", &binding_path(&p.is, &tablet), &[]).await.expect_error(404, 20404);
    let under_her = format!("{}/{phone}", user_bindings_path(&p.is, "alice"));
    assert_eq!(p.app.as_user(&alice, "DELETE", &under_her, &[]).await.status, 204);
    assert!(p.listed_as(&alice, &path).await.is_empty());
    assert_eq!(p.listed(&path).await, std::slice::from_ref(&bobs));

    // A token of another service of the account sees nothing of this one.
    let other = sid(&create_service(&p.app, "elsewhere").await);
    let elsewhere = p.token_in(&other, "bob", None, None);
    p.app.as_user(&elsewhere, "GET", &path, &[]).await.expect_error(404, 20404);
    p.app.as_user(&elsewhere, "GET", &binding_path(&p.is, &bobs), &[]).await.expect_error(404, 20404);
    p.app.as_user(&elsewhere, "DELETE", &binding_path(&p.is, &bobs), &[]).await.expect_error(404, 20404);
    assert!(p.listed_as(&elsewhere, &bindings_path(&other)).await.is_empty());
    p.app.get(&binding_path(&p.is, &bobs)).await.expect(200);
}

#[actix_web::test]
async fn a_deleted_or_unknown_binding_is_not_found() {
    let p = Push::new().await;
    let token = p.phone("alice");
    let bs = sid(&p.register(&token, &[("BindingType", "fcm"), ("Address", "gone-token")]).await.expect(201));
    let deleted = p.app.delete(&binding_path(&p.is, &bs)).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.raw.is_empty());
    assert!(stored_address(&p.app, &bs).await.is_none());
    for path in [
        binding_path(&p.is, &bs),
        v1_binding_path(&p.is, &bs),
        format!("{}/{bs}", user_bindings_path(&p.is, "alice")),
    ] {
        p.app.get(&path).await.expect_error(404, 20404);
        p.app.delete(&path).await.expect_error(404, 20404);
        p.app.as_user(&token, "GET", &path, &[]).await.expect_error(404, 20404);
    }
    assert!(p.listed(&bindings_path(&p.is)).await.is_empty());

    let unknown = format!("BS{}", "0".repeat(32));
    let user = p.user_sid("alice").await;
    for key in [unknown.as_str(), "nonsense", user.as_str(), "bs00000000000000000000000000000000"] {
        p.app.get(&binding_path(&p.is, key)).await.expect_error(404, 20404);
        p.app.delete(&binding_path(&p.is, key)).await.expect_error(404, 20404);
        p.app.get(&v1_binding_path(&p.is, key)).await.expect_error(404, 20404);
        p.app.delete(&v1_binding_path(&p.is, key)).await.expect_error(404, 20404);
    }

    // Registered again: a new binding.
    let again = p.register(&token, &[("BindingType", "fcm"), ("Address", "gone-token")]).await.expect(201);
    assert_ne!(sid(&again), bs);
}

// ---------------------------------------------------------------------------
// Conversations v1

#[actix_web::test]
async fn conversations_v1_serves_the_same_bindings_in_its_shape() {
    let p = Push::new().await;
    let token = p.phone("alice");
    let v1 = p
        .app
        .as_user(
            &token,
            "POST",
            &v1_bindings_path(&p.is),
            &[("BindingType", "fcm"), ("Address", "v1-device-token")],
        )
        .await
        .expect(201);
    assert_v1_binding(&v1, &p.is);
    assert_hidden(&v1, "v1-device-token");
    assert_eq!(v1["account_sid"], p.app.account.sid.as_str());
    assert_eq!(v1["identity"], "alice");
    assert_eq!(v1["endpoint"], "alice-phone");
    assert_eq!(v1["credential_sid"], p.fcm.as_str());
    assert_eq!(v1["binding_type"], "fcm");
    assert_eq!(message_types(&v1), ALL_TYPES);
    let bs = sid(&v1);

    // The same row in Chat's shape.
    let chat = p.app.get(&binding_path(&p.is, &bs)).await.expect(200);
    assert_binding(&chat, &p.is);
    for key in COMMON_KEYS {
        assert_eq!(chat[key], v1[key], "{key}");
    }
    assert_eq!(chat["service_sid"], v1["chat_service_sid"]);
    assert_eq!(p.app.get(&v1_binding_path(&p.is, &bs)).await.expect(200), v1);

    // Registered again through Chat: the same binding, read back in /v1.
    let form = [("BindingType", "fcm"), ("Address", "v2-device-token"), ("MessageTypes", "new_message")];
    assert_eq!(sid(&p.register(&token, &form).await.expect(200)), bs);
    let fetched = p.app.get(&v1_binding_path(&p.is, &bs)).await.expect(200);
    assert_v1_binding(&fetched, &p.is);
    assert_eq!(message_types(&fetched), ["new_message"]);
    assert_eq!(stored_address(&p.app, &bs).await.as_deref(), Some("v2-device-token"));
    // And through /v1 again, with account credentials.
    let form = [
        ("Identity", "alice"),
        ("BindingType", "fcm"),
        ("Address", "v1-device-token"),
        ("Endpoint", "alice-phone"),
        ("CredentialSid", p.fcm.as_str()),
    ];
    let again = p.app.post(&v1_bindings_path(&p.is), &form).await.expect(200);
    assert_v1_binding(&again, &p.is);
    assert_eq!(sid(&again), bs);
    assert_eq!(message_types(&again), ALL_TYPES);

    // Registered through Chat, listed through Conversations.
    p.user("bob").await;
    let bobs = sid(&p.register_for("bob", "apn", "bob-ipad").await);
    let path = v1_bindings_path(&p.is);
    let body = p.app.get(&path).await.expect(200);
    for b in list(&body, "bindings") {
        assert_v1_binding(b, &p.is);
    }
    assert_eq!(sids(list(&body, "bindings")), [bs.clone(), bobs.clone()]);
    assert!(text(&body["meta"]["url"]).starts_with(&format!("{HOST}{path}?")), "{body}");
    assert_eq!(p.listed(&format!("{path}?BindingType=apn")).await, std::slice::from_ref(&bobs));
    assert_eq!(p.listed(&format!("{path}?Identity=alice")).await, std::slice::from_ref(&bs));
    assert_eq!(p.listed(&format!("{path}?Identity=alice&Identity=bob")).await, [bs.clone(), bobs.clone()]);
    assert!(p.listed(&format!("{path}?Identity=bob&BindingType=fcm")).await.is_empty());
    p.app.get(&format!("{path}?BindingType=sms")).await.expect_error(400, 20001);

    // Pages of one, through /v1 URLs.
    let first = p.app.get(&format!("{path}?PageSize=1")).await.expect(200);
    assert_eq!(sids(list(&first, "bindings")), std::slice::from_ref(&bs));
    let next = text(&first["meta"]["next_page_url"]);
    assert!(next.starts_with(&format!("{HOST}{path}?")), "{next}");
    let second = p.app.get(&TestApp::path_of(&next)).await.expect(200);
    assert_eq!(sids(list(&second, "bindings")), std::slice::from_ref(&bobs));
    assert!(second["meta"]["next_page_url"].is_null(), "{second}");
    // Conversations pages up to 100.
    assert_eq!(p.app.get(&format!("{path}?PageSize=1000")).await.expect(200)["meta"]["page_size"], 100);

    // Deleted through /v1: gone from Chat.
    assert_eq!(p.app.delete(&v1_binding_path(&p.is, &bs)).await.status, 204);
    p.app.get(&binding_path(&p.is, &bs)).await.expect_error(404, 20404);
    assert_eq!(p.listed(&bindings_path(&p.is)).await, [bobs]);
}

// ---------------------------------------------------------------------------
// What a binding goes with

#[actix_web::test]
async fn deleting_a_credential_deletes_its_bindings() {
    let p = Push::new().await;
    let spare = credential_of(&p.app, &p.app.account, "fcm").await;
    let alice = p.phone("alice");
    let with_fcm = sid(&p.register(&alice, &[("BindingType", "fcm"), ("Address", "a1")]).await.expect(201));
    let form = [
        ("BindingType", "fcm"),
        ("Address", "a2"),
        ("Endpoint", "alice-tablet"),
        ("CredentialSid", spare.as_str()),
    ];
    let with_spare = sid(&p.register(&alice, &form).await.expect(201));
    let form = [("BindingType", "apn"), ("Address", "a3"), ("CredentialSid", p.apn.as_str())];
    let with_apn = sid(&p.register(&alice, &form).await.expect(201));

    assert_eq!(p.app.delete(&format!("/v2/Credentials/{}", p.fcm)).await.status, 204);
    p.app.get(&binding_path(&p.is, &with_fcm)).await.expect_error(404, 20404);
    assert!(stored_address(&p.app, &with_fcm).await.is_none());
    assert_eq!(p.listed(&bindings_path(&p.is)).await, [with_spare.clone(), with_apn.clone()]);

    assert_eq!(p.app.delete(&format!("/v1/Credentials/{spare}")).await.status, 204);
    p.app.get(&v1_binding_path(&p.is, &with_spare)).await.expect_error(404, 20404);
    assert_eq!(p.listed(&bindings_path(&p.is)).await, std::slice::from_ref(&with_apn));
    assert_eq!(p.listed_as(&alice, &user_bindings_path(&p.is, "alice")).await, [with_apn]);

    // Her token's grant names the deleted credential: registering with it is refused.
    let body =
        p.register(&alice, &[("BindingType", "fcm"), ("Address", "a1")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("CredentialSid"), "{body}");
}

#[actix_web::test]
async fn deleting_a_user_deletes_their_bindings() {
    let p = Push::new().await;
    let alice = p.user("alice").await;
    let bob = p.user("bob").await;
    let carol = p.user("carol").await;
    let phone = sid(&p.register_for("alice", "fcm", "alice-phone").await);
    let ipad = sid(&p.register_for("alice", "apn", "alice-ipad").await);
    let bobs = sid(&p.register_for("bob", "gcm", "bob-phone").await);
    let carols = sid(&p.register_for("carol", "fcm", "carol-phone").await);

    assert_eq!(p.app.delete(&format!("{}/{alice}", users_path(&p.is))).await.status, 204);
    for bs in [&phone, &ipad] {
        p.app.get(&binding_path(&p.is, bs)).await.expect_error(404, 20404);
        assert!(stored_address(&p.app, bs).await.is_none(), "{bs}");
    }
    assert_eq!(p.listed(&bindings_path(&p.is)).await, [bobs.clone(), carols.clone()]);
    p.app.get(&user_bindings_path(&p.is, "alice")).await.expect_error(404, 50200);
    p.app.get(&user_bindings_path(&p.is, &alice)).await.expect_error(404, 50200);

    // Through Conversations too.
    assert_eq!(p.app.delete(&format!("/v1/Services/{}/Users/{bob}", p.is)).await.status, 204);
    p.app.get(&v1_binding_path(&p.is, &bobs)).await.expect_error(404, 20404);
    assert_eq!(p.listed(&v1_bindings_path(&p.is)).await, std::slice::from_ref(&carols));
    assert_eq!(p.listed(&user_bindings_path(&p.is, &carol)).await, [carols]);

    // Her token makes her a new User, who has no bindings until she registers.
    let token = p.phone("alice");
    assert!(p.listed_as(&token, &bindings_path(&p.is)).await.is_empty());
    let again =
        p.register(&token, &[("BindingType", "fcm"), ("Address", "new-phone-token")]).await.expect(201);
    assert_ne!(sid(&again), phone);
    let new_us = p.user_sid("alice").await;
    assert_ne!(new_us, alice);
    let hers =
        p.app.get(&format!("{}/{}", user_bindings_path(&p.is, &new_us), sid(&again))).await.expect(200);
    assert_user_binding(&hers, &p.is, &new_us);
}

#[actix_web::test]
async fn bindings_stay_in_their_service_and_account() {
    let p = Push::new().await;

    // Another service of the same account.
    let other_is = sid(&create_service(&p.app, "second").await);
    p.app.post(&users_path(&other_is), &[("Identity", "alice")]).await.expect(201);
    let form = [
        ("Identity", "alice"),
        ("BindingType", "fcm"),
        ("Address", "second-service-token"),
        ("Endpoint", "alice-phone"),
        ("CredentialSid", p.fcm.as_str()),
    ];
    let there = p.app.post(&bindings_path(&other_is), &form).await.expect(201);
    assert_binding(&there, &other_is);
    let there = sid(&there);
    p.app.get(&binding_path(&p.is, &there)).await.expect_error(404, 20404);
    p.app.get(&v1_binding_path(&p.is, &there)).await.expect_error(404, 20404);
    p.app.delete(&binding_path(&p.is, &there)).await.expect_error(404, 20404);
    assert!(p.listed(&bindings_path(&p.is)).await.is_empty());
    assert_eq!(p.listed(&bindings_path(&other_is)).await, std::slice::from_ref(&there));
    assert_eq!(p.listed(&v1_bindings_path(&other_is)).await, std::slice::from_ref(&there));
    // Alice of this service is another user: registering her here is a new binding.
    p.user("alice").await;
    let here = p.app.post(&bindings_path(&p.is), &form).await.expect(201);
    assert_ne!(sid(&here), there);

    // Another account's binding, through its service and through ours.
    let other = p.app.create_account().await;
    let config = p.app.get_as(&other, "/v1/Configuration").await.expect(200);
    let their_is = text(&config["default_chat_service_sid"]);
    let their_cr = credential_of(&p.app, &other, "fcm").await;
    p.app.post_as(&other, &users_path(&their_is), &[("Identity", "alice")]).await.expect(201);
    let form = [
        ("Identity", "alice"),
        ("BindingType", "fcm"),
        ("Address", "their-token"),
        ("Endpoint", "alice-phone"),
        ("CredentialSid", their_cr.as_str()),
    ];
    let theirs = sid(&p.app.post_as(&other, &bindings_path(&their_is), &form).await.expect(201));
    for path in [
        binding_path(&p.is, &theirs),
        binding_path(&their_is, &theirs),
        v1_binding_path(&p.is, &theirs),
        v1_binding_path(&their_is, &theirs),
        format!("{}/{theirs}", user_bindings_path(&their_is, "alice")),
    ] {
        p.app.get(&path).await.expect_error(404, 20404);
        p.app.delete(&path).await.expect_error(404, 20404);
    }
    p.app.get(&bindings_path(&their_is)).await.expect_error(404, 20404);
    p.app.get(&v1_bindings_path(&their_is)).await.expect_error(404, 20404);
    // Registering into their service is like any path of theirs.
    let ours = [
        ("Identity", "alice"),
        ("BindingType", "fcm"),
        ("Address", "t"),
        ("Endpoint", "e"),
        ("CredentialSid", p.fcm.as_str()),
    ];
    p.app.post(&bindings_path(&their_is), &ours).await.expect_error(404, 20404);
    // Our end users cannot reach it either.
    let alice = p.phone("alice");
    p.app.as_user(&alice, "GET", &binding_path(&p.is, &theirs), &[]).await.expect_error(404, 20404);
    p.app.as_user(&alice, "GET", &bindings_path(&their_is), &[]).await.expect_error(404, 20404);

    // It is still theirs.
    let still = p.app.get_as(&other, &binding_path(&their_is, &theirs)).await.expect(200);
    assert_eq!(still["account_sid"], other.sid.as_str());
    assert_eq!(
        p.app.get_as(&other, &bindings_path(&their_is)).await.expect(200)["bindings"][0]["sid"],
        theirs
    );
    assert!(!p.listed(&bindings_path(&p.is)).await.contains(&theirs));
}

#[actix_web::test]
async fn bindings_need_an_authenticated_caller() {
    let p = Push::new().await;
    // An unauthenticated request is refused before anything else.
    let resp = p.app.send("POST", &bindings_path(&p.is), &[("BindingType", "fcm")], None).await;
    assert_eq!(resp.status, 401);
    let resp = p.app.send("GET", &bindings_path(&p.is), &[], None).await;
    assert_eq!(resp.status, 401);
    // A token signed with another secret is refused.
    let mut claims = token_claims(&p.key, &p.app.account.sid, "alice", &p.is, 3600);
    claims["grants"]["chat"]["endpoint_id"] = json!("alice-phone");
    let forged = sign_token(&claims, "0123456789abcdef0123456789abcdef");
    assert_eq!(p.register(&forged, &[("BindingType", "fcm"), ("Address", "t")]).await.status, 401);
    // A plain token (util::access_token) works like any other.
    let plain = access_token(&p.key, &p.app.account.sid, "alice", &p.is);
    assert!(p.listed_as(&plain, &bindings_path(&p.is)).await.is_empty());
}

/// A device token belongs to the user who registered it last: the phone
/// changed hands, or its user signed in as someone else, and the earlier
/// user's notifications must not reach it.
#[actix_web::test]
async fn a_device_token_belongs_to_the_last_user_who_registered_it() {
    let push = Push::new().await;
    let form = [("BindingType", "fcm"), ("Address", "shared-device-token")];
    let alice = push.register(&push.phone("alice"), &form).await.expect(201);
    let bob = push.register(&push.phone("bob"), &form).await.expect(201);
    assert_ne!(sid(&alice), sid(&bob));
    push.app.get(&binding_path(&push.is, &sid(&alice))).await.expect_error(404, 20404);
    push.app.get(&binding_path(&push.is, &sid(&bob))).await.expect(200);
    // Another device of alice's is not touched.
    let other = [("BindingType", "fcm"), ("Address", "alice-tablet-token"), ("Endpoint", "alice-tablet")];
    let tablet = push.register(&push.phone("alice"), &other).await.expect(201);
    push.register(&push.phone("carol"), &[("BindingType", "fcm"), ("Address", "carol-token")])
        .await
        .expect(201);
    push.app.get(&binding_path(&push.is, &sid(&tablet))).await.expect(200);
}

/// A user keeps its newest 20 devices: registering another forgets the one
/// registered longest ago.
#[actix_web::test]
async fn a_user_keeps_at_most_twenty_devices() {
    let push = Push::new().await;
    push.user("alice").await;
    let mut registered = Vec::new();
    for n in 0..21 {
        registered.push(sid(&push.register_for("alice", "fcm", &format!("device-{n}")).await));
    }
    let (kept, _) = walk(&push.app, &user_bindings_path(&push.is, "alice"), "bindings").await;
    assert_eq!(sids(&kept), registered[1..].to_vec());
    assert_eq!(stored_address(&push.app, &registered[0]).await, None);
    // Registering a kept device again forgets nothing.
    let again = [
        ("Identity", "alice"),
        ("BindingType", "fcm"),
        ("Address", "alice-device-5-token"),
        ("Endpoint", "device-5"),
        ("CredentialSid", push.fcm.as_str()),
    ];
    push.app.post(&bindings_path(&push.is), &again).await.expect(200);
    let (kept, _) = walk(&push.app, &user_bindings_path(&push.is, "alice"), "bindings").await;
    assert_eq!(kept.len(), 20);
}

/// Two registrations of one device at the same moment (an app that
/// registers on start and on token refresh) both answer, with one binding.
#[actix_web::test]
async fn two_registrations_of_one_device_at_once_both_succeed() {
    let push = Push::new().await;
    let token = push.phone("alice");
    for round in 0..8 {
        let address = format!("token-{round}");
        let form = [("BindingType", "fcm"), ("Address", address.as_str()), ("Endpoint", "phone")];
        let (a, b) = futures_util::join!(push.register(&token, &form), push.register(&token, &form));
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert!(statuses == [200, 201] || statuses == [200, 200], "{} / {}", a.body, b.body);
    }
    let mine = push.listed_as(&token, &bindings_path(&push.is)).await;
    assert_eq!(mine.len(), 1);
}

/// `links.user` names the user by identity, as Twilio's did, as one path
/// segment whatever the identity holds.
#[actix_web::test]
async fn the_user_link_escapes_the_identity() {
    let push = Push::new().await;
    push.user("ann smith/ops?").await;
    let created = push.register_for("ann smith/ops?", "apn", "mac").await;
    let link = format!("{HOST}/v2/Services/{}/Users/ann%20smith%2Fops%3F", push.is);
    assert_eq!(created["links"]["user"], link.as_str());
    push.app.get(&TestApp::path_of(&link)).await.expect(200);
}
