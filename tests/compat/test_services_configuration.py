"""Services, configuration, service-scoped resources and membership views."""

import json
from datetime import datetime

import pytest

from support import expect_page_error, expect_rest_error, is_sid, uniq


def test_service_create_list_fetch_delete(fresh_account):
    v1 = fresh_account.v1
    default_sid = v1.configuration().fetch().default_chat_service_sid
    svc = v1.services.create(friendly_name="Compat service")
    assert is_sid(svc.sid, "IS")
    assert svc.account_sid == fresh_account.sid
    assert svc.friendly_name == "Compat service"
    assert isinstance(svc.date_created, datetime)
    assert set(svc.links) >= {"conversations", "users", "roles", "configuration",
                              "participant_conversations", "conversation_with_participants"}

    assert v1.services(svc.sid).fetch().friendly_name == "Compat service"
    listed = [s.sid for s in v1.services.list(page_size=1)]
    assert listed == [default_sid, svc.sid]

    assert v1.services(svc.sid).delete() is True
    expect_rest_error(lambda: v1.services(svc.sid).fetch(), 404, 20404)
    assert [s.sid for s in v1.services.list()] == [default_sid]


@pytest.mark.parametrize("contents", ["empty", "user", "role", "conversation", "participant", "message"])
def test_delete_service_with_contents(v1, contents):
    """DELETE /v1/Services/{IS} removes the service and everything in it."""
    svc = v1.services.create(friendly_name=uniq(f"del-{contents}"))
    s = v1.services(svc.sid)
    if contents == "user":
        s.users.create(identity="u")
    if contents == "role":
        s.roles.create(friendly_name="r", type="conversation", permission=["sendMessage"])
    if contents in ("conversation", "participant", "message"):
        conv = s.conversations.create(unique_name="c")
        if contents in ("participant", "message"):
            s.conversations(conv.sid).participants.create(identity="p")
        if contents == "message":
            s.conversations(conv.sid).messages.create(author="p", body="bye")
    assert s.delete() is True
    expect_rest_error(lambda: s.fetch(), 404, 20404)
    expect_page_error(lambda: s.conversations.list(), 404, 20404)
    assert svc.sid not in [x.sid for x in v1.services.list()]


def test_service_configuration_points_at_default_roles(v1):
    svc = v1.services.create(friendly_name=uniq("svc-config"))
    cfg = v1.services(svc.sid).configuration().fetch()
    assert cfg.chat_service_sid == svc.sid
    roles = {r.sid: r for r in v1.services(svc.sid).roles.list()}
    assert roles[cfg.default_chat_service_role_sid].friendly_name == "service user"
    assert roles[cfg.default_conversation_role_sid].friendly_name == "channel user"
    assert roles[cfg.default_conversation_creator_role_sid].friendly_name == "channel admin"
    assert cfg.reachability_enabled is False

    role = v1.services(svc.sid).roles.create(
        friendly_name="member", type="conversation", permission=["sendMessage"])
    updated = v1.services(svc.sid).configuration().update(
        default_conversation_role_sid=role.sid, reachability_enabled=True)
    assert updated.default_conversation_role_sid == role.sid
    assert updated.reachability_enabled is True
    # New participants get the new default role.
    conv = v1.services(svc.sid).conversations.create()
    part = v1.services(svc.sid).conversations(conv.sid).participants.create(identity="p")
    assert part.role_sid == role.sid


def test_account_configuration_fetch_and_switch_default(fresh_account):
    v1 = fresh_account.v1
    cfg = v1.configuration().fetch()
    assert cfg.account_sid == fresh_account.sid
    original = cfg.default_chat_service_sid
    assert is_sid(original, "IS")
    assert cfg.url.endswith("/v1/Configuration")

    other = v1.services.create(friendly_name="second")
    updated = v1.configuration().update(default_chat_service_sid=other.sid)
    assert updated.default_chat_service_sid == other.sid
    assert v1.configuration().fetch().default_chat_service_sid == other.sid

    # /v1/Conversations now lands in the new default service.
    conv = v1.conversations.create(friendly_name="in second")
    assert conv.chat_service_sid == other.sid
    assert [c.sid for c in v1.services(other.sid).conversations.list()] == [conv.sid]
    assert v1.services(original).conversations.list() == []

    # The default service cannot be deleted (Confab's rule: /v1/... would
    # otherwise point nowhere); the previous one now can.
    expect_rest_error(lambda: v1.services(other.sid).delete(), 400, 20001)
    assert v1.services(original).delete() is True


def test_service_scoped_conversations_participants_messages(v1):
    svc = v1.services.create(friendly_name=uniq("scoped"))
    s = v1.services(svc.sid)
    unique = uniq("svc-room")
    conv = s.conversations.create(friendly_name="scoped", unique_name=unique,
                                  attributes='{"a":1}')
    assert conv.chat_service_sid == svc.sid
    assert conv.url.endswith(f"/v1/Services/{svc.sid}/Conversations/{conv.sid}")
    assert s.conversations(unique).fetch().sid == conv.sid
    # Not visible through the account's default service.
    expect_rest_error(lambda: v1.conversations(conv.sid).fetch(), 404, 20404)

    part = s.conversations(conv.sid).participants.create(identity="svc-alice")
    assert part.chat_service_sid == svc.sid
    assert s.conversations(unique).participants("svc-alice").fetch().sid == part.sid
    msg = s.conversations(conv.sid).messages.create(author="svc-alice", body="scoped hi")
    assert msg.chat_service_sid == svc.sid
    assert msg.participant_sid == part.sid
    assert [m.sid for m in s.conversations(conv.sid).messages.list(order="desc")] == [msg.sid]

    user = s.users("svc-alice").fetch()  # a chat participant creates its user
    assert user.chat_service_sid == svc.sid
    assert s.users.create(identity="svc-bob").chat_service_sid == svc.sid
    assert {u.identity for u in s.users.list()} == {"svc-alice", "svc-bob"}

    updated = s.conversations(conv.sid).update(friendly_name="renamed")
    assert updated.friendly_name == "renamed"
    assert s.conversations(conv.sid).delete() is True
    expect_rest_error(lambda: s.conversations(conv.sid).fetch(), 404, 20404)


