"""The pages of the web UI: sign-in, projects, a project's studies, a study's series.

Routes stay thin: every read goes through the archive services after
:func:`~vesalius.archive.access.readable_project` has checked that the user may read the
project and found the user's site limit, exactly as the REST API does, so the UI can
show nothing the API would not.
"""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from vesalius.archive import accounts, browse, deliveries, projects
from vesalius.archive.access import readable_project
from vesalius.core.auth.policy import ReadScope
from vesalius.core.errors import NotFound, StorageError
from vesalius.core.model import Project
from vesalius.studies import results as adherence
from vesalius.studies.qc import results as qc_results
from vesalius.web.deps import DB, SESSION_COOKIE, WriteDB
from vesalius.web.ui import thumbnails
from vesalius.web.ui.routing import UIRoute
from vesalius.web.ui.session import (
    HOME_PATH,
    LOGIN_PATH,
    MaybeUser,
    UIUser,
    clear_session_cookie,
    safe_next,
    set_session_cookie,
)
from vesalius.web.ui.templating import render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ui", route_class=UIRoute, include_in_schema=False)

PAGE_SIZE = 25
# Offered in the filter even before a project holds them; a value typed into the URL
# that is not listed is added so that the form shows what is being filtered on.
MODALITIES = ("CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SR", "SEG")
THUMBNAIL_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
WRONG_LOGIN = "Wrong user name or password."


@router.get("/login", name="ui-login")
def login_form(request: Request, user: MaybeUser, next: str | None = None) -> Response:
    if user is not None:  # already signed in: a bookmarked sign-in page just continues
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="", error=None)


@router.post("/login", name="ui-login-submit")
def login(
    request: Request,
    session: DB,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Check the password, then start a session; one message for every failure.

    The password is checked in the read session and the token written in a short write
    transaction of its own, so that a slow hash never holds SQLite's write lock.
    """
    user = accounts.check_login(session, name=username.strip(), password=password)
    client = request.client.host if request.client else ""
    if user is None:
        with request.app.state.home.db.write() as write, write.begin():
            accounts.failed_login(write, name=username.strip(), client=client)
        return render(
            request,
            "login.html",
            status=401,
            next=safe_next(next),
            username=username,
            error=WRONG_LOGIN,
        )
    with request.app.state.home.db.write() as write, write.begin():
        secret = accounts.start_session(write, user=user, client=client)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, request, secret)
    return response


@router.post("/logout", name="ui-logout")
def logout(request: Request, session: WriteDB) -> Response:
    """Revoke the session's token (not just the cookie: a copied cookie dies too)."""
    if secret := request.cookies.get(SESSION_COOKIE):
        accounts.end_session(session, secret=secret)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/projects", name="ui-projects")
def projects_page(request: Request, session: DB, user: UIUser) -> Response:
    return render(request, "projects.html", projects=projects.list_projects(session, user=user))


@router.get("/projects/{key}", name="ui-project")
def project_page(
    request: Request,
    key: str,
    session: DB,
    user: UIUser,
    q: str = "",
    modality: str = "",
    page: str = "1",
) -> Response:
    """A page of the project's studies, newest first, with search and modality filter."""
    project, scope = readable_project(session, user=user, key=key)
    q, modality = q.strip(), modality.strip().upper()
    number = _page_number(page)
    items, total = _studies(session, project, scope, q, modality, number)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if number > pages:  # a stale link after a narrowing search: show the last page
        number = pages
        items, total = _studies(session, project, scope, q, modality, number)
    filters = {"q": q, "modality": modality}
    return render(
        request,
        "project.html",
        project=project,
        studies=items,
        total=total,
        q=q,
        modality=modality,
        modalities=_modality_options(modality),
        page=number,
        pages=pages,
        first=(number - 1) * PAGE_SIZE + 1 if items else 0,
        last=(number - 1) * PAGE_SIZE + len(items),
        previous_query=_query(filters, number - 1) if number > 1 else None,
        next_query=_query(filters, number + 1) if number < pages else None,
        sites=_sites(session, project, scope),
    )


@router.get("/projects/{key}/studies/{study_uid}", name="ui-study")
def study_page(request: Request, key: str, study_uid: str, session: DB, user: UIUser) -> Response:
    project, scope = readable_project(session, user=user, key=key)
    study, subject = browse.get_study(session, project=project, scope=scope, study_uid=study_uid)
    series, _ = browse.list_series(
        session, project=project, scope=scope, study_uid=study_uid, limit=browse.MAX_LIMIT
    )
    return render(
        request,
        "study.html",
        project=project,
        study=browse.study_item(study, subject),
        series=series,
        adherence=adherence.study_result(
            session, project=project, study_uid=study_uid, scope=scope
        ),
        qc=qc_results.study_qc(session, project=project, study_uid=study_uid, scope=scope),
    )


@router.get("/projects/{key}/series/{series_uid}/thumbnail.png", name="ui-thumbnail")
def thumbnail(request: Request, key: str, series_uid: str, session: DB, user: UIUser) -> Response:
    """A PNG of the series' middle image; a placeholder (still 200) if it cannot be drawn."""
    project, scope = readable_project(session, user=user, key=key)
    blob_hash = _middle_blob(session, project, scope, series_uid)
    if blob_hash is not None:
        etag = f'"t{thumbnails.MAX_SIDE}-{blob_hash}"'
        headers = {**THUMBNAIL_HEADERS, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        try:
            data = thumbnails.render(request.app.state.home.store.get(blob_hash))
            return Response(data, media_type="image/png", headers=headers)
        except (thumbnails.Undecodable, StorageError) as exc:
            log.warning(
                "no thumbnail for series %s: %s",
                series_uid,
                str(exc) if isinstance(exc, thumbnails.Undecodable) else type(exc).__name__,
            )
    return Response(
        thumbnails.placeholder(),
        media_type="image/png",
        headers={**THUMBNAIL_HEADERS, "X-Vesalius-Thumbnail": "placeholder"},
    )


@router.get("", name="ui-root")
def ui_root() -> Response:
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get("/{rest:path}", name="ui-unknown")
def unknown(rest: str, user: UIUser) -> Response:
    """Any other /ui path: the HTML 404 (or sign-in), not the API's problem+json."""
    if rest == "":
        return RedirectResponse(HOME_PATH, status_code=303)
    raise NotFound("no such page")


def _sites(session: Session, project: Project, scope: ReadScope) -> list[dict[str, Any]]:
    """The project's senders when at least one site gateway delivered to it."""
    sites = deliveries.site_summary(session, project=project, scope=scope)
    return sites if any(s["site"] is not None for s in sites) else []


def _page_number(value: str) -> int:
    """A forgiving ``?page=``: anything that is not a positive number means page 1."""
    try:
        return max(1, int(value))
    except ValueError:
        return 1


def _studies(
    session: Session, project: Project, scope: ReadScope, q: str, modality: str, number: int
) -> tuple[list[dict[str, Any]], int]:
    return browse.list_studies(
        session,
        project=project,
        scope=scope,
        q=q or None,
        modality=modality or None,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )


def _query(filters: dict[str, str], page: int) -> str:
    params = {k: v for k, v in filters.items() if v}
    if page > 1:
        params["page"] = str(page)
    return "?" + urlencode(params) if params else "?"


def _modality_options(current: str) -> list[str]:
    return list(MODALITIES) + ([current] if current and current not in MODALITIES else [])


def _middle_blob(
    session: Session, project: Project, scope: ReadScope, series_uid: str
) -> str | None:
    return browse.middle_instance_blob(session, project=project, scope=scope, series_uid=series_uid)
