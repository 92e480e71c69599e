"""Projects and their hierarchy: subjects, studies, series, instances, files, versions.

Every read resolves the project and the caller's site limit together
(:func:`~vesalius.archive.access.readable_project`); what lies outside answers 404 like
what does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from vesalius.archive import browse, projects
from vesalius.archive.access import readable_project
from vesalius.core.auth.policy import project_for
from vesalius.web.deps import DB, CurrentUser

router = APIRouter(tags=["archive"])
Limit = Query(50, ge=1, le=browse.MAX_LIMIT)
Offset = Query(0, ge=0)


@router.get("/projects")
def list_projects(session: DB, user: CurrentUser) -> dict[str, Any]:
    items = [v.to_dict() for v in projects.list_projects(session, user=user)]
    return {"items": items, "total": len(items)}


@router.get("/projects/{key}")
def get_project(key: str, session: DB, user: CurrentUser) -> dict[str, Any]:
    project = project_for(session, user, key)  # the view's count obeys site limits
    view = next(v for v in projects.list_projects(session, user=user) if v.key == project.key)
    return view.to_dict()


@router.get("/projects/{key}/subjects")
def list_subjects(
    key: str,
    session: DB,
    user: CurrentUser,
    q: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    project, scope = readable_project(session, user=user, key=key)
    items, total = browse.list_subjects(
        session, project=project, scope=scope, q=q, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.get("/projects/{key}/studies")
def list_studies(
    key: str,
    session: DB,
    user: CurrentUser,
    modality: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    q: str | None = None,
    subject_id: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    """Studies, newest first; filters: modality, date_from/date_to, q (text), subject_id."""
    project, scope = readable_project(session, user=user, key=key)
    items, total = browse.list_studies(
        session,
        project=project,
        scope=scope,
        modality=modality,
        date_from=date_from,
        date_to=date_to,
        q=q,
        subject_id=subject_id,
        limit=limit,
        offset=offset,
    )
    return {"items": items, "total": total}


@router.get("/projects/{key}/studies/{study_uid}")
def get_study(key: str, study_uid: str, session: DB, user: CurrentUser) -> dict[str, Any]:
    project, scope = readable_project(session, user=user, key=key)
    study, subject = browse.get_study(session, project=project, scope=scope, study_uid=study_uid)
    return browse.study_item(study, subject)


@router.get("/projects/{key}/studies/{study_uid}/series")
def list_series(
    key: str,
    study_uid: str,
    session: DB,
    user: CurrentUser,
    limit: int = Query(100, ge=1, le=browse.MAX_LIMIT),
    offset: int = Offset,
) -> dict[str, Any]:
    project, scope = readable_project(session, user=user, key=key)
    items, total = browse.list_series(
        session, project=project, scope=scope, study_uid=study_uid, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.get("/projects/{key}/studies/{study_uid}/series/{series_uid}/instances")
def list_instances(
    key: str,
    study_uid: str,
    series_uid: str,
    session: DB,
    user: CurrentUser,
    limit: int = Query(500, ge=1, le=browse.MAX_LIMIT),
    offset: int = Offset,
) -> dict[str, Any]:
    project, scope = readable_project(session, user=user, key=key)
    items, total = browse.list_instances(
        session,
        project=project,
        scope=scope,
        study_uid=study_uid,
        series_uid=series_uid,
        limit=limit,
        offset=offset,
    )
    return {"items": items, "total": total}


@router.get("/projects/{key}/instances/{sop_uid}/versions")
def list_versions(key: str, sop_uid: str, session: DB, user: CurrentUser) -> dict[str, Any]:
    project, scope = readable_project(session, user=user, key=key)
    items = browse.list_versions(session, project=project, scope=scope, sop_uid=sop_uid)
    return {"items": items, "total": len(items)}


@router.get(
    "/projects/{key}/instances/{sop_uid}/file",
    responses={200: {"content": {"application/dicom": {}}}},
)
def get_file(
    key: str,
    sop_uid: str,
    request: Request,
    session: DB,
    user: CurrentUser,
    version: int | None = Query(None, ge=1),
) -> Response:
    """The stored object, byte for byte as received (latest version unless ``version``)."""
    project, scope = readable_project(session, user=user, key=key)
    blob_hash, number = browse.version_blob(
        session, project=project, scope=scope, sop_uid=sop_uid, version=version
    )
    data = request.app.state.home.store.get(blob_hash)
    return Response(
        data,
        media_type="application/dicom",
        headers={
            "Content-Disposition": f'attachment; filename="{sop_uid}.dcm"',
            "ETag": f'"{blob_hash}"',
            "X-Vesalius-Version": str(number),
        },
    )
