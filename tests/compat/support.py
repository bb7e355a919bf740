"""Shared helpers for the twilio-python compatibility suite.

Nothing here starts processes; that is conftest.py's job. This module holds
the HTTP client that points twilio-python at the local server, a recorder of
every exchange (for the wire-shape checks) and small helpers for tests.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlencode, urlsplit

import pytest
import yaml
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

COMPAT_DIR = Path(__file__).resolve().parent
SPEC_PATH = COMPAT_DIR / "spec" / "twilio_conversations_v1.yaml"

# Every Twilio host the library may talk to for these APIs (Conversations v1,
# Programmable Chat v2/v3 on both of its hosts, and the 2010 API for Keys).
TWILIO_PREFIXES = ("https://conversations.twilio.com", "https://chat.twilio.com",
                   "https://ip-messaging.twilio.com", "https://api.twilio.com")


# External mode (conftest.py): where the server is reached, and the URL it
# names itself by in its responses (its CONFAB_PUBLIC_URL) when that differs.
BASE_URL = os.environ.get("CONFAB_COMPAT_BASE_URL", "").strip().rstrip("/")
PUBLIC_URL = os.environ.get("CONFAB_COMPAT_PUBLIC_URL", "").strip().rstrip("/") or BASE_URL


class RerouteAdapter(HTTPAdapter):
    """Sends requests for the server's public URL to the base URL it is
    reached at from here (e.g. http://localhost:8080/... to http://lb:8080/...
    inside docker-compose), keeping the public Host header, so tests still
    see and follow the URLs the server hands out."""

    def __init__(self, public_url: str, base_url: str):
        super().__init__()
        self.public_url = public_url
        self.base_url = base_url
        self.public_host = urlsplit(public_url).netloc

    def send(self, request, **kwargs):
        if request.url.startswith(self.public_url + "/"):
            request.url = self.base_url + request.url[len(self.public_url):]
            request.headers["Host"] = self.public_host
        return super().send(request, **kwargs)


def route(session) -> None:
    """Mounts the RerouteAdapter on a requests session when the server's
    public URL is not the one it is reached at (external mode only)."""
    if BASE_URL and PUBLIC_URL != BASE_URL:
        session.mount(PUBLIC_URL + "/", RerouteAdapter(PUBLIC_URL, BASE_URL))


def webhook_host() -> tuple[str, str]:
    """(address the webhook receivers listen on, host the server reaches them
    by). Started by the suite, the server reaches them on 127.0.0.1; an
    external one at CONFAB_COMPAT_WEBHOOK_HOST (which it must allow in its
    CONFAB_WEBHOOK_ALLOWED_HOSTS). Without it, tests that need deliveries
    are skipped in external mode."""
    if not BASE_URL:
        return "127.0.0.1", "127.0.0.1"
    host = os.environ.get("CONFAB_COMPAT_WEBHOOK_HOST", "").strip()
    if not host:
        pytest.skip("external mode: webhook deliveries need CONFAB_COMPAT_WEBHOOK_HOST, a host "
                    "the server reaches this machine by (allowed in its CONFAB_WEBHOOK_ALLOWED_HOSTS)")
    # A loopback address is listened on as it is; anything else (a name, an
    # address the server may reach through NAT) on every interface.
    try:
        ip = ipaddress.ip_address(host)
        bind = str(ip) if ip.is_loopback else "0.0.0.0"
    except ValueError:
        bind = "127.0.0.1" if host.lower() == "localhost" else "0.0.0.0"
    return bind, host


@dataclass
class Exchange:
    method: str
    url: str  # as sent, after rewriting
    status: int
    text: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def json(self) -> Any:
        return json.loads(self.text)


class LocalHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends https://conversations.twilio.com/... (and
    the other TWILIO_PREFIXES hosts: chat, ip-messaging, api) to the local
    server (reference §9). Page.next_page() goes through here too, so
    absolute `meta.next_page_url` values are rewritten as well.

    Every exchange is appended to `self.exchanges` so tests can look at the
    raw JSON the library received."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.exchanges: list[Exchange] = []
        # Never send 127.0.0.1 traffic through an HTTP(S)_PROXY from the env.
        assert self.session is not None
        self.session.trust_env = False
        route(self.session)

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        for prefix in TWILIO_PREFIXES:
            if url.startswith(prefix):
                url = self.base_url + url[len(prefix):]
                break
        else:
            # Anything else (a server-made absolute URL pointing elsewhere)
            # is a bug we want to see, not silently follow to the internet.
            if not url.startswith(self.base_url):
                raise AssertionError(f"twilio-python was asked to call a foreign URL: {url}")
        response = super().request(method, url, params=params, data=data, headers=headers,
                                   auth=auth, timeout=timeout, allow_redirects=allow_redirects)
        full_url = url
        if params:  # keep the query too, for error messages
            query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
            full_url = f"{url}{'&' if '?' in url else '?'}{query}"
        self.exchanges.append(Exchange(method.upper(), full_url, response.status_code,
                                       response.text))
        return response

    def clear(self) -> None:
        self.exchanges.clear()


@dataclass
class Account:
    sid: str
    token: str
    base_url: str
    http: LocalHttpClient = field(init=False)
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = LocalHttpClient(self.base_url)
        self.client = Client(self.sid, self.token, http_client=self.http)

    @property
    def v1(self):
        return self.client.conversations.v1

    def with_token(self, token: str) -> Client:
        return Client(self.sid, token, http_client=LocalHttpClient(self.base_url))


def uniq(prefix: str = "compat") -> str:
    """A name no other test (or earlier run against the same database) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def expect_rest_error(fn: Callable[[], Any], status: int, code: int | None = None) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        fn()
    err = info.value
    assert err.status == status, f"expected HTTP {status}, got {err.status} ({err.code}: {err.msg})"
    if code is not None:
        assert err.code == code, f"expected code {code}, got {err.code} ({err.msg})"
    return err


