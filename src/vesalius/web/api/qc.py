"""Automated QC results per project and per study."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from vesalius.archive.access import readable_project
from vesalius.studies.qc import results
from vesalius.web.deps import DB, CurrentUser

router = APIRouter(tags=["studies"])


@router.get("/projects/{key}/qc")
def list_qc(
    key: str,
    session: DB,
    user: CurrentUser,
    status: str | None = Query(None, description="pass, warn, fail or error"),
    limit: int = Query(100, ge=1, le=results.MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Checked series with their findings (status, value, threshold, message)."""
    project, scope = readable_project(session, user=user, key=key)
    items, total = results.list_qc(
        session, project=project, scope=scope, status=status, limit=limit, offset=offset
    )
    return {
        "items": items,
        "total": total,
        "counts": results.counts(session, project=project, scope=scope),
    }


@router.get("/projects/{key}/studies/{study_uid}/qc")
def study_qc(key: str, study_uid: str, session: DB, user: CurrentUser) -> dict[str, Any]:
    """One study's series QC results and its worst status."""
    project, scope = readable_project(session, user=user, key=key)
    return results.study_qc(session, project=project, study_uid=study_uid, scope=scope)
