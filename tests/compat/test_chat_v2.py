"""Programmable Chat v2 (`/v2/Services/...`) through twilio-python's
`client.chat.v2` (and `client.ip_messaging.v2`, `client.chat.v3`), over the
same rows as Conversations v1.

What is served and with which codes is this increment's decision list
(Services, Channels, Members, Messages, Roles, Users, UserChannels, and the
v3 channel update); wire shapes are the reference's Appendix B field lists.
Bindings (push registrations) are in test_chat_v2_bindings.py; channel
Webhooks and the Service's webhook fields are in test_chat_v2_webhooks.py.

Every test makes its own Chat service (fixture `svc`), so nothing depends on
what another test left behind. `acct` is the shared account behind a client
of its own, so `acct.http.exchanges` holds only this test's raw exchanges.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

import pytest
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant

from support import Account, expect_page_error, expect_rest_error, is_sid, uniq

# Chat's error codes (decisions; reference §11).
ROLE_NOT_FOUND = 50100
UNKNOWN_PERMISSION = 50104
BAD_ROLE_TYPE = 50105
NOT_AUTHORIZED = 50107
USER_NOT_FOUND = 50200
USER_EXISTS = 50201
USER_CHANNEL_LIMIT = 50208
CHANNEL_NOT_FOUND = 50300
UNIQUE_NAME_TAKEN = 50307
MEMBER_NOT_FOUND = 50402
MEMBER_LIMIT = 50403
MEMBER_EXISTS = 50404
MESSAGE_NOT_FOUND = 50500
ALREADY_INVITED = 50212
INVITE_NOT_FOUND = 50601
INVALID_MEDIA = 50510

# Appendix B: the keys of every object, exactly.
SERVICE_KEYS = {
    "sid", "account_sid", "friendly_name", "date_created", "date_updated",
    "default_service_role_sid", "default_channel_role_sid", "default_channel_creator_role_sid",
    "read_status_enabled", "reachability_enabled", "typing_indicator_timeout",
    "consumption_report_interval", "limits", "pre_webhook_url", "post_webhook_url",
    "webhook_method", "webhook_filters", "pre_webhook_retry_count", "post_webhook_retry_count",
    "notifications", "media", "url", "links",
}
CHANNEL_KEYS = {
    "sid", "account_sid", "service_sid", "friendly_name", "unique_name", "attributes", "type",
    "date_created", "date_updated", "created_by", "members_count", "messages_count", "url", "links",
}
V3_CHANNEL_KEYS = (CHANNEL_KEYS - {"links"}) | {"messaging_service_sid"}
MEMBER_KEYS = {
    "sid", "account_sid", "channel_sid", "service_sid", "identity", "date_created", "date_updated",
    "role_sid", "last_consumed_message_index", "last_consumption_timestamp", "url", "attributes",
}
MESSAGE_KEYS = {
    "sid", "account_sid", "attributes", "service_sid", "to", "channel_sid", "date_created",
    "date_updated", "last_updated_by", "was_edited", "from", "body", "index", "type", "media", "url",
}
ROLE_KEYS = {
    "sid", "account_sid", "service_sid", "friendly_name", "type", "permissions", "date_created",
    "date_updated", "url",
}
USER_KEYS = {
    "sid", "account_sid", "service_sid", "attributes", "friendly_name", "role_sid", "identity",
    "is_online", "is_notifiable", "date_created", "date_updated", "joined_channels_count", "links", "url",
}
USER_CHANNEL_KEYS = {
    "account_sid", "service_sid", "channel_sid", "user_sid", "member_sid", "status",
    "last_consumed_message_index", "unread_messages_count", "links", "url", "notification_level",
}
META_KEYS = {"page", "page_size", "first_page_url", "previous_page_url", "url", "next_page_url", "key"}

DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# A real (1x1) PNG followed by random bytes, so no two uploads are equal.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


# --------------------------------------------------------------------------
# Fixtures and helpers.
# --------------------------------------------------------------------------

@pytest.fixture
def acct(account) -> Account:
    """The shared account through a client of its own (own exchange log)."""
    return Account(account.sid, account.token, account.base_url)


@pytest.fixture
def chat(acct):
    return acct.client.chat.v2


@pytest.fixture
def svc(chat):
    """A brand-new Chat service, made through Chat."""
    return chat.services.create(friendly_name=uniq("chat"))


@pytest.fixture
def s(chat, svc):
    """The new service's context: s.channels, s.users, s.roles."""
    return chat.services(svc.sid)


def v2_url(acct, *parts: str) -> str:
    return "/".join([f"{acct.base_url}/v2/Services", *parts])


def raw(acct, method: str, path: str, status: int | None = None) -> dict:
    """The JSON body of the last `method path` exchange of this client."""
    for ex in reversed(acct.http.exchanges):
        if ex.method == method and ex.path == path and (status is None or ex.status == status):
            return ex.json()
    raise AssertionError(f"no {method} {path} exchange recorded")


def assert_keys(body: dict, expected: set[str], what: str) -> None:
    got = set(body)
    assert got == expected, f"{what}: missing={sorted(expected - got)} extra={sorted(got - expected)}"


def _payload(size: int = 2048) -> bytes:
    return PNG_1X1 + os.urandom(size)


def _upload(http, acct, service_sid: str, data: bytes, content_type: str = "image/png",
            filename: str = "pixel.png") -> dict:
    """Bytes to MCS with plain HTTP, as the Chat SDKs do (test_media.py)."""
    resp = http.post(f"{acct.base_url}/v1/Services/{service_sid}/Media", params={"Filename": filename},
                     data=data, headers={"Content-Type": content_type}, auth=(acct.sid, acct.token),
                     timeout=60)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _fetch_media(http, acct, service_sid: str, media_sid: str):
    return http.get(f"{acct.base_url}/v1/Services/{service_sid}/Media/{media_sid}",
                    auth=(acct.sid, acct.token), timeout=30)


def _roles_by_name(s) -> dict:
    return {r.friendly_name: r for r in s.roles.list()}


# --------------------------------------------------------------------------
# Services.
# --------------------------------------------------------------------------

def test_service_create_fetch_defaults_and_shape(acct, chat, svc):
    assert is_sid(svc.sid, "IS")
    assert svc.account_sid == acct.sid
    assert svc.friendly_name.startswith("chat-")
    assert isinstance(svc.date_created, datetime) and isinstance(svc.date_updated, datetime)
    body = raw(acct, "POST", "/v2/Services", 201)
    assert_keys(body, SERVICE_KEYS, "service (create)")
    assert DATE_RE.match(body["date_created"]), body["date_created"]

    # Defaults (decisions, reference §4).
    assert svc.limits == {"channel_members": 100, "user_channels": 250}
    assert svc.media == {"size_limit_mb": 150, "compatibility_message": None}
    assert svc.notifications == {}
    assert svc.read_status_enabled is True
    assert svc.reachability_enabled is False
    assert svc.typing_indicator_timeout == 5
    assert svc.consumption_report_interval == 10
    assert isinstance(svc.pre_webhook_retry_count, int) and isinstance(svc.post_webhook_retry_count, int)
    assert svc.pre_webhook_url is None and svc.post_webhook_url is None

    # The three default role pointers name the Chat default roles.
    roles = {r.sid: r for r in chat.services(svc.sid).roles.list()}
    assert roles[svc.default_service_role_sid].friendly_name == "service user"
    assert roles[svc.default_service_role_sid].type == "deployment"
    assert roles[svc.default_channel_role_sid].friendly_name == "channel user"
    assert roles[svc.default_channel_role_sid].type == "channel"
    assert roles[svc.default_channel_creator_role_sid].friendly_name == "channel admin"

    base = v2_url(acct, svc.sid)
    assert svc.url == base
    assert svc.links == {"channels": f"{base}/Channels", "users": f"{base}/Users",
                         "roles": f"{base}/Roles", "bindings": f"{base}/Bindings"}

    fetched = chat.services(svc.sid).fetch()
    assert (fetched.sid, fetched.friendly_name, fetched.limits, fetched.media) == \
        (svc.sid, svc.friendly_name, svc.limits, svc.media)
    assert_keys(raw(acct, "GET", f"/v2/Services/{svc.sid}"), SERVICE_KEYS, "service (fetch)")


