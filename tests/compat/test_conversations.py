"""Conversations through twilio-python: CRUD, aliases, paging, dates."""

import json
from datetime import datetime, timezone

from support import expect_rest_error, is_sid, uniq


def test_create_fetch_by_sid_and_unique_name(v1, account):
    unique = uniq("room")
    attrs = json.dumps({"topic": "compat", "n": 1})
    conv = v1.conversations.create(friendly_name="Compat room", unique_name=unique,
                                   attributes=attrs)
    assert is_sid(conv.sid, "CH")
    assert conv.account_sid == account.sid
    assert is_sid(conv.chat_service_sid, "IS")
    assert conv.friendly_name == "Compat room"
    assert conv.unique_name == unique
    assert json.loads(conv.attributes) == {"topic": "compat", "n": 1}
    assert conv.state == "active"
    assert conv.url.endswith(f"/v1/Conversations/{conv.sid}")
    assert set(conv.links) >= {"participants", "messages", "webhooks"}

    by_sid = v1.conversations(conv.sid).fetch()
    assert by_sid.sid == conv.sid
    assert by_sid.unique_name == unique

    by_alias = v1.conversations(unique).fetch()
    assert by_alias.sid == conv.sid
    assert by_alias.friendly_name == "Compat room"


def test_attributes_default_and_verbatim(v1):
    plain = v1.conversations.create()
    assert plain.attributes == "{}"
    assert plain.friendly_name is None
    assert plain.unique_name is None
    # Attributes are stored as the caller's JSON text (spec examples keep
    # the caller's whitespace).
    text = '{ "topic": "feedback" }'
    conv = v1.conversations.create(attributes=text)
    assert v1.conversations(conv.sid).fetch().attributes == text


def test_datetimes_parse_into_datetime_objects(v1):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    conv = v1.conversations.create(friendly_name="dates")
    after = datetime.now(timezone.utc)
    for value in (conv.date_created, conv.date_updated):
        # twilio-python falls back to the raw string unless the format is
        # exactly %Y-%m-%dT%H:%M:%SZ.
        assert isinstance(value, datetime), f"not parsed: {value!r}"
        assert value.tzinfo is not None
    assert before.timestamp() - 2 <= conv.date_created.timestamp() <= after.timestamp() + 2
    fetched = v1.conversations(conv.sid).fetch()
    assert fetched.date_created == conv.date_created


def test_date_created_is_settable_and_round_trips(v1):
    when = datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    conv = v1.conversations.create(friendly_name="backfill", date_created=when)
    assert conv.date_created == when
    assert v1.conversations(conv.sid).fetch().date_created == when


def test_update(v1):
    unique = uniq("upd")
    conv = v1.conversations.create(friendly_name="before", unique_name=unique)
    new_unique = uniq("upd2")
    updated = v1.conversations(conv.sid).update(
        friendly_name="after", attributes='{"x":true}', unique_name=new_unique)
    assert updated.sid == conv.sid
    assert updated.friendly_name == "after"
    assert updated.attributes == '{"x":true}'
    assert updated.unique_name == new_unique
    assert isinstance(updated.date_updated, datetime)
    assert updated.date_updated >= conv.date_updated
    # Update through the alias works too, and the old alias is gone.
    again = v1.conversations(new_unique).update(friendly_name="via alias")
    assert again.sid == conv.sid and again.friendly_name == "via alias"
    expect_rest_error(lambda: v1.conversations(unique).fetch(), 404, 20404)


def test_update_state(v1):
    conv = v1.conversations.create(friendly_name="stateful")
    closed = v1.conversations(conv.sid).update(state="closed")
    assert closed.state == "closed"
    assert v1.conversations(conv.sid).fetch().state == "closed"


def test_list_and_stream_across_pages(fresh_account):
    v1 = fresh_account.v1
    created = [v1.conversations.create(friendly_name=f"page-{i:02d}").sid for i in range(25)]

    listed = [c.sid for c in v1.conversations.list(page_size=7)]
    assert listed == created  # every SID exactly once, in creation order

    streamed = [c.sid for c in v1.conversations.stream(page_size=7)]
    assert streamed == created

    # limit stops early without skipping.
    assert [c.sid for c in v1.conversations.list(limit=10, page_size=7)] == created[:10]

    # The library fetched 4 pages of at most 7 for list().
    pages = [ex for ex in fresh_account.http.exchanges
             if ex.method == "GET" and ex.path == "/v1/Conversations"]
    first_list = pages[:4]
    sizes = [len(ex.json()["conversations"]) for ex in first_list]
    assert sizes == [7, 7, 7, 4]
    assert first_list[-1].json()["meta"]["next_page_url"] is None
    for ex in first_list:
        meta = ex.json()["meta"]
        assert meta["key"] == "conversations"
        assert meta["page_size"] == 7
    assert [ex.json()["meta"]["page"] for ex in first_list] == [0, 1, 2, 3]


