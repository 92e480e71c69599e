"""Study management: protocol adherence per project and per study."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from vesalius.archive.access import readable_project
from vesalius.studies import protocols, results
from vesalius.web.deps import DB, CurrentUser

router = APIRouter(tags=["studies"])


@router.get("/projects/{key}/adherence")
def list_adherence(
    key: str,
    session: DB,
    user: CurrentUser,
    status: str | None = Query(None, description="ok, deviations or pending"),
    limit: int = Query(100, ge=1, le=results.MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Checked studies with their series results, the protocol version and the devices."""
    project, scope = readable_project(session, user=user, key=key)
    items, total = results.list_results(
        session, project=project, scope=scope, status=status, limit=limit, offset=offset
    )
    current = protocols.protocol_version(session, project=project)
    return {
        "items": items,
        "total": total,
        "protocol_version": current.version if current is not None else None,
        "devices": results.device_status(session, project=project),
    }


@router.get("/projects/{key}/studies/{study_uid}/adherence")
def study_adherence(key: str, study_uid: str, session: DB, user: CurrentUser) -> dict[str, Any]:
    """One study: visit, device, series matched and violated, missing series, flags."""
    project, scope = readable_project(session, user=user, key=key)
    return results.study_result(session, project=project, study_uid=study_uid, scope=scope)
