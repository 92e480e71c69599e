"""Attribute matching over the index: the one query engine behind C-FIND and QIDO-RS.

Matching follows PS3.4 C.2.2.2 as far as the index holds the attribute in a column:
single values, ``*``/``?`` wildcards, ``A-B``/``-B``/``A-`` ranges for dates and times,
backslash-separated lists (UID lists, several codes), empty values as return keys,
person names case-insensitively (and, with ``fuzzy``, by the start of any name
component). Attributes the index has no column for are returned (from the stored DICOM
JSON) but not matched; :func:`unsupported_keys` names them so QIDO can warn.

Results are DICOM JSON (PS3.18 F.2) per match, keyed by tag; a SERIES or IMAGE query
that is not scoped to one study also carries the study's attributes (PS3.18 10.6.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from vesalius.core.errors import InvalidInput
from vesalius.core.model import Instance, Series, Study, Subject

Level = Literal["PATIENT", "STUDY", "SERIES", "IMAGE"]
LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")

# keyword -> (column, kind); kind decides how a match string is read
PATIENT_KEYS: dict[str, tuple[Any, str]] = {
    "PatientName": (Subject.patient_name, "pn"),
    "PatientID": (Subject.subject_id, "str"),
    "PatientBirthDate": (Subject.birth_date, "date"),
    "PatientSex": (Subject.sex, "str"),
}
STUDY_KEYS: dict[str, tuple[Any, str]] = {
    "StudyInstanceUID": (Study.study_uid, "uid"),
    "StudyDate": (Study.study_date, "date"),
    "StudyTime": (Study.study_time, "time"),
    "AccessionNumber": (Study.accession_number, "str"),
    "StudyID": (Study.study_id, "str"),
    "StudyDescription": (Study.description, "str"),
    "ReferringPhysicianName": (Study.referring_physician, "pn"),
    "ModalitiesInStudy": (Study.modalities, "modalities"),
}
SERIES_KEYS: dict[str, tuple[Any, str]] = {
    "SeriesInstanceUID": (Series.series_uid, "uid"),
    "Modality": (Series.modality, "codes"),
    "SeriesNumber": (Series.series_number, "int"),
    "SeriesDescription": (Series.description, "str"),
    "BodyPartExamined": (Series.body_part, "str"),
    "PerformedProcedureStepStartDate": (Series.performed_start_date, "date"),
    "PerformedProcedureStepStartTime": (Series.performed_start_time, "time"),
}
INSTANCE_KEYS: dict[str, tuple[Any, str]] = {
    "SOPInstanceUID": (Instance.sop_uid, "uid"),
    "SOPClassUID": (Instance.sop_class_uid, "uid"),
    "InstanceNumber": (Instance.instance_number, "int"),
}
COUNT_KEYS = {
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "NumberOfSeriesRelatedInstances",
    "NumberOfPatientRelatedStudies",
    "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances",
}
IGNORED_KEYS = {
    "QueryRetrieveLevel",
    "SpecificCharacterSet",
    "InstanceAvailability",
    "RetrieveAETitle",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
}

# PS3.18 Tables 10.6.3-3/4/5: what a search returns without includefield
STUDY_DEFAULTS = [
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
]
SERIES_DEFAULTS = [
    "Modality",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
]
INSTANCE_DEFAULTS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
]
PATIENT_DEFAULTS = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "NumberOfPatientRelatedStudies",
]
# attributes of the patient and study modules, returned by includefield=all at study level
STUDY_LEVEL_EXTRA = [
    "IssuerOfPatientID",
    "OtherPatientIDs",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "EthnicGroup",
    "PatientComments",
    "AdmittingDiagnosesDescription",
    "StudyComments",
    "NameOfPhysiciansReadingStudy",
    "InstitutionName",
    "TimezoneOffsetFromUTC",
]
SERIES_LEVEL_EXTRA = [
    "SeriesDate",
    "SeriesTime",
    "Laterality",
    "ProtocolName",
    "OperatorsName",
    "PerformingPhysicianName",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "BodyPartExamined",
    "PatientPosition",
    "FrameOfReferenceUID",
]


@dataclass(frozen=True)
class Query:
    level: Level
    filters: dict[str, str] = field(default_factory=dict)
    study_uid: str | None = None
    series_uid: str | None = None
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0
    return_keys: list[str] | None = None
    include_all: bool = False


def _keys_for(level: str) -> dict[str, tuple[Any, str]]:
    keys = dict(PATIENT_KEYS)
    if level in ("STUDY", "SERIES", "IMAGE"):
        keys |= STUDY_KEYS
    if level in ("SERIES", "IMAGE"):
        keys |= SERIES_KEYS
    if level == "IMAGE":
        keys |= INSTANCE_KEYS
    return keys


def unsupported_keys(level: str, filters: dict[str, str]) -> list[str]:
    """Keywords with a non-empty value that this level cannot match on (they are ignored)."""
    keys = _keys_for(level)
    return sorted(
        k
        for k, v in filters.items()
        if v not in ("", None) and k not in keys and k not in IGNORED_KEYS
    )


def _like(value: str) -> str:
    escaped = value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return escaped.replace("*", "%").replace("?", "_")


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _condition(
    keyword: str, column: Any, kind: str, value: str, fuzzy: bool
) -> ColumnElement[bool] | None:
    value = value.strip()
    if value in ("", "*"):
        return None  # universal match: a return key
    if kind == "uid":
        uids = [v.strip() for v in value.split("\\") if v.strip()]
        return column.in_(uids)
    if kind in ("date", "time"):
        if "-" in value:
            low, _, high = value.partition("-")
            parts: list[ColumnElement[bool]] = [column != ""]
            if low:
                parts.append(column >= low.strip())
            if high:
                # a bare date or time as upper bound includes the whole day / period
                parts.append(column <= high.strip() + ("" if kind == "date" else "\uffff"))
            return and_(*parts)
        if kind == "time":
            return column.like(_like(value.rstrip("*")) + "%", escape="!")
        return _text_condition(column, value)
    if kind == "int":
        try:
            return column.in_([int(v) for v in value.split("\\")])
        except ValueError as exc:
            raise InvalidInput(f"{keyword} must be an integer") from exc
    if kind == "modalities":
        codes = [c for c in value.split("\\") if c]
        return or_(*(column.like(f"%,{_like(c)},%", escape="!") for c in codes))
    if kind == "codes" and "\\" in value:
        return or_(*(_text_condition(column, v) for v in value.split("\\") if v))
    if kind == "pn":
        return _name_condition(column, value, fuzzy)
    return _text_condition(column, value)


def _text_condition(column: Any, value: str) -> ColumnElement[bool]:
    if _has_wildcard(value):
        return func.lower(column).like(_like(value.lower()), escape="!")
    return column == value


def _name_condition(column: Any, value: str, fuzzy: bool) -> ColumnElement[bool]:
    """Person names match case-insensitively; fuzzy: any component starting with it."""
    lowered = func.lower(column)
    pattern = _like(value.lower())
    if fuzzy and not _has_wildcard(value):
        return or_(
            lowered.like(pattern + "%", escape="!"),
            lowered.like("%^" + pattern + "%", escape="!"),
            lowered.like("% " + pattern + "%", escape="!"),
        )
    if _has_wildcard(value):
        return lowered.like(pattern, escape="!")
    return lowered == value.lower()


def _apply_filters(stmt: Select[Any], query: Query) -> Select[Any]:
    keys = _keys_for(query.level)
    for keyword, value in query.filters.items():
        if keyword not in keys or value is None:
            continue
        column, kind = keys[keyword]
        condition = _condition(keyword, column, kind, str(value), query.fuzzy)
        if condition is not None:
            stmt = stmt.where(condition)
    return stmt


def _element(keyword: str, value: Any) -> tuple[str, dict[str, Any]]:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    vr = dictionary_VR(tag)
    element: dict[str, Any] = {"vr": vr}
    if value not in (None, "", []):
        values = value if isinstance(value, list) else [value]
        if vr == "PN":
            element["Value"] = [{"Alphabetic": str(v)} for v in values]
        elif vr in ("IS", "US", "UL", "SL", "SS"):
            element["Value"] = [int(v) for v in values]
        else:
            element["Value"] = [str(v) for v in values]
    return f"{tag:08X}", element


def _from_json(source: dict[str, Any] | None, keyword: str) -> tuple[str, dict[str, Any]] | None:
    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    key = f"{tag:08X}"
    if source and key in source:
        return key, source[key]
    return None


def _to_keyword(key: str) -> str:
    """Accept keywords or 8-hex-digit tags (QIDO allows both)."""
    if len(key) == 8 and all(c in "0123456789abcdefABCDEF" for c in key):
        return keyword_for_tag(int(key, 16)) or key
    return key


class _Builder:
    """Builds one result's DICOM JSON from index rows and, when needed, stored JSON."""

    def __init__(self, session: Session, query: Query) -> None:
        self.session = session
        self.query = query
        wanted = [_to_keyword(k) for k in (query.return_keys or [])]
        wanted += [k for k, v in query.filters.items() if k not in IGNORED_KEYS]
        self.wanted = list(dict.fromkeys(wanted))

    def representative(
        self, *, study_id: int | None = None, series_id: int | None = None
    ) -> dict[str, Any] | None:
        stmt = select(Instance.dicom_json)
        if series_id is not None:
            stmt = stmt.where(Instance.series_pk == series_id)
        else:
            stmt = stmt.join(Series, Series.id == Instance.series_pk).where(
                Series.study_pk == study_id
            )
        return self.session.scalar(stmt.order_by(Instance.id).limit(1))

    def patient(self, subject: Subject) -> dict[str, Any]:
        return dict(
            [
                _element("PatientName", subject.patient_name),
                _element("PatientID", subject.subject_id),
                _element("PatientBirthDate", subject.birth_date),
                _element("PatientSex", subject.sex),
            ]
        )

    def study(self, study: Study, subject: Subject) -> dict[str, Any]:
        out = self.patient(subject)
        out.update(
            [
                _element("StudyInstanceUID", study.study_uid),
                _element("StudyDate", study.study_date),
                _element("StudyTime", study.study_time),
                _element("AccessionNumber", study.accession_number),
                _element("StudyID", study.study_id),
                _element("StudyDescription", study.description),
                _element("ReferringPhysicianName", study.referring_physician),
                _element("ModalitiesInStudy", [m for m in study.modalities.split(",") if m]),
                _element("NumberOfStudyRelatedSeries", study.series_count),
                _element("NumberOfStudyRelatedInstances", study.instance_count),
                _element("InstanceAvailability", "ONLINE"),
            ]
        )
        return out

    def series(self, series: Series) -> dict[str, Any]:
        return dict(
            [
                _element("SeriesInstanceUID", series.series_uid),
                _element("Modality", series.modality),
                _element("SeriesNumber", series.series_number),
                _element("SeriesDescription", series.description),
                _element("BodyPartExamined", series.body_part),
                _element("PerformedProcedureStepStartDate", series.performed_start_date),
                _element("PerformedProcedureStepStartTime", series.performed_start_time),
                _element("NumberOfSeriesRelatedInstances", series.instance_count),
            ]
        )

    def fill(self, out: dict[str, Any], extra: Iterable[str], source_fn: Any) -> dict[str, Any]:
        """Add wanted attributes the columns do not hold, from a stored object's JSON."""
        missing = [
            k for k in extra if (t := tag_for_keyword(k)) is not None and f"{t:08X}" not in out
        ]
        if not missing:
            return out
        source = source_fn()
        for keyword in missing:
            found = _from_json(source, keyword)
            if found is not None:
                out[found[0]] = found[1]
            elif keyword in self.wanted and tag_for_keyword(keyword) is not None:
                key, element = _element(keyword, None)
                out[key] = element
        return out


