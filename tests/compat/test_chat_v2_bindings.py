"""Push registrations (Bindings, `BS...`) through twilio-python: Chat v2's
`services(IS).bindings` and a user's `users(US).user_bindings`, and
Conversations v1's `services(IS).bindings` (list with its filters, fetch,
delete, and a 404 as a TwilioRestException).

twilio-python cannot create a binding: Twilio's client SDKs registered
devices through a private endpoint. Confab registers with POST on the same
list, so the tests do that with plain HTTP, as an app holding an access token
(whose ChatGrant carries `endpoint_id` and `push_credential_sid`) would, or as
the account naming a user's Identity.

Every test uses a fresh account and a Chat service of its own, so lists hold
exactly what the test made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant

from support import Account, expect_page_error, expect_rest_error, uniq

INVALID_PARAMETER = 20001
FORBIDDEN = 20403
NOT_FOUND = 20404
USER_NOT_FOUND = 50200

# The reference's schemas (twilio_chat_v2.yaml chat.v2.service.binding and
# chat.v2.service.user.user_binding; twilio_conversations_v1.yaml
# conversations.v1.service.service_binding), exactly.
BINDING_KEYS = {
    "sid", "account_sid", "service_sid", "date_created", "date_updated", "endpoint", "identity",
    "credential_sid", "binding_type", "message_types", "url", "links",
}
USER_BINDING_KEYS = {
    "sid", "account_sid", "service_sid", "date_created", "date_updated", "endpoint", "identity",
    "user_sid", "credential_sid", "binding_type", "message_types", "url",
}
V1_BINDING_KEYS = {
    "sid", "account_sid", "chat_service_sid", "credential_sid", "date_created", "date_updated",
    "endpoint", "identity", "binding_type", "message_types", "url",
}
META_KEYS = {"page", "page_size", "first_page_url", "previous_page_url", "url", "next_page_url", "key"}
# A binding's message types when the registration names none, in order.
ALL_TYPES = ["new_message", "added_to_channel", "removed_from_channel", "invited_to_channel"]

BS_RE = re.compile(r"^BS[0-9a-f]{32}$")
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIFake\n-----END CERTIFICATE-----"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpFake\n-----END RSA PRIVATE KEY-----"


# --------------------------------------------------------------------------
# Fixtures and helpers.
# --------------------------------------------------------------------------

@dataclass
class Creds:
    """One push credential of each type (CR SIDs)."""
    apn: str
    gcm: str
    fcm: str

    def of(self, binding_type: str) -> str:
        return getattr(self, binding_type)


@pytest.fixture
def acct(fresh_account) -> Account:
    return fresh_account


@pytest.fixture
def chat(acct):
    return acct.client.chat.v2


@pytest.fixture
def svc(chat):
    return chat.services.create(friendly_name=uniq("push"))


@pytest.fixture
def s(chat, svc):
    return chat.services(svc.sid)


@pytest.fixture
def conv(acct, svc):
    """The same service through Conversations v1."""
    return acct.client.conversations.v1.services(svc.sid)


@pytest.fixture
def creds(chat) -> Creds:
    return Creds(
        apn=chat.credentials.create(type="apn", friendly_name="ios", certificate=CERTIFICATE,
                                    private_key=PRIVATE_KEY).sid,
        gcm=chat.credentials.create(type="gcm", friendly_name="old android", api_key="gcm-api-key").sid,
        fcm=chat.credentials.create(type="fcm", friendly_name="android", secret="fcm-server-key").sid,
    )


@pytest.fixture
def key(acct):
    return acct.client.new_keys.create(friendly_name="push tokens")


def _token(acct: Account, key, identity: str, service_sid: str, endpoint_id: str | None = None,
           push_credential_sid: str | None = None) -> str:
    """An access token as a Chat app gets it: the ChatGrant names the device
    (`endpoint_id`) and the push credential its registrations use."""
    token = AccessToken(acct.sid, key.sid, key.secret, identity=identity, ttl=3600)
    token.add_grant(ChatGrant(service_sid=service_sid, endpoint_id=endpoint_id,
                              push_credential_sid=push_credential_sid))
    return token.to_jwt()


def _bindings_url(acct: Account, service_sid: str, version: str = "v2") -> str:
    return f"{acct.base_url}/{version}/Services/{service_sid}/Bindings"


def _as_user(http, method: str, url: str, token: str, **kwargs):
    return http.request(method, url, headers={"X-Twilio-Token": token}, timeout=30, **kwargs)


def _as_account(http, acct: Account, method: str, url: str, **kwargs):
    return http.request(method, url, auth=(acct.sid, acct.token), timeout=30, **kwargs)


def _expect(resp, status: int, code: int | None = None) -> dict:
    where = f"{resp.request.method} {resp.request.path_url}"
    assert resp.status_code == status, f"{where}: expected HTTP {status}, got {resp.status_code}: {resp.text}"
    if status == 204:
        assert resp.text == "", f"{where}: {resp.text}"
        return {}
    body = resp.json()
    if code is not None:
        assert body["code"] == code, f"{where}: expected code {code}, got {body}"
    return body


def _register(http, acct: Account, service_sid: str, creds: Creds, identity: str, binding_type: str,
              endpoint: str) -> str:
    """Account credentials register a device of the (existing) user
    `identity`; returns the BS SID."""
    form = [("Identity", identity), ("BindingType", binding_type),
            ("Address", f"{identity}-{endpoint}-device-token"), ("Endpoint", endpoint),
            ("CredentialSid", creds.of(binding_type))]
    resp = _as_account(http, acct, "POST", _bindings_url(acct, service_sid), data=form)
    body = _expect(resp, 201)
    assert set(body) == BINDING_KEYS, body
    assert "device-token" not in resp.text, resp.text
    return body["sid"]


def raw(acct: Account, method: str, path: str, status: int | None = None) -> dict:
    """The JSON body of the last `method path` exchange of the client."""
    for ex in reversed(acct.http.exchanges):
        if ex.method == method and ex.path == path and (status is None or ex.status == status):
            return ex.json()
    raise AssertionError(f"no {method} {path} exchange recorded")


def sids(items) -> list[str]:
    return [i.sid for i in items]


# --------------------------------------------------------------------------
# Registering and reading back through Chat.
# --------------------------------------------------------------------------

def test_a_device_registered_with_the_grant_reads_back_through_chat(http, acct, svc, s, creds, key):
    token = _token(acct, key, "alice", svc.sid, endpoint_id="alice-phone", push_credential_sid=creds.fcm)
    resp = _as_user(http, "POST", _bindings_url(acct, svc.sid), token,
                    data=[("BindingType", "fcm"), ("Address", "fcm-device-token-one")])
    created = _expect(resp, 201)
    assert set(created) == BINDING_KEYS, created
    assert "fcm-device-token-one" not in resp.text and "address" not in created
    assert DATE_RE.match(created["date_created"]), created

    b = s.bindings(created["sid"]).fetch()
    assert BS_RE.match(b.sid)
    assert (b.account_sid, b.service_sid) == (acct.sid, svc.sid)
    assert (b.identity, b.endpoint, b.credential_sid, b.binding_type) == \
        ("alice", "alice-phone", creds.fcm, "fcm")
    assert b.message_types == ALL_TYPES
    assert isinstance(b.date_created, datetime) and isinstance(b.date_updated, datetime)
    base = f"{acct.base_url}/v2/Services/{svc.sid}"
    assert b.url == f"{base}/Bindings/{b.sid}"
    assert b.links == {"user": f"{base}/Users/alice"}
    fetched = raw(acct, "GET", f"/v2/Services/{svc.sid}/Bindings/{b.sid}")
    assert set(fetched) == BINDING_KEYS and fetched == created

    # Her registration made her User.
    assert s.users("alice").fetch().identity == "alice"

    # The same device again: the same binding (200), what it is notified of replaced.
    resp = _as_user(http, "POST", _bindings_url(acct, svc.sid), token,
                    data=[("BindingType", "fcm"), ("Address", "fcm-device-token-two"),
                          ("MessageTypes", "new_message"), ("MessageTypes", "added_to_channel")])
    again = _expect(resp, 200)
    assert again["sid"] == b.sid and again["date_created"] == created["date_created"]
    assert s.bindings(b.sid).fetch().message_types == ["new_message", "added_to_channel"]
    # Another endpoint is another binding.
    resp = _as_user(http, "POST", _bindings_url(acct, svc.sid), token,
                    data=[("BindingType", "apn"), ("Address", "apn-device-token"),
                          ("Endpoint", "alice-ipad"), ("CredentialSid", creds.apn)])
    ipad = _expect(resp, 201)
    assert (ipad["endpoint"], ipad["credential_sid"]) == ("alice-ipad", creds.apn)
    assert sids(s.bindings.list()) == [b.sid, ipad["sid"]]


def test_binding_list_filters_and_pages(http, acct, svc, s, creds):
    for identity in ("alice", "bob", "carol"):
        s.users.create(identity=identity)
    alice_fcm = _register(http, acct, svc.sid, creds, "alice", "fcm", "alice-phone")
    alice_apn = _register(http, acct, svc.sid, creds, "alice", "apn", "alice-ipad")
    bob_gcm = _register(http, acct, svc.sid, creds, "bob", "gcm", "bob-phone")
    carol_fcm = _register(http, acct, svc.sid, creds, "carol", "fcm", "carol-phone")
    everything = [alice_fcm, alice_apn, bob_gcm, carol_fcm]

    listed = s.bindings.list()
    assert sids(listed) == everything
    assert [b.identity for b in listed] == ["alice", "alice", "bob", "carol"]
    assert [b.binding_type for b in listed] == ["fcm", "apn", "gcm", "fcm"]
    body = raw(acct, "GET", f"/v2/Services/{svc.sid}/Bindings")
    assert set(body["meta"]) == META_KEYS and body["meta"]["key"] == "bindings"
    assert body["meta"]["page_size"] == 50
    for item in body["bindings"]:
        assert set(item) == BINDING_KEYS, item

    assert sids(s.bindings.list(binding_type=["fcm"])) == [alice_fcm, carol_fcm]
    assert sids(s.bindings.list(binding_type=["fcm", "gcm"])) == [alice_fcm, bob_gcm, carol_fcm]
    assert sids(s.bindings.list(identity=["alice"])) == [alice_fcm, alice_apn]
    assert sids(s.bindings.list(identity=["alice", "bob"])) == [alice_fcm, alice_apn, bob_gcm]
    assert sids(s.bindings.list(identity=["alice"], binding_type=["apn"])) == [alice_apn]
    assert s.bindings.list(identity=["nobody"]) == []
    expect_page_error(lambda: s.bindings.list(binding_type=["sms"]), 400, INVALID_PARAMETER)

    # Pages of one: twilio-python follows next_page_url to the end.
    acct.http.clear()
    assert sids(s.bindings.list(page_size=1)) == everything
    pages = [ex for ex in acct.http.exchanges if ex.path == f"/v2/Services/{svc.sid}/Bindings"]
    assert len(pages) == 4, [ex.url for ex in pages]
    assert pages[-1].json()["meta"]["next_page_url"] is None
    acct.http.clear()
    assert sids(s.bindings.list(binding_type=["fcm"], page_size=1)) == [alice_fcm, carol_fcm]
    assert "BindingType=fcm" in acct.http.exchanges[-1].url
    assert sids(s.bindings.list(limit=3, page_size=2)) == everything[:3]


def test_a_users_bindings(http, acct, svc, s, creds):
    alice = s.users.create(identity="alice")
    s.users.create(identity="bob")
    phone = _register(http, acct, svc.sid, creds, "alice", "fcm", "alice-phone")
    ipad = _register(http, acct, svc.sid, creds, "alice", "apn", "alice-ipad")
    bobs = _register(http, acct, svc.sid, creds, "bob", "gcm", "bob-phone")
    assert alice.links["user_bindings"] == f"{alice.url}/Bindings"

    for user in (alice.sid, "alice"):
        ubs = s.users(user).user_bindings.list()
        assert sids(ubs) == [phone, ipad]
        assert all(ub.user_sid == alice.sid and ub.identity == "alice" for ub in ubs)
    body = raw(acct, "GET", f"/v2/Services/{svc.sid}/Users/alice/Bindings")
    assert body["meta"]["key"] == "bindings"
    for item in body["bindings"]:
        assert set(item) == USER_BINDING_KEYS, item
    assert sids(s.users("alice").user_bindings.list(binding_type=["apn"])) == [ipad]
    assert sids(s.users(alice.sid).user_bindings.list(page_size=1)) == [phone, ipad]
    assert sids(s.users("bob").user_bindings.list()) == [bobs]

    ub = s.users(alice.sid).user_bindings(phone).fetch()
    assert (ub.sid, ub.account_sid, ub.service_sid, ub.user_sid) == (phone, acct.sid, svc.sid, alice.sid)
    assert (ub.identity, ub.endpoint, ub.binding_type, ub.credential_sid) == \
        ("alice", "alice-phone", "fcm", creds.fcm)
    assert ub.message_types == ALL_TYPES
    assert isinstance(ub.date_created, datetime)
    assert ub.url == f"{acct.base_url}/v2/Services/{svc.sid}/Users/{alice.sid}/Bindings/{phone}"
    assert set(raw(acct, "GET", f"/v2/Services/{svc.sid}/Users/{alice.sid}/Bindings/{phone}")) == \
        USER_BINDING_KEYS
    assert s.users("alice").user_bindings(ipad).fetch().binding_type == "apn"

    # Another user's binding is not under this one; unknown users are 50200.
    expect_rest_error(lambda: s.users(alice.sid).user_bindings(bobs).fetch(), 404, NOT_FOUND)
    expect_rest_error(lambda: s.users(alice.sid).user_bindings(bobs).delete(), 404, NOT_FOUND)
    expect_rest_error(lambda: s.users("ghost").user_bindings(phone).fetch(), 404, USER_NOT_FOUND)
    expect_page_error(lambda: s.users("ghost").user_bindings.list(), 404, USER_NOT_FOUND)

    assert s.users("alice").user_bindings(phone).delete() is True
    expect_rest_error(lambda: s.bindings(phone).fetch(), 404, NOT_FOUND)
    expect_rest_error(lambda: s.users(alice.sid).user_bindings(phone).fetch(), 404, NOT_FOUND)
    assert sids(s.bindings.list()) == [ipad, bobs]


# --------------------------------------------------------------------------
# Conversations v1: the same rows.
# --------------------------------------------------------------------------

def test_conversations_v1_bindings_are_the_same_rows(http, acct, svc, s, conv, creds, key):
    token = _token(acct, key, "alice", svc.sid, endpoint_id="alice-phone", push_credential_sid=creds.fcm)
    resp = _as_user(http, "POST", _bindings_url(acct, svc.sid, "v1"), token,
                    data=[("BindingType", "fcm"), ("Address", "v1-device-token")])
    created = _expect(resp, 201)
    assert set(created) == V1_BINDING_KEYS, created
    assert "v1-device-token" not in resp.text

    b = conv.bindings(created["sid"]).fetch()
    assert BS_RE.match(b.sid)
    assert (b.account_sid, b.chat_service_sid, b.credential_sid) == (acct.sid, svc.sid, creds.fcm)
    assert (b.identity, b.endpoint, b.binding_type) == ("alice", "alice-phone", "fcm")
    assert b.message_types == ALL_TYPES
    assert isinstance(b.date_created, datetime) and isinstance(b.date_updated, datetime)
    assert b.url == f"{acct.base_url}/v1/Services/{svc.sid}/Bindings/{b.sid}"
    assert set(raw(acct, "GET", f"/v1/Services/{svc.sid}/Bindings/{b.sid}")) == V1_BINDING_KEYS

    # The same binding through Chat.
    same = s.bindings(b.sid).fetch()
    assert (same.service_sid, same.identity, same.endpoint, same.credential_sid, same.binding_type,
            same.message_types, same.date_created) == \
        (b.chat_service_sid, b.identity, b.endpoint, b.credential_sid, b.binding_type,
         b.message_types, b.date_created)

    # Registered through Chat, listed through Conversations (with its filters).
    s.users.create(identity="bob")
    bobs = _register(http, acct, svc.sid, creds, "bob", "apn", "bob-ipad")
    assert sids(conv.bindings.list()) == [b.sid, bobs]
    body = raw(acct, "GET", f"/v1/Services/{svc.sid}/Bindings")
    assert body["meta"]["key"] == "bindings"
    for item in body["bindings"]:
        assert set(item) == V1_BINDING_KEYS, item
    assert sids(conv.bindings.list(binding_type=["apn"])) == [bobs]
    assert sids(conv.bindings.list(identity=["alice"])) == [b.sid]
    assert sids(conv.bindings.list(identity=["alice", "bob"], page_size=1)) == [b.sid, bobs]
    assert conv.bindings.list(identity=["bob"], binding_type=["fcm"]) == []

    # Deleted through Conversations: gone from Chat too.
    assert conv.bindings(b.sid).delete() is True
    expect_rest_error(lambda: conv.bindings(b.sid).fetch(), 404, NOT_FOUND)
    expect_rest_error(lambda: conv.bindings(b.sid).delete(), 404, NOT_FOUND)
    expect_rest_error(lambda: s.bindings(b.sid).fetch(), 404, NOT_FOUND)
    assert sids(s.bindings.list()) == [bobs]
    # And the other way round.
    assert s.bindings(bobs).delete() is True
    assert conv.bindings.list() == []


# --------------------------------------------------------------------------
# End users, errors, and what a binding goes with.
# --------------------------------------------------------------------------

def test_end_users_see_only_their_own_bindings(http, acct, svc, s, creds, key):
    alice = _token(acct, key, "alice", svc.sid, endpoint_id="alice-phone", push_credential_sid=creds.fcm)
    bob = _token(acct, key, "bob", svc.sid, endpoint_id="bob-phone", push_credential_sid=creds.fcm)
    url = _bindings_url(acct, svc.sid)
    mine = _expect(_as_user(http, "POST", url, alice, data={"BindingType": "fcm", "Address": "a"}), 201)["sid"]
    theirs = _expect(_as_user(http, "POST", url, bob, data={"BindingType": "fcm", "Address": "b"}), 201)["sid"]

    assert [b["sid"] for b in _expect(_as_user(http, "GET", url, alice), 200)["bindings"]] == [mine]
    assert [b["sid"] for b in _expect(_as_user(http, "GET", url, bob), 200)["bindings"]] == [theirs]
    v1 = _expect(_as_user(http, "GET", _bindings_url(acct, svc.sid, "v1"), alice), 200)
    assert [b["sid"] for b in v1["bindings"]] == [mine]
    assert sids(s.bindings.list()) == [mine, theirs]

    for other in (f"{url}/{theirs}", f"{_bindings_url(acct, svc.sid, 'v1')}/{theirs}",
                  f"{acct.base_url}/v2/Services/{svc.sid}/Users/alice/Bindings/{theirs}"):
        _expect(_as_user(http, "GET", other, alice), 404, NOT_FOUND)
        _expect(_as_user(http, "DELETE", other, alice), 404, NOT_FOUND)
    _expect(_as_user(http, "GET", f"{acct.base_url}/v2/Services/{svc.sid}/Users/bob/Bindings", alice),
            404, NOT_FOUND)
    assert s.bindings(theirs).fetch().identity == "bob"

    _expect(_as_user(http, "DELETE", f"{url}/{mine}", alice), 204)
    assert sids(s.bindings.list()) == [theirs]


def test_registration_errors(http, acct, svc, s, creds, key):
    url = _bindings_url(acct, svc.sid)
    bare = _token(acct, key, "alice", svc.sid)
    good = {"BindingType": "fcm", "Address": "t", "Endpoint": "e", "CredentialSid": creds.fcm}
    for change, param in [
        ({"BindingType": None}, "BindingType"),
        ({"BindingType": "sms"}, "BindingType"),
        ({"Address": None}, "Address"),
        ({"Endpoint": None}, "Endpoint"),
        ({"CredentialSid": None}, "CredentialSid"),
        ({"CredentialSid": "CR" + "0" * 32}, "CredentialSid"),
        ({"BindingType": "apn"}, "CredentialSid"),  # an apn binding needs an apn credential
        ({"CredentialSid": creds.apn}, "CredentialSid"),  # an fcm binding a gcm or fcm one
        ({"MessageTypes": "typing_started"}, "MessageTypes"),
    ]:
        form = {k: v for k, v in {**good, **change}.items() if v is not None}
        body = _expect(_as_user(http, "POST", url, bare, data=form), 400, INVALID_PARAMETER)
        assert param in body["message"], (form, body)

    # An end user registers only her own devices.
    _expect(_as_user(http, "POST", url, bare, data={**good, "Identity": "bob"}), 403, FORBIDDEN)
    # Account credentials name an existing user.
    _expect(_as_account(http, acct, "POST", url, data=good), 400, INVALID_PARAMETER)
    _expect(_as_account(http, acct, "POST", url, data={**good, "Identity": "ghost"}), 404, USER_NOT_FOUND)
    assert s.bindings.list() == []


def test_bindings_go_with_their_credential_and_their_user(http, acct, chat, svc, s, creds):
    s.users.create(identity="alice")
    s.users.create(identity="bob")
    phone = _register(http, acct, svc.sid, creds, "alice", "fcm", "alice-phone")
    ipad = _register(http, acct, svc.sid, creds, "alice", "apn", "alice-ipad")
    bobs = _register(http, acct, svc.sid, creds, "bob", "gcm", "bob-phone")

    assert chat.credentials(creds.apn).delete() is True
    expect_rest_error(lambda: s.bindings(ipad).fetch(), 404, NOT_FOUND)
    assert sids(s.bindings.list()) == [phone, bobs]

    assert s.users("alice").delete() is True
    expect_rest_error(lambda: s.bindings(phone).fetch(), 404, NOT_FOUND)
    expect_page_error(lambda: s.users("alice").user_bindings.list(), 404, USER_NOT_FOUND)
    assert sids(s.bindings.list()) == [bobs]


def test_unknown_and_foreign_bindings_are_rest_exceptions(http, account, acct, chat, svc, s, conv, creds):
    unknown = "BS" + "0" * 32
    err = expect_rest_error(lambda: s.bindings(unknown).fetch(), 404, NOT_FOUND)
    assert isinstance(err, TwilioRestException) and err.status == 404
    expect_rest_error(lambda: s.bindings(unknown).delete(), 404, NOT_FOUND)
    expect_rest_error(lambda: conv.bindings(unknown).fetch(), 404, NOT_FOUND)
    expect_rest_error(lambda: conv.bindings(unknown).delete(), 404, NOT_FOUND)

    # A binding of another service, through this one's path.
    other = chat.services.create(friendly_name=uniq("push-other"))
    chat.services(other.sid).users.create(identity="alice")
    elsewhere = _register(http, acct, other.sid, creds, "alice", "fcm", "alice-phone")
    expect_rest_error(lambda: s.bindings(elsewhere).fetch(), 404, NOT_FOUND)
    expect_rest_error(lambda: conv.bindings(elsewhere).fetch(), 404, NOT_FOUND)
    assert sids(chat.services(other.sid).bindings.list()) == [elsewhere]

    # Another account sees none of it.
    theirs = account.client
    expect_rest_error(lambda: theirs.chat.v2.services(other.sid).bindings(elsewhere).fetch(), 404, NOT_FOUND)
    expect_rest_error(lambda: theirs.chat.v2.services(other.sid).bindings(elsewhere).delete(), 404, NOT_FOUND)
    expect_rest_error(lambda: theirs.conversations.v1.services(other.sid).bindings(elsewhere).fetch(),
                      404, NOT_FOUND)
    expect_page_error(lambda: theirs.chat.v2.services(other.sid).bindings.list(), 404, NOT_FOUND)
    assert chat.services(other.sid).bindings(elsewhere).fetch().sid == elsewhere
