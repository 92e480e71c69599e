"""Attribute matching over the index: the one query engine behind C-FIND and QIDO-RS.

Matching follows PS3.4 C.2.2.2 as far as the index holds the attribute in a column:
single values, ``*``/``?`` wildcards, ``A-B``/``-B``/``A-`` ranges for dates and times,
backslash-separated lists (UID lists, several codes), empty values as return keys,
person names case-insensitively (and, with ``fuzzy``, by the start of any name
component). Attributes the index has no column for are returned (from the stored DICOM
JSON) but not matched; :func:`unsupported_keys` names them so QIDO can warn.

Results are DICOM JSON (PS3.18 F.2) per match, keyed by tag; a SERIES or IMAGE query
that is not scoped to one study also carries the study's attributes (PS3.18 10.6.3).

What is searched is a :class:`~vesalius.core.auth.policy.ReadScope`: the projects and,
for a caller whose roles are limited to sites, only the subjects of those sites
(QIDO-RS); a DIMSE peer reads its whole project (``project_ids``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from vesalius.core.auth.policy import ReadScope
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
    keyword: str, column: Any, kind: str, value: str, fuzzy: bool, sqlite: bool = False
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
        return _name_condition(column, value, fuzzy, sqlite)
    return _text_condition(column, value)


def _text_condition(column: Any, value: str) -> ColumnElement[bool]:
    if _has_wildcard(value):
        return func.lower(column).like(_like(value.lower()), escape="!")
    return column == value


def _name_condition(column: Any, value: str, fuzzy: bool, sqlite: bool) -> ColumnElement[bool]:
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
        condition = lowered.like(pattern, escape="!")
        if sqlite and (bounds := _prefix_bounds(value.lower())):
            # SQLite uses an index for LIKE only on a plain column: the index on
            # lower(name) needs the range spelled out (exact in its BINARY order; the
            # LIKE still decides). PostgreSQL derives it from the LIKE itself through
            # its text_pattern_ops index, where a range in the database's collation
            # could even leave matches out.
            condition = and_(condition, lowered >= bounds[0], lowered < bounds[1])
        return condition
    return lowered == value.lower()


def _prefix_bounds(value: str) -> tuple[str, str] | None:
    """``(low, high)`` such that every string starting with the pattern's fixed prefix
    is in ``[low, high)`` in code point order; None without a prefix."""
    cut = min((i for i in (value.find("*"), value.find("?")) if i >= 0), default=len(value))
    prefix = value[:cut]
    if not prefix or prefix[-1] == chr(0x10FFFF):
        return None
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _apply_filters(stmt: Select[Any], query: Query, sqlite: bool) -> Select[Any]:
    keys = _keys_for(query.level)
    for keyword, value in query.filters.items():
        if keyword not in keys or value is None:
            continue
        column, kind = keys[keyword]
        condition = _condition(keyword, column, kind, str(value), query.fuzzy, sqlite)
        if condition is not None:
            stmt = stmt.where(condition)
    return stmt


@cache
def _tag_vr(keyword: str) -> tuple[str, str]:
    """The 8-hex-digit key and the VR of a keyword (looked up once per keyword)."""
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}", dictionary_VR(tag)


@cache
def _tag_key(keyword: str) -> str | None:
    tag = tag_for_keyword(keyword)
    return None if tag is None else f"{tag:08X}"


INTEGER_VRS = frozenset(("IS", "US", "UL", "SL", "SS"))


def _element(keyword: str, value: Any) -> tuple[str, dict[str, Any]]:
    key, vr = _tag_vr(keyword)
    if value is None or value == "" or value == []:
        return key, {"vr": vr}
    values = value if isinstance(value, list) else (value,)
    if vr == "PN":
        return key, {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in values]}
    if vr in INTEGER_VRS:
        return key, {"vr": vr, "Value": [int(v) for v in values]}
    return key, {"vr": vr, "Value": [str(v) for v in values]}


def _column_element(vr: str, value: Any) -> dict[str, Any]:
    """:func:`_element`'s value for an index column, whose type already fits the VR."""
    if value is None or value == "" or value == []:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": value}]}
    return {"vr": vr, "Value": value if type(value) is list else [value]}