def test_service_update_reads_back(acct, chat, svc, s):
    dep_role = s.roles.create(friendly_name="deputy", type="deployment",
                              permission=["createChannel", "joinChannel"])
    ch_role = s.roles.create(friendly_name="speaker", type="channel",
                             permission=["sendMessage", "leaveChannel"])
    updated = chat.services(svc.sid).update(
        friendly_name="renamed chat service",
        limits_channel_members=500,
        limits_user_channels=20,
        media_compatibility_message="[media]",
        read_status_enabled=False,
        typing_indicator_timeout=12,
        notifications_new_message_enabled=True,
        default_service_role_sid=dep_role.sid,
        default_channel_role_sid=ch_role.sid,
        default_channel_creator_role_sid=ch_role.sid,
    )
    assert_keys(raw(acct, "POST", f"/v2/Services/{svc.sid}", 200), SERVICE_KEYS, "service (update)")
    for got in (updated, chat.services(svc.sid).fetch()):
        assert got.friendly_name == "renamed chat service"
        assert got.limits == {"channel_members": 500, "user_channels": 20}
        assert got.media["compatibility_message"] == "[media]"
        assert got.media["size_limit_mb"] == 150
        assert got.read_status_enabled is False
        assert got.typing_indicator_timeout == 12
        assert got.notifications["new_message"]["enabled"] is True
        assert got.default_service_role_sid == dep_role.sid
        assert got.default_channel_role_sid == ch_role.sid
        assert got.default_channel_creator_role_sid == ch_role.sid
        # Untouched settings keep their values.
        assert got.reachability_enabled is False
        assert got.consumption_report_interval == 10

    # The new defaults apply to new members and users.
    ch = s.channels.create(friendly_name="after update")
    assert s.channels(ch.sid).members.create(identity="newcomer").role_sid == ch_role.sid
    assert s.users.create(identity="fresh-user").role_sid == dep_role.sid


def test_service_update_validation(acct, chat, svc, s):
    channel_role = s.roles.create(friendly_name="chan", type="channel", permission=["sendMessage"])
    deployment_role = s.roles.create(friendly_name="dep", type="deployment", permission=["joinChannel"])
    # Default role types are checked.
    expect_rest_error(lambda: chat.services(svc.sid).update(default_service_role_sid=channel_role.sid), 400)
    expect_rest_error(lambda: chat.services(svc.sid).update(default_channel_role_sid=deployment_role.sid), 400)
    expect_rest_error(
        lambda: chat.services(svc.sid).update(default_channel_creator_role_sid=deployment_role.sid), 400)
    # Limits are 1..1000.
    for bad in (0, 1001):
        expect_rest_error(lambda: chat.services(svc.sid).update(limits_channel_members=bad), 400)
        expect_rest_error(lambda: chat.services(svc.sid).update(limits_user_channels=bad), 400)
    assert chat.services(svc.sid).update(limits_channel_members=1000).limits["channel_members"] == 1000
    # Webhook fields are checked (test_chat_v2_webhooks.py has the rest).
    expect_rest_error(lambda: chat.services(svc.sid).update(post_webhook_url="not a url"), 400, 20001)
    expect_rest_error(lambda: chat.services(svc.sid).update(webhook_filters=["onMessageAdded"]), 400, 20001)
    # Nothing changed behind the refusals.
    after = chat.services(svc.sid).fetch()
    assert after.default_service_role_sid == svc.default_service_role_sid
    assert after.default_channel_role_sid == svc.default_channel_role_sid
    assert after.limits == {"channel_members": 1000, "user_channels": 250}
    assert after.post_webhook_url is None


def test_service_list_and_delete(fresh_account):
    chat = fresh_account.client.chat.v2
    default_sid = fresh_account.v1.configuration().fetch().default_chat_service_sid
    one = chat.services.create(friendly_name="one")
    two = chat.services.create(friendly_name="two")
    assert [x.sid for x in chat.services.list(page_size=1)] == [default_sid, one.sid, two.sid]
    assert [x.friendly_name for x in chat.services.stream(page_size=2)][1:] == ["one", "two"]
    body = raw(fresh_account, "GET", "/v2/Services")
    assert body["meta"]["key"] == "services"
    assert_keys(body["meta"], META_KEYS, "services meta")
    for item in body["services"]:
        assert_keys(item, SERVICE_KEYS, "service (list)")

    assert chat.services(one.sid).delete() is True
    expect_rest_error(lambda: chat.services(one.sid).fetch(), 404)
    expect_rest_error(lambda: fresh_account.v1.services(one.sid).fetch(), 404)
    assert [x.sid for x in chat.services.list()] == [default_sid, two.sid]


