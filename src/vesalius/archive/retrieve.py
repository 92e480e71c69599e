"""Which stored objects a retrieve request (C-MOVE, C-GET) names.

A retrieve names objects by their unique keys (PS3.4 C.4.2.2.1): Patient ID at PATIENT
level, Study/Series/SOP Instance UIDs (each a backslash list) below it. Keys of levels
above the requested one narrow the match when present (relational retrieve); the key
of the requested level itself must be there. The answer is the latest version of each
object with the facts needed to send it as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core.errors import InvalidInput
from vesalius.core.model import Instance, Series, Study, Subject

LEVEL_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
MAX_MATCHES = 65535  # the sub-operation counters of a C-MOVE/C-GET response are US


@dataclass(frozen=True)
class StoredObject:
    sop_class_uid: str
    sop_uid: str
    transfer_syntax_uid: str
    blob_hash: str
    size: int


def _values(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split("\\") if v.strip()]


def objects_to_retrieve(
    session: Session, *, project_id: int, level: str, keys: dict[str, str]
) -> list[StoredObject]:
    """The objects of one project named by ``keys`` (keyword -> DICOM value) at ``level``."""
    level = level.strip().upper()
    if level not in LEVEL_KEYS:
        raise InvalidInput(f"retrieve level must be one of {', '.join(LEVEL_KEYS)}")
    own = _values(keys.get(LEVEL_KEYS[level]))
    if not own:
        raise InvalidInput(f"a {level} retrieve needs {LEVEL_KEYS[level]}")
    stmt = (
        select(
            Instance.sop_class_uid,
            Instance.sop_uid,
            Instance.transfer_syntax_uid,
            Instance.blob_hash,
            Instance.size,
        )
        .join(Series, Series.id == Instance.series_pk)
        .join(Study, Study.id == Series.study_pk)
        .join(Subject, Subject.id == Study.subject_pk)
        .where(Instance.project_id == project_id)
    )
    columns = {
        "PatientID": Subject.subject_id,
        "StudyInstanceUID": Study.study_uid,
        "SeriesInstanceUID": Series.series_uid,
        "SOPInstanceUID": Instance.sop_uid,
    }
    for keyword, column in columns.items():
        wanted = _values(keys.get(keyword))
        if wanted:
            stmt = stmt.where(column.in_(wanted))
        if keyword == LEVEL_KEYS[level]:
            break
    stmt = stmt.order_by(
        Study.id, Series.series_number, Series.id, Instance.instance_number, Instance.id
    )
    rows = session.execute(stmt.limit(MAX_MATCHES + 1)).all()
    if len(rows) > MAX_MATCHES:
        raise InvalidInput(f"a retrieve may name at most {MAX_MATCHES} objects")
    return [StoredObject(*row) for row in rows]
