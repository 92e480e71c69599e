"""Reading QC results for the CLI, the API and the web UI (access checked by the caller).

``scope`` is the reader's :class:`~vesalius.core.auth.policy.ReadScope`: with a site
limit, only the results of studies it may read; None is the operator (everything).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vesalius.core.auth.policy import ReadScope
from vesalius.core.errors import InvalidInput, NotFound
from vesalius.core.model import Project, Series, Study
from vesalius.studies.qc.base import STATUS_ORDER
from vesalius.studies.qc.model import SeriesQC

MAX_LIMIT = 1000


def _item(row: SeriesQC, series: Series | None) -> dict[str, Any]:
    return {
        "study_uid": row.study_uid,
        "series_uid": row.series_uid,
        "series_number": series.series_number if series is not None else None,
        "modality": series.modality if series is not None else "",
        "description": series.description if series is not None else "",
        "status": row.status,
        "instances": row.instances,
        "expected": row.expected,
        "protocol_version": row.protocol_version,
        "checks": row.checks,
        "findings": row.findings,
        "pixel_seconds": row.pixel_seconds,
        "checked_at": row.checked_at.isoformat(),
    }


def _within(query: Any, project: Project, scope: ReadScope | None) -> Any:
    """``query`` (over ``SeriesQC``) limited to the studies a site-limited scope may read."""
    if scope is None or not scope.limited(project.id):
        return query
    study = (Study.project_id == SeriesQC.project_id) & (Study.study_uid == SeriesQC.study_uid)
    return scope.apply(query.join(Study, study), Study.project_id, Study.subject_pk)


def _query(project: Project, scope: ReadScope | None) -> Any:
    return _within(
        select(SeriesQC, Series)
        .outerjoin(
            Series,
            (Series.project_id == SeriesQC.project_id) & (Series.series_uid == SeriesQC.series_uid),
        )
        .where(SeriesQC.project_id == project.id),
        project,
        scope,
    )


def list_qc(
    session: Session,
    *,
    project: Project,
    scope: ReadScope | None = None,
    status: str | None = None,
    study_uid: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Checked series, by study and series number; ``status`` filters (pass, warn, fail)."""
    if limit < 1 or limit > MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise InvalidInput("offset must not be negative")
    if status is not None and status not in STATUS_ORDER:
        raise InvalidInput(f"status must be one of {', '.join(STATUS_ORDER)}")
    query = _query(project, scope)
    if status:
        query = query.where(SeriesQC.status == status)
    if study_uid:
        query = query.where(SeriesQC.study_uid == study_uid)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(SeriesQC.study_uid, Series.series_number, SeriesQC.series_uid)
        .limit(limit)
        .offset(offset)
    ).all()
    return [_item(row, series) for row, series in rows], total


def study_qc(
    session: Session, *, project: Project, study_uid: str, scope: ReadScope | None = None
) -> dict[str, Any]:
    """One study's series results and its worst status (``unchecked`` before any)."""
    query = select(Study).where(Study.project_id == project.id, Study.study_uid == study_uid)
    if scope is not None:
        query = scope.apply(query, Study.project_id, Study.subject_pk)
    if session.scalar(query) is None:
        raise NotFound(f"no study {study_uid} in project {project.key!r}")
    items, _ = list_qc(session, project=project, scope=scope, study_uid=study_uid, limit=MAX_LIMIT)
    statuses = [i["status"] for i in items]
    status = max(statuses, key=lambda s: STATUS_ORDER.get(s, 0)) if statuses else "unchecked"
    return {"study_uid": study_uid, "status": status, "series": items}


def counts(session: Session, *, project: Project, scope: ReadScope | None = None) -> dict[str, int]:
    """Series per QC status in the project (in ``scope``)."""
    query = select(SeriesQC.status, func.count()).where(SeriesQC.project_id == project.id)
    rows = session.execute(_within(query, project, scope).group_by(SeriesQC.status)).all()
    return {status: n for status, n in rows}
