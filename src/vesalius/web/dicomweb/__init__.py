"""DICOMweb (PS3.18) under /dicom-web: QIDO-RS, WADO-RS and STOW-RS.

``/dicom-web/...`` serves every project the caller may read; the same resources under
``/dicom-web/projects/{key}/...`` serve one project, which is also the STOW-RS target.
Modules: :mod:`.qido` (search), :mod:`.wado` (instances, metadata, bulk data),
:mod:`.frames` (frames, rendered), :mod:`.stow` (store), :mod:`.media` (Accept and
multipart), :mod:`.pixels` (frames and transfer syntaxes), :mod:`.render` (images),
:mod:`.scope` (projects of a request, UID lookups).

Every path answers methods it does not serve with 405 and an ``Allow`` header
(GET routes do not answer HEAD).
"""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from vesalius.web.dicomweb import frames, qido, stow, wado
from vesalius.web.dicomweb.scope import PREFIX

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


READ_MODULES = (qido, wado, frames)
PROJECT = "/projects/{key}"


def _methods_by_path() -> dict[str, set[str]]:
    """Relative path -> methods served, for every path of the service."""
    allowed: dict[str, set[str]] = defaultdict(set)
    for module in READ_MODULES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for prefix in ("", PROJECT):
                allowed[prefix + route.path] |= set(route.methods)
    for route in stow.router.routes:
        assert isinstance(route, APIRoute)
        allowed[route.path] |= set(route.methods)
    return allowed


def _refuser(allow: str):  # type: ignore[no-untyped-def]
    def refuse() -> None:
        raise HTTPException(405, f"this resource allows {allow}", headers={"Allow": allow})

    return refuse


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["dicomweb"])
    for module in READ_MODULES:
        router.include_router(module.router)
        router.include_router(module.router, prefix=PROJECT)
    router.include_router(stow.router)
    # last: a route per path that answers the methods it does not serve with 405
    for path, methods in _methods_by_path().items():
        allow = ", ".join(m for m in METHODS if m in methods)
        others = [m for m in METHODS if m not in methods]
        router.add_api_route(path, _refuser(allow), methods=others, include_in_schema=False)
    return router


router = build_router()
