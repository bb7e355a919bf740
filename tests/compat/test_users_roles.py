"""Users and roles through twilio-python."""

from datetime import datetime

from support import expect_rest_error, is_sid, uniq


def test_user_create_fetch_update_delete(v1):
    identity = uniq("user")
    user = v1.users.create(identity=identity, friendly_name="Alice", attributes='{"tier":1}')
    assert is_sid(user.sid, "US")
    assert user.identity == identity
    assert user.friendly_name == "Alice"
    assert user.attributes == '{"tier":1}'
    assert is_sid(user.role_sid, "RL")
    assert is_sid(user.chat_service_sid, "IS")
    assert isinstance(user.date_created, datetime)
    assert "user_conversations" in user.links

    assert v1.users(identity).fetch().sid == user.sid
    assert v1.users(user.sid).fetch().identity == identity

    updated = v1.users(identity).update(friendly_name="Alice B.", attributes='{"tier":2}')
    assert updated.friendly_name == "Alice B."
    assert updated.attributes == '{"tier":2}'
    assert v1.users(user.sid).fetch().friendly_name == "Alice B."

    assert v1.users(identity).delete() is True
    expect_rest_error(lambda: v1.users(identity).fetch(), 404, 20404)
    expect_rest_error(lambda: v1.users(user.sid).fetch(), 404, 20404)


def test_user_list_across_pages(fresh_account):
    v1 = fresh_account.v1
    sids = [v1.users.create(identity=f"u{i}").sid for i in range(5)]
    assert [u.sid for u in v1.users.list(page_size=2)] == sids
    assert [u.identity for u in v1.users.stream(page_size=3)] == [f"u{i}" for i in range(5)]


def test_user_with_explicit_role(v1):
    role = v1.roles.create(friendly_name=uniq("svc-role"), type="service",
                           permission=["createConversation", "joinConversation"])
    user = v1.users.create(identity=uniq("roled"), role_sid=role.sid)
    assert user.role_sid == role.sid


def test_role_create_update_list_delete(fresh_account):
    v1 = fresh_account.v1
    perms = ["sendMessage", "leaveConversation", "editOwnMessage", "deleteOwnMessage"]
    role = v1.roles.create(friendly_name="moderator", type="conversation", permission=perms)
    assert is_sid(role.sid, "RL")
    assert role.friendly_name == "moderator"
    assert role.type == "conversation"
    assert sorted(role.permissions) == sorted(perms)
    assert is_sid(role.chat_service_sid, "IS")
    assert isinstance(role.date_created, datetime)

    fetched = v1.roles(role.sid).fetch()
    assert sorted(fetched.permissions) == sorted(perms)

    # Update replaces the whole permission set.
    updated = v1.roles(role.sid).update(permission=["sendMessage", "sendMediaMessage"])
    assert sorted(updated.permissions) == ["sendMediaMessage", "sendMessage"]
    assert sorted(v1.roles(role.sid).fetch().permissions) == ["sendMediaMessage", "sendMessage"]

    listed = v1.roles.list(page_size=2)
    names = [r.friendly_name for r in listed]
    # A new service has the four Programmable-Chat default roles (reference §5).
    for default in ("service admin", "service user", "channel admin", "channel user"):
        assert default in names
    assert names.count("moderator") == 1
    assert len(listed) == len({r.sid for r in listed}) == 5

    assert v1.roles(role.sid).delete() is True
    expect_rest_error(lambda: v1.roles(role.sid).fetch(), 404, 20404)


def test_service_role(v1):
    role = v1.roles.create(friendly_name=uniq("svc"), type="service",
                           permission=["createConversation", "editOwnUserInfo"])
    assert role.type == "service"
    assert sorted(role.permissions) == ["createConversation", "editOwnUserInfo"]


def test_role_in_use_cannot_be_deleted(v1):
    # Confab's rule (Twilio does not document one): a role still held by a
    # user or participant, or named in the service configuration, stays.
    role = v1.roles.create(friendly_name=uniq("held"), type="service", permission=["joinConversation"])
    user = v1.users.create(identity=uniq("holder"), role_sid=role.sid)
    expect_rest_error(lambda: v1.roles(role.sid).delete(), 400, 20001)
    v1.users(user.sid).update(role_sid=v1.services(role.chat_service_sid).configuration().fetch()
                              .default_chat_service_role_sid)
    assert v1.roles(role.sid).delete() is True
