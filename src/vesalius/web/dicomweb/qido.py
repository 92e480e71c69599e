"""QIDO-RS (PS3.18 10.6): search for studies, series and instances.

Parameters are read here and handed to :mod:`vesalius.archive.query`, the matching
service shared with C-FIND: ``{attribute}={value}`` by keyword or tag (wildcards,
ranges and UID lists as in PS3.4 C.2.2.2), ``includefield`` (keywords, tags or
``all``; repeated or comma-separated), ``limit``/``offset``, ``fuzzymatching``.

A search that matches nothing answers 200 with an empty array: PS3.18 2026a (CP-2473)
dropped the 204 of earlier editions. Attributes that cannot be matched are named in a
``Warning: 299`` header, and a server-side cut of the results says so in another.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vesalius.archive import query as matching
from vesalius.core.errors import InvalidInput
from vesalius.web.deps import current_user
from vesalius.web.dicomweb import media
from vesalius.web.dicomweb.scope import Scope, find_series, find_study, resolve_scope

router = APIRouter()

MAX_RESULTS = 1000
"""Largest page; a search without ``limit`` gets at most this many, with a Warning."""
RETRIEVE_URL = "00081190"
RETRIEVE_URL_VR = dictionary_VR(0x00081190)
UIDS = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}
FLAGS = {"true": True, "false": False}


def attribute(name: str) -> str:
    """The keyword of a QIDO attribute ID (keyword, tag, or a dotted path of them)."""
    keywords = []
    for part in name.split("."):
        if len(part) == 8 and all(c in "0123456789abcdefABCDEF" for c in part):
            keyword = keyword_for_tag(int(part, 16))
            if not keyword:  # private or unknown tags are kept as they are
                keyword = part.upper()
        elif tag_for_keyword(part) is not None:
            keyword = part
        else:
            raise InvalidInput(f"{name!r} is neither a DICOM keyword nor a tag")
        keywords.append(keyword)
    return ".".join(keywords)


def _count(value: str, name: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer") from exc
    if number < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}")
    return number


def parse(
    items: list[tuple[str, str]],
) -> tuple[dict[str, str], list[str], bool, bool, int | None, int, list[str]]:
    """Filters, include fields, include all, fuzzy, limit, offset and warnings."""
    filters: dict[str, str] = {}
    include: list[str] = []
    include_all = fuzzy = False
    limit: int | None = None
    offset = 0
    warnings: list[str] = []
    for name, value in items:
        key = name.lower()
        if key == "limit":
            limit = _count(value, "limit", 1)
        elif key == "offset":
            offset = _count(value, "offset", 0)
        elif key == "includefield":
            for field in filter(None, (v.strip() for v in value.split(","))):
                if field.lower() == "all":
                    include_all = True
                elif (keyword := attribute(field)) not in include:
                    include.append(keyword)
        elif key in ("fuzzymatching", "emptyvaluematching"):
            if value.lower() not in FLAGS:
                raise InvalidInput(f"{name} must be true or false")
            if key == "fuzzymatching":
                fuzzy = FLAGS[value.lower()]
            elif FLAGS[value.lower()]:
                warnings.append(
                    "The emptyvaluematching parameter is not supported. "
                    "Empty Value Matching has not been performed."
                )
        else:
            keyword = attribute(name)
            if keyword in filters:
                raise InvalidInput(f"{name} is given more than once")
            filters[keyword] = value
    return filters, include, include_all, fuzzy, limit, offset, warnings


def _with_retrieve_url(
    result: dict[str, Any],
    scope: Scope,
    level: str,
    study_uid: str | None,
    series_uid: str | None,
) -> dict[str, Any]:
    def uid(which: str) -> str | None:
        values = (result.get(UIDS[which]) or {}).get("Value") or []
        return str(values[0]) if values else None

    # results scoped to a study (or series) by the path need not repeat its UID
    study, series, instance = (
        uid("study") or study_uid,
        uid("series") or series_uid,
        uid("instance"),
    )
    url = None
    if level == "STUDY" and study:
        url = scope.study_url(study)
    elif level == "SERIES" and study and series:
        url = scope.series_url(study, series)
    elif level == "IMAGE" and study and series and instance:
        url = scope.instance_url(study, series, instance)
    if url is not None:
        result = {**result, RETRIEVE_URL: {"vr": RETRIEVE_URL_VR, "Value": [url]}}
    return dict(sorted(result.items()))


def search(
    request: Request,
    session: Session,
    scope: Scope,
    level: str,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> Response:
    media_type = media.negotiate(
        request.headers.get("accept"), [media.DICOM_JSON, "application/json"]
    )
    filters, include, include_all, fuzzy, limit, offset, warnings = parse(
        list(request.query_params.multi_items())
    )
    within = scope.read
    if study_uid is not None:  # 404 unless the path names a study (and series) in scope
        study = find_study(session, scope, study_uid)
        if series_uid is not None:
            find_series(session, study, series_uid)
        within = within.narrowed(study.project_id)  # the project a retrieve of it would use
    page = min(limit or MAX_RESULTS, MAX_RESULTS)
    query = matching.Query(
        level=level,  # type: ignore[arg-type]
        filters=filters,
        study_uid=study_uid,
        series_uid=series_uid,
        fuzzy=fuzzy,
        limit=page + 1,
        offset=offset,
        return_keys=include or None,
        include_all=include_all,
    )
    results = matching.search(session, scope=within, query=query)
    service = urlsplit(scope.base_url).netloc
    if unsupported := matching.unsupported_keys(level, filters):
        warnings.insert(
            0, "The following attributes are not supported for matching: " + ", ".join(unsupported)
        )
    if len(results) > page:
        results = results[:page]
        if limit is None or limit > MAX_RESULTS:
            warnings.append("There are additional results that can be requested")
    body = [_with_retrieve_url(r, scope, level, study_uid, series_uid) for r in results]
    response = Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        media_type=media_type,
    )
    for text in warnings:  # PS3.18 8.3.4 writes them as "299 <service>: <text>"
        response.headers.append("Warning", f"299 {service}: {text}")
    return response


# The searches run in one worker thread each, session, caller and scope included: the
# same dependencies (vesalius.web.deps, .scope) called in order, without the thread hop
# per dependency that FastAPI makes for sync ones (a study list is a few milliseconds of
# work; the hops cost as much again).


def _search_in_thread(
    request: Request, level: str, study_uid: str | None, series_uid: str | None
) -> Response:
    with request.app.state.home.db.read() as session:
        user = current_user(request, session)
        scope = resolve_scope(request, session, user)
        return search(request, session, scope, level, study_uid, series_uid)


async def _search(
    request: Request, level: str, study_uid: str | None = None, series_uid: str | None = None
) -> Response:
    return await run_in_threadpool(_search_in_thread, request, level, study_uid, series_uid)


@router.get("/studies")
async def search_studies(request: Request) -> Response:
    return await _search(request, "STUDY")


@router.get("/series")
async def search_series(request: Request) -> Response:
    return await _search(request, "SERIES")


@router.get("/instances")
async def search_instances(request: Request) -> Response:
    return await _search(request, "IMAGE")


@router.get("/studies/{study}/series")
async def search_study_series(study: str, request: Request) -> Response:
    return await _search(request, "SERIES", study)


@router.get("/studies/{study}/instances")
async def search_study_instances(study: str, request: Request) -> Response:
    return await _search(request, "IMAGE", study)


@router.get("/studies/{study}/series/{series}/instances")
async def search_series_instances(study: str, series: str, request: Request) -> Response:
    return await _search(request, "IMAGE", study, series)
