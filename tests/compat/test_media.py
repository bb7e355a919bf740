"""Media (MCS) through plain HTTP, attached to messages through twilio-python.

twilio-python has no Media Content Service client: Twilio's own SDKs upload
with a plain POST to /v1/Services/{IS}/Media (raw body, or a multipart form)
and then pass the `ME…` SID as `media_sid` when sending a message. The
temporary URL (`links.content_direct_temporary`) is fetched with no
credentials at all, as a browser or a media proxy would.
"""

from __future__ import annotations

import os
import re

import pytest

from support import expect_rest_error, is_sid, uniq

ME_RE = re.compile(r"^ME[0-9a-f]{32}$")

# A real (1x1) PNG followed by random bytes, so no two uploads are equal.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def service_sid(v1) -> str:
    return v1.configuration().fetch().default_chat_service_sid


@pytest.fixture
def conv(v1):
    return v1.conversations.create(friendly_name="media", unique_name=uniq("media"))


def _upload_raw(http, account, service_sid, data, content_type="image/png", filename="pixel.png"):
    params = {"Filename": filename} if filename is not None else None
    resp = http.post(f"{account.base_url}/v1/Services/{service_sid}/Media", params=params, data=data,
                     headers={"Content-Type": content_type}, auth=(account.sid, account.token),
                     timeout=60)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _fetch_media(http, account, service_sid, media_sid):
    return http.get(f"{account.base_url}/v1/Services/{service_sid}/Media/{media_sid}",
                    auth=(account.sid, account.token), timeout=30)


def _payload(size: int = 2048) -> bytes:
    return PNG_1X1 + os.urandom(size)


def test_raw_upload_attach_and_download(http, account, v1, service_sid, conv, server):
    data = _payload()
    media = _upload_raw(http, account, service_sid, data)
    me = media["sid"]
    assert ME_RE.match(me), media
    assert media["account_sid"] == account.sid
    assert media["service_sid"] == service_sid
    assert media["size"] == len(data)
    assert media["content_type"] == "image/png"
    assert media["filename"] == "pixel.png"
    assert media["category"] == "media"
    assert media["message_sid"] is None and media["channel_sid"] is None
    # As in Twilio's MCS: `url` and `links.content` are relative, the
    # temporary link is absolute (and here, local).
    assert media["url"] == f"/v1/Services/{service_sid}/Media/{me}"
    assert media["links"]["content"] == f"/v1/Services/{service_sid}/Media/{me}/Content"
    assert media["links"]["content_direct_temporary"].startswith(
        f"{server.base_url}/v1/Services/{service_sid}/Media/{me}/Content?")

    author = uniq("sender")
    msg = v1.conversations(conv.sid).messages.create(author=author, media_sid=me)
    assert is_sid(msg.sid, "IM")
    assert msg.author == author
    assert msg.body is None  # the account's service has no media compatibility message
    expected = [{"sid": me, "size": len(data), "content_type": "image/png",
                 "filename": "pixel.png", "category": "media"}]
    assert msg.media == expected
    # The same summary on fetch and list.
    assert v1.conversations(conv.sid).messages(msg.sid).fetch().media == expected
    assert [m.media for m in v1.conversations(conv.sid).messages.list()] == [expected]

    resp = _fetch_media(http, account, service_sid, me)
    assert resp.status_code == 200, resp.text
    fetched = resp.json()
    assert fetched["message_sid"] == msg.sid
    assert fetched["channel_sid"] == conv.sid
    assert fetched["size"] == len(data)

    # The temporary URL works with no credentials whatsoever.
    url = fetched["links"]["content_direct_temporary"]
    content = http.get(url, timeout=30)
    assert content.status_code == 200, content.text
    assert content.content == data
    assert content.headers["Content-Type"] == "image/png"
    assert int(content.headers["Content-Length"]) == len(data)

    # links.content needs the account's credentials.
    content_url = server.base_url + fetched["links"]["content"]
    authed = http.get(content_url, auth=(account.sid, account.token), timeout=30)
    assert authed.status_code == 200
    assert authed.content == data
    assert http.get(content_url, timeout=30).status_code == 401

    # A byte range of the content.
    part = http.get(url, headers={"Range": "bytes=10-99"}, timeout=30)
    assert part.status_code == 206
    assert part.content == data[10:100]
    assert part.headers["Content-Range"] == f"bytes 10-99/{len(data)}"


def test_temporary_url_is_bound_to_its_media(http, account, service_sid):
    one = _upload_raw(http, account, service_sid, _payload(64))
    two = _upload_raw(http, account, service_sid, _payload(64))
    url = one["links"]["content_direct_temporary"]
    # Another media's SID under the same signature.
    forged = url.replace(one["sid"], two["sid"])
    assert http.get(forged, timeout=30).status_code == 403
    # A changed signature or expiry.
    tampered = re.sub(r"Signature=[^&]+", "Signature=AAAA", url)
    assert http.get(tampered, timeout=30).status_code == 403
    later = re.sub(r"Expires=(\d+)", lambda m: f"Expires={int(m.group(1)) + 1}", url)
    assert http.get(later, timeout=30).status_code == 403
    assert http.get(url, timeout=30).status_code == 200


