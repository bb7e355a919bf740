"""API keys through twilio-python's 2010 API: new_keys.create(), keys(sid)
fetch/update/delete, keys.list(), and a Client built on an API key."""

from datetime import datetime

from twilio.rest import Client

from support import LocalHttpClient, expect_rest_error, uniq


def test_keys_lifecycle_and_key_credentials(fresh_account):
    client = fresh_account.client
    key = client.new_keys.create(friendly_name="backend")
    assert key.sid.startswith("SK") and len(key.sid) == 34
    assert len(key.secret) == 32
    assert isinstance(key.date_created, datetime), "RFC 2822 dates parse"

    fetched = client.keys(key.sid).fetch()
    assert fetched.friendly_name == "backend"
    assert fetched.update(friendly_name="renamed").friendly_name == "renamed"

    for i in range(3):
        client.new_keys.create(friendly_name=f"extra-{i}")
    listed = [k.sid for k in client.keys.list(page_size=2)]
    assert len(listed) == 4 and key.sid in listed

    # An API key works wherever the Auth Token does (Client(key, secret, account)).
    by_key = Client(key.sid, key.secret, fresh_account.sid, http_client=LocalHttpClient(fresh_account.base_url))
    name = uniq("by-key")
    conv = by_key.conversations.v1.conversations.create(friendly_name=name)
    assert by_key.conversations.v1.conversations(conv.sid).fetch().friendly_name == name

    # Revoked: it stops at once.
    assert client.keys(key.sid).delete() is True
    expect_rest_error(lambda: by_key.conversations.v1.conversations(conv.sid).fetch(), 401, 20003)
    expect_rest_error(lambda: client.keys(key.sid).fetch(), 404, 20404)


def test_keys_of_another_account_are_invisible(fresh_account, account):
    key = account.client.new_keys.create(friendly_name="mine")
    expect_rest_error(lambda: fresh_account.client.api.v2010.accounts(account.sid).keys(key.sid).fetch(), 404, 20404)
    account.client.keys(key.sid).delete()
