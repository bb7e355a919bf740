"""Participants and messages through twilio-python."""

import json
from datetime import datetime, timezone

import pytest

from support import expect_rest_error, is_sid, uniq


@pytest.fixture
def conv(v1):
    return v1.conversations.create(friendly_name="pm", unique_name=uniq("pm"))


def test_participant_create_fetch_by_identity_update_delete(v1, conv):
    identity = uniq("alice")
    part = v1.conversations(conv.sid).participants.create(
        identity=identity, attributes='{"role":"host"}')
    assert is_sid(part.sid, "MB")
    assert part.conversation_sid == conv.sid
    assert part.identity == identity
    assert part.attributes == '{"role":"host"}'
    assert is_sid(part.role_sid, "RL")  # the service's default conversation role
    assert part.messaging_binding is None
    assert part.last_read_message_index is None
    assert isinstance(part.date_created, datetime)

    # Alias fetch: Participants/{identity}; also through the conversation's unique_name.
    by_identity = v1.conversations(conv.sid).participants(identity).fetch()
    assert by_identity.sid == part.sid
    both_aliases = v1.conversations(conv.unique_name).participants(identity).fetch()
    assert both_aliases.sid == part.sid

    updated = v1.conversations(conv.sid).participants(part.sid).update(
        attributes='{"role":"guest"}', last_read_message_index=0)
    assert updated.attributes == '{"role":"guest"}'
    assert updated.last_read_message_index == 0

    listed = v1.conversations(conv.sid).participants.list()
    assert [p.sid for p in listed] == [part.sid]

    assert v1.conversations(conv.sid).participants(identity).delete() is True
    expect_rest_error(lambda: v1.conversations(conv.sid).participants(part.sid).fetch(), 404)
    assert v1.conversations(conv.sid).participants.list() == []


def test_participants_list_pages(v1, conv):
    ids = [uniq(f"p{i}") for i in range(5)]
    sids = [v1.conversations(conv.sid).participants.create(identity=i).sid for i in ids]
    assert [p.sid for p in v1.conversations(conv.sid).participants.list(page_size=2)] == sids


def test_message_create_fetch_update_delete(v1, conv):
    identity = uniq("author")
    part = v1.conversations(conv.sid).participants.create(identity=identity)
    msg = v1.conversations(conv.sid).messages.create(
        author=identity, body="hello there", attributes='{"importance":"high"}')
    assert is_sid(msg.sid, "IM")
    assert msg.conversation_sid == conv.sid
    assert msg.account_sid == conv.account_sid
    assert msg.author == identity
    assert msg.body == "hello there"
    assert json.loads(msg.attributes) == {"importance": "high"}
    assert msg.participant_sid == part.sid
    assert isinstance(msg.index, int)
    assert msg.media is None
    assert isinstance(msg.date_created, datetime)
    assert msg.url.endswith(f"/v1/Conversations/{conv.sid}/Messages/{msg.sid}")

    fetched = v1.conversations(conv.sid).messages(msg.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.index) == (msg.sid, msg.body, msg.index)

    updated = v1.conversations(conv.sid).messages(msg.sid).update(
        body="edited", attributes='{"edited":true}')
    assert updated.body == "edited"
    assert updated.attributes == '{"edited":true}'
    assert updated.index == msg.index
    assert v1.conversations(conv.sid).messages(msg.sid).fetch().body == "edited"

    assert v1.conversations(conv.sid).messages(msg.sid).delete() is True
    expect_rest_error(lambda: v1.conversations(conv.sid).messages(msg.sid).fetch(), 404, 20404)


def test_system_message_defaults(v1, conv):
    msg = v1.conversations(conv.sid).messages.create(body="server says hi")
    assert msg.author == "system"
    assert msg.participant_sid is None
    assert msg.attributes == "{}"