def _scope(stmt: Select[Any], project_ids: list[int] | None, column: Any) -> Select[Any]:
    return stmt if project_ids is None else stmt.where(column.in_(project_ids))


def _page(stmt: Select[Any], query: Query) -> Select[Any]:
    if query.offset:
        stmt = stmt.offset(query.offset)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


def search(
    session: Session, *, project_ids: list[int] | None, query: Query
) -> list[dict[str, Any]]:
    """Matches of ``query`` in the given projects (None: all), as DICOM JSON."""
    if query.level not in LEVELS:
        raise InvalidInput(f"query level must be one of {', '.join(LEVELS)}")
    if (query.limit is not None and query.limit < 0) or query.offset < 0:
        raise InvalidInput("limit and offset must not be negative")
    builder = _Builder(session, query)
    match query.level:
        case "PATIENT":
            return _patients(session, project_ids, query, builder)
        case "STUDY":
            return _studies(session, project_ids, query, builder)
        case "SERIES":
            return _series(session, project_ids, query, builder)
        case _:
            return _instances(session, project_ids, query, builder)


def _patients(
    session: Session, project_ids: list[int] | None, query: Query, builder: _Builder
) -> list[dict[str, Any]]:
    stmt = _scope(select(Subject), project_ids, Subject.project_id)
    stmt = _page(_apply_filters(stmt, query).order_by(Subject.id), query)
    out = []
    for subject in session.scalars(stmt):
        result = builder.patient(subject)
        counts = session.execute(
            select(
                func.count(Study.id),
                func.coalesce(func.sum(Study.series_count), 0),
                func.coalesce(func.sum(Study.instance_count), 0),
            ).where(Study.subject_pk == subject.id)
        ).one()
        result.update(
            [
                _element("NumberOfPatientRelatedStudies", counts[0]),
                _element("NumberOfPatientRelatedSeries", counts[1]),
                _element("NumberOfPatientRelatedInstances", counts[2]),
            ]
        )
        out.append(result)
    return out


