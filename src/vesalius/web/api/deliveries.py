"""Deliveries to a central project: which sites sent what, and when."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from vesalius.archive import deliveries
from vesalius.archive.access import readable_project
from vesalius.web.deps import DB, CurrentUser

router = APIRouter(tags=["deliveries"])


@router.get("/projects/{key}/sites")
def list_sites(key: str, session: DB, user: CurrentUser) -> dict[str, Any]:
    """Per sender site: studies, instances, first and last received, objects rejected by
    the central re-check with the reasons (``site`` null: sent without a site code)."""
    project, scope = readable_project(session, user=user, key=key)
    items = deliveries.site_summary(session, project=project, scope=scope)
    return {"items": items, "total": len(items)}


@router.get("/projects/{key}/sites/studies")
def list_site_studies(
    key: str,
    session: DB,
    user: CurrentUser,
    site: str | None = Query(None, description="One site code ('' for objects sent without)"),
    limit: int = Query(100, ge=1, le=deliveries.MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Instances received per study and sender site, by study UID."""
    project, scope = readable_project(session, user=user, key=key)
    items, total = deliveries.site_studies(
        session, project=project, scope=scope, site=site, limit=limit, offset=offset
    )
    return {"items": items, "total": total}
