"""Accounts, roles, tokens and the access policy."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from vesalius.archive import accounts
from vesalius.archive.projects import create_project
from vesalius.core.audit import AuditEvent, verify_chain
from vesalius.core.auth import tokens
from vesalius.core.auth.policy import UPLOAD_ROLES, project_for, readable_project_ids
from vesalius.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vesalius.core.home import Home
from vesalius.core.model import Group, GroupMember, Membership


def test_roles_groups_and_visibility(home: Home) -> None:
    with home.db.write() as session, session.begin():
        p1 = create_project(session, key="p1", name="p1", actor="t")
        pub = create_project(session, key="pub", name="pub", actor="t", visibility="public")
        alice = accounts.create_user(session, name="alice", actor="t")
        bob = accounts.create_user(session, name="bob", actor="t")
        carol = accounts.create_user(session, name="carol", actor="t")
        accounts.grant(session, user_name="alice", project_key="p1", role="member", actor="t")
        group = Group(name="readers")
        session.add(group)
        session.flush()
        session.add(GroupMember(group_id=group.id, user_id=carol.id))
        session.add(Membership(project_id=p1.id, group_id=group.id, role="contributor"))
        session.flush()

        assert project_for(session, alice, "p1").id == p1.id
        with pytest.raises(PermissionDenied):
            project_for(session, alice, "p1", need=UPLOAD_ROLES)
        assert project_for(session, carol, "p1", need=UPLOAD_ROLES).id == p1.id  # via group
        with pytest.raises(NotFound):
            project_for(session, bob, "p1")
        assert project_for(session, bob, "pub").id == pub.id
        with pytest.raises(NotFound) as unknown:
            project_for(session, bob, "zzz")
        with pytest.raises(NotFound) as hidden:
            project_for(session, bob, "p1")
        assert str(unknown.value).replace("zzz", "p1") == str(hidden.value)
        assert sorted(readable_project_ids(session, bob)) == [pub.id]


def test_grant_validates_and_is_idempotent(home: Home) -> None:
    with home.db.write() as session, session.begin():
        create_project(session, key="p1", name="p1", actor="t")
        accounts.create_user(session, name="alice", actor="t")
        first = accounts.grant(
            session, user_name="alice", project_key="p1", role="owner", actor="t"
        )
        again = accounts.grant(
            session, user_name="alice", project_key="p1", role="owner", actor="t"
        )
        assert first.id == again.id
        with pytest.raises(InvalidInput):
            accounts.grant(session, user_name="alice", project_key="p1", role="king", actor="t")
        with pytest.raises(NotFound):
            accounts.grant(
                session,
                user_name="alice",
                project_key="p1",
                role="member",
                site_key="nowhere",
                actor="t",
            )
        with pytest.raises(Conflict):
            accounts.create_user(session, name="alice", actor="t")
        with pytest.raises(InvalidInput):
            accounts.create_user(session, name="x", actor="t", password="short")


def test_tokens_are_hashed_revocable_and_sign_ins_audited(home: Home) -> None:
    with home.db.write() as session, session.begin():
        user = accounts.create_user(session, name="alice", actor="t", password="long-password-1")
        api = accounts.create_token(session, name="alice", actor="t")
        assert accounts.check_login(session, name="alice", password="long-password-1") is not None
        assert accounts.check_login(session, name="alice", password="wrong-password") is None
        accounts.failed_login(session, name="alice", client="127.0.0.1")
        web = accounts.start_session(session, user=user, client="127.0.0.1")
    with home.db.write() as session, session.begin():
        assert tokens.authenticate(session, api, kind="api").name == "alice"
        assert tokens.authenticate(session, api, kind="session") is None
        assert tokens.authenticate(session, web, kind="session").name == "alice"
        stored = session.scalars(select(tokens.Token.token_hash)).all()
        assert api not in stored and web not in stored  # only hashes are kept
        accounts.end_session(session, secret=web)
    with home.db.read() as session:
        assert tokens.authenticate(session, web, kind="session") is None
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions[-3:] == ["login.failed", "login", "logout"]
        assert "long-password-1" not in str(session.scalars(select(AuditEvent.detail)).all())
        assert verify_chain(session) is None