def _study_stmt(project_ids: list[int] | None, query: Query) -> Select[Any]:
    stmt = select(Study, Subject).join(Subject, Subject.id == Study.subject_pk)
    stmt = _scope(stmt, project_ids, Study.project_id)
    if query.study_uid:
        stmt = stmt.where(Study.study_uid == query.study_uid)
    return _apply_filters(stmt, query)


def _studies(
    session: Session, project_ids: list[int] | None, query: Query, builder: _Builder
) -> list[dict[str, Any]]:
    stmt = _page(
        _study_stmt(project_ids, query).where(Study.instance_count > 0).order_by(Study.id.desc()),
        query,
    )
    extra = builder.wanted + (STUDY_LEVEL_EXTRA if query.include_all else [])
    out = []
    for study, subject in session.execute(stmt):
        result = builder.study(study, subject)
        out.append(
            builder.fill(result, extra, lambda s=study: builder.representative(study_id=s.id))
        )
    return out


def _series(
    session: Session, project_ids: list[int] | None, query: Query, builder: _Builder
) -> list[dict[str, Any]]:
    stmt = (
        _study_stmt(project_ids, query)
        .add_columns(Series)
        .join(Series, Series.study_pk == Study.id)
        .where(Series.instance_count > 0)
    )
    if query.series_uid:
        stmt = stmt.where(Series.series_uid == query.series_uid)
    stmt = _page(stmt.order_by(Study.id.desc(), Series.series_number, Series.id), query)
    extra = builder.wanted + (SERIES_LEVEL_EXTRA if query.include_all else [])
    out = []
    for study, subject, series in session.execute(stmt):
        result = builder.series(series)
        if not query.study_uid:
            result = builder.study(study, subject) | result
        out.append(
            builder.fill(result, extra, lambda s=series: builder.representative(series_id=s.id))
        )
    return out