def _keys_and_vrs(keywords: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pairs = [_tag_vr(k) for k in keywords]
    return tuple(k for k, _ in pairs), tuple(vr for _, vr in pairs)


def _from_json(source: dict[str, Any] | None, keyword: str) -> tuple[str, dict[str, Any]] | None:
    key = _tag_key(keyword)
    if key is not None and source and key in source:
        return key, source[key]
    return None


def _to_keyword(key: str) -> str:
    """Accept keywords or 8-hex-digit tags (QIDO allows both)."""
    if len(key) == 8 and all(c in "0123456789abcdefABCDEF" for c in key):
        return keyword_for_tag(int(key, 16)) or key
    return key


# what study and series results are built from: plain columns, no ORM objects
STUDY_COLUMNS = (
    Study.id.label("study_pk"),
    Study.study_uid,
    Study.study_date,
    Study.study_time,
    Study.accession_number,
    Study.study_id,
    Study.description.label("study_description"),
    Study.referring_physician,
    Study.modalities,
    Study.series_count,
    Study.instance_count.label("study_instance_count"),
    Subject.patient_name,
    Subject.subject_id,
    Subject.birth_date,
    Subject.sex,
)
SERIES_COLUMNS = (
    Series.id.label("series_pk"),
    Series.series_uid,
    Series.modality,
    Series.series_number,
    Series.description.label("series_description"),
    Series.body_part,
    Series.performed_start_date,
    Series.performed_start_time,
    Series.instance_count.label("series_instance_count"),
)
STUDY_WIDTH, SERIES_WIDTH = len(STUDY_COLUMNS), len(SERIES_COLUMNS)
# the attributes a study and a series result is built of, in the order of their values
STUDY_KEYS_, STUDY_VRS = _keys_and_vrs(
    (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "ReferringPhysicianName",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        "InstanceAvailability",
    )
)
SERIES_KEYS_, SERIES_VRS = _keys_and_vrs(  # in the order of SERIES_COLUMNS after the key
    (
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "BodyPartExamined",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "NumberOfSeriesRelatedInstances",
    )
)

Sources = dict[int, dict[str, Any]]


class _Builder:
    """Builds results' DICOM JSON from index rows and, when needed, stored JSON."""

    def __init__(self, session: Session, query: Query) -> None:
        self.session = session
        self.query = query
        wanted = [_to_keyword(k) for k in (query.return_keys or [])]
        wanted += [k for k, v in query.filters.items() if k not in IGNORED_KEYS]
        self.wanted = list(dict.fromkeys(wanted))

    def study_sources(self, study_ids: list[int]) -> Sources:
        """Each study's first stored instance's JSON (for attributes without a column)."""
        first = (
            select(func.min(Instance.id))
            .join(Series, Series.id == Instance.series_pk)
            .where(Series.study_pk.in_(study_ids))
            .group_by(Series.study_pk)
        )
        rows = self.session.execute(
            select(Series.study_pk, Instance.dicom_json)
            .join(Series, Series.id == Instance.series_pk)
            .where(Instance.id.in_(first))
        )
        return {pk: source for pk, source in rows}

    def series_sources(self, series_ids: list[int]) -> Sources:
        """Each series' first stored instance's JSON."""
        first = (
            select(func.min(Instance.id))
            .where(Instance.series_pk.in_(series_ids))
            .group_by(Instance.series_pk)
        )
        rows = self.session.execute(
            select(Instance.series_pk, Instance.dicom_json).where(Instance.id.in_(first))
        )
        return {pk: source for pk, source in rows}

    def patient(self, subject: Any) -> dict[str, Any]:
        """From a Subject or a row with its columns."""
        return dict(
            [
                _element("PatientName", subject.patient_name),
                _element("PatientID", subject.subject_id),
                _element("PatientBirthDate", subject.birth_date),
                _element("PatientSex", subject.sex),
            ]
        )

    def study(self, row: Any) -> dict[str, Any]:
        """From a row that starts with :data:`STUDY_COLUMNS`."""
        (
            _,
            study_uid,
            study_date,
            study_time,
            accession_number,
            study_id,
            description,
            referring_physician,
            modalities,
            series_count,
            instance_count,
            patient_name,
            subject_id,
            birth_date,
            sex,
        ) = row[:STUDY_WIDTH]
        codes = modalities.strip(",")
        values = (
            patient_name,
            subject_id,
            birth_date,
            sex,
            study_uid,
            study_date,
            study_time,
            accession_number,
            study_id,
            description,
            referring_physician,
            codes.split(",") if codes else None,
            series_count,
            instance_count,
            "ONLINE",
        )
        return dict(zip(STUDY_KEYS_, map(_column_element, STUDY_VRS, values), strict=True))

    def series(self, row: Any) -> dict[str, Any]:
        """From a row with :data:`SERIES_COLUMNS` right after :data:`STUDY_COLUMNS`."""
        values = row[STUDY_WIDTH + 1 : STUDY_WIDTH + SERIES_WIDTH]  # without the key
        return dict(zip(SERIES_KEYS_, map(_column_element, SERIES_VRS, values), strict=True))

    def missing(self, out: dict[str, Any], extra: Iterable[str]) -> list[str]:
        """Wanted attributes that ``out`` lacks and stored JSON might hold."""
        return [k for k in extra if (key := _tag_key(k)) is not None and key not in out]

    def fill(self, out: dict[str, Any], missing: list[str], source: Any) -> dict[str, Any]:
        """Add the ``missing`` attributes from a stored object's JSON (empty if absent)."""
        for keyword in missing:
            found = _from_json(source, keyword)
            if found is not None:
                out[found[0]] = found[1]
            elif keyword in self.wanted:
                key, element = _element(keyword, None)
                out[key] = element
        return out

    def complete(
        self,
        results: list[tuple[dict[str, Any], int]],
        extra: list[str],
        sources: Any,
    ) -> list[dict[str, Any]]:
        """Fill what the columns do not hold; stored JSON is read (in one query for the
        whole page) only for the results that lack something."""
        pending = [(out, key, self.missing(out, extra)) for out, key in results]
        needed = sorted({key for _, key, missing in pending if missing})
        found: Sources = sources(needed) if needed else {}
        return [
            self.fill(out, missing, found.get(key)) if missing else out
            for out, key, missing in pending
        ]


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _scope(
    stmt: Select[Any], scope: ReadScope, column: Any, subject: Any, sqlite: bool
) -> Select[Any]:
    """``stmt`` limited to ``scope``: ``column`` is the row's project, ``subject`` its
    subject key."""
    if sqlite:
        # SQLite has no statistics (nothing runs ANALYZE): given an index on project_id
        # it takes it, though one project is usually the whole table, and then sorts
        # every row of it for a page of 101. "+ 0" leaves the choice to the filters'
        # own indexes, or to a scan in primary-key order that stops after one page.
        column = column + 0
    return scope.apply(stmt, column, subject)


def _page(stmt: Select[Any], query: Query) -> Select[Any]:
    if query.offset:
        stmt = stmt.offset(query.offset)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


def search(
    session: Session,
    *,
    query: Query,
    project_ids: list[int] | None = None,
    scope: ReadScope | None = None,
) -> list[dict[str, Any]]:
    """Matches of ``query`` as DICOM JSON: in ``scope`` when given, else in the whole
    projects ``project_ids`` (None: all)."""
    within = scope if scope is not None else ReadScope(project_ids)
    if query.level not in LEVELS:
        raise InvalidInput(f"query level must be one of {', '.join(LEVELS)}")
    if (query.limit is not None and query.limit < 0) or query.offset < 0:
        raise InvalidInput("limit and offset must not be negative")
    builder = _Builder(session, query)
    sqlite = _is_sqlite(session)
    match query.level:
        case "PATIENT":
            return _patients(session, within, query, builder, sqlite)
        case "STUDY":
            return _studies(session, within, query, builder, sqlite)
        case "SERIES":
            return _series(session, within, query, builder, sqlite)
        case _:
            return _instances(session, within, query, builder, sqlite)


def _patients(
    session: Session,
    scope: ReadScope,
    query: Query,
    builder: _Builder,
    sqlite: bool,
) -> list[dict[str, Any]]:
    stmt = _scope(select(Subject), scope, Subject.project_id, Subject.id, sqlite)
    stmt = _page(_apply_filters(stmt, query, sqlite).order_by(Subject.id), query)
    subjects = list(session.scalars(stmt))
    counts: dict[int, tuple[int, int, int]] = {}
    if subjects:  # one aggregate for the page, not one per patient
        rows = session.execute(
            select(
                Study.subject_pk,
                func.count(Study.id),
                func.coalesce(func.sum(Study.series_count), 0),
                func.coalesce(func.sum(Study.instance_count), 0),
            )
            .where(Study.subject_pk.in_([s.id for s in subjects]))
            .group_by(Study.subject_pk)
        )
        counts = {pk: (studies, series, instances) for pk, studies, series, instances in rows}
    out = []
    for subject in subjects:
        result = builder.patient(subject)
        studies, series, instances = counts.get(subject.id, (0, 0, 0))
        result.update(
            [
                _element("NumberOfPatientRelatedStudies", studies),
                _element("NumberOfPatientRelatedSeries", series),
                _element("NumberOfPatientRelatedInstances", instances),
            ]
        )
        out.append(result)
    return out


def _study_stmt(scope: ReadScope, query: Query, sqlite: bool, *entities: Any) -> Select[Any]:
    stmt = select(*STUDY_COLUMNS, *entities).join(Subject, Subject.id == Study.subject_pk)
    stmt = _scope(stmt, scope, Study.project_id, Study.subject_pk, sqlite)
    if query.study_uid:
        stmt = stmt.where(Study.study_uid == query.study_uid)
    return _apply_filters(stmt, query, sqlite)


def _studies(
    session: Session,
    scope: ReadScope,
    query: Query,
    builder: _Builder,
    sqlite: bool,
) -> list[dict[str, Any]]:
    stmt = _page(
        _study_stmt(scope, query, sqlite).where(Study.instance_count > 0).order_by(Study.id.desc()),
        query,
    )
    extra = builder.wanted + (STUDY_LEVEL_EXTRA if query.include_all else [])
    results = [(builder.study(row), row.study_pk) for row in session.execute(stmt)]
    return builder.complete(results, extra, builder.study_sources)


def _series(
    session: Session,
    scope: ReadScope,
    query: Query,
    builder: _Builder,
    sqlite: bool,
) -> list[dict[str, Any]]:
    stmt = (
        _study_stmt(scope, query, sqlite, *SERIES_COLUMNS)
        .join(Series, Series.study_pk == Study.id)
        .where(Series.instance_count > 0)
    )
    if query.series_uid:
        stmt = stmt.where(Series.series_uid == query.series_uid)
    stmt = _page(stmt.order_by(Study.id.desc(), Series.series_number, Series.id), query)
    extra = builder.wanted + (SERIES_LEVEL_EXTRA if query.include_all else [])
    results = []
    for row in session.execute(stmt):
        result = builder.series(row)
        if not query.study_uid:
            result = builder.study(row) | result
        results.append((result, row.series_pk))
    return builder.complete(results, extra, builder.series_sources)


def _instances(
    session: Session,
    scope: ReadScope,
    query: Query,
    builder: _Builder,
    sqlite: bool,
) -> list[dict[str, Any]]:
    stmt = (
        _study_stmt(scope, query, sqlite, *SERIES_COLUMNS, Instance)
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
    for row in session.execute(stmt):
        instance = row.Instance
        stored = instance.dicom_json
        result: dict[str, Any] = {}
        if not query.study_uid:
            result |= builder.study(row)
        if not query.series_uid:
            result |= builder.series(row)
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
        missing = builder.missing(result, builder.wanted)
        out.append(builder.fill(result, missing, stored) if missing else result)
    return out
