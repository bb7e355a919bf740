"""Programmable Chat v2 webhooks through twilio-python's `client.chat.v2`
(notes/chat-webhooks.md): the Service's webhook fields (shared with
Conversations' webhook configuration, each API reading the filters in its own
names), channel Webhooks (create, fetch, list, update, delete; 50320 and
50300), and deliveries of a Chat-speaking configuration, validated by the
receiver with twilio-python's own RequestValidator.

Every test uses a fresh account (its Auth Token signs the deliveries) and a
Chat service of its own.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from support import expect_rest_error, is_sid, uniq
from test_webhooks import Receiver

INVALID_PARAMETER = 20001
CHANNEL_NOT_FOUND = 50300
WEBHOOK_NOT_FOUND = 50320

CHANNEL_WEBHOOK_KEYS = {
    "account_sid", "service_sid", "channel_sid", "sid", "type", "configuration",
    "date_created", "date_updated", "url",
}
# Parameters only Conversations sends; a Chat-speaking receiver never gets them.
CONVERSATIONS_ONLY = ("ChatServiceSid", "ConversationSid", "Author", "ParticipantSid", "Media")


# --------------------------------------------------------------------------
# Fixtures and helpers.
# --------------------------------------------------------------------------

@pytest.fixture
def chat(fresh_account):
    return fresh_account.client.chat.v2


@pytest.fixture
def svc(chat):
    return chat.services.create(friendly_name=uniq("chat-hooks"))


@pytest.fixture
def s(chat, svc):
    return chat.services(svc.sid)


@pytest.fixture
def receiver(fresh_account):
    r = Receiver(fresh_account.token)
    yield r
    r.close()


def raw(acct, method: str, path: str, status: int | None = None) -> dict:
    """The JSON body of the last `method path` exchange of this client."""
    for ex in reversed(acct.http.exchanges):
        if ex.method == method and ex.path == path and (status is None or ex.status == status):
            return ex.json()
    raise AssertionError(f"no {method} {path} exchange recorded")


def settle(receiver: Receiver, quiet: float = 0.5, timeout: float = 10.0) -> list[dict]:
    """Every request the receiver got, once nothing more came for `quiet` seconds."""
    deadline = time.time() + timeout
    seen = -1
    while time.time() < deadline:
        with receiver.lock:
            count = len(receiver.hits)
        if count == seen:
            with receiver.lock:
                return list(receiver.hits)
        seen = count
        time.sleep(quiet)
    raise AssertionError(f"the receiver kept getting requests: {receiver.hits}")


def assert_speaks_chat(hit: dict) -> None:
    params = hit["params"]
    for name in CONVERSATIONS_ONLY:
        assert params.get(name) is None, f"{name} is Conversations' only: {list(params.pairs)}"


# --------------------------------------------------------------------------
# The Service's webhook fields.
# --------------------------------------------------------------------------

def test_service_webhook_fields_read_back_in_both_apis(fresh_account, chat, svc):
    assert svc.webhook_method is None and svc.webhook_filters is None
    assert svc.pre_webhook_retry_count == 0 and svc.post_webhook_retry_count == 0
    updated = chat.services(svc.sid).update(
        pre_webhook_url="https://hooks.example.com/pre",
        post_webhook_url="https://hooks.example.com/post?tenant=7",
        webhook_method="GET",
        webhook_filters=["onMessageSend", "onMessageSent", "onMediaMessageSent", "onMemberAdded"],
        pre_webhook_retry_count=2,
        post_webhook_retry_count=1,
    )
    for got in (updated, chat.services(svc.sid).fetch()):
        assert got.pre_webhook_url == "https://hooks.example.com/pre"
        assert got.post_webhook_url == "https://hooks.example.com/post?tenant=7"
        assert got.webhook_method == "GET"
        assert got.webhook_filters == ["onMessageSend", "onMessageSent", "onMediaMessageSent", "onMemberAdded"]
        assert got.pre_webhook_retry_count == 2
        assert got.post_webhook_retry_count == 1

    # Conversations reads the same configuration in its own names.
    v1 = fresh_account.v1.services(svc.sid).configuration.webhooks().fetch()
    assert v1.post_webhook_url == "https://hooks.example.com/post?tenant=7"
    assert v1.pre_webhook_url == "https://hooks.example.com/pre"
    assert v1.method == "GET"
    assert v1.filters == ["onMessageAdd", "onMessageAdded", "onParticipantAdded"]

    # Written through Conversations, read back in Chat's names.
    fresh_account.v1.services(svc.sid).configuration.webhooks().update(
        filters=["onConversationAdded", "onMessageAdded"])
    names = chat.services(svc.sid).fetch().webhook_filters
    assert sorted(names) == sorted(["onChannelAdded", "onMessageSent", "onMediaMessageSent"])

    # A partial update keeps the rest; empty URLs clear them.
    moved = chat.services(svc.sid).update(post_webhook_url="https://hooks.example.com/moved")
    assert moved.pre_webhook_url == "https://hooks.example.com/pre"
    assert moved.webhook_method == "GET"
    cleared = chat.services(svc.sid).update(pre_webhook_url="", post_webhook_url="")
    assert cleared.pre_webhook_url is None and cleared.post_webhook_url is None
    assert cleared.webhook_method is None and cleared.webhook_filters is None


def test_service_webhook_field_errors(chat, svc):
    chat.services(svc.sid).update(post_webhook_url="https://hooks.example.com/post",
                                  webhook_filters=["onMessageSent"])
    for kwargs, param in (
        ({"webhook_filters": ["onMessageAdded"]}, "WebhookFilters"),
        ({"webhook_filters": ["onMessageSent", "onSomethingElse"]}, "WebhookFilters"),
        ({"post_webhook_retry_count": 4}, "PostWebhookRetryCount"),
        ({"pre_webhook_retry_count": 4}, "PreWebhookRetryCount"),
        ({"webhook_method": "PUT"}, "WebhookMethod"),
        ({"post_webhook_url": "not a url"}, "PostWebhookUrl"),
    ):
        err = expect_rest_error(lambda: chat.services(svc.sid).update(**kwargs), 400, INVALID_PARAMETER)
        assert param in err.msg, (kwargs, err.msg)
    after = chat.services(svc.sid).fetch()
    assert after.post_webhook_url == "https://hooks.example.com/post"
    assert after.webhook_filters == ["onMessageSent"]
    assert after.post_webhook_retry_count == 0


# --------------------------------------------------------------------------
# Channel Webhooks.
# --------------------------------------------------------------------------

def test_channel_webhook_create_fetch_list_update_delete(fresh_account, svc, s):
    room = uniq("room")
    ch = s.channels.create(friendly_name="hooked", unique_name=room)
    hooks = s.channels(ch.sid).webhooks
    hook = hooks.create(type="webhook", configuration_url="https://bot.example.com/hook",
                        configuration_method="GET",
                        configuration_filters=["onMessageSent", "onChannelDestroyed"],
                        configuration_retry_count=2)
    body = raw(fresh_account, "POST", f"/v2/Services/{svc.sid}/Channels/{ch.sid}/Webhooks", 201)
    assert set(body) == CHANNEL_WEBHOOK_KEYS, sorted(body)
    assert is_sid(hook.sid, "WH")
    assert (hook.account_sid, hook.service_sid, hook.channel_sid) == (fresh_account.sid, svc.sid, ch.sid)
    assert hook.type == "webhook"
    assert hook.configuration == {"url": "https://bot.example.com/hook", "method": "GET",
                                  "filters": ["onMessageSent", "onChannelDestroyed"], "retry_count": 2}
    assert hook.url == f"{fresh_account.base_url}/v2/Services/{svc.sid}/Channels/{ch.sid}/Webhooks/{hook.sid}"
    assert isinstance(hook.date_created, datetime) and isinstance(hook.date_updated, datetime)

    trigger = hooks.create(type="trigger", configuration_url="https://bot.example.com/t",
                           configuration_triggers=["help", "urgent"], configuration_retry_count=1)
    assert trigger.type == "trigger"
    assert trigger.configuration == {"url": "https://bot.example.com/t", "method": "POST",
                                     "triggers": ["help", "urgent"], "retry_count": 1}

    fetched = hooks(hook.sid).fetch()
    assert (fetched.sid, fetched.type, fetched.configuration) == (hook.sid, "webhook", hook.configuration)
    # By the channel's unique name too; URLs use its SID.
    by_name = s.channels(room).webhooks(hook.sid).fetch()
    assert by_name.url == hook.url
    assert [w.sid for w in hooks.list()] == [hook.sid, trigger.sid]
    assert [w.sid for w in s.channels(room).webhooks.list(page_size=1)] == [hook.sid, trigger.sid]
    listed = raw(fresh_account, "GET", f"/v2/Services/{svc.sid}/Channels/{room}/Webhooks")
    assert listed["meta"]["key"] == "webhooks"

    updated = hooks(hook.sid).update(configuration_filters=["onMessageUpdated"], configuration_retry_count=3)
    assert updated.configuration == {"url": "https://bot.example.com/hook", "method": "GET",
                                     "filters": ["onMessageUpdated"], "retry_count": 3}
    assert updated.type == "webhook"
    assert hooks(hook.sid).fetch().configuration == updated.configuration

    assert hooks(hook.sid).delete() is True
    expect_rest_error(lambda: hooks(hook.sid).fetch(), 404, WEBHOOK_NOT_FOUND)
    expect_rest_error(lambda: hooks(hook.sid).update(configuration_retry_count=1), 404, WEBHOOK_NOT_FOUND)
    expect_rest_error(lambda: hooks("WH" + "0" * 32).fetch(), 404, WEBHOOK_NOT_FOUND)
    assert [w.sid for w in hooks.list()] == [trigger.sid]


def test_channel_webhook_errors(svc, s):
    ch = s.channels.create(friendly_name="limits")
    hooks = s.channels(ch.sid).webhooks
    err = expect_rest_error(lambda: hooks.create(type="studio", configuration_flow_sid="FW" + "0" * 32),
                            400, INVALID_PARAMETER)
    assert "studio" in err.msg.lower(), err.msg
    expect_rest_error(lambda: hooks.create(type="webhook"), 400)  # no Configuration.Url
    expect_rest_error(lambda: hooks.create(type="trigger", configuration_url="https://x.example/"), 400)
    expect_rest_error(lambda: hooks.create(type="webhook", configuration_url="https://x.example/",
                                           configuration_retry_count=4), 400)
    expect_rest_error(lambda: hooks.create(type="webhook", configuration_url="https://x.example/",
                                           configuration_filters=["onMessageAdded"]), 400)
    assert hooks.list() == []
    for n in range(5):
        hooks.create(type="webhook", configuration_url=f"https://x.example/{n}")
    expect_rest_error(lambda: hooks.create(type="webhook", configuration_url="https://x.example/6"),
                      400, INVALID_PARAMETER)
    assert len(hooks.list()) == 5
    # PageSize is capped at 5.
    page = hooks.page(page_size=6)
    assert len(list(page)) == 5
    expect_rest_error(lambda: s.channels("no-such-channel").webhooks.create(
        type="webhook", configuration_url="https://x.example/"), 404, CHANNEL_NOT_FOUND)


def test_a_channel_webhook_is_a_conversation_scoped_webhook(fresh_account, svc, s):
    ch = s.channels.create(friendly_name="both ways")
    hook = s.channels(ch.sid).webhooks.create(
        type="webhook", configuration_url="https://bot.example.com/hook",
        configuration_filters=["onMessageSent", "onMediaMessageSent", "onMemberAdded"])
    v1 = fresh_account.v1.services(svc.sid).conversations(ch.sid).webhooks(hook.sid).fetch()
    assert v1.target == "webhook"
    assert v1.configuration["url"] == "https://bot.example.com/hook"
    assert v1.configuration["filters"] == ["onMessageAdded", "onParticipantAdded"]
    assert v1.conversation_sid == ch.sid
    fresh_account.v1.services(svc.sid).conversations(ch.sid).webhooks(hook.sid).delete()
    expect_rest_error(lambda: s.channels(ch.sid).webhooks(hook.sid).fetch(), 404, WEBHOOK_NOT_FOUND)


# --------------------------------------------------------------------------
# Deliveries.
# --------------------------------------------------------------------------

def test_on_message_sent_is_delivered_signed_with_chats_parameters(fresh_account, chat, svc, s, receiver):
    url = receiver.url("/chat/post?tenant=7&region=eu")
    updated = chat.services(svc.sid).update(post_webhook_url=url,
                                            webhook_filters=["onMessageSent", "onMemberAdded"],
                                            post_webhook_retry_count=1)
    assert updated.post_webhook_url == url
    assert updated.webhook_filters == ["onMessageSent", "onMemberAdded"]
    assert updated.post_webhook_retry_count == 1

    ch = s.channels.create(friendly_name="hooked")
    member = s.channels(ch.sid).members.create(identity="alice", x_twilio_webhook_enabled="true")
    msg = s.channels(ch.sid).messages.create(from_="alice", body="héllo & welcome",
                                             attributes='{"k": [1, 2]}', x_twilio_webhook_enabled="true")
    # Without the header a REST change fires nothing.
    s.channels(ch.sid).messages.create(from_="alice", body="quiet")

    receiver.wait_for(2)
    hits = settle(receiver)
    assert [h["params"].get("EventType") for h in hits] == ["onMemberAdded", "onMessageSent"], hits
    for hit in hits:
        assert hit["valid"], hit  # twilio-python's RequestValidator, with the account's Auth Token
        assert hit["method"] == "POST" and hit["url"] == url
        params = hit["params"]
        assert params.get("AccountSid") == fresh_account.sid
        assert params.get("InstanceSid") == svc.sid
        assert params.get("ChannelSid") == ch.sid
        assert params.get("Source") == "API"
        assert params.get("RetryCount") == "0"
        assert_speaks_chat(hit)

    added = hits[0]["params"]
    assert added.get("MemberSid") == member.sid
    assert added.get("Identity") == "alice"
    assert added.get("RoleSid") == member.role_sid
    assert added.get("Reason") == "ADDED"

    sent = hits[1]["params"]
    assert sent.get("MessageSid") == msg.sid
    assert sent.get("Index") == "0"
    assert sent.get("Body") == "héllo & welcome"
    assert sent.get("From") == "alice"
    assert sent.get("Attributes") == '{"k": [1, 2]}'
    assert sent.get("DateCreated")
    assert hits[0]["token"] != hits[1]["token"]


def test_a_channel_webhook_delivery_names_the_webhook(fresh_account, svc, s, receiver):
    ch = s.channels.create(friendly_name="scoped")
    hook = s.channels(ch.sid).webhooks.create(
        type="webhook", configuration_url=receiver.url("/scoped?x=1"), configuration_method="GET",
        configuration_filters=["onMessageSent"])
    assert hook.configuration["method"] == "GET"
    msg = s.channels(ch.sid).messages.create(from_="bob", body="via GET", x_twilio_webhook_enabled="true")
    receiver.wait_for(1)
    hits = settle(receiver)
    assert len(hits) == 1, hits
    hit = hits[0]
    assert hit["method"] == "GET"
    assert hit["valid"], hit  # signed over the query string
    query = hit["query"]
    assert query["x"] == "1"
    assert query["EventType"] == "onMessageSent"
    assert query["WebhookSid"] == hook.sid
    assert query["WebhookType"] == "webhook"
    assert query["InstanceSid"] == svc.sid
    assert query["ChannelSid"] == ch.sid
    assert query["MessageSid"] == msg.sid
    assert query["From"] == "bob"
    for name in CONVERSATIONS_ONLY:
        assert name not in query, query
