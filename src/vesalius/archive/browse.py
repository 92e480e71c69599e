"""Reading the index: subjects, studies, series, instances and versions of a project.

Lists answer ``(items, total)`` for the REST contract's ``{"items": [...], "total": N}``;
items use DICOM UIDs as identifiers. Access to the project is checked by the caller
(:func:`vesalius.archive.access.readable_project`), which also hands over the caller's
:class:`~vesalius.core.auth.policy.ReadScope`: every function here takes it (there is no
default, so that no reader forgets it) and answers rows outside it as not found, with
the same message as rows that do not exist, so that a site limit does not leak which
UIDs exist.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from vesalius.core.auth.policy import ReadScope
from vesalius.core.errors import InvalidInput, NotFound
from vesalius.core.model import Instance, InstanceVersion, Project, Series, Study, Subject

MAX_LIMIT = 1000
DATE = re.compile(r"^\d{8}$")


def _page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or limit > MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise InvalidInput("offset must not be negative")
    return limit, offset


def _total(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _escape(text: str) -> str:
    """Make user text literal inside a LIKE pattern (escape character ``!``)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _date(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    value = value.replace("-", "")
    if not DATE.match(value):
        raise InvalidInput(f"{name} must be a date as YYYYMMDD or YYYY-MM-DD")
    return value


def study_item(study: Study, subject: Subject) -> dict[str, Any]:
    return {
        "study_uid": study.study_uid,
        "subject_id": subject.subject_id,
        "patient_name": subject.patient_name,
        "study_date": study.study_date,
        "study_time": study.study_time,
        "description": study.description,
        "accession_number": study.accession_number,
        "modalities": [m for m in study.modalities.split(",") if m],
        "series_count": study.series_count,
        "instance_count": study.instance_count,
        "received_at": study.last_received_at.isoformat(),
        "stable": study.stable_at is not None,
    }


def _studies_in(scope: ReadScope, query: Select[Any]) -> Select[Any]:
    """``query`` (which reads ``Study``) limited to the studies ``scope`` may read."""
    return scope.apply(query, Study.project_id, Study.subject_pk)


def list_studies(
    session: Session,
    *,
    project: Project,
    scope: ReadScope,
    modality: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    q: str | None = None,
    subject_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    limit, offset = _page(limit, offset)
    query = _studies_in(
        scope,
        select(Study, Subject)
        .join(Subject, Subject.id == Study.subject_pk)
        .where(Study.project_id == project.id),
    )
    if modality:
        # modalities are stored as ",CT,MR,": match a whole code
        query = query.where(Study.modalities.like(f"%,{_escape(modality)},%", escape="!"))
    if (start := _date(date_from, "date_from")) is not None:
        query = query.where(Study.study_date >= start)
    if (end := _date(date_to, "date_to")) is not None:
        query = query.where(Study.study_date <= end, Study.study_date != "")
    if subject_id:
        query = query.where(Subject.subject_id == subject_id)
    if q:
        pattern = f"%{_escape(q.strip().lower())}%"
        query = query.where(
            or_(
                func.lower(Subject.patient_name).like(pattern, escape="!"),
                func.lower(Subject.subject_id).like(pattern, escape="!"),
                func.lower(Study.description).like(pattern, escape="!"),
                func.lower(Study.accession_number).like(pattern, escape="!"),
                Study.study_uid == q.strip(),
            )
        )
    total = _total(session, query)
    rows = session.execute(
        query.order_by(Study.study_date.desc(), Study.study_time.desc(), Study.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [study_item(study, subject) for study, subject in rows], total


def get_study(
    session: Session, *, project: Project, scope: ReadScope, study_uid: str
) -> tuple[Study, Subject]:
    row = session.execute(
        _studies_in(
            scope,
            select(Study, Subject)
            .join(Subject, Subject.id == Study.subject_pk)
            .where(Study.project_id == project.id, Study.study_uid == study_uid),
        )
    ).first()
    if row is None:
        raise NotFound("no such study in this project")
    return row[0], row[1]


def series_item(series: Series) -> dict[str, Any]:
    return {
        "series_uid": series.series_uid,
        "modality": series.modality,
        "series_number": series.series_number,
        "description": series.description,
        "body_part": series.body_part,
        "instance_count": series.instance_count,
        "stable": series.stable_at is not None,
    }


def list_series(
    session: Session,
    *,
    project: Project,
    scope: ReadScope,
    study_uid: str,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    limit, offset = _page(limit, offset)
    study, _ = get_study(session, project=project, scope=scope, study_uid=study_uid)
    query = select(Series).where(Series.study_pk == study.id, Series.instance_count > 0)
    total = _total(session, query)
    rows = session.scalars(
        query.order_by(Series.series_number.is_(None), Series.series_number, Series.id)
        .limit(limit)
        .offset(offset)
    )
    return [series_item(s) for s in rows], total


def get_series(session: Session, *, project: Project, scope: ReadScope, series_uid: str) -> Series:
    series = session.scalar(
        _studies_in(
            scope,
            select(Series)
            .join(Study, Study.id == Series.study_pk)
            .where(Series.project_id == project.id, Series.series_uid == series_uid),
        )
    )
    if series is None:
        raise NotFound("no such series in this project")
    return series


def instance_item(instance: Instance) -> dict[str, Any]:
    return {
        "sop_uid": instance.sop_uid,
        "sop_class_uid": instance.sop_class_uid,
        "instance_number": instance.instance_number,
        "transfer_syntax_uid": instance.transfer_syntax_uid,
        "size": instance.size,
        "version": instance.version,
        "digest": instance.digest,
        "received_at": instance.received_at.isoformat(),
    }


def list_instances(
    session: Session,
    *,
    project: Project,
    scope: ReadScope,
    study_uid: str,
    series_uid: str,
    limit: int = 500,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    limit, offset = _page(limit, offset)
    study, _ = get_study(session, project=project, scope=scope, study_uid=study_uid)
    series = get_series(session, project=project, scope=scope, series_uid=series_uid)
    if series.study_pk != study.id:
        raise NotFound("no such series in this study")
    query = select(Instance).where(Instance.series_pk == series.id)
    total = _total(session, query)
    rows = session.scalars(
        query.order_by(Instance.instance_number.is_(None), Instance.instance_number, Instance.id)
        .limit(limit)
        .offset(offset)
    )
    return [instance_item(i) for i in rows], total


def get_instance(session: Session, *, project: Project, scope: ReadScope, sop_uid: str) -> Instance:
    instance = session.scalar(
        _studies_in(
            scope,
            select(Instance)
            .join(Series, Series.id == Instance.series_pk)
            .join(Study, Study.id == Series.study_pk)
            .where(Instance.project_id == project.id, Instance.sop_uid == sop_uid),
        )
    )
    if instance is None:
        raise NotFound("no such instance in this project")
    return instance


def list_versions(
    session: Session, *, project: Project, scope: ReadScope, sop_uid: str
) -> list[dict[str, Any]]:
    instance = get_instance(session, project=project, scope=scope, sop_uid=sop_uid)
    rows = session.scalars(
        select(InstanceVersion)
        .where(InstanceVersion.instance_pk == instance.id)
        .order_by(InstanceVersion.version)
    )
    return [
        {
            "version": v.version,
            "digest": v.digest,
            "size": v.size,
            "series_uid": v.series_uid,
            "transfer_syntax_uid": v.transfer_syntax_uid,
            "source": v.source,
            "received_at": v.received_at.isoformat(),
            "latest": v.version == instance.version,
        }
        for v in rows
    ]


def version_blob(
    session: Session,
    *,
    project: Project,
    scope: ReadScope,
    sop_uid: str,
    version: int | None = None,
) -> tuple[str, int]:
    """Blob hash and version number of the latest (or the given) version of an object."""
    instance = get_instance(session, project=project, scope=scope, sop_uid=sop_uid)
    if version is None:
        return instance.blob_hash, instance.version
    blob = session.scalar(
        select(InstanceVersion.blob_hash).where(
            InstanceVersion.instance_pk == instance.id, InstanceVersion.version == version
        )
    )
    if blob is None:
        raise NotFound(f"this instance has no version {version}")
    return blob, version


def middle_instance_blob(
    session: Session, *, project: Project, scope: ReadScope, series_uid: str
) -> str | None:
    """Blob of the series' middle instance by instance number (None for an empty series).

    The middle slice shows anatomy; the first of a volume is often just its edge.
    """
    series = get_series(session, project=project, scope=scope, series_uid=series_uid)
    order = (Instance.instance_number.is_(None), Instance.instance_number, Instance.id)
    query = select(Instance.blob_hash).where(Instance.series_pk == series.id)
    total = _total(session, query)
    if total == 0:
        return None
    return session.scalar(query.order_by(*order).limit(1).offset(total // 2))


def list_subjects(
    session: Session,
    *,
    project: Project,
    scope: ReadScope,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    limit, offset = _page(limit, offset)
    query = scope.apply(
        select(Subject).where(Subject.project_id == project.id), Subject.project_id, Subject.id
    )
    if q:
        pattern = f"%{_escape(q.strip().lower())}%"
        query = query.where(
            or_(
                func.lower(Subject.subject_id).like(pattern, escape="!"),
                func.lower(Subject.patient_name).like(pattern, escape="!"),
            )
        )
    total = _total(session, query)
    counts = (
        select(Study.subject_pk, func.count(Study.id).label("n"))
        .where(Study.project_id == project.id)
        .group_by(Study.subject_pk)
        .subquery()
    )
    rows = session.execute(
        select(Subject, counts.c.n)
        .outerjoin(counts, counts.c.subject_pk == Subject.id)
        .where(Subject.id.in_(query.with_only_columns(Subject.id)))
        .order_by(Subject.subject_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        {
            "subject_id": s.subject_id,
            "patient_name": s.patient_name,
            "birth_date": s.birth_date,
            "sex": s.sex,
            "study_count": n or 0,
        }
        for s, n in rows
    ], total
