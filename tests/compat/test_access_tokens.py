"""End-user access tokens, minted with twilio-python's own helper
(`twilio.jwt.access_token.AccessToken` + `ChatGrant`) or signed by hand with
PyJWT for the hostile ones, and sent over plain HTTP as the client SDKs do
(`X-Twilio-Token: <jwt>`, or `Authorization: Bearer <jwt>`).

twilio-python's REST client only speaks Basic auth, so the admin side (keys,
conversations, participants, roles) goes through it and the end user's side
through `requests`.
"""

from __future__ import annotations

import os
import time
import warnings

import jwt
import pytest
import requests
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant

from support import is_sid, uniq

# A real (1x1) PNG followed by random bytes, so no two uploads are equal.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)

INVALID_TOKEN = 20101
FORBIDDEN = 20403
PERMISSION_DENIED = 50107


def mint(account_sid: str, key, identity: str | None, service_sid: str | None, **kwargs) -> str:
    """A token exactly as twilio-python's helper makes it."""
    token = AccessToken(account_sid, key.sid, kwargs.pop("secret", key.secret), identity=identity, **kwargs)
    if service_sid is not None:
        token.add_grant(ChatGrant(service_sid=service_sid))
    return token.to_jwt()


def as_user(http, method: str, url: str, token: str, *, bearer: bool = False, **kwargs) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if bearer:
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers["X-Twilio-Token"] = token
    return http.request(method, url, headers=headers, timeout=60, **kwargs)


def expect_error(resp: requests.Response, status: int, code: int) -> dict:
    where = f"{resp.request.method} {resp.request.path_url}"
    assert resp.status_code == status, f"{where}: expected HTTP {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert body["status"] == status, body
    assert body["code"] == code, f"{where}: expected code {code}, got {body}"
    return body


def upload(http, base_url: str, service_sid: str, token: str, filename: str = "pixel.png") -> requests.Response:
    return as_user(http, "POST", f"{base_url}/v1/Services/{service_sid}/Media", token,
                   params={"Filename": filename}, data=PNG_1X1 + os.urandom(512),
                   headers={"Content-Type": "image/png"})


class Setup:
    """A fresh account with an API key, its default service and a
    conversation alice is a participant of (added by the admin)."""

    def __init__(self, account):
        self.account = account
        self.client = account.client
        self.v1 = account.v1
        self.base = account.base_url
        self.key = self.client.new_keys.create(friendly_name="tokens")
        self.service_sid = self.v1.configuration().fetch().default_chat_service_sid
        self.conv = self.v1.conversations.create(friendly_name="tokens", unique_name=uniq("tokens"))
        self.participant = self.v1.conversations(self.conv.sid).participants.create(identity="alice")

    def token(self, identity: str = "alice", **kwargs) -> str:
        return mint(self.account.sid, self.key, identity, self.service_sid, ttl=kwargs.pop("ttl", 3600), **kwargs)

    @property
    def messages_url(self) -> str:
        return f"{self.base}/v1/Conversations/{self.conv.sid}/Messages"


@pytest.fixture
def setup(fresh_account) -> Setup:
    return Setup(fresh_account)