def expect_page_error(fn: Callable[[], Any], status: int, code: int | None = None) -> dict:
    """Errors on list/page requests: twilio-python's Page.process_response
    raises a plain TwilioException("Unable to fetch page", response) instead
    of a TwilioRestException, so look at the response it carries."""
    with pytest.raises(TwilioException) as info:
        fn()
    err = info.value
    assert not isinstance(err, TwilioRestException), err
    assert len(err.args) == 2 and err.args[0] == "Unable to fetch page", err.args
    response = err.args[1]
    body = json.loads(response.text)
    assert response.status_code == status, f"expected HTTP {status}, got {response}"
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, f"expected code {code}, got {body}"
    return body


SID_RE = {kind: re.compile(rf"^{kind}[0-9a-f]{{32}}$") for kind in
          ("AC", "IS", "CH", "IM", "MB", "US", "RL", "WH", "IN")}


def is_sid(value: Any, kind: str) -> bool:
    return isinstance(value, str) and bool(SID_RE[kind].match(value))


# --------------------------------------------------------------------------
# The OpenAPI spec: which schema describes the body of a given response.
# --------------------------------------------------------------------------

class Spec:
    def __init__(self, path: Path = SPEC_PATH):
        with open(path, encoding="utf-8") as fh:
            self.doc = yaml.safe_load(fh)
        self.schemas: dict[str, dict] = self.doc["components"]["schemas"]
        # (regex, template) for every path, most literal first so that
        # /v1/Services/{Sid}/Configuration is not taken for a conversation.
        routes = []
        for template in self.doc["paths"]:
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            rx = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            routes.append((literal, rx, template))
        routes.sort(key=lambda r: -r[0])
        self.routes = [(rx, t) for _, rx, t in routes]

    def template_for(self, path: str) -> str | None:
        for rx, template in self.routes:
            if rx.match(path):
                return template
        return None

    def resolve(self, schema: dict) -> tuple[str | None, dict]:
        ref = schema.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            return name, self.schemas[name]
        return None, schema

    def response_schema(self, method: str, path: str, status: int) -> tuple[str, str | None, dict] | None:
        """(path template, schema name or None for inline list schemas, schema)."""
        template = self.template_for(path)
        if template is None:
            return None
        op = self.doc["paths"][template].get(method.lower())
        if op is None:
            return None
        resp = op["responses"].get(str(status))
        if resp is None or "content" not in resp:
            return None
        name, schema = self.resolve(resp["content"]["application/json"]["schema"])
        return template, name, schema

    def properties(self, schema_name: str) -> set[str]:
        return set(self.schemas[schema_name]["properties"])


@dataclass
class ShapeResult:
    schema: str  # schema name, or "<list>.meta"
    where: str  # METHOD path
    missing: set[str]
    extra: set[str]


# Documented Confab extensions: extra keys a schema's objects may carry.
EXTENSIONS: dict[str, set[str]] = {
    # The body given to messages sent with media and no Body (README, media).
    "conversations.v1.service.service_configuration": {"media_compatibility_message"},
}


def check_shapes(spec: Spec, exchanges: Iterable[Exchange]) -> tuple[list[ShapeResult], list[str]]:
    """Compares every 2xx JSON body against the spec. Returns every object
    compared (with its differences) and the exchanges the spec had no
    schema for."""
    results: list[ShapeResult] = []
    unmatched: list[str] = []
    for ex in exchanges:
        if not (200 <= ex.status < 300) or not ex.text:
            continue
        found = spec.response_schema(ex.method, ex.path, ex.status)
        where = f"{ex.method} {ex.path} -> {ex.status}"
        if found is None:
            unmatched.append(where)
            continue
        template, name, schema = found
        body = ex.json()

        def compare(label: str, expected: set[str], obj: dict) -> None:
            got = set(obj)
            extra = got - expected - EXTENSIONS.get(label, set())
            results.append(ShapeResult(label, where, expected - got, extra))

        if name is not None:
            compare(name, spec.properties(name), body)
            continue
        # An inline list schema: {"<key>": [items], "meta": {...}}.
        props = schema["properties"]
        list_key = next(k for k in props if k != "meta")
        item_name, _ = spec.resolve(props[list_key]["items"])
        compare(f"{template} (list envelope)", set(props), body)
        compare("meta", set(props["meta"]["properties"]), body.get("meta", {}))
        for item in body.get(list_key, []):
            compare(item_name or list_key, spec.properties(item_name), item)
    return results, unmatched