def test_participant_conversations(v1):
    identity = uniq("pc")
    convs = [v1.conversations.create(friendly_name=f"pc-{i}", unique_name=uniq("pcu"))
             for i in range(3)]
    parts = [v1.conversations(c.sid).participants.create(identity=identity) for c in convs]
    v1.conversations.create(friendly_name="not mine")

    listed = v1.participant_conversations.list(identity=identity, page_size=2)
    assert sorted(pc.conversation_sid for pc in listed) == sorted(c.sid for c in convs)
    by_conv = {pc.conversation_sid: pc for pc in listed}
    for conv, part in zip(convs, parts):
        pc = by_conv[conv.sid]
        assert pc.participant_sid == part.sid
        assert pc.participant_identity == identity
        assert is_sid(pc.participant_user_sid, "US")
        assert pc.conversation_friendly_name == conv.friendly_name
        assert pc.conversation_unique_name == conv.unique_name
        assert pc.conversation_state == "active"
        assert isinstance(pc.conversation_date_created, datetime)
        assert set(pc.links) >= {"conversation", "participant"}

    assert v1.participant_conversations.list(identity=uniq("nobody")) == []


def test_user_conversations(v1):
    identity = uniq("uc")
    convs = [v1.conversations.create(friendly_name=f"uc-{i}", unique_name=uniq("ucu"))
             for i in range(3)]
    for c in convs:
        v1.conversations(c.sid).participants.create(identity=identity)
    v1.conversations(convs[0].sid).messages.create(author="someone", body="one")
    v1.conversations(convs[0].sid).messages.create(author="someone", body="two")

    ucs = v1.users(identity).user_conversations.list(page_size=2)
    assert sorted(uc.conversation_sid for uc in ucs) == sorted(c.sid for c in convs)
    user = v1.users(identity).fetch()
    for uc in ucs:
        assert uc.user_sid == user.sid
        assert uc.conversation_state == "active"
        assert uc.notification_level == "default"
        assert isinstance(uc.date_created, datetime)
        assert set(uc.links) >= {"conversation", "participant"}
    first = next(uc for uc in ucs if uc.conversation_sid == convs[0].sid)
    assert first.friendly_name == "uc-0"
    assert first.unique_name == convs[0].unique_name
    assert first.unread_messages_count in (None, 2)  # null until a read horizon is set

    # Fetch one membership through both aliases (identity + unique_name).
    one = v1.users(identity).user_conversations(convs[1].unique_name).fetch()
    assert one.conversation_sid == convs[1].sid

    muted = v1.users(identity).user_conversations(convs[1].sid).update(
        notification_level="muted", last_read_message_index=0)
    assert muted.notification_level == "muted"

    assert v1.users(identity).user_conversations(convs[2].sid).delete() is True
    remaining = v1.users(identity).user_conversations.list()
    assert sorted(uc.conversation_sid for uc in remaining) == sorted([convs[0].sid, convs[1].sid])
    expect_rest_error(
        lambda: v1.conversations(convs[2].sid).participants(identity).fetch(), 404)


def test_conversation_with_participants(v1):
    unique = uniq("cwp")
    conv = v1.conversation_with_participants.create(
        friendly_name="with people", unique_name=unique,
        participant=[json.dumps({"identity": "cwp-a"}),
                     json.dumps({"identity": "cwp-b", "attributes": '{"x":1}'})])
    assert is_sid(conv.sid, "CH")
    assert conv.unique_name == unique
    parts = v1.conversations(conv.sid).participants.list()
    assert sorted(p.identity for p in parts) == ["cwp-a", "cwp-b"]
    b = next(p for p in parts if p.identity == "cwp-b")
    assert json.loads(b.attributes) == {"x": 1}


def test_service_conversation_with_participants(v1):
    svc = v1.services.create(friendly_name=uniq("cwp-svc"))
    conv = v1.services(svc.sid).conversation_with_participants.create(
        participant=['{"identity":"a"}'])
    assert conv.chat_service_sid == svc.sid
    parts = v1.services(svc.sid).conversations(conv.sid).participants.list()
    assert [p.identity for p in parts] == ["a"]


@pytest.mark.parametrize("bad", ['{"identity":', '["not an object"]'])
def test_conversation_with_participants_rejects_bad_json(v1, bad):
    expect_rest_error(
        lambda: v1.conversation_with_participants.create(participant=[bad]), 400)


def test_conversation_with_participants_is_all_or_nothing(fresh_account):
    v1 = fresh_account.v1
    unique = uniq("atomic")
    expect_rest_error(
        lambda: v1.conversation_with_participants.create(
            unique_name=unique, participant=['{"identity":"dup"}', '{"identity":"dup"}']),
        409, 50433)
    expect_rest_error(lambda: v1.conversations(unique).fetch(), 404, 20404)
    assert v1.conversations.list() == []
    assert v1.participant_conversations.list(identity="dup") == []
