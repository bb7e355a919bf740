"""Webhooks through twilio-python: configured with the helper library, and
received by a local receiver that validates every request with
twilio-python's own RequestValidator, unchanged, as a Twilio receiver does."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from support import expect_rest_error, is_sid, webhook_host


class MultiParams:
    """The form as a multi-dict: RequestValidator reads repeated names with getall()."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter(k for k, _ in self.pairs)

    def __bool__(self):
        return bool(self.pairs)

    def getall(self, name):
        return [v for k, v in self.pairs if k == name]

    def get(self, name):
        values = self.getall(name)
        return values[0] if values else None


class Receiver:
    """A webhook receiver on 127.0.0.1 (in external mode, where
    CONFAB_COMPAT_WEBHOOK_HOST says: support.webhook_host) that validates
    each request as it comes."""

    def __init__(self, auth_token: str):
        bind, self.host = webhook_host()
        self.validator = RequestValidator(auth_token)
        self.hits: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                url = f"http://{receiver.host}:{receiver.port}{self.path}"
                params = MultiParams(parse_qsl(body, keep_blank_values=True))
                signature = self.headers.get("X-Twilio-Signature", "")
                valid = receiver.validator.validate(url, params if self.command == "POST" else {}, signature)
                query = dict(parse_qsl(self.path.split("?", 1)[1], keep_blank_values=True)) if "?" in self.path else {}
                with receiver.lock:
                    receiver.hits.append({
                        "method": self.command,
                        "url": url,
                        "params": params,
                        "query": query,
                        "valid": valid,
                        "token": self.headers.get("I-Twilio-Idempotency-Token"),
                    })
                self.send_response(200)
                self.end_headers()

            do_POST = _handle
            do_GET = _handle

        self.server = ThreadingHTTPServer((bind, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.hits) >= n:
                    return list(self.hits)
            time.sleep(0.05)
        raise AssertionError(f"expected {n} webhook requests, got {self.hits}")

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver(fresh_account):
    r = Receiver(fresh_account.token)
    yield r
    r.close()


def test_service_webhooks_configure_and_deliver_signed_requests(fresh_account, receiver):
    v1 = fresh_account.v1
    service = v1.configuration().fetch().default_chat_service_sid
    # A query string in the URL is part of what is signed, unchanged.
    url = receiver.url("/hooks/post?tenant=7&region=eu")
    hooks = v1.services(service).configuration.webhooks()
    updated = hooks.update(post_webhook_url=url, filters=["onMessageAdded", "onConversationAdded"], method="POST")
    assert updated.post_webhook_url == url
    assert updated.filters == ["onMessageAdded", "onConversationAdded"]
    assert updated.method == "POST"
    assert hooks.fetch().post_webhook_url == url
    account_level = v1.configuration.webhooks().fetch()
    assert account_level.post_webhook_url == url and account_level.target == "webhook"

    conversation = v1.conversations.create(friendly_name="hooked", x_twilio_webhook_enabled="true")
    message = v1.conversations(conversation.sid).messages.create(
        author="bot", body="héllo & welcome", attributes='{"k": [1, 2]}', x_twilio_webhook_enabled="true")
    # Without the header a REST change fires nothing.
    v1.conversations(conversation.sid).messages.create(author="bot", body="quiet")

    hits = receiver.wait_for(2)
    time.sleep(0.5)
    assert len(receiver.hits) == 2, receiver.hits
    assert all(h["valid"] for h in hits), hits
    by_type = {h["params"].get("EventType"): h for h in hits}
    added = by_type["onMessageAdded"]["params"]
    assert added.get("MessageSid") == message.sid
    assert added.get("Body") == "héllo & welcome"
    assert added.get("Attributes") == '{"k": [1, 2]}'
    assert added.get("Index") == "0"
    assert added.get("Source") == "API"
    assert added.get("RetryCount") == "0"
    assert added.get("AccountSid") == fresh_account.sid
    conv = by_type["onConversationAdded"]["params"]
    assert conv.get("ConversationSid") == conversation.sid
    assert conv.get("FriendlyName") == "hooked"
    assert conv.get("State") == "active"
    assert by_type["onMessageAdded"]["token"] != by_type["onConversationAdded"]["token"]


def test_get_webhooks_are_signed_over_their_query_string(fresh_account, receiver):
    v1 = fresh_account.v1
    conversation = v1.conversations.create()
    hook = v1.conversations(conversation.sid).webhooks.create(
        target="webhook", configuration_url=receiver.url("/scoped?x=1"),
        configuration_method="get", configuration_filters=["onMessageAdded"])
    assert is_sid(hook.sid, "WH")
    assert hook.configuration["filters"] == ["onMessageAdded"]
    assert hook.configuration["method"] == "get"
    fetched = v1.conversations(conversation.sid).webhooks(hook.sid).fetch()
    assert fetched.target == "webhook"
    assert [w.sid for w in v1.conversations(conversation.sid).webhooks.list()] == [hook.sid]

    v1.conversations(conversation.sid).messages.create(author="a", body="via GET", x_twilio_webhook_enabled="true")
    hit = receiver.wait_for(1)[0]
    assert hit["method"] == "GET"
    assert hit["valid"], hit
    assert hit["query"]["Body"] == "via GET"
    assert hit["query"]["WebhookSid"] == hook.sid
    assert hit["query"]["x"] == "1"

    updated = v1.conversations(conversation.sid).webhooks(hook.sid).update(configuration_filters=["onMessageUpdated"])
    assert updated.configuration["filters"] == ["onMessageUpdated"]
    assert v1.conversations(conversation.sid).webhooks(hook.sid).delete() is True
    expect_rest_error(lambda: v1.conversations(conversation.sid).webhooks(hook.sid).fetch(), 404, 20404)


def test_scoped_webhook_limits_and_studio(fresh_account):
    v1 = fresh_account.v1
    conversation = v1.conversations.create()
    hooks = v1.conversations(conversation.sid).webhooks
    err = expect_rest_error(lambda: hooks.create(target="studio", configuration_flow_sid="FW" + "0" * 32), 400, 20001)
    assert "studio" in err.msg
    for n in range(5):
        hooks.create(target="webhook", configuration_url=f"https://example.com/{n}")
    expect_rest_error(lambda: hooks.create(target="webhook", configuration_url="https://example.com/6"), 400, 20001)
    assert len(hooks.list()) == 5