def test_helper_token_sends_text_and_media_until_the_role_loses_send_media(http, setup):
    s = setup
    assert s.participant.role_sid is not None
    roles = {r.friendly_name: r for r in s.v1.roles.list()}
    channel_user = roles["channel user"]
    assert s.participant.role_sid == channel_user.sid, "participants get the channel user role by default"
    assert "sendMediaMessage" in channel_user.permissions

    token = s.token("alice")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["cty"] == "twilio-fpa;v=1", header

    # Text, with the SDKs' header and with a Bearer header: author is the identity.
    resp = as_user(http, "POST", s.messages_url, token, data={"Body": "hello from alice"})
    assert resp.status_code == 201, resp.text
    msg = resp.json()
    assert is_sid(msg["sid"], "IM") and msg["author"] == "alice" and msg["body"] == "hello from alice"
    assert msg["participant_sid"] == s.participant.sid
    resp = as_user(http, "POST", s.messages_url, token, bearer=True, data={"Body": "again"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["author"] == "alice"
    # A token cannot send under another name.
    resp = as_user(http, "POST", s.messages_url, token, data={"Body": "as bob", "Author": "bob"})
    if resp.status_code == 201:
        assert resp.json()["author"] == "alice", resp.text
    else:
        expect_error(resp, 403, FORBIDDEN)

    # Media: the upload is alice's, and she can attach it.
    resp = upload(http, s.base, s.service_sid, token)
    assert resp.status_code == 201, resp.text
    media = resp.json()
    assert media["author"] == "alice", media
    assert media["service_sid"] == s.service_sid and media["filename"] == "pixel.png"
    resp = as_user(http, "POST", s.messages_url, token, data={"MediaSid": media["sid"]})
    assert resp.status_code == 201, resp.text
    sent = resp.json()
    assert sent["author"] == "alice"
    assert [m["sid"] for m in sent["media"]] == [media["sid"]], sent
    # The admin sees the same message with its media.
    fetched = s.v1.conversations(s.conv.sid).messages(sent["sid"]).fetch()
    assert fetched.author == "alice" and fetched.media[0]["sid"] == media["sid"]

    # The admin takes sendMediaMessage away from the channel user role.
    rest = [p for p in channel_user.permissions if p != "sendMediaMessage"]
    updated = s.v1.roles(channel_user.sid).update(permission=rest)
    assert sorted(updated.permissions) == sorted(rest)

    # Text still goes through; media no longer does (the change applies at once).
    resp = as_user(http, "POST", s.messages_url, token, data={"Body": "still here"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["author"] == "alice"
    resp = upload(http, s.base, s.service_sid, token, filename="second.png")
    assert resp.status_code == 201, resp.text
    second = resp.json()
    resp = as_user(http, "POST", s.messages_url, token, data={"MediaSid": second["sid"]})
    body = expect_error(resp, 403, PERMISSION_DENIED)
    assert "sendMediaMessage" in body["message"], body
    resp = as_user(http, "POST", s.messages_url, token, data={"Body": "caption", "MediaSid": second["sid"]})
    assert "sendMediaMessage" in expect_error(resp, 403, PERMISSION_DENIED)["message"]

    # Nothing was sent by the refused requests.
    bodies = [m.body for m in s.v1.conversations(s.conv.sid).messages.list()]
    assert [b for b in bodies if b != "as bob"] == ["hello from alice", "again", None, "still here"], bodies


def test_the_first_request_creates_the_user_with_the_default_role(http, setup):
    s = setup
    token = s.token("carol")
    resp = as_user(http, "GET", f"{s.base}/v1/Conversations", token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["conversations"] == [], "carol is in no conversation"
    user = s.v1.users("carol").fetch()
    service_config = s.client.conversations.v1.services(s.service_sid).configuration().fetch()
    assert user.role_sid == service_config.default_chat_service_role_sid
    roles = {r.sid: r.friendly_name for r in s.v1.roles.list()}
    assert roles[user.role_sid] == "service user"


def test_media_can_only_be_attached_by_its_uploader(http, setup):
    s = setup
    s.v1.conversations(s.conv.sid).participants.create(identity="bob")
    resp = upload(http, s.base, s.service_sid, s.token("alice"))
    assert resp.status_code == 201, resp.text
    media = resp.json()
    # Someone else's upload does not exist for bob (as an unknown SID would not).
    resp = as_user(http, "POST", s.messages_url, s.token("bob"), data={"MediaSid": media["sid"]})
    body = expect_error(resp, 400, 50510)
    assert media["sid"] in body["message"], body
    resp = as_user(http, "GET", f"{s.base}/v1/Services/{s.service_sid}/Media/{media['sid']}", s.token("bob"))
    expect_error(resp, 404, 20404)
    # Alice still can.
    resp = as_user(http, "POST", s.messages_url, s.token("alice"), data={"MediaSid": media["sid"]})
    assert resp.status_code == 201, resp.text


def _hand_signed(s: Setup, *, algorithm: str = "HS256", key: str | None = None, drop: tuple[str, ...] = (),
                 **claims) -> str:
    """A token signed by hand with PyJWT: the helper's claims, changed."""
    now = int(time.time())
    payload = {
        "jti": f"{s.key.sid}-{now}",
        "iss": s.key.sid,
        "sub": s.account.sid,
        "nbf": now,
        "exp": now + 3600,
        "grants": {"identity": "mallory", "chat": {"service_sid": s.service_sid}},
    }
    payload.update(claims)
    for name in drop:
        payload.pop(name)
    headers = {"cty": "twilio-fpa;v=1", "typ": "JWT"}
    with warnings.catch_warnings():
        # PyJWT warns that a 32-byte secret is short for HS512: that is the point.
        warnings.simplefilter("ignore")
        return jwt.encode(payload, key if key is not None else s.key.secret, algorithm=algorithm,
                          headers=headers)


def _alg_none(s: Setup) -> str:
    """`alg: none`, no signature: PyJWT writes this as `header.payload.`."""
    now = int(time.time())
    payload = {"iss": s.key.sid, "sub": s.account.sid, "nbf": now, "exp": now + 3600,
               "grants": {"identity": "mallory", "chat": {"service_sid": s.service_sid}}}
    token = jwt.encode(payload, None, algorithm="none", headers={"cty": "twilio-fpa;v=1"})
    assert token.endswith("."), token
    return token


def test_hostile_tokens_are_refused_with_20101(http, setup):
    s = setup
    now = int(time.time())
    url = f"{s.base}/v1/Conversations"
    # Control: the helper's token works, so every refusal below is the token's.
    resp = as_user(http, "GET", url, s.token("mallory"))
    assert resp.status_code == 200, resp.text
    s.v1.users("mallory").delete()

    other_key = s.client.new_keys.create(friendly_name="other")
    cases = {
        "wrong secret": s.token("mallory", secret="0123456789abcdef0123456789abcdef"),
        "another key's secret": mint(s.account.sid, s.key, "mallory", s.service_sid, secret=other_key.secret),
        # twilio-python's helper: exp = now - 120, nbf = now (beyond the 60 s leeway).
        "expired (helper, ttl=-120)": s.token("mallory", ttl=-120),
        "expired (hand-signed)": _hand_signed(s, nbf=now - 3600, exp=now - 120),
        "nbf in 5 minutes (helper)": s.token("mallory", nbf=now + 300),
        "nbf in 5 minutes (hand-signed)": _hand_signed(s, nbf=now + 300, exp=now + 3600),
        "alg none": _alg_none(s),
        "HS512": _hand_signed(s, algorithm="HS512"),
        "missing chat grant (helper)": mint(s.account.sid, s.key, "mallory", None),
        "missing identity (helper)": mint(s.account.sid, s.key, None, s.service_sid),
        # `system` authors what account credentials send and upload.
        "reserved identity system (helper)": s.token("system"),
        "lifetime 25 h (helper)": s.token("mallory", ttl=25 * 3600),
        "lifetime 25 h, no nbf": _hand_signed(s, exp=now + 25 * 3600, drop=("nbf",)),
        "no exp": _hand_signed(s, drop=("exp",)),
        "another account as subject": _hand_signed(s, sub="AC" + "0" * 32),
        "unknown key as issuer": _hand_signed(s, iss="SK" + "0" * 32),
        "service that does not exist": _hand_signed(
            s, grants={"identity": "mallory", "chat": {"service_sid": "IS" + "0" * 32}}),
        "not a JWT": "not-a-jwt",
    }
    failures = []
    for name, token in cases.items():
        for bearer in (False, True):
            resp = as_user(http, "GET", url, token, bearer=bearer)
            try:
                body = expect_error(resp, 401, INVALID_TOKEN)
            except AssertionError as e:
                failures.append(f"{name} ({'Bearer' if bearer else 'X-Twilio-Token'}): {e}")
                continue
            if body["message"] != "Invalid Access Token":
                failures.append(f"{name}: message says more than it should: {body}")
    assert not failures, "\n".join(failures)
    # None of them created the user.
    assert "mallory" not in [u.identity for u in s.v1.users.list()]


def test_revoked_key_stops_its_tokens_at_once(http, setup):
    s = setup
    token = s.token("alice")
    # Verified (and cached) twice first.
    for _ in range(2):
        resp = as_user(http, "POST", s.messages_url, token, data={"Body": "before"})
        assert resp.status_code == 201, resp.text
    assert s.client.keys(s.key.sid).delete() is True
    for _ in range(2):
        resp = as_user(http, "POST", s.messages_url, token, data={"Body": "after"})
        expect_error(resp, 401, INVALID_TOKEN)
        expect_error(as_user(http, "GET", f"{s.base}/v1/Conversations", token, bearer=True), 401, INVALID_TOKEN)
    assert [m.body for m in s.v1.conversations(s.conv.sid).messages.list()] == ["before", "before"]


def test_tokens_cannot_administer_and_do_not_see_other_conversations(http, setup):
    s = setup
    token = s.token("alice")
    keys = f"{s.base}/2010-04-01/Accounts/{s.account.sid}/Keys.json"
    for method, path in [
        ("GET", "/v1/Roles"),
        ("GET", "/v1/Services"),
        ("GET", f"/v1/Services/{s.service_sid}"),
        ("GET", "/v1/Configuration"),
        ("GET", f"/v1/Services/{s.service_sid}/Configuration"),
        ("GET", f"/v1/Services/{s.service_sid}/Roles"),
    ]:
        expect_error(as_user(http, method, s.base + path, token), 403, FORBIDDEN)
    expect_error(as_user(http, "GET", keys, token), 403, FORBIDDEN)
    expect_error(as_user(http, "POST", keys, token, data={"FriendlyName": "mine"}), 403, FORBIDDEN)
    expect_error(as_user(http, "POST", f"{s.base}/v1/Roles", token,
                         data={"FriendlyName": "x", "Type": "service", "Permission": "createConversation"}),
                 403, FORBIDDEN)
    # Nothing changed behind the refusals.
    assert [k.sid for k in s.client.keys.list()] == [s.key.sid]

    # A conversation alice is not in does not exist for her.
    private = s.v1.conversations.create(friendly_name="private", unique_name=uniq("private"))
    s.v1.conversations(private.sid).participants.create(identity="bob")
    for method, path, data in [
        ("GET", f"/v1/Conversations/{private.sid}", None),
        ("GET", f"/v1/Conversations/{private.sid}/Messages", None),
        ("GET", f"/v1/Conversations/{private.sid}/Participants", None),
        ("POST", f"/v1/Conversations/{private.sid}/Messages", {"Body": "let me in"}),
        ("GET", f"/v1/Services/{s.service_sid}/Conversations/{private.sid}", None),
    ]:
        resp = as_user(http, method, s.base + path, token, data=data)
        assert resp.status_code == 404, f"{method} {path}: {resp.status_code} {resp.text}"
    # Her own conversation is there, and is the only one she lists.
    resp = as_user(http, "GET", f"{s.base}/v1/Conversations/{s.conv.sid}", token)
    assert resp.status_code == 200, resp.text
    resp = as_user(http, "GET", f"{s.base}/v1/Conversations", token)
    assert [c["sid"] for c in resp.json()["conversations"]] == [s.conv.sid]
    assert s.v1.conversations(private.sid).messages.list() == []
