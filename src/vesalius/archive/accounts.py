"""Users, roles and tokens as the operator and admins manage them."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core import audit
from vesalius.core.auth import tokens
from vesalius.core.auth.passwords import hash_password, verify_password
from vesalius.core.errors import Conflict, InvalidInput, NotFound
from vesalius.core.model import ROLES, Membership, Project, Site, User

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


def create_user(
    session: Session, *, name: str, actor: str, admin: bool = False, password: str | None = None
) -> User:
    if not NAME_PATTERN.match(name):
        raise InvalidInput("a user name is 1-64 letters, digits, '.', '_', '@' or '-'")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} exists already")
    user = User(name=name, is_admin=admin)
    if password is not None:
        _check_password(password)
        user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    audit.record(
        session, actor=actor, action="user.create", target=f"user:{name}", detail={"admin": admin}
    )
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")


def set_password(session: Session, *, name: str, password: str, actor: str) -> None:
    _check_password(password)
    user = get_user(session, name)
    user.password_hash = hash_password(password)
    audit.record(session, actor=actor, action="user.password", target=f"user:{name}")


def check_login(session: Session, *, name: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or not user.is_active:
        verify_password(None, password)
        return None
    return user if verify_password(user.password_hash, password) else None


def start_session(session: Session, *, user: User, client: str = "") -> str:
    """A browser session token for a signed-in user; sign-ins are audited."""
    secret = tokens.issue(
        session, user=user, kind="session", label="web UI", lifetime=tokens.SESSION_LIFETIME
    )
    audit.record(
        session,
        actor=user.name,
        action="login",
        target=f"user:{user.name}",
        detail={"client": client},
    )
    return secret


def failed_login(session: Session, *, name: str, client: str = "") -> None:
    """Audit a refused sign-in (the name tried, never the password)."""
    audit.record(
        session,
        actor="anonymous",
        action="login.failed",
        target=f"user:{name[:64]}",
        detail={"client": client},
    )


def end_session(session: Session, *, secret: str) -> None:
    user = tokens.authenticate(session, secret, kind="session")
    tokens.revoke(session, secret)
    if user is not None:
        audit.record(session, actor=user.name, action="logout", target=f"user:{user.name}")


def create_token(session: Session, *, name: str, actor: str, label: str = "") -> str:
    user = get_user(session, name)
    secret = tokens.issue(session, user=user, label=label)
    audit.record(
        session, actor=actor, action="token.create", target=f"user:{name}", detail={"label": label}
    )
    return secret


def grant(
    session: Session,
    *,
    user_name: str,
    project_key: str,
    role: str,
    actor: str,
    site_key: str | None = None,
) -> Membership:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    user = get_user(session, user_name)
    project = session.scalar(select(Project).where(Project.key == project_key))
    if project is None:
        raise NotFound(f"no project {project_key!r}")
    site_id = None
    if site_key is not None:
        site = session.scalar(
            select(Site).where(Site.project_id == project.id, Site.key == site_key)
        )
        if site is None:
            raise NotFound(f"no site {site_key!r} in project {project_key!r}")
        site_id = site.id
    existing = session.scalar(
        select(Membership).where(
            Membership.project_id == project.id,
            Membership.user_id == user.id,
            Membership.role == role,
            Membership.site_id.is_(site_id) if site_id is None else Membership.site_id == site_id,
        )
    )
    if existing is not None:
        return existing
    membership = Membership(project_id=project.id, user_id=user.id, role=role, site_id=site_id)
    session.add(membership)
    audit.record(
        session,
        actor=actor,
        action="grant",
        target=f"project:{project_key}",
        detail={"user": user_name, "role": role, "site": site_key},
    )
    return membership