def test_configuration_is_shared_with_conversations(http, acct, chat, svc, s, v1):
    # Chat -> Conversations.
    ch_role = s.roles.create(friendly_name="member", type="channel", permission=["sendMessage"])
    chat.services(svc.sid).update(default_channel_role_sid=ch_role.sid,
                                  media_compatibility_message="sent a picture")
    cfg = v1.services(svc.sid).configuration().fetch()
    assert cfg.default_conversation_role_sid == ch_role.sid
    assert cfg.default_chat_service_role_sid == svc.default_service_role_sid
    assert cfg.default_conversation_creator_role_sid == svc.default_channel_creator_role_sid
    resp = http.get(f"{acct.base_url}/v1/Services/{svc.sid}/Configuration", auth=(acct.sid, acct.token),
                    timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json()["media_compatibility_message"] == "sent a picture"

    # Conversations -> Chat.
    v1.services(svc.sid).configuration().update(reachability_enabled=True,
                                                default_conversation_role_sid=svc.default_channel_role_sid)
    resp = http.post(f"{acct.base_url}/v1/Services/{svc.sid}/Configuration",
                     data={"MediaCompatibilityMessage": "(attachment)"}, auth=(acct.sid, acct.token),
                     timeout=30)
    assert resp.status_code == 200, resp.text
    got = chat.services(svc.sid).fetch()
    assert got.reachability_enabled is True
    assert got.default_channel_role_sid == svc.default_channel_role_sid
    assert got.media["compatibility_message"] == "(attachment)"


def test_ip_messaging_host_reaches_the_same_resources(acct, chat):
    ipm = acct.client.ip_messaging.v2
    svc = ipm.services.create(friendly_name=uniq("ipm"))
    assert is_sid(svc.sid, "IS")
    assert svc.url == v2_url(acct, svc.sid)
    assert chat.services(svc.sid).fetch().friendly_name == svc.friendly_name

    unique = uniq("ipm-room")
    ch = ipm.services(svc.sid).channels.create(friendly_name="legacy", unique_name=unique, type="private")
    assert ch.type == "private"
    assert ch.url == v2_url(acct, svc.sid, "Channels", ch.sid)
    assert chat.services(svc.sid).channels(unique).fetch().sid == ch.sid
    msg = ipm.services(svc.sid).channels(unique).messages.create(from_="alice", body="legacy host")
    assert msg._from == "alice" and msg.body == "legacy host"
    assert [m.sid for m in chat.services(svc.sid).channels(ch.sid).messages.list()] == [msg.sid]
    assert [m.sid for m in ipm.services(svc.sid).channels(ch.sid).messages.list()] == [msg.sid]
    # Every request went to /v2 on the local server.
    assert all(ex.path.startswith("/v2/") for ex in acct.http.exchanges)


# --------------------------------------------------------------------------
# Channels.
# --------------------------------------------------------------------------

def test_channel_create_fetch_update_delete(acct, svc, s):
    unique = uniq("room")
    ch = s.channels.create(friendly_name="Room", unique_name=unique, attributes='{"topic":"x"}')
    assert_keys(raw(acct, "POST", f"/v2/Services/{svc.sid}/Channels", 201), CHANNEL_KEYS, "channel (create)")
    assert is_sid(ch.sid, "CH")
    assert ch.account_sid == acct.sid
    assert ch.service_sid == svc.sid
    assert (ch.friendly_name, ch.unique_name, ch.attributes) == ("Room", unique, '{"topic":"x"}')
    assert ch.type == "public"  # Chat's default
    assert ch.created_by == "system"
    assert ch.members_count == 0 and ch.messages_count == 0
    assert isinstance(ch.date_created, datetime)
    url = v2_url(acct, svc.sid, "Channels", ch.sid)
    assert ch.url == url
    assert ch.links == {"members": f"{url}/Members", "messages": f"{url}/Messages",
                        "invites": f"{url}/Invites", "webhooks": f"{url}/Webhooks", "last_message": None}

    by_sid = s.channels(ch.sid).fetch()
    by_name = s.channels(unique).fetch()
    assert by_sid.sid == by_name.sid == ch.sid
    assert by_name.attributes == '{"topic":"x"}'
    assert_keys(raw(acct, "GET", f"/v2/Services/{svc.sid}/Channels/{unique}"), CHANNEL_KEYS, "channel (fetch)")

    renamed = uniq("room2")
    updated = s.channels(unique).update(friendly_name="Room 2", unique_name=renamed, attributes='{"topic":"y"}')
    assert (updated.sid, updated.friendly_name, updated.unique_name, updated.attributes) == \
        (ch.sid, "Room 2", renamed, '{"topic":"y"}')
    assert updated.type == "public"
    assert s.channels(renamed).fetch().friendly_name == "Room 2"
    expect_rest_error(lambda: s.channels(unique).fetch(), 404, CHANNEL_NOT_FOUND)

    private = s.channels.create(friendly_name="secret", type="private", created_by="alice")
    assert private.type == "private"
    assert private.created_by == "alice"
    assert private.unique_name is None

    assert s.channels(ch.sid).delete() is True
    expect_rest_error(lambda: s.channels(ch.sid).fetch(), 404, CHANNEL_NOT_FOUND)
    expect_rest_error(lambda: s.channels(renamed).fetch(), 404, CHANNEL_NOT_FOUND)
    assert s.channels(private.sid).fetch().sid == private.sid


def test_channel_counts_and_last_message(acct, svc, s):
    ch = s.channels.create(friendly_name="counts")
    members = [s.channels(ch.sid).members.create(identity=i) for i in ("ann", "ben")]
    msgs = [s.channels(ch.sid).messages.create(from_="ann", body=f"m{i}") for i in range(3)]
    got = s.channels(ch.sid).fetch()
    assert got.members_count == 2
    assert got.messages_count == 3
    assert got.links["last_message"] == v2_url(acct, svc.sid, "Channels", ch.sid, "Messages", msgs[-1].sid)

    assert s.channels(ch.sid).messages(msgs[-1].sid).delete() is True
    assert s.channels(ch.sid).members(members[0].sid).delete() is True
    got = s.channels(ch.sid).fetch()
    assert got.members_count == 1
    assert got.links["last_message"] == v2_url(acct, svc.sid, "Channels", ch.sid, "Messages", msgs[1].sid)


def test_channel_list_type_filter(acct, svc, s, v1):
    pub_default = s.channels.create(friendly_name="p0")
    pub_explicit = s.channels.create(friendly_name="p1", type="public")
    priv = [s.channels.create(friendly_name=f"x{i}", type="private") for i in range(2)]
    publics = [pub_default.sid, pub_explicit.sid]
    privates = [c.sid for c in priv]

    # No Type: public channels only.
    assert [c.sid for c in s.channels.list()] == publics
    body = raw(acct, "GET", f"/v2/Services/{svc.sid}/Channels")
    assert body["meta"]["key"] == "channels"
    assert_keys(body["meta"], META_KEYS, "channels meta")
    for item in body["channels"]:
        assert_keys(item, CHANNEL_KEYS, "channel (list)")

    assert [c.sid for c in s.channels.list(type=["public"])] == publics
    assert [c.sid for c in s.channels.list(type=["private"])] == privates
    # The filter survives paging.
    assert [c.sid for c in s.channels.list(type=["private"], page_size=1)] == privates
    both = [c.sid for c in s.channels.list(type=["public", "private"], page_size=3)]
    assert sorted(both) == sorted(publics + privates) and len(both) == 4
    assert {c.type for c in s.channels.list(type=["private"])} == {"private"}

    # Conversations lists show every channel.
    listed = [c.sid for c in v1.services(svc.sid).conversations.list()]
    assert sorted(listed) == sorted(publics + privates)


def test_channel_paging(acct, svc, s):
    sids = [s.channels.create(friendly_name=f"c{i}").sid for i in range(5)]
    acct.http.clear()
    assert [c.sid for c in s.channels.list(page_size=2)] == sids
    gets = [ex for ex in acct.http.exchanges if ex.method == "GET"]
    assert len(gets) == 3, [ex.url for ex in gets]
    first = gets[0].json()["meta"]
    assert first["page_size"] == 2 and first["page"] == 0 and first["key"] == "channels"
    assert first["previous_page_url"] is None
    assert first["next_page_url"].startswith(v2_url(acct, svc.sid, "Channels") + "?")
    assert first["url"].startswith(v2_url(acct, svc.sid, "Channels") + "?")
    assert gets[-1].json()["meta"]["next_page_url"] is None
    assert [len(ex.json()["channels"]) for ex in gets] == [2, 2, 1]

    assert [c.sid for c in s.channels.list(limit=3, page_size=2)] == sids[:3]
    assert [c.sid for c in s.channels.stream(page_size=2)] == sids
    assert [c.friendly_name for c in s.channels.stream(page_size=4, limit=5)] == [f"c{i}" for i in range(5)]
    page = s.channels.page(page_size=2)
    assert [c.sid for c in page] == sids[:2]
    page2 = page.next_page()
    assert [c.sid for c in page2] == sids[2:4]
    assert [c.sid for c in page2.next_page()] == sids[4:]


def test_channel_errors(acct, svc, s):
    missing = "CH" + "0" * 32
    expect_rest_error(lambda: s.channels(missing).fetch(), 404, CHANNEL_NOT_FOUND)
    err = expect_rest_error(lambda: s.channels("no-such-room").fetch(), 404, CHANNEL_NOT_FOUND)
    # The path in the text has no /v2 (as Twilio's).
    assert err.msg.endswith(f"The requested resource /Services/{svc.sid}/Channels/no-such-room was not found"), \
        err.msg
    assert "/v2/" not in err.msg
    expect_rest_error(lambda: s.channels(missing).update(friendly_name="x"), 404, CHANNEL_NOT_FOUND)
    expect_rest_error(lambda: s.channels(missing).delete(), 404, CHANNEL_NOT_FOUND)
    expect_page_error(lambda: s.channels(missing).members.list(), 404, CHANNEL_NOT_FOUND)
    expect_page_error(lambda: s.channels(missing).messages.list(), 404, CHANNEL_NOT_FOUND)

    unique = uniq("taken")
    s.channels.create(unique_name=unique)
    expect_rest_error(lambda: s.channels.create(unique_name=unique), 409, UNIQUE_NAME_TAKEN)
    expect_rest_error(lambda: s.channels.create(unique_name=unique, type="private"), 409, UNIQUE_NAME_TAKEN)
    other = s.channels.create(friendly_name="other")
    expect_rest_error(lambda: s.channels(other.sid).update(unique_name=unique), 409, UNIQUE_NAME_TAKEN)
    assert s.channels(other.sid).fetch().unique_name is None
    assert len(s.channels.list()) == 2


def test_channels_of_another_service_are_not_found(chat, svc, s):
    other = chat.services.create(friendly_name=uniq("other-svc"))
    ch = s.channels.create(unique_name=uniq("mine"))
    expect_rest_error(lambda: chat.services(other.sid).channels(ch.sid).fetch(), 404, CHANNEL_NOT_FOUND)
    expect_rest_error(lambda: chat.services(other.sid).channels(ch.unique_name).fetch(), 404, CHANNEL_NOT_FOUND)
    assert chat.services(other.sid).channels.list(type=["public", "private"]) == []


# --------------------------------------------------------------------------
# Members.
# --------------------------------------------------------------------------

def test_member_create_fetch_update_list_delete(acct, svc, s, v1):
    unique = uniq("members")
    ch = s.channels.create(unique_name=unique)
    role = s.roles.create(friendly_name="chan-mod", type="channel", permission=["sendMessage", "removeMember"])
    alice = s.channels(ch.sid).members.create(identity="alice", role_sid=role.sid, attributes='{"seat":1}')
    assert_keys(raw(acct, "POST", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Members", 201),
                MEMBER_KEYS, "member (create)")
    assert is_sid(alice.sid, "MB")
    assert (alice.account_sid, alice.service_sid, alice.channel_sid) == (acct.sid, svc.sid, ch.sid)
    assert alice.identity == "alice"
    assert alice.role_sid == role.sid
    assert alice.attributes == '{"seat":1}'
    assert alice.last_consumed_message_index is None
    assert alice.last_consumption_timestamp is None
    assert isinstance(alice.date_created, datetime)
    assert alice.url == v2_url(acct, svc.sid, "Channels", ch.sid, "Members", alice.sid)

    bob = s.channels(ch.sid).members.create(identity="bob")
    assert bob.role_sid == svc.default_channel_role_sid
    # Member create made the users.
    assert s.users("alice").fetch().identity == "alice"
    assert s.users("bob").fetch().joined_channels_count == 1

    # Fetch by SID, by identity, and through the channel's unique name.
    assert s.channels(ch.sid).members(alice.sid).fetch().identity == "alice"
    assert s.channels(ch.sid).members("alice").fetch().sid == alice.sid
    assert s.channels(unique).members("bob").fetch().sid == bob.sid
    assert_keys(raw(acct, "GET", f"/v2/Services/{svc.sid}/Channels/{unique}/Members/bob"), MEMBER_KEYS,
                "member (fetch)")

    msgs = [s.channels(ch.sid).messages.create(from_="bob", body=f"b{i}") for i in range(3)]
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    updated = s.channels(ch.sid).members(alice.sid).update(last_consumed_message_index=msgs[1].index,
                                                           last_consumption_timestamp=when)
    assert updated.last_consumed_message_index == msgs[1].index
    assert updated.last_consumption_timestamp == when
    assert raw(acct, "POST", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Members/{alice.sid}", 200)[
        "last_consumption_timestamp"] == "2024-01-02T03:04:05Z"
    assert s.channels(ch.sid).members("alice").fetch().last_consumed_message_index == msgs[1].index
    # The same read horizon in Conversations.
    part = v1.services(svc.sid).conversations(ch.sid).participants(alice.sid).fetch()
    assert part.last_read_message_index == msgs[1].index

    assert [m.sid for m in s.channels(ch.sid).members.list()] == [alice.sid, bob.sid]
    assert [m.sid for m in s.channels(ch.sid).members.list(identity=["bob"])] == [bob.sid]
    assert sorted(m.identity for m in s.channels(ch.sid).members.list(identity=["alice", "bob"])) == \
        ["alice", "bob"]
    assert s.channels(ch.sid).members.list(identity=["nobody"]) == []
    body = raw(acct, "GET", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Members")
    assert body["meta"]["key"] == "members"

    assert s.channels(ch.sid).members("alice").delete() is True
    expect_rest_error(lambda: s.channels(ch.sid).members(alice.sid).fetch(), 404, MEMBER_NOT_FOUND)
    assert [m.sid for m in s.channels(ch.sid).members.list()] == [bob.sid]
    assert s.channels(ch.sid).fetch().members_count == 1


def test_member_errors(http, acct, svc, s):
    ch = s.channels.create(friendly_name="errors")
    s.channels(ch.sid).members.create(identity="twin")
    expect_rest_error(lambda: s.channels(ch.sid).members.create(identity="twin"), 409, MEMBER_EXISTS)
    expect_rest_error(lambda: s.channels(ch.sid).members("MB" + "0" * 32).fetch(), 404, MEMBER_NOT_FOUND)
    expect_rest_error(lambda: s.channels(ch.sid).members("ghost").fetch(), 404, MEMBER_NOT_FOUND)
    expect_rest_error(lambda: s.channels(ch.sid).members("ghost").update(attributes="{}"), 404, MEMBER_NOT_FOUND)
    expect_rest_error(lambda: s.channels(ch.sid).members("ghost").delete(), 404, MEMBER_NOT_FOUND)
    # A service (deployment) role is not a channel role.
    expect_rest_error(
        lambda: s.channels(ch.sid).members.create(identity="wrong-role", role_sid=svc.default_service_role_sid),
        400)
    # Identity is required.
    resp = http.post(v2_url(acct, svc.sid, "Channels", ch.sid, "Members"), data={},
                     auth=(acct.sid, acct.token), timeout=30)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == 20001, body
    assert body["message"] == "Missing required parameter Identity in the post body", body
    assert [m.identity for m in s.channels(ch.sid).members.list()] == ["twin"]


def test_invites(svc, s):
    ch = s.channels.create(friendly_name="invites", unique_name="invites")
    s.users.create(identity="ivy")
    s.users.create(identity="jo")
    poster = s.roles.create(friendly_name="poster", type="channel", permission=["sendMessage"])
    invite = s.channels("invites").invites.create(identity="ivy", role_sid=poster.sid)
    assert is_sid(invite.sid, "IN")
    assert (invite.identity, invite.channel_sid, invite.service_sid) == ("ivy", ch.sid, svc.sid)
    assert (invite.role_sid, invite.created_by) == (poster.sid, "system")
    assert isinstance(invite.date_created, datetime)
    assert invite.url.endswith(f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Invites/{invite.sid}")
    assert s.channels(ch.sid).invites(invite.sid).fetch().identity == "ivy"
    jo = s.channels(ch.sid).invites.create(identity="jo")
    assert jo.role_sid == svc.default_channel_role_sid
    assert [i.identity for i in s.channels(ch.sid).invites.list(identity=["jo"])] == ["jo"]
    assert [i.sid for i in s.channels(ch.sid).invites.list(page_size=1)] == [invite.sid, jo.sid]
    expect_rest_error(lambda: s.channels(ch.sid).invites.create(identity="ivy"), 409, ALREADY_INVITED)
    expect_rest_error(lambda: s.channels(ch.sid).invites.create(identity="nobody"), 404, 20404)
    # Joining takes the invite, with its role.
    member = s.channels(ch.sid).members.create(identity="ivy")
    assert member.role_sid == poster.sid
    assert [i.identity for i in s.channels(ch.sid).invites.list()] == ["jo"]
    assert s.channels(ch.sid).invites(jo.sid).delete() is True
    expect_rest_error(lambda: s.channels(ch.sid).invites(jo.sid).fetch(), 404, INVITE_NOT_FOUND)


def test_member_and_user_channel_limits(chat, svc, s):
    chat.services(svc.sid).update(limits_channel_members=2, limits_user_channels=1)
    full = s.channels.create(friendly_name="small")
    s.channels(full.sid).members.create(identity="m1")
    s.channels(full.sid).members.create(identity="m2")
    expect_rest_error(lambda: s.channels(full.sid).members.create(identity="m3"), 403, MEMBER_LIMIT)
    assert s.channels(full.sid).fetch().members_count == 2

    other = s.channels.create(friendly_name="second")
    expect_rest_error(lambda: s.channels(other.sid).members.create(identity="m1"), 403, USER_CHANNEL_LIMIT)
    assert s.users("m1").fetch().joined_channels_count == 1
    assert s.channels(other.sid).members.list() == []


# --------------------------------------------------------------------------
# Messages.
# --------------------------------------------------------------------------

def test_message_create_fetch_list_update_delete(acct, svc, s, v1):
    ch = s.channels.create(friendly_name="talk")
    s.channels(ch.sid).members.create(identity="alice")
    msg = s.channels(ch.sid).messages.create(from_="alice", body="hello there", attributes='{"importance":"high"}')
    created = raw(acct, "POST", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Messages", 201)
    assert_keys(created, MESSAGE_KEYS, "message (create)")
    assert created["from"] == "alice"
    assert is_sid(msg.sid, "IM")
    assert (msg.account_sid, msg.service_sid, msg.channel_sid) == (acct.sid, svc.sid, ch.sid)
    assert msg.to == ch.sid
    assert msg._from == "alice"
    assert msg.body == "hello there"
    assert msg.attributes == '{"importance":"high"}'
    assert msg.type == "text"
    assert msg.media is None
    assert msg.was_edited is False
    assert msg.last_updated_by is None
    assert isinstance(msg.index, int)
    assert isinstance(msg.date_created, datetime)
    assert msg.url == v2_url(acct, svc.sid, "Channels", ch.sid, "Messages", msg.sid)

    system = s.channels(ch.sid).messages.create(body="from the server")
    assert system._from == "system"
    empty = s.channels(ch.sid).messages.create(from_="alice")
    assert empty.body == ""
    assert empty.type == "text"
    assert msg.index < system.index < empty.index

    fetched = s.channels(ch.sid).messages(msg.sid).fetch()
    assert (fetched.sid, fetched._from, fetched.body, fetched.index) == (msg.sid, "alice", "hello there", msg.index)
    assert_keys(raw(acct, "GET", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Messages/{msg.sid}"), MESSAGE_KEYS,
                "message (fetch)")

    order = [msg.sid, system.sid, empty.sid]
    assert [m.sid for m in s.channels(ch.sid).messages.list()] == order
    assert [m.sid for m in s.channels(ch.sid).messages.list(order="asc", page_size=2)] == order
    assert [m.sid for m in s.channels(ch.sid).messages.list(order="desc", page_size=2)] == order[::-1]
    listed = raw(acct, "GET", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Messages")
    assert listed["meta"]["key"] == "messages"
    for item in listed["messages"]:
        assert_keys(item, MESSAGE_KEYS, "message (list)")

    # A body edit: was_edited, last_updated_by.
    edited = s.channels(ch.sid).messages(msg.sid).update(body="edited", last_updated_by="bob")
    assert edited.body == "edited"
    assert edited.was_edited is True
    assert edited.last_updated_by == "bob"
    assert edited.index == msg.index
    again = s.channels(ch.sid).messages(msg.sid).fetch()
    assert (again.body, again.was_edited, again.last_updated_by) == ("edited", True, "bob")

    # An attributes-only update is an update, not a body edit.
    touched = s.channels(ch.sid).messages(system.sid).update(attributes='{"pinned":true}')
    assert touched.attributes == '{"pinned":true}'
    assert touched.was_edited is False
    assert touched.last_updated_by == "system"

    # A body edit through Conversations shows in Chat.
    v1.services(svc.sid).conversations(ch.sid).messages(empty.sid).update(body="filled in via v1")
    via_v1 = s.channels(ch.sid).messages(empty.sid).fetch()
    assert via_v1.body == "filled in via v1"
    assert via_v1.was_edited is True

    assert s.channels(ch.sid).messages(msg.sid).delete() is True
    expect_rest_error(lambda: s.channels(ch.sid).messages(msg.sid).fetch(), 404, MESSAGE_NOT_FOUND)
    assert [m.sid for m in s.channels(ch.sid).messages.list()] == [system.sid, empty.sid]


def test_message_errors(http, acct, svc, s):
    ch = s.channels.create(friendly_name="msg errors")
    missing = "IM" + "0" * 32
    expect_rest_error(lambda: s.channels(ch.sid).messages(missing).fetch(), 404, MESSAGE_NOT_FOUND)
    expect_rest_error(lambda: s.channels(ch.sid).messages(missing).update(body="x"), 404, MESSAGE_NOT_FOUND)
    expect_rest_error(lambda: s.channels(ch.sid).messages(missing).delete(), 404, MESSAGE_NOT_FOUND)
    expect_rest_error(lambda: s.channels("CH" + "0" * 32).messages.create(body="x"), 404, CHANNEL_NOT_FOUND)
    # Media: unknown SID, malformed SID, two SIDs.
    expect_rest_error(lambda: s.channels(ch.sid).messages.create(media_sid="ME" + "0" * 32), 400, INVALID_MEDIA)
    expect_rest_error(lambda: s.channels(ch.sid).messages.create(media_sid="MEnope"), 400, INVALID_MEDIA)
    one = _upload(http, acct, svc.sid, _payload(64))["sid"]
    two = _upload(http, acct, svc.sid, _payload(64))["sid"]
    expect_rest_error(lambda: s.channels(ch.sid).messages.create(media_sid=[one, two]), 400)
    assert s.channels(ch.sid).messages.list() == []
    assert s.channels(ch.sid).fetch().messages_count == 0


def test_media_message_flow(http, acct, chat, svc, s, v1):
    chat.services(svc.sid).update(media_compatibility_message="[media]")
    ch = s.channels.create(friendly_name="photos")
    s.channels(ch.sid).members.create(identity="alice")
    data = _payload()
    media = _upload(http, acct, svc.sid, data)
    me = media["sid"]

    msg = s.channels(ch.sid).messages.create(from_="alice", media_sid=me)
    assert_keys(raw(acct, "POST", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Messages", 201), MESSAGE_KEYS,
                "message (media)")
    expected = {"sid": me, "size": len(data), "content_type": "image/png", "filename": "pixel.png"}
    assert msg.type == "media"
    assert msg.media == expected
    assert msg.body == "[media]"  # the service's compatibility message
    assert msg._from == "alice"
    assert s.channels(ch.sid).messages(msg.sid).fetch().media == expected
    assert [m.media for m in s.channels(ch.sid).messages.list()] == [expected]
    assert s.channels(ch.sid).fetch().links["last_message"] == \
        v2_url(acct, svc.sid, "Channels", ch.sid, "Messages", msg.sid)

    # MCS knows the message; the temporary URL gives the bytes back.
    resp = _fetch_media(http, acct, svc.sid, me)
    assert resp.status_code == 200, resp.text
    fetched = resp.json()
    assert fetched["message_sid"] == msg.sid
    assert fetched["channel_sid"] == ch.sid
    assert fetched["size"] == len(data)
    content = http.get(fetched["links"]["content_direct_temporary"], timeout=30)
    assert content.status_code == 200, content.text
    assert content.content == data
    assert content.headers["Content-Type"] == "image/png"

    # With a caption the body is the caption; media cannot change on update.
    jpeg = os.urandom(1024)
    me2 = _upload(http, acct, svc.sid, jpeg, content_type="image/jpeg", filename="photo.jpg")["sid"]
    captioned = s.channels(ch.sid).messages.create(from_="alice", body="look", media_sid=me2)
    assert captioned.body == "look"
    assert captioned.type == "media"
    assert captioned.media == {"sid": me2, "size": len(jpeg), "content_type": "image/jpeg",
                               "filename": "photo.jpg"}
    updated = s.channels(ch.sid).messages(captioned.sid).update(body="look at this")
    assert updated.body == "look at this"
    assert updated.media["sid"] == me2 and updated.type == "media"

    # A media SID attaches to one message only.
    expect_rest_error(lambda: s.channels(ch.sid).messages.create(from_="alice", media_sid=me), 400, INVALID_MEDIA)
    assert len(s.channels(ch.sid).messages.list()) == 2


# --------------------------------------------------------------------------
# Roles.
# --------------------------------------------------------------------------

def test_role_create_update_fetch_list_delete(acct, svc, s):
    perms = ["sendMessage", "leaveChannel", "sendMediaMessage"]
    role = s.roles.create(friendly_name="moderator", type="channel", permission=perms)
    assert_keys(raw(acct, "POST", f"/v2/Services/{svc.sid}/Roles", 201), ROLE_KEYS, "role (create)")
    assert is_sid(role.sid, "RL")
    assert (role.account_sid, role.service_sid) == (acct.sid, svc.sid)
    assert role.friendly_name == "moderator"
    assert role.type == "channel"
    assert sorted(role.permissions) == sorted(perms)
    assert isinstance(role.date_created, datetime)
    assert role.url == v2_url(acct, svc.sid, "Roles", role.sid)

    fetched = s.roles(role.sid).fetch()
    assert sorted(fetched.permissions) == sorted(perms)
    assert_keys(raw(acct, "GET", f"/v2/Services/{svc.sid}/Roles/{role.sid}"), ROLE_KEYS, "role (fetch)")

    # Update replaces the whole set.
    updated = s.roles(role.sid).update(permission=["sendMessage", "editOwnMessage"])
    assert sorted(updated.permissions) == ["editOwnMessage", "sendMessage"]
    assert sorted(s.roles(role.sid).fetch().permissions) == ["editOwnMessage", "sendMessage"]

    deployment = s.roles.create(friendly_name="creator", type="deployment",
                                permission=["createChannel", "joinChannel", "inviteMember"])
    assert deployment.type == "deployment"
    assert sorted(deployment.permissions) == ["createChannel", "inviteMember", "joinChannel"]

    listed = s.roles.list(page_size=2)
    by_name = {r.friendly_name: r for r in listed}
    assert len(listed) == len(by_name) == 6
    expected_types = {"service admin": "deployment", "service user": "deployment",
                      "channel admin": "channel", "channel user": "channel",
                      "moderator": "channel", "creator": "deployment"}
    assert {name: r.type for name, r in by_name.items()} == expected_types
    # The defaults speak Chat's vocabulary.
    assert sorted(by_name["service user"].permissions) == ["createChannel", "editOwnUserInfo", "joinChannel"]
    channel_user = by_name["channel user"].permissions
    assert "leaveChannel" in channel_user and "sendMessage" in channel_user
    assert "leaveConversation" not in channel_user
    body = raw(acct, "GET", f"/v2/Services/{svc.sid}/Roles")
    assert body["meta"]["key"] == "roles"
    for item in body["roles"]:
        assert_keys(item, ROLE_KEYS, "role (list)")

    assert s.roles(role.sid).delete() is True
    expect_rest_error(lambda: s.roles(role.sid).fetch(), 404, ROLE_NOT_FOUND)
    assert len(s.roles.list()) == 5


def test_role_errors(http, acct, svc, s):
    expect_rest_error(lambda: s.roles.create(friendly_name="bad", type="channel",
                                             permission=["sendMessage", "flyToTheMoon"]),
                      400, UNKNOWN_PERMISSION)
    # Conversations' names are not Chat's.
    expect_rest_error(lambda: s.roles.create(friendly_name="bad2", type="channel",
                                             permission=["leaveConversation"]),
                      400, UNKNOWN_PERMISSION)
    expect_rest_error(lambda: s.roles.create(friendly_name="bad3", type="galaxy", permission=["sendMessage"]),
                      400, BAD_ROLE_TYPE)
    role = s.roles.create(friendly_name="ok", type="channel", permission=["sendMessage"])
    expect_rest_error(lambda: s.roles(role.sid).update(permission=["flyToTheMoon"]), 400, UNKNOWN_PERMISSION)
    assert s.roles(role.sid).fetch().permissions == ["sendMessage"]
    expect_rest_error(lambda: s.roles("RL" + "0" * 32).fetch(), 404, ROLE_NOT_FOUND)
    # FriendlyName, Type and Permission are all required.
    url = v2_url(acct, svc.sid, "Roles")
    for data in ({"Type": "channel", "Permission": "sendMessage"},
                 {"FriendlyName": "x", "Permission": "sendMessage"},
                 {"FriendlyName": "x", "Type": "channel"}):
        resp = http.post(url, data=data, auth=(acct.sid, acct.token), timeout=30)
        assert resp.status_code == 400, (data, resp.text)
        assert resp.json()["code"] == 20001, (data, resp.text)
    assert sorted(r.friendly_name for r in s.roles.list()) == \
        ["channel admin", "channel user", "ok", "service admin", "service user"]


def test_roles_read_across_vocabularies(svc, s, v1):
    # Chat -> Conversations.
    chat_role = s.roles.create(friendly_name="chat-made", type="channel",
                               permission=["leaveChannel", "addMember", "sendMessage", "editChannelName",
                                           "inviteMember"])
    seen = v1.services(svc.sid).roles(chat_role.sid).fetch()
    assert seen.type == "conversation"
    assert sorted(seen.permissions) == sorted(["leaveConversation", "addParticipant", "sendMessage",
                                               "editConversationName", "inviteMember"])
    s.roles(chat_role.sid).update(permission=["removeMember", "sendMediaMessage"])
    assert sorted(v1.services(svc.sid).roles(chat_role.sid).fetch().permissions) == \
        ["removeParticipant", "sendMediaMessage"]

    # Conversations -> Chat.
    v1_role = v1.services(svc.sid).roles.create(
        friendly_name="v1-made", type="service",
        permission=["createConversation", "joinConversation", "deleteConversation", "editConversationAttributes"])
    got = s.roles(v1_role.sid).fetch()
    assert got.type == "deployment"
    assert sorted(got.permissions) == sorted(["createChannel", "joinChannel", "destroyChannel",
                                              "editChannelAttributes"])
    v1.services(svc.sid).roles(v1_role.sid).update(permission=["addParticipant"])
    assert s.roles(v1_role.sid).fetch().permissions == ["addMember"]


# --------------------------------------------------------------------------
# Users and UserChannels.
# --------------------------------------------------------------------------

def test_user_create_fetch_update_list_delete(acct, svc, s):
    user = s.users.create(identity="alice", friendly_name="Alice", attributes='{"tier":1}')
    assert_keys(raw(acct, "POST", f"/v2/Services/{svc.sid}/Users", 201), USER_KEYS, "user (create)")
    assert is_sid(user.sid, "US")
    assert (user.account_sid, user.service_sid) == (acct.sid, svc.sid)
    assert user.identity == "alice"
    assert user.friendly_name == "Alice"
    assert user.attributes == '{"tier":1}'
    assert user.role_sid == svc.default_service_role_sid
    assert user.is_online is None and user.is_notifiable is None
    assert user.joined_channels_count == 0
    url = v2_url(acct, svc.sid, "Users", user.sid)
    assert user.url == url
    assert user.links == {"user_channels": f"{url}/Channels", "user_bindings": f"{url}/Bindings"}

    assert s.users("alice").fetch().sid == user.sid
    assert s.users(user.sid).fetch().identity == "alice"
    assert_keys(raw(acct, "GET", f"/v2/Services/{svc.sid}/Users/alice"), USER_KEYS, "user (fetch)")

    updated = s.users("alice").update(friendly_name="Alice B.")
    assert updated.friendly_name == "Alice B."
    assert updated.attributes == '{"tier":1}'
    assert s.users(user.sid).fetch().friendly_name == "Alice B."

    others = [s.users.create(identity=f"u{i}").sid for i in range(3)]
    assert [u.sid for u in s.users.list(page_size=2)] == [user.sid, *others]
    body = raw(acct, "GET", f"/v2/Services/{svc.sid}/Users")
    assert body["meta"]["key"] == "users"
    for item in body["users"]:
        assert_keys(item, USER_KEYS, "user (list)")

    assert s.users("alice").delete() is True
    expect_rest_error(lambda: s.users("alice").fetch(), 404, USER_NOT_FOUND)
    assert [u.sid for u in s.users.list()] == others


def test_user_errors(svc, s):
    s.users.create(identity="twin")
    expect_rest_error(lambda: s.users.create(identity="twin"), 409, USER_EXISTS)
    expect_rest_error(lambda: s.users("ghost").fetch(), 404, USER_NOT_FOUND)
    expect_rest_error(lambda: s.users("US" + "0" * 32).fetch(), 404, USER_NOT_FOUND)
    expect_rest_error(lambda: s.users("ghost").update(friendly_name="x"), 404, USER_NOT_FOUND)
    expect_rest_error(lambda: s.users("ghost").delete(), 404, USER_NOT_FOUND)
    expect_rest_error(lambda: s.users.create(identity=""), 400, 20001)
    assert [u.identity for u in s.users.list()] == ["twin"]


def test_user_channels(acct, svc, s):
    user = s.users.create(identity="carol")
    one = s.channels.create(friendly_name="one", unique_name=uniq("uc-one"))
    two = s.channels.create(friendly_name="two", type="private")
    m1 = s.channels(one.sid).members.create(identity="carol")
    m2 = s.channels(two.sid).members.create(identity="carol")
    msgs = [s.channels(one.sid).messages.create(from_="dave", body=f"d{i}") for i in range(3)]
    assert s.users("carol").fetch().joined_channels_count == 2

    ucs = s.users("carol").user_channels.list()
    body = raw(acct, "GET", f"/v2/Services/{svc.sid}/Users/carol/Channels")
    assert "channels" in body and body["meta"]["key"] == "channels"
    for item in body["channels"]:
        assert_keys(item, USER_CHANNEL_KEYS, "user channel (list)")
    by_channel = {uc.channel_sid: uc for uc in ucs}
    assert set(by_channel) == {one.sid, two.sid}
    for ch, member in ((one, m1), (two, m2)):
        uc = by_channel[ch.sid]
        assert uc.status == "joined"
        assert uc.member_sid == member.sid
        assert uc.user_sid == user.sid
        assert (uc.account_sid, uc.service_sid) == (acct.sid, svc.sid)
        assert uc.notification_level == "default"
        assert uc.url == v2_url(acct, svc.sid, "Users", user.sid, "Channels", ch.sid)
        assert uc.links == {"channel": v2_url(acct, svc.sid, "Channels", ch.sid),
                            "member": v2_url(acct, svc.sid, "Channels", ch.sid, "Members", member.sid)}

    # Fetch through the user's SID and the channel's unique name.
    fetched = s.users(user.sid).user_channels(one.unique_name).fetch()
    assert (fetched.channel_sid, fetched.member_sid) == (one.sid, m1.sid)

    muted = s.users("carol").user_channels(one.sid).update(notification_level="muted",
                                                            last_consumed_message_index=msgs[0].index)
    assert muted.notification_level == "muted"
    assert muted.last_consumed_message_index == msgs[0].index
    assert muted.unread_messages_count == 2
    assert s.users("carol").user_channels(one.sid).fetch().notification_level == "muted"
    assert s.channels(one.sid).members(m1.sid).fetch().last_consumed_message_index == msgs[0].index

    # Deleting the membership removes the member.
    assert s.users("carol").user_channels(two.sid).delete() is True
    expect_rest_error(lambda: s.channels(two.sid).members(m2.sid).fetch(), 404, MEMBER_NOT_FOUND)
    assert [uc.channel_sid for uc in s.users("carol").user_channels.list()] == [one.sid]
    assert s.users("carol").fetch().joined_channels_count == 1
    assert s.channels(two.sid).fetch().members_count == 0


# --------------------------------------------------------------------------
# Chat and Conversations over the same rows.
# --------------------------------------------------------------------------

def test_chat_channel_is_a_conversation(svc, s, v1):
    unique = uniq("shared")
    ch = s.channels.create(friendly_name="Shared", unique_name=unique, attributes='{"a":1}')
    member = s.channels(ch.sid).members.create(identity="erin")
    msg = s.channels(ch.sid).messages.create(from_="erin", body="from chat")

    conv = v1.services(svc.sid).conversations(ch.sid).fetch()
    assert conv.sid == ch.sid
    assert conv.chat_service_sid == svc.sid
    assert (conv.friendly_name, conv.unique_name, conv.attributes) == ("Shared", unique, '{"a":1}')
    assert v1.services(svc.sid).conversations(unique).fetch().sid == ch.sid
    parts = v1.services(svc.sid).conversations(ch.sid).participants.list()
    assert [(p.sid, p.identity) for p in parts] == [(member.sid, "erin")]
    got = v1.services(svc.sid).conversations(ch.sid).messages(msg.sid).fetch()
    assert (got.author, got.body, got.index) == ("erin", "from chat", msg.index)


def test_conversation_is_a_private_channel(svc, s, v1):
    conv = v1.services(svc.sid).conversations.create(friendly_name="from v1", unique_name=uniq("v1conv"))
    part = v1.services(svc.sid).conversations(conv.sid).participants.create(identity="frank")
    v1msg = v1.services(svc.sid).conversations(conv.sid).messages.create(author="frank", body="from v1")

    ch = s.channels(conv.sid).fetch()
    assert ch.type == "private"
    assert (ch.friendly_name, ch.unique_name) == ("from v1", conv.unique_name)
    assert ch.members_count == 1 and ch.messages_count == 1
    assert s.channels(conv.unique_name).fetch().sid == conv.sid
    assert conv.sid not in [c.sid for c in s.channels.list()]
    assert conv.sid in [c.sid for c in s.channels.list(type=["private"])]
    assert [m.sid for m in s.channels(conv.sid).members.list()] == [part.sid]
    msgs = s.channels(conv.sid).messages.list()
    assert [(m.sid, m._from, m.body, m.type) for m in msgs] == [(v1msg.sid, "frank", "from v1", "text")]


def test_media_message_reads_back_in_both_apis(http, acct, svc, s, v1):
    ch = s.channels.create(friendly_name="media both ways")
    data = _payload(300)
    me = _upload(http, acct, svc.sid, data)["sid"]
    msg = s.channels(ch.sid).messages.create(from_="gina", body="pic", media_sid=me)
    got = v1.services(svc.sid).conversations(ch.sid).messages(msg.sid).fetch()
    assert got.author == "gina" and got.body == "pic"
    assert got.media == [{"sid": me, "size": len(data), "content_type": "image/png",
                          "filename": "pixel.png", "category": "media"}]

    # A /v1 message with several media reads in Chat as its first attachment.
    first = _upload(http, acct, svc.sid, _payload(10), filename="first.png")["sid"]
    second = _upload(http, acct, svc.sid, _payload(20), filename="second.png")["sid"]
    multi = v1.services(svc.sid).conversations(ch.sid).messages.create(author="gina", media_sid=[first, second])
    seen = s.channels(ch.sid).messages(multi.sid).fetch()
    assert seen.type == "media"
    assert seen.media["sid"] == first
    assert seen.media["filename"] == "first.png"
    assert set(seen.media) == {"sid", "size", "content_type", "filename"}


def test_v3_update_makes_a_public_channel_private(acct, svc, s, v1):
    ch = s.channels.create(friendly_name="to migrate", unique_name=uniq("migrate"))
    assert ch.type == "public"
    assert [c.sid for c in s.channels.list()] == [ch.sid]

    updated = acct.client.chat.v3.channels(svc.sid, ch.sid).update(type="private")
    body = raw(acct, "POST", f"/v3/Services/{svc.sid}/Channels/{ch.sid}", 200)
    assert_keys(body, V3_CHANNEL_KEYS, "v3 channel (update)")
    assert updated.sid == ch.sid
    assert updated.service_sid == svc.sid
    assert updated.type == "private"
    assert updated.messaging_service_sid is None
    assert updated.members_count == 0 and updated.messages_count == 0
    assert updated.url.startswith(acct.base_url + "/")
    assert updated.url.endswith(f"/Services/{svc.sid}/Channels/{ch.sid}")

    assert s.channels(ch.sid).fetch().type == "private"
    assert s.channels.list() == []
    assert [c.sid for c in s.channels.list(type=["private"])] == [ch.sid]
    assert v1.services(svc.sid).conversations(ch.sid).fetch().sid == ch.sid

    back = acct.client.chat.v3.channels(svc.sid, ch.sid).update(type="public")
    assert back.type == "public"
    assert [c.sid for c in s.channels.list()] == [ch.sid]


# --------------------------------------------------------------------------
# End users (access tokens), over plain HTTP as the client SDKs do.
# --------------------------------------------------------------------------

def _token(account_sid: str, key, identity: str, service_sid: str) -> str:
    token = AccessToken(account_sid, key.sid, key.secret, identity=identity, ttl=3600)
    token.add_grant(ChatGrant(service_sid=service_sid))
    return token.to_jwt()


def _as_user(http, method: str, url: str, token: str, **kwargs):
    headers = dict(kwargs.pop("headers", {}))
    headers["X-Twilio-Token"] = token
    return http.request(method, url, headers=headers, timeout=60, **kwargs)


def _expect(resp, status: int, code: int | None = None) -> dict:
    where = f"{resp.request.method} {resp.request.path_url}"
    assert resp.status_code == status, f"{where}: expected HTTP {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    if code is not None:
        assert body["code"] == code, f"{where}: expected code {code}, got {body}"
    return body


def test_end_users_see_their_channels_and_need_send_media(http, fresh_account):
    acct = fresh_account
    chat = acct.client.chat.v2
    svc = chat.services.create(friendly_name="end users")
    s = chat.services(svc.sid)
    key = acct.client.new_keys.create(friendly_name="chat tokens")
    ch = s.channels.create(friendly_name="room", unique_name=uniq("room"))
    text_only = s.roles.create(friendly_name="text only", type="channel",
                               permission=["sendMessage", "leaveChannel"])
    s.channels(ch.sid).members.create(identity="alice", role_sid=text_only.sid)
    s.users.create(identity="bob")
    alice = _token(acct.sid, key, "alice", svc.sid)
    bob = _token(acct.sid, key, "bob", svc.sid)
    channel_url = v2_url(acct, svc.sid, "Channels", ch.sid)

    # Bob is not a member: he may find the public channel, but its messages
    # are the members'.
    _expect(_as_user(http, "GET", f"{channel_url}/Messages", bob), 404, CHANNEL_NOT_FOUND)
    assert _expect(_as_user(http, "GET", channel_url, bob), 200)["sid"] == ch.sid
    _expect(_as_user(http, "POST", f"{channel_url}/Messages", bob, data={"Body": "let me in"}),
            404, CHANNEL_NOT_FOUND)

    # Alice is: she reads and sends text, as herself.
    resp = _as_user(http, "POST", f"{channel_url}/Messages", alice, data={"Body": "hi"})
    sent = _expect(resp, 201)
    assert sent["from"] == "alice" and sent["body"] == "hi" and sent["type"] == "text"
    listed = _expect(_as_user(http, "GET", f"{channel_url}/Messages", alice), 200)
    assert [m["body"] for m in listed["messages"]] == ["hi"]

    # Her role lacks sendMediaMessage.
    upload = _as_user(http, "POST", f"{acct.base_url}/v1/Services/{svc.sid}/Media", alice,
                      params={"Filename": "pixel.png"}, data=_payload(256),
                      headers={"Content-Type": "image/png"})
    media = _expect(upload, 201)
    _expect(_as_user(http, "POST", f"{channel_url}/Messages", alice, data={"MediaSid": media["sid"]}),
            403, NOT_AUTHORIZED)
    _expect(_as_user(http, "POST", f"{channel_url}/Messages", alice,
                     data={"Body": "caption", "MediaSid": media["sid"]}),
            403, NOT_AUTHORIZED)
    assert [m.body for m in s.channels(ch.sid).messages.list()] == ["hi"]

    # Granted through Chat (update replaces the set), the same send goes through.
    s.roles(text_only.sid).update(permission=["sendMessage", "leaveChannel", "sendMediaMessage"])
    resp = _as_user(http, "POST", f"{channel_url}/Messages", alice, data={"MediaSid": media["sid"]})
    sent = _expect(resp, 201)
    assert sent["type"] == "media" and sent["media"]["sid"] == media["sid"] and sent["from"] == "alice"

    # A channel an end user creates is hers.
    made = _expect(_as_user(http, "POST", v2_url(acct, svc.sid, "Channels"), alice,
                            data={"FriendlyName": "alice's"}), 201)
    assert made["created_by"] == "alice"

    # Roles and Services are for account credentials only.
    _expect(_as_user(http, "GET", v2_url(acct, svc.sid, "Roles"), alice), 403)
    _expect(_as_user(http, "GET", v2_url(acct, svc.sid), alice), 403)
    _expect(_as_user(http, "POST", v2_url(acct, svc.sid, "Roles"), alice,
                     data={"FriendlyName": "mine", "Type": "channel", "Permission": "sendMessage"}), 403)
    assert len(s.roles.list()) == 5


def test_push_credentials_through_chat_and_conversations(acct, chat):
    created = chat.credentials.create(type="apn", friendly_name="ios", certificate="-----CERT-----",
                                      private_key="-----KEY-----", sandbox=True)
    assert created.sid.startswith("CR") and len(created.sid) == 34
    assert (created.type, created.friendly_name, created.sandbox) == ("apn", "ios", "True")
    assert created.url == f"{acct.base_url}/v2/Credentials/{created.sid}"
    assert isinstance(created.date_created, datetime)
    same = acct.client.conversations.v1.credentials(created.sid).fetch()
    assert (same.type, same.friendly_name) == ("apn", "ios")
    assert same.url == f"{acct.base_url}/v1/Credentials/{created.sid}"
    updated = acct.client.conversations.v1.credentials(created.sid).update(friendly_name="ios prod")
    assert updated.friendly_name == "ios prod"
    fcm = chat.credentials.create(type="fcm", secret="server-key")
    assert {c.sid for c in chat.credentials.list(page_size=1)} >= {created.sid, fcm.sid}
    expect_rest_error(lambda: chat.credentials.create(type="fcm"), 400, 20001)
    assert chat.credentials(created.sid).delete() is True
    expect_rest_error(lambda: chat.credentials(created.sid).fetch(), 404, 20404)
    assert chat.credentials(fcm.sid).delete() is True