def test_page_navigation_helpers(fresh_account):
    v1 = fresh_account.v1
    created = [v1.conversations.create(friendly_name=f"nav-{i}").sid for i in range(5)]
    page = v1.conversations.page(page_size=2)
    assert [c.sid for c in page] == created[:2]
    page2 = page.next_page()
    assert [c.sid for c in page2] == created[2:4]
    back = page2.previous_page()
    assert [c.sid for c in back] == created[:2]
    page3 = page2.next_page()
    assert [c.sid for c in page3] == created[4:]
    assert page3.next_page() is None
    # get_page follows an absolute URL handed out by the server.
    again = v1.conversations.get_page(page2._payload["meta"]["url"])
    assert [c.sid for c in again] == created[2:4]


def test_list_filters_by_state_across_pages(fresh_account):
    v1 = fresh_account.v1
    open_, closed = [], []
    for i in range(10):
        sid = v1.conversations.create(friendly_name=f"c{i}").sid
        if i % 2:  # (a conversation cannot be *created* closed)
            v1.conversations(sid).update(state="closed")
            closed.append(sid)
        else:
            open_.append(sid)
    # next_page_url must carry the filter, or page 2 would mix states.
    assert [c.sid for c in v1.conversations.list(state="closed", page_size=2)] == closed
    assert [c.sid for c in v1.conversations.list(state="active", page_size=2)] == open_
    assert v1.conversations.list(state="inactive") == []


def test_delete_then_404(v1):
    conv = v1.conversations.create(friendly_name="doomed", unique_name=uniq("doomed"))
    assert v1.conversations(conv.sid).delete() is True
    err = expect_rest_error(lambda: v1.conversations(conv.sid).fetch(), 404, 20404)
    assert "/v1/Conversations/" in err.msg
    expect_rest_error(lambda: v1.conversations(conv.unique_name).fetch(), 404, 20404)
    expect_rest_error(lambda: v1.conversations(conv.sid).delete(), 404, 20404)


def test_delete_by_unique_name(v1):
    unique = uniq("doomed-alias")
    conv = v1.conversations.create(unique_name=unique)
    assert v1.conversations(unique).delete() is True
    expect_rest_error(lambda: v1.conversations(conv.sid).fetch(), 404, 20404)


def test_timers(v1):
    conv = v1.conversations.create(friendly_name="timed", timers_inactive="PT5M",
                                   timers_closed="PT30M")
    assert set(conv.timers) == {"date_inactive", "date_closed"}
    inactive = datetime.strptime(conv.timers["date_inactive"], "%Y-%m-%dT%H:%M:%SZ")
    closed = datetime.strptime(conv.timers["date_closed"], "%Y-%m-%dT%H:%M:%SZ")
    assert 0 < (closed - inactive).total_seconds() <= 30 * 60
    cleared = v1.conversations(conv.sid).update(state="closed")
    assert cleared.timers == {}


def test_list_filters_by_date(fresh_account):
    v1 = fresh_account.v1
    old = v1.conversations.create(date_created=datetime(2020, 5, 1, tzinfo=timezone.utc)).sid
    new = v1.conversations.create().sid
    assert [c.sid for c in v1.conversations.list(end_date="2020-06-01")] == [old]
    assert [c.sid for c in v1.conversations.list(start_date="2021-01-01")] == [new]
    # Order with a date filter is not asserted (Confab lists those newest
    # first, like Twilio); every match exactly once across pages is.
    both = [c.sid for c in v1.conversations.list(start_date="2020-01-01T00:00:00Z", page_size=1)]
    assert sorted(both) == sorted([old, new])


def test_page_size_above_cap(fresh_account):
    v1 = fresh_account.v1
    v1.conversations.create()
    page = v1.conversations.page(page_size=500)
    assert page._payload["meta"]["page_size"] <= 100


def test_delete_conversation_with_participants_and_messages(v1):
    conv = v1.conversations.create(unique_name=uniq("full"))
    part = v1.conversations(conv.sid).participants.create(identity=uniq("member"))
    msg = v1.conversations(conv.sid).messages.create(author=part.identity, body="last words")
    assert v1.conversations(conv.sid).delete() is True
    expect_rest_error(lambda: v1.conversations(conv.sid).messages(msg.sid).fetch(), 404, 20404)
    expect_rest_error(lambda: v1.conversations(conv.sid).participants(part.sid).fetch(), 404)
    # The user stays; only the membership went with the conversation.
    assert v1.users(part.identity).user_conversations.list() == []
