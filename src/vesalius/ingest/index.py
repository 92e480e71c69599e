"""The index stage: subject, study, series, instance and version rows for one object.

Runs inside the caller's transaction and never commits. Identity and versions follow
DESIGN.md: an object is its SOP Instance UID within a project; a digest equal to any
stored version is a duplicate (nothing changes, no event); a new digest becomes the
next version and the instance row points at it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from vesalius.core import events
from vesalius.core.dicom.parse import ParsedObject
from vesalius.core.model import Instance, InstanceVersion, Project, Series, Study, Subject
from vesalius.ingest.context import Outcome

Row = TypeVar("Row", Subject, Study, Series)
_ROWS = "vesalius.index.rows"  # session.info key of the rows _get_or_create remembers


@event.listens_for(Session, "after_transaction_end")
def _forget_rows(session: Session, transaction: SessionTransaction) -> None:
    """Remembered rows last one transaction: another may have changed them since."""
    if transaction.parent is None:
        session.info.pop(_ROWS, None)


def _get_or_create(
    session: Session, model: type[Row], match: dict[str, Any], values: dict[str, Any]
) -> tuple[Row, bool]:
    """Find a row by its unique key or insert it; a concurrent insert wins gracefully.

    A batch indexes many objects of one subject, study and series in one session, so
    rows found or made are remembered in ``session.info`` and their query is not run
    again. A remembered row is used only while it is still in the session: one whose
    savepoint was rolled back (an object quarantined mid-batch) is looked up afresh.
    """
    remembered: dict[tuple[Any, ...], Any] = session.info.setdefault(_ROWS, {})
    key = (model, *sorted(match.items()))
    row = remembered.get(key)
    if row is not None and row in session:
        return row, False
    query = select(model).filter_by(**match)
    row = session.scalar(query)
    if row is not None:
        remembered[key] = row
        return row, False
    try:
        with session.begin_nested():
            row = model(**match, **values)
            session.add(row)
    except IntegrityError:  # another node inserted the same key meanwhile
        row = session.scalar(query)
        assert row is not None
        remembered[key] = row
        return row, False
    remembered[key] = row
    return row, True


def _fill(row: Any, values: dict[str, Any]) -> None:
    """Take newer non-empty header values (a corrected object updates the lists)."""
    for name, value in values.items():
        if value not in (None, "") and getattr(row, name) != value:
            setattr(row, name, value)


def index_object(
    session: Session,
    *,
    project: Project,
    parsed: ParsedObject,
    source: str,
    now: dt.datetime,
    actor: str = "",
    site: str | None = None,
) -> Outcome:
    f = parsed.fields
    instance = session.scalar(
        select(Instance).where(
            Instance.project_id == project.id, Instance.sop_uid == parsed.sop_uid
        )
    )
    if instance is not None:
        known = session.scalar(
            select(InstanceVersion.id)
            .where(InstanceVersion.instance_pk == instance.id)
            .where(InstanceVersion.digest == parsed.digest)
            .limit(1)
        )
        if known is not None:
            return Outcome.DUPLICATE

    subject_values = {
        "patient_name": f["patient_name"],
        "birth_date": f["birth_date"],
        "sex": f["sex"],
    }
    subject, created = _get_or_create(
        session, Subject, {"project_id": project.id, "subject_id": f["patient_id"]}, subject_values
    )
    if not created:
        _fill(subject, subject_values)

    study_values = {
        "study_date": f["study_date"],
        "study_time": f["study_time"],
        "description": f["study_description"],
        "accession_number": f["accession_number"],
        "study_id": f["study_id"],
        "referring_physician": f["referring_physician"],
    }
    study, created = _get_or_create(
        session,
        Study,
        {"project_id": project.id, "study_uid": parsed.study_uid},
        {**study_values, "subject_pk": subject.id, "created_at": now, "last_received_at": now},
    )
    if not created:
        _fill(study, study_values)

    series_values = {
        "modality": f["modality"],
        "series_number": f["series_number"],
        "description": f["series_description"],
        "body_part": f["body_part"],
        "performed_start_date": f["performed_start_date"],
        "performed_start_time": f["performed_start_time"],
    }
    series, created = _get_or_create(
        session,
        Series,
        {"project_id": project.id, "series_uid": parsed.series_uid},
        {**series_values, "study_pk": study.id, "created_at": now, "last_received_at": now},
    )
    if created:
        study.series_count += 1
    else:
        _fill(series, series_values)
    _add_modality(study, series.modality)

    if instance is None:
        instance = Instance(
            project_id=project.id,
            sop_uid=parsed.sop_uid,
            series_pk=series.id,
            version=1,
            received_at=now,
        )
        session.add(instance)
        series.instance_count += 1
        study.instance_count += 1
        outcome = Outcome.STORED
    else:
        instance.version += 1
        if instance.series_pk != series.id:
            _move(session, instance, series, study)
        outcome = Outcome.NEW_VERSION
    instance.sop_class_uid = parsed.sop_class_uid
    instance.instance_number = f["instance_number"]
    instance.transfer_syntax_uid = parsed.transfer_syntax_uid
    instance.blob_hash = parsed.blob_hash
    instance.digest = parsed.digest
    instance.size = parsed.size
    instance.dicom_json = parsed.dicom_json
    instance.received_at = now
    session.flush()
    session.add(
        InstanceVersion(
            instance_pk=instance.id,
            version=instance.version,
            digest=parsed.digest,
            blob_hash=parsed.blob_hash,
            size=parsed.size,
            transfer_syntax_uid=parsed.transfer_syntax_uid,
            series_uid=parsed.series_uid,
            source=source,
            actor=actor[:128],
            site_code=site,
            received_at=now,
        )
    )

    # A new object re-opens its series and study (event contract in DESIGN.md).
    series.last_received_at = study.last_received_at = now
    series.stable_at = study.stable_at = None
    events.publish(
        session,
        events.INSTANCE_STORED,
        {
            "project": project.key,
            "study_uid": parsed.study_uid,
            "series_uid": parsed.series_uid,
            "sop_uid": parsed.sop_uid,
            "version": instance.version,
            "digest": parsed.digest,
            "source": source,
        },
        project_id=project.id,
    )
    return outcome


def _add_modality(study: Study, modality: str) -> None:
    """Keep ``study.modalities`` as ``,CT,MR,`` so that one LIKE finds a whole code."""
    if not modality:
        return
    present = set(filter(None, study.modalities.split(",")))
    if modality not in present:
        study.modalities = "," + ",".join(sorted(present | {modality})) + ","


def _move(session: Session, instance: Instance, series: Series, study: Study) -> None:
    """A new version that names another series moves the object; counts follow."""
    old_series = session.get(Series, instance.series_pk)
    assert old_series is not None
    old_series.instance_count -= 1
    old_study = session.get(Study, old_series.study_pk)
    assert old_study is not None
    old_study.instance_count -= 1
    instance.series_pk = series.id
    series.instance_count += 1
    study.instance_count += 1
