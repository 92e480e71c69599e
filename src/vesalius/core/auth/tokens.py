"""Bearer tokens and browser sessions: random secrets shown once, stored as SHA-256.

A token has a recognisable prefix (``vsl_``) so that secret scanners can find leaked
ones; the hash lookup is a plain unique-index query, fast on every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core.model import Token, User, utcnow

PREFIX = "vsl_"
SESSION_LIFETIME = dt.timedelta(hours=12)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(
    session: Session,
    *,
    user: User,
    kind: str = "api",
    label: str = "",
    lifetime: dt.timedelta | None = None,
) -> str:
    """Create a token for ``user`` and return its secret (the only time it is seen)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + lifetime if lifetime else None
    session.add(
        Token(user_id=user.id, token_hash=_hash(secret), kind=kind, label=label, expires_at=expires)
    )
    return secret


def authenticate(session: Session, secret: str, *, kind: str | None = None) -> User | None:
    """The active user owning a valid, unexpired, unrevoked token, or None."""
    if not secret.startswith(PREFIX):
        return None
    row = session.execute(
        select(Token, User)
        .join(User, User.id == Token.user_id)
        .where(Token.token_hash == _hash(secret))
    ).first()
    if row is None:
        return None
    token, user = row
    now = utcnow()
    if (kind and token.kind != kind) or token.revoked_at or not user.is_active:
        return None
    if token.expires_at and token.expires_at <= now:
        return None
    return user


def revoke(session: Session, secret: str) -> None:
    token = session.scalar(select(Token).where(Token.token_hash == _hash(secret)))
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