def test_multipart_upload(http, account, v1, service_sid, conv, server):
    data = os.urandom(4096)
    resp = http.post(f"{server.base_url}/v1/Services/{service_sid}/Media",
                     files={"Media": ("photo.jpg", data, "image/jpeg")},
                     auth=(account.sid, account.token), timeout=60)
    assert resp.status_code == 201, resp.text
    media = resp.json()
    assert ME_RE.match(media["sid"])
    assert media["content_type"] == "image/jpeg"
    assert media["filename"] == "photo.jpg"
    assert media["size"] == len(data)

    fetched = _fetch_media(http, account, service_sid, media["sid"]).json()
    assert fetched["content_type"] == "image/jpeg"
    assert fetched["filename"] == "photo.jpg"
    content = http.get(fetched["links"]["content_direct_temporary"], timeout=30)
    assert content.status_code == 200
    assert content.content == data
    assert content.headers["Content-Type"] == "image/jpeg"

    msg = v1.conversations(conv.sid).messages.create(author=uniq("sender"), body="a photo",
                                                     media_sid=media["sid"])
    assert msg.body == "a photo"
    assert msg.media == [{"sid": media["sid"], "size": len(data), "content_type": "image/jpeg",
                          "filename": "photo.jpg", "category": "media"}]


def test_several_media_keep_their_order(http, account, v1, service_sid, conv):
    sids = [_upload_raw(http, account, service_sid, _payload(100 + i), filename=f"p{i}.png")["sid"]
            for i in range(3)]
    order = [sids[2], sids[0], sids[1]]
    msg = v1.conversations(conv.sid).messages.create(author=uniq("sender"), media_sid=order)
    assert [m["sid"] for m in msg.media] == order
    assert [m["filename"] for m in msg.media] == ["p2.png", "p0.png", "p1.png"]


def test_media_attaches_to_one_message_only(http, account, v1, service_sid, conv):
    me = _upload_raw(http, account, service_sid, _payload())["sid"]
    author = uniq("sender")
    first = v1.conversations(conv.sid).messages.create(author=author, media_sid=me)
    expect_rest_error(
        lambda: v1.conversations(conv.sid).messages.create(author=author, media_sid=me), 400, 50510)
    # The failed send left nothing behind: one message, still with the media.
    listed = v1.conversations(conv.sid).messages.list()
    assert [m.sid for m in listed] == [first.sid]
    assert _fetch_media(http, account, service_sid, me).json()["message_sid"] == first.sid


def test_unknown_and_malformed_media_sids(v1, conv):
    author = uniq("sender")
    missing = "ME" + "0" * 32
    expect_rest_error(
        lambda: v1.conversations(conv.sid).messages.create(author=author, media_sid=missing), 400, 50510)
    expect_rest_error(
        lambda: v1.conversations(conv.sid).messages.create(author=author, media_sid="MEnope"), 400, 50510)
    assert v1.conversations(conv.sid).messages.list() == []


def test_media_of_another_account_is_invisible(http, account, service_sid, fresh_account):
    me = _upload_raw(http, account, service_sid, _payload())["sid"]
    other_v1 = fresh_account.v1
    other_service = other_v1.configuration().fetch().default_chat_service_sid
    # Not fetchable through either service with the other account's credentials.
    for svc in (service_sid, other_service):
        assert _fetch_media(http, fresh_account, svc, me).status_code == 404
    # Nor attachable to the other account's messages.
    other_conv = other_v1.conversations.create(friendly_name="other")
    expect_rest_error(
        lambda: other_v1.conversations(other_conv.sid).messages.create(author="x", media_sid=me),
        400, 50510)
    assert _fetch_media(http, account, service_sid, me).json()["message_sid"] is None


def test_media_belongs_to_its_service(http, account, v1, service_sid, conv):
    svc = v1.services.create(friendly_name=uniq("media-svc"))
    # Uploaded to another service: not attachable in the default one...
    me = _upload_raw(http, account, svc.sid, _payload())["sid"]
    expect_rest_error(
        lambda: v1.conversations(conv.sid).messages.create(author="x", media_sid=me), 400, 50510)
    assert _fetch_media(http, account, service_sid, me).status_code == 404
    # ...but in its own, through the service-scoped resources.
    sconv = v1.services(svc.sid).conversations.create(friendly_name="svc media")
    msg = v1.services(svc.sid).conversations(sconv.sid).messages.create(author="y", media_sid=me)
    assert [m["sid"] for m in msg.media] == [me]
    fetched = _fetch_media(http, account, svc.sid, me).json()
    assert fetched["message_sid"] == msg.sid and fetched["channel_sid"] == sconv.sid


def test_deleting_the_message_deletes_its_media(http, account, v1, service_sid, conv):
    data = _payload()
    me = _upload_raw(http, account, service_sid, data)["sid"]
    msg = v1.conversations(conv.sid).messages.create(author=uniq("sender"), media_sid=me)
    url = _fetch_media(http, account, service_sid, me).json()["links"]["content_direct_temporary"]
    assert http.get(url, timeout=30).content == data

    assert v1.conversations(conv.sid).messages(msg.sid).delete() is True
    # The URL was validly signed, but its media is gone.
    gone = http.get(url, timeout=30)
    assert gone.status_code == 404, gone.text
    assert _fetch_media(http, account, service_sid, me).status_code == 404


def test_deleting_the_conversation_deletes_its_media(http, account, v1, service_sid):
    conv = v1.conversations.create(friendly_name="doomed")
    me = _upload_raw(http, account, service_sid, _payload())["sid"]
    v1.conversations(conv.sid).messages.create(author=uniq("sender"), media_sid=me)
    url = _fetch_media(http, account, service_sid, me).json()["links"]["content_direct_temporary"]
    assert v1.conversations(conv.sid).delete() is True
    assert http.get(url, timeout=30).status_code == 404
    assert _fetch_media(http, account, service_sid, me).status_code == 404


def test_media_cannot_change_on_update(http, account, v1, service_sid, conv):
    me = _upload_raw(http, account, service_sid, _payload())["sid"]
    msg = v1.conversations(conv.sid).messages.create(author=uniq("sender"), media_sid=me)
    updated = v1.conversations(conv.sid).messages(msg.sid).update(body="caption")
    assert updated.body == "caption"
    assert [m["sid"] for m in updated.media] == [me]