def test_message_list_order_across_pages(v1, conv):
    bodies = [f"m{i:02d}" for i in range(12)]
    created = [v1.conversations(conv.sid).messages.create(author="bot", body=b) for b in bodies]
    indexes = [m.index for m in created]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)

    asc = v1.conversations(conv.sid).messages.list(order="asc", page_size=5)
    assert [m.sid for m in asc] == [m.sid for m in created]
    assert [m.body for m in asc] == bodies

    desc = v1.conversations(conv.sid).messages.list(order="desc", page_size=5)
    assert [m.sid for m in desc] == [m.sid for m in reversed(created)]

    default = v1.conversations(conv.sid).messages.list(page_size=5)
    assert [m.sid for m in default] == [m.sid for m in created]  # asc by default

    streamed = list(v1.conversations(conv.sid).messages.stream(order="desc", page_size=4, limit=6))
    assert [m.body for m in streamed] == list(reversed(bodies))[:6]


def test_message_list_through_unique_name(v1, conv):
    v1.conversations(conv.sid).messages.create(body="via alias")
    listed = v1.conversations(conv.unique_name).messages.list()
    assert [m.body for m in listed] == ["via alias"]


def test_sms_participant_binding(v1, conv):
    part = v1.conversations(conv.sid).participants.create(
        messaging_binding_address="+15555550123", messaging_binding_proxy_address="+15555550100")
    assert part.identity is None
    assert part.messaging_binding["address"] == "+15555550123"
    assert part.messaging_binding["proxy_address"] == "+15555550100"
    assert part.messaging_binding["type"] == "sms"
    found = v1.participant_conversations.list(address="+15555550123")
    assert conv.sid in [pc.conversation_sid for pc in found]


def test_read_horizon(v1, conv):
    identity = uniq("reader")
    v1.conversations(conv.sid).participants.create(identity=identity)
    msgs = [v1.conversations(conv.sid).messages.create(body=f"b{i}") for i in range(3)]
    part = v1.conversations(conv.sid).participants(identity).update(
        last_read_message_index=msgs[1].index)
    assert part.last_read_message_index == msgs[1].index
    uc = v1.users(identity).user_conversations(conv.sid).fetch()
    assert uc.last_read_message_index == msgs[1].index
    assert uc.unread_messages_count == 1


def test_webhook_header_and_date_params_are_accepted(v1, conv):
    when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    msg = v1.conversations(conv.sid).messages.create(
        body="backdated", date_created=when, x_twilio_webhook_enabled="false")
    assert msg.date_created == when
    part = v1.conversations(conv.sid).participants.create(
        identity=uniq("hdr"), x_twilio_webhook_enabled="true")
    assert v1.conversations(conv.sid).participants(part.sid).update(
        attributes='{"k":"v"}', x_twilio_webhook_enabled="false").attributes == '{"k":"v"}'


def test_unicode_round_trip(v1, conv):
    body = "Grüße 👋 — 你好\nnew line & ampersand + plus = equals"
    msg = v1.conversations(conv.sid).messages.create(author="ünï", body=body,
                                                     attributes='{"emoji":"🎉"}')
    fetched = v1.conversations(conv.sid).messages(msg.sid).fetch()
    assert fetched.body == body
    assert fetched.author == "ünï"
    assert json.loads(fetched.attributes) == {"emoji": "🎉"}


def test_message_indexes_keep_growing_after_delete(v1, conv):
    a = v1.conversations(conv.sid).messages.create(body="a")
    b = v1.conversations(conv.sid).messages.create(body="b")
    v1.conversations(conv.sid).messages(b.sid).delete()
    c = v1.conversations(conv.sid).messages.create(body="c")
    assert a.index < b.index < c.index
    assert [m.body for m in v1.conversations(conv.sid).messages.list()] == ["a", "c"]


def test_many_messages_default_page_size(v1, conv):
    for i in range(120):
        v1.conversations(conv.sid).messages.create(body=str(i))
    assert [m.body for m in v1.conversations(conv.sid).messages.list()] == [str(i) for i in range(120)]
    desc = v1.conversations(conv.sid).messages.list(order="desc", page_size=100)
    assert [m.body for m in desc] == [str(i) for i in reversed(range(120))]


def test_previous_page_in_desc_order(v1, conv):
    for i in range(5):
        v1.conversations(conv.sid).messages.create(body=str(i))
    page = v1.conversations(conv.sid).messages.page(order="desc", page_size=2)
    assert [m.body for m in page] == ["4", "3"]
    page2 = page.next_page()
    assert [m.body for m in page2] == ["2", "1"]
    assert [m.body for m in page2.previous_page()] == ["4", "3"]
    assert [m.body for m in page2.next_page()] == ["0"]
