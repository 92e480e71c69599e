"""Reading adherence results: per study (with its series) and the device inventory status.

Access is checked by the caller (``project_for``) before these run; ``scope`` is the
reader's :class:`~vesalius.core.auth.policy.ReadScope` (with a site limit, only studies it
may read; None is the operator, everything). Items use DICOM UIDs as identifiers; lists
answer ``(items, total)`` for the REST contract.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from vesalius.core.auth.policy import ReadScope
from vesalius.core.errors import InvalidInput, NotFound
from vesalius.core.model import Project, Series, Study, Subject
from vesalius.studies import protocols
from vesalius.studies.model import SeriesAdherence, StudyAdherence

MAX_LIMIT = 1000


def _series_items(
    session: Session, project: Project, study_uids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    rows = session.execute(
        select(SeriesAdherence, Series)
        .outerjoin(
            Series,
            (Series.project_id == SeriesAdherence.project_id)
            & (Series.series_uid == SeriesAdherence.series_uid),
        )
        .where(SeriesAdherence.project_id == project.id)
        .where(SeriesAdherence.study_uid.in_(study_uids))
        .order_by(Series.series_number, SeriesAdherence.series_uid)
    ).all()
    out: dict[str, list[dict[str, Any]]] = {}
    for result, series in rows:
        out.setdefault(result.study_uid, []).append(
            {
                "series_uid": result.series_uid,
                "series_number": series.series_number if series is not None else None,
                "modality": series.modality if series is not None else "",
                "description": series.description if series is not None else "",
                "instances": series.instance_count if series is not None else 0,
                "visit": result.visit,
                "expected": result.expected,
                "status": result.status,
                "violations": result.violations,
                "device": result.device,
                "software_version": result.device_header.get("software_versions", ""),
                "protocol_version": result.protocol_version,
                "checked_at": result.checked_at.isoformat(),
            }
        )
    return out


def _study_item(
    study: Study,
    subject: Subject,
    result: StudyAdherence | None,
    series: list[dict[str, Any]],
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "study_uid": study.study_uid,
        "subject_id": subject.subject_id,
        "study_date": study.study_date,
        "description": study.description,
        "stable": study.stable_at is not None,
    }
    if result is None:  # series checked, the study not (yet) stable
        item.update(
            status="pending",
            visit=series[0]["visit"] if series else None,
            device=None,
            software_version="",
            qualification=False,
            qualifies=False,
            missing=[],
            flags=[],
            protocol_version=series[0]["protocol_version"] if series else None,
        )
    else:
        item.update(
            status=result.status,
            visit=result.visit,
            device=result.device,
            software_version=result.software_version,
            qualification=result.qualification,
            qualifies=result.qualifies,
            missing=result.missing,
            flags=result.flags,
            protocol_version=result.protocol_version,
            checked_at=result.checked_at.isoformat(),
        )
    item["series"] = series
    item["violations"] = sum(len(s["violations"]) for s in series)
    item["unexpected"] = [s["series_uid"] for s in series if s["status"] == "unexpected"]
    return item


def _checked(project: Project) -> Any:
    series_checked = select(SeriesAdherence.study_uid).where(
        SeriesAdherence.project_id == project.id
    )
    study_checked = select(StudyAdherence.study_uid).where(StudyAdherence.project_id == project.id)
    return or_(Study.study_uid.in_(series_checked), Study.study_uid.in_(study_checked))


def list_results(
    session: Session,
    *,
    project: Project,
    scope: ReadScope | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Checked studies (oldest first) with their series results."""
    if limit < 1 or limit > MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise InvalidInput("offset must not be negative")
    query = (
        select(Study, Subject, StudyAdherence)
        .join(Subject, Subject.id == Study.subject_pk)
        .outerjoin(
            StudyAdherence,
            (StudyAdherence.project_id == Study.project_id)
            & (StudyAdherence.study_uid == Study.study_uid),
        )
        .where(Study.project_id == project.id)
        .where(_checked(project))
    )
    if scope is not None:
        query = scope.apply(query, Study.project_id, Study.subject_pk)
    if status == "pending":
        query = query.where(StudyAdherence.id.is_(None))
    elif status:
        query = query.where(StudyAdherence.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Study.study_date, Study.study_uid).limit(limit).offset(offset)
    ).all()
    series = _series_items(session, project, [r[0].study_uid for r in rows])
    items = [_study_item(s, subj, res, series.get(s.study_uid, [])) for s, subj, res in rows]
    return items, total


def study_result(
    session: Session, *, project: Project, study_uid: str, scope: ReadScope | None = None
) -> dict[str, Any]:
    """One study's result; ``status`` is ``unchecked`` before anything was checked."""
    query = (
        select(Study, Subject, StudyAdherence)
        .join(Subject, Subject.id == Study.subject_pk)
        .outerjoin(
            StudyAdherence,
            (StudyAdherence.project_id == Study.project_id)
            & (StudyAdherence.study_uid == Study.study_uid),
        )
        .where(Study.project_id == project.id, Study.study_uid == study_uid)
    )
    if scope is not None:
        query = scope.apply(query, Study.project_id, Study.subject_pk)
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"no study {study_uid} in project {project.key!r}")
    study, subject, result = row
    series = _series_items(session, project, [study_uid]).get(study_uid, [])
    item = _study_item(study, subject, result, series)
    if result is None and not series:
        item["status"] = "unchecked"
    return item


def device_status(session: Session, *, project: Project) -> list[dict[str, Any]]:
    """The inventory of the latest protocol, each device with its qualification."""
    current = protocols.protocol_version(session, project=project)
    if current is None:
        return []
    passed: dict[str, StudyAdherence] = {}
    for row in session.scalars(
        select(StudyAdherence)
        .where(StudyAdherence.project_id == project.id, StudyAdherence.qualifies.is_(True))
        .order_by(StudyAdherence.study_date, StudyAdherence.study_uid)
    ):
        if row.device is not None:
            passed.setdefault(row.device, row)
    items = []
    for device in current.protocol.devices:
        scan = passed.get(device.key)
        items.append(
            {
                "key": device.key,
                "site": device.site,
                "manufacturer": device.manufacturer.glob or device.manufacturer.regex,
                "model": device.model.glob or device.model.regex,
                "software_versions": device.software_versions,
                "field_strength": device.field_strength,
                "qualified": device.qualified or scan is not None,
                "qualified_by": "inventory"
                if device.qualified
                else (scan.study_uid if scan is not None else None),
                "qualified_on": scan.study_date if scan is not None else None,
            }
        )
    return items


def summary(
    session: Session, *, project: Project, limit: int = MAX_LIMIT, offset: int = 0
) -> dict[str, Any]:
    """The whole picture for ``vesalius adherence``: protocol, devices and studies."""
    current = protocols.protocol_version(session, project=project)
    items, total = list_results(session, project=project, limit=limit, offset=offset)
    return {
        "project": project.key,
        "protocol_version": current.version if current is not None else None,
        "devices": device_status(session, project=project),
        "items": items,
        "total": total,
    }
