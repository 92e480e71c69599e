"""Request dependencies: a database session per request and the authenticated caller.

The API accepts ``Authorization: Bearer <token>``; the web UI's session cookie carries
a token of kind ``session``. Either way the caller is a :class:`User`, and every route
reaches data through services that check the access policy for that user.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from vesalius.core.auth import tokens
from vesalius.core.errors import Unauthenticated
from vesalius.core.home import Home
from vesalius.core.model import User

SESSION_COOKIE = "vesalius_session"


def home(request: Request) -> Home:
    return request.app.state.home


def read_session(request: Request) -> Iterator[Session]:
    with request.app.state.home.db.read() as session:
        yield session


def write_session(request: Request) -> Iterator[Session]:
    """A session whose transaction commits when the route returns without error."""
    with request.app.state.home.db.write() as session, session.begin():
        yield session


DB = Annotated[Session, Depends(read_session)]
WriteDB = Annotated[Session, Depends(write_session)]


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return secret.strip()
    return None


def current_user(request: Request, session: DB) -> User:
    secret = bearer_secret(request)
    user = None
    if secret:
        user = tokens.authenticate(session, secret, kind="api")
    elif cookie := request.cookies.get(SESSION_COOKIE):
        user = tokens.authenticate(session, cookie, kind="session")
    if user is None:
        raise Unauthenticated(
            "a valid bearer token is needed"
            if secret or not request.cookies.get(SESSION_COOKIE)
            else "the session has ended"
        )
    return user


def optional_user(request: Request, session: DB) -> User | None:
    try:
        return current_user(request, session)
    except Unauthenticated:
        return None


CurrentUser = Annotated[User, Depends(current_user)]