def _instances(
    session: Session, project_ids: list[int] | None, query: Query, builder: _Builder
) -> list[dict[str, Any]]:
    stmt = (
        _study_stmt(project_ids, query)
        .add_columns(Series, Instance)
        .join(Series, Series.study_pk == Study.id)
        .join(Instance, Instance.series_pk == Series.id)
    )
    if query.series_uid:
        stmt = stmt.where(Series.series_uid == query.series_uid)
    stmt = _page(
        stmt.order_by(
            Study.id.desc(), Series.series_number, Series.id, Instance.instance_number, Instance.id
        ),
        query,
    )
    out = []
    for study, subject, series, instance in session.execute(stmt):
        stored = instance.dicom_json
        result: dict[str, Any] = {}
        if not query.study_uid:
            result |= builder.study(study, subject)
        if not query.series_uid:
            result |= builder.series(series)
        if query.include_all:
            result |= {k: v for k, v in stored.items() if not k.startswith("7FE0")}
        result |= dict(
            [
                _element("SOPInstanceUID", instance.sop_uid),
                _element("SOPClassUID", instance.sop_class_uid),
                _element("InstanceNumber", instance.instance_number),
                _element("InstanceAvailability", "ONLINE"),
            ]
        )
        for keyword in ("Rows", "Columns", "BitsAllocated", "NumberOfFrames"):
            found = _from_json(stored, keyword)
            if found is not None:
                result[found[0]] = found[1]
        out.append(builder.fill(result, builder.wanted, lambda s=stored: s))
    return out
