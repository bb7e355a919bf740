"""Error responses as twilio-python surfaces them (TwilioRestException)."""

from twilio.base.exceptions import TwilioRestException

from support import expect_page_error, expect_rest_error, uniq


def test_duplicate_unique_name_is_409_50353(v1):
    unique = uniq("dup")
    v1.conversations.create(unique_name=unique)
    err = expect_rest_error(lambda: v1.conversations.create(unique_name=unique), 409, 50353)
    assert err.msg.startswith("Unable to create record")
    # Renaming another conversation onto a taken unique_name fails the same way.
    other = v1.conversations.create()
    expect_rest_error(lambda: v1.conversations(other.sid).update(unique_name=unique), 409, 50353)


def test_duplicate_participant_identity_is_409_50433(v1):
    conv = v1.conversations.create()
    v1.conversations(conv.sid).participants.create(identity="twin")
    expect_rest_error(
        lambda: v1.conversations(conv.sid).participants.create(identity="twin"), 409, 50433)


def test_unknown_permission_is_400_20001(v1):
    expect_rest_error(
        lambda: v1.roles.create(friendly_name=uniq("bad"), type="conversation",
                                permission=["sendMessage", "flyToTheMoon"]),
        400, 20001)
    role = v1.roles.create(friendly_name=uniq("ok"), type="conversation",
                           permission=["sendMessage"])
    expect_rest_error(lambda: v1.roles(role.sid).update(permission=["flyToTheMoon"]), 400, 20001)
    # Nothing changed.
    assert v1.roles(role.sid).fetch().permissions == ["sendMessage"]


def test_wrong_auth_token_is_401_20003(account):
    bad = account.with_token("not-the-token-" + uniq())
    err = expect_rest_error(lambda: bad.conversations.v1.conversations.create(), 401, 20003)
    assert (err.method, err.uri) == ("POST", "/Conversations")  # uri is relative to /v1
    expect_rest_error(lambda: bad.conversations.v1.configuration().fetch(), 401, 20003)
    expect_page_error(lambda: bad.conversations.v1.conversations.list(), 401, 20003)


def test_unknown_account_is_401_20003(account):
    from twilio.rest import Client

    from support import LocalHttpClient

    stranger = Client("AC" + "0" * 32, "whatever-token",
                      http_client=LocalHttpClient(account.base_url))
    expect_rest_error(lambda: stranger.conversations.v1.configuration().fetch(), 401, 20003)


def test_other_accounts_resources_are_404(v1, fresh_account):
    mine = v1.conversations.create(friendly_name="mine", unique_name=uniq("mine"))
    v1.conversations(mine.sid).participants.create(identity="owner")
    msg = v1.conversations(mine.sid).messages.create(body="private")
    theirs = fresh_account.v1
    expect_rest_error(lambda: theirs.conversations(mine.sid).fetch(), 404, 20404)
    expect_rest_error(lambda: theirs.conversations(mine.unique_name).fetch(), 404, 20404)
    expect_rest_error(lambda: theirs.conversations(mine.sid).update(friendly_name="x"), 404)
    expect_rest_error(lambda: theirs.conversations(mine.sid).delete(), 404)
    expect_rest_error(lambda: theirs.conversations(mine.sid).messages(msg.sid).fetch(), 404)
    expect_page_error(lambda: theirs.conversations(mine.sid).participants.list(), 404, 20404)
    expect_page_error(lambda: theirs.conversations(mine.sid).messages.list(), 404, 20404)
    expect_rest_error(lambda: theirs.services(mine.chat_service_sid).fetch(), 404, 20404)
    expect_rest_error(
        lambda: theirs.services(mine.chat_service_sid).conversations(mine.sid).fetch(), 404)
    # Still there for the owner.
    assert v1.conversations(mine.sid).fetch().friendly_name == "mine"


def test_not_found_body_names_the_path(v1):
    missing = "CH" + "0" * 32
    err = expect_rest_error(lambda: v1.conversations(missing).fetch(), 404, 20404)
    assert f"/v1/Conversations/{missing}" in err.msg
    assert err.details is None or isinstance(err.details, dict)


def test_invalid_attributes_json_is_400(v1):
    expect_rest_error(lambda: v1.conversations.create(attributes="{not json"), 400)


def test_errors_are_rest_exceptions_not_service_exceptions(v1):
    # A body with type/title/status/code would become TwilioServiceException.
    try:
        v1.conversations("CH" + "f" * 32).fetch()
    except TwilioRestException as e:
        assert type(e) is TwilioRestException
    else:
        raise AssertionError("expected an error")


def test_unique_name_shaped_like_a_sid_is_400_50390(v1):
    expect_rest_error(lambda: v1.conversations.create(unique_name="CH" + "a" * 32), 400, 50390)


def test_duplicate_user_identity_is_409(v1):
    identity = uniq("dupuser")
    v1.users.create(identity=identity)
    expect_rest_error(lambda: v1.users.create(identity=identity), 409, 50201)


def test_duplicate_sms_participant_address_is_409(v1):
    conv = v1.conversations.create()
    v1.conversations(conv.sid).participants.create(
        messaging_binding_address="+15555550101", messaging_binding_proxy_address="+15555550199")
    expect_rest_error(
        lambda: v1.conversations(conv.sid).participants.create(
            messaging_binding_address="+15555550101",
            messaging_binding_proxy_address="+15555550199"),
        409)


def test_missing_required_parameters_are_400_20001(v1):
    expect_rest_error(lambda: v1.users.create(identity=""), 400, 20001)
    expect_rest_error(lambda: v1.services.create(friendly_name=""), 400, 20001)


def test_unknown_message_and_role_sids_are_404(v1):
    conv = v1.conversations.create()
    expect_rest_error(lambda: v1.conversations(conv.sid).messages("IM" + "0" * 32).fetch(), 404, 20404)
    expect_rest_error(lambda: v1.roles("RL" + "0" * 32).fetch(), 404, 20404)
    expect_rest_error(lambda: v1.services("IS" + "0" * 32).fetch(), 404, 20404)
    expect_rest_error(lambda: v1.users(uniq("ghost")).fetch(), 404, 20404)
    expect_rest_error(lambda: v1.conversations(conv.sid).participants(uniq("ghost")).fetch(), 404)


def test_page_size_out_of_range_is_400(v1):
    expect_page_error(lambda: v1.conversations.page(page_size=0), 400, 20001)
