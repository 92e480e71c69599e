"""Browser sessions: the cookie, who is signed in, and where to go after signing in.

The cookie holds a token of kind ``session`` (see :mod:`vesalius.core.auth.tokens`), so
signing out is a revocation in the database and every node of a cluster agrees on it.
It is HttpOnly (no script can read it) and SameSite=Lax (other sites cannot make the
browser send it with a form post), which is what protects the two POST forms.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from vesalius.core.auth import tokens
from vesalius.core.model import User
from vesalius.web.deps import DB, SESSION_COOKIE

HOME_PATH = "/ui/projects"
LOGIN_PATH = "/ui/login"


class SignInRequired(Exception):
    """No valid session: the UI answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on this server, else the projects page.

    Only ``/…`` paths are followed: ``//host``, ``/\\host`` and absolute URLs would make
    the sign-in page an open redirect that phishing mails could use.
    """
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return HOME_PATH
    if any(ord(ch) < 0x20 or ch == "\\" for ch in value):
        return HOME_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return HOME_PATH
    return value


def requested_path(request: Request) -> str:
    """The path and query of this request, to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def session_user(request: Request, session: DB) -> User | None:
    """The user of the request's session cookie, or None; remembered for the page header."""
    secret = request.cookies.get(SESSION_COOKIE)
    user = tokens.authenticate(session, secret, kind="session") if secret else None
    if user is not None:
        request.state.ui_user_name = user.name
    return user


def signed_in_user(request: Request, session: DB) -> User:
    """Dependency of every page: the signed-in user, or a redirect to the sign-in page."""
    user = session_user(request, session)
    if user is None:
        raise SignInRequired(requested_path(request) if request.method == "GET" else HOME_PATH)
    return user


UIUser = Annotated[User, Depends(signed_in_user)]
MaybeUser = Annotated[User | None, Depends(session_user)]


def set_session_cookie(response: Response, request: Request, secret: str) -> None:
    """Give the browser its session; Secure whenever the page was served over HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(tokens.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
