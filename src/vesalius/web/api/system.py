"""Health and the quarantine."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import text

from vesalius import __version__
from vesalius.core.auth.policy import (
    MANAGE_ROLES,
    readable_project_ids,
    roles_in,
    site_limits,
)
from vesalius.ingest import quarantine
from vesalius.web.deps import DB, CurrentUser

router = APIRouter(tags=["system"])


@router.get("/health")
def health(session: DB) -> dict[str, Any]:
    """Liveness and database reachability; needs no token."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}


@router.get("/quarantine")
def list_quarantine(
    session: DB,
    user: CurrentUser,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Quarantined objects: all for admins, else those of projects the caller curates
    (where all their roles are limited to sites, those their sites' gateways sent)."""
    project_ids = readable_project_ids(session, user)
    limits = None
    if project_ids is not None:
        project_ids = [p for p in project_ids if roles_in(session, user, p) & MANAGE_ROLES]
        limits = site_limits(session, user, project_ids)
    items, total = quarantine.list_items(
        session, project_ids=project_ids, site_limits=limits, limit=limit, offset=offset
    )
    return {"items": [i.to_dict() for i in items], "total": total}
