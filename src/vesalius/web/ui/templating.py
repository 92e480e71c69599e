"""The Jinja2 environment of the UI and the headers every HTML page carries.

Autoescaping is on for every template, whatever its name, because the pages show
values that arrive inside DICOM headers (names, descriptions) and so come from
outside; ``StrictUndefined`` turns a misspelt variable into an error in the tests
instead of an empty cell in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Pages hold patient data: never cached by a shared cache or kept for the back button
# after sign-out, never framed, and only our own stylesheet and images may load.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def dicom_date(value: str | None) -> str:
    """``20240304`` as ``2024-03-04``; anything else unchanged (DICOM dates are often odd)."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or ""


def dicom_time(value: str | None) -> str:
    """``093015.123`` as ``09:30``; anything else unchanged."""
    if value and len(value) >= 4 and value[:4].isdigit():
        return f"{value[:2]}:{value[2:4]}"
    return value or ""


def person_name(value: str | None) -> str:
    """A DICOM person name (``Family^Given^Middle``) as people write it."""
    if not value:
        return ""
    family, _, rest = value.partition("^")
    given = " ".join(p for p in rest.split("^")[:2] if p)
    return f"{family}, {given}" if given else family


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(dicom_date=dicom_date, dicom_time=dicom_time, person_name=person_name)
    return env


templates = Jinja2Templates(env=_environment())


def url(request: Request, name: str, **params: Any) -> str:
    """The local path of the UI route ``name``; each parameter quoted as one segment.

    Paths, not absolute URLs: they do not depend on a Host header a proxy may rewrite.
    """
    quoted = {key: quote(str(value), safe="") for key, value in params.items()}
    return str(request.app.url_path_for(name, **quoted))


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    """Render a page with the signed-in user's name (if any) and the page headers."""
    context.setdefault("user_name", getattr(request.state, "ui_user_name", None))
    context["url"] = _url_in(request)
    return templates.TemplateResponse(
        request, template, context, status_code=status, headers=PAGE_HEADERS
    )


def _url_in(request: Request) -> Any:
    """``url(name, **params)`` bound to this request, for templates."""

    def bound(name: str, **params: Any) -> str:
        return url(request, name, **params)

    return bound
