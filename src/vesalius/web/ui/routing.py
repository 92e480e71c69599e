"""How UI routes answer errors: with HTML pages and redirects, never problem+json.

The application's exception handlers speak RFC 9457 JSON for /api. A browser should get
a page instead, so UI routes use :class:`UIRoute`, which turns the few errors a page can
meet into responses itself. ``NotFound`` covers projects the user may not read as well
(the policy raises it for both), so a page never reveals that a project exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from vesalius.core.errors import InvalidInput, NotFound, PermissionDenied, VesaliusError
from vesalius.web.ui.session import LOGIN_PATH, SignInRequired
from vesalius.web.ui.templating import render

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", status=status, title=title, message=message)


def not_found(request: Request) -> Response:
    """The one 404 page, the same whether a thing is missing or hidden from this user."""
    return error_page(
        request, 404, "Not found", "This page does not exist, or you do not have access to it."
    )


def same_origin(request: Request) -> bool:
    """False when a form was posted from another site's page (the Origin header says so).

    Browsers send Origin with every POST; a missing header (curl, old clients) is let
    through, since the SameSite cookie already keeps cross-site posts unauthenticated.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


class UIRoute(APIRoute):
    """An APIRoute whose errors become HTML pages or a redirect to the sign-in page."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            if request.method == "POST" and not same_origin(request):
                return error_page(
                    request, 403, "Forbidden", "This form was sent from another site."
                )
            try:
                return await handler(request)
            except SignInRequired as exc:
                target = LOGIN_PATH + "?" + urlencode({"next": exc.next_path})
                return RedirectResponse(target, status_code=303)
            except NotFound:
                return not_found(request)
            except InvalidInput as exc:  # messages name the field, never patient values
                return error_page(request, 400, "Bad request", str(exc))
            except RequestValidationError:
                return error_page(
                    request,
                    400,
                    "Bad request",
                    "The address or the form contains a value that cannot be used.",
                )
            except PermissionDenied:
                return error_page(
                    request, 403, "Forbidden", "Your role in this project does not allow this."
                )
            except VesaliusError as exc:
                log.error("UI page failed: %s", type(exc).__name__)
                return error_page(request, exc.status, exc.title, "Something went wrong.")

        return page
