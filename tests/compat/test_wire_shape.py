"""Raw JSON keys of every object the library receives == the property names
of the matching schema in Twilio's OpenAPI spec (spec/twilio_conversations_v1.yaml).

The schema is chosen per response from the spec itself (path template +
method + status), so account-level messages/participants are held to
`conversation_message`/`conversation_participant` (no `chat_service_sid`)
and service-level ones to the `service_…` schemas (with it).

Only top-level keys are compared. Nested objects the spec leaves untyped
(`links`, `timers`, `bindings`, `delivery`, `messaging_binding`, and the
items of `media`) are not; `media` is null here as the suite sends no media.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from support import ShapeResult, check_shapes

# Every kind of object the suite receives; each must be seen at least once.
KINDS = [
    "conversations.v1.conversation",
    "conversations.v1.conversation.conversation_participant",
    "conversations.v1.conversation.conversation_message",
    "conversations.v1.user",
    "conversations.v1.role",
    "conversations.v1.service",
    "conversations.v1.service.service_configuration",
    "conversations.v1.configuration",
    "conversations.v1.user.user_conversation",
    "conversations.v1.participant_conversation",
    "conversations.v1.conversation_with_participants",
    "conversations.v1.service.service_conversation",
    "conversations.v1.service.service_conversation.service_conversation_participant",
    "conversations.v1.service.service_conversation.service_conversation_message",
    "conversations.v1.service.service_user",
    "conversations.v1.service.service_role",
    "conversations.v1.service.service_user.service_user_conversation",
    "conversations.v1.service.service_participant_conversation",
    "conversations.v1.service.service_conversation_with_participants",
    "meta",
    "list envelope",
]


def _exercise(acct) -> None:
    """Creates, fetches, updates and lists one of everything."""
    v1 = acct.v1
    # Account level (the default service).
    v1.configuration().fetch()
    svc_sid = v1.configuration().update().default_chat_service_sid
    conv = v1.conversations.create(friendly_name="shape", unique_name="shape-room",
                                   attributes='{"a":1}')
    v1.conversations(conv.sid).fetch()
    v1.conversations("shape-room").update(friendly_name="shape 2")
    v1.conversations.list()
    part = v1.conversations(conv.sid).participants.create(identity="shape-alice")
    v1.conversations(conv.sid).participants("shape-alice").fetch()
    v1.conversations(conv.sid).participants(part.sid).update(last_read_message_index=0)
    v1.conversations(conv.sid).participants.list()
    msg = v1.conversations(conv.sid).messages.create(author="shape-alice", body="hi")
    v1.conversations(conv.sid).messages.create(body="system")
    v1.conversations(conv.sid).messages(msg.sid).fetch()
    v1.conversations(conv.sid).messages(msg.sid).update(body="hi!")
    v1.conversations(conv.sid).messages.list(order="desc")
    v1.users.create(identity="shape-bob", friendly_name="Bob")
    v1.users("shape-alice").fetch()
    v1.users("shape-bob").update(friendly_name="Robert")
    v1.users.list()
    v1.users("shape-alice").user_conversations.list()
    v1.users("shape-alice").user_conversations(conv.sid).fetch()
    v1.users("shape-alice").user_conversations(conv.sid).update(notification_level="muted")
    v1.participant_conversations.list(identity="shape-alice")
    role = v1.roles.create(friendly_name="shape-role", type="conversation",
                           permission=["sendMessage", "leaveConversation"])
    v1.roles(role.sid).fetch()
    v1.roles(role.sid).update(permission=["sendMessage"])
    v1.roles.list()
    v1.conversation_with_participants.create(friendly_name="cwp",
                                             participant=['{"identity":"shape-carol"}'])
    # Services and the service-level tree.
    svc = v1.services.create(friendly_name="shape service")
    v1.services(svc.sid).fetch()
    v1.services.list()
    v1.services(svc_sid).configuration().fetch()
    s = v1.services(svc.sid)
    s.configuration().fetch()
    s.configuration().update(reachability_enabled=False)
    sconv = s.conversations.create(friendly_name="svc shape", unique_name="svc-shape")
    s.conversations("svc-shape").fetch()
    s.conversations(sconv.sid).update(attributes='{"b":2}')
    s.conversations.list()
    spart = s.conversations(sconv.sid).participants.create(identity="svc-alice")
    s.conversations(sconv.sid).participants("svc-alice").fetch()
    s.conversations(sconv.sid).participants(spart.sid).update(attributes="{}")
    s.conversations(sconv.sid).participants.list()
    smsg = s.conversations(sconv.sid).messages.create(author="svc-alice", body="svc hi")
    s.conversations(sconv.sid).messages(smsg.sid).fetch()
    s.conversations(sconv.sid).messages(smsg.sid).update(attributes='{"c":3}')
    s.conversations(sconv.sid).messages.list()
    s.users.create(identity="svc-bob")
    s.users("svc-alice").fetch()
    s.users("svc-bob").update(friendly_name="B")
    s.users.list()
    s.users("svc-alice").user_conversations.list()
    s.users("svc-alice").user_conversations("svc-shape").fetch()
    s.users("svc-alice").user_conversations(sconv.sid).update(notification_level="default")
    s.participant_conversations.list(identity="svc-alice")
    srole = s.roles.create(friendly_name="svc-role", type="service", permission=["createConversation"])
    s.roles(srole.sid).fetch()
    s.roles(srole.sid).update(permission=["joinConversation"])
    s.roles.list()
    s.conversation_with_participants.create(participant=['{"identity":"svc-carol"}'])


@pytest.fixture(scope="module")
def shapes(server, spec):
    acct = server.create_account()
    _exercise(acct)
    results, unmatched = check_shapes(spec, acct.http.exchanges)
    by_kind: dict[str, list[ShapeResult]] = defaultdict(list)
    for r in results:
        kind = "list envelope" if r.schema.endswith("(list envelope)") else r.schema
        by_kind[kind].append(r)
    return by_kind, unmatched, acct


def test_every_response_has_a_spec_schema(shapes):
    _, unmatched, _ = shapes
    assert unmatched == []


@pytest.mark.parametrize("kind", KINDS)
def test_keys_match_spec(shapes, kind):
    by_kind, _, _ = shapes
    seen = by_kind.get(kind)
    assert seen, f"the suite never received a {kind}"
    problems = sorted({(tuple(sorted(r.missing)), tuple(sorted(r.extra)), r.where)
                       for r in seen if r.missing or r.extra})
    if problems:
        lines = [f"missing={list(m)} extra={list(e)} in {w}" for m, e, w in problems]
        pytest.fail(f"{kind}: {len(problems)} response(s) differ from the spec:\n" +
                    "\n".join(lines[:15]))


def test_no_key_is_omitted_for_null(shapes):
    """Twilio sends explicit nulls; sanity-check a few typically-null keys."""
    _, _, acct = shapes
    conv = next(ex.json() for ex in acct.http.exchanges
                if ex.method == "POST" and ex.path == "/v1/Conversations")
    assert "messaging_service_sid" in conv and conv["messaging_service_sid"] is None
    msg = next(ex.json() for ex in acct.http.exchanges
               if ex.method == "POST" and ex.path.endswith("/Messages")
               and json.loads(ex.text).get("author") == "system")
    assert msg["participant_sid"] is None
    assert msg["media"] is None
    assert msg["content_sid"] is None


# Conversation examples in the newer spec also carry links.export (Twilio's
# Exports API, not part of Conversations v1); Confab does not offer exports,
# so it intentionally leaves that link out.
INTENTIONALLY_ABSENT_LINKS = {"export"}


def test_link_keys_match_spec_examples_and_point_here(shapes, spec, server):
    """`links` is an untyped uri-map in the spec; hold its keys to the
    union of the spec's response examples for the same operation."""
    _, _, acct = shapes
    problems = set()
    for ex in acct.http.exchanges:
        if not (200 <= ex.status < 300) or not ex.text:
            continue
        template, name, _ = spec.response_schema(ex.method, ex.path, ex.status)
        content = spec.doc["paths"][template][ex.method.lower()]["responses"][str(ex.status)]
        examples = [e["value"] for e in content["content"]["application/json"].get("examples", {}).values()]
        body = ex.json()
        if name is None:
            key = body["meta"]["key"]
            items = body[key]
            examples = [item for e in examples for item in e.get(key, [])]
        else:
            items = [body]
        expected = set().union(*(set(e.get("links") or {}) for e in examples)) if examples else None
        for item in items:
            links = item.get("links")
            if links is None or expected is None:
                continue
            missing = expected - set(links) - INTENTIONALLY_ABSENT_LINKS
            extra = set(links) - expected
            if missing or extra:
                problems.add(f"{ex.method} {template}: missing={sorted(missing)} extra={sorted(extra)}")
            for rel, url in links.items():
                if url is not None and not url.startswith(server.base_url + "/v1/"):
                    problems.add(f"{ex.method} {template}: links.{rel} = {url!r} is not absolute/local")
            if "url" in item and not item["url"].startswith(server.base_url + "/v1/"):
                problems.add(f"{ex.method} {template}: url = {item.get('url')!r}")
    assert not problems, "\n".join(sorted(problems))
