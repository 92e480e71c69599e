"""Adherence checks: each stable series and study against the project's protocol.

Subscribed to ``series.stable`` and ``study.stable`` (DESIGN.md event contract). A
series is matched to the expected series of its study's visit and every constraint it
breaks is recorded with the expected and the actual value; a stable study adds the
expected series that are missing and flags about its device: not in the inventory,
not qualified, not the subject's baseline device, a software version that changed.

Results replace earlier ones for the same UID, so a re-delivered event or a study that
re-opens and becomes stable again leaves one current result. Flags that compare studies
(baseline device, first software version seen, qualification) are refreshed for every
study of the same subject and device whenever one of them is checked.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vesalius.core import events
from vesalius.core.events import OutboxEvent, Subscribers
from vesalius.core.model import Instance, Project, Series, Study, Subject, utcnow
from vesalius.studies import protocols
from vesalius.studies.model import SeriesAdherence, StudyAdherence
from vesalius.studies.protocol import Protocol, Visit
from vesalius.studies.rules import (
    Header,
    device_header,
    effective,
    identify_device,
    rules_match,
    violations,
)

SUBSCRIBER = "studies.adherence"
# flags that depend on the study alone; the others compare it with other studies
INTRINSIC = frozenset({"no_visit", "out_of_window", "unknown_device", "mixed_devices"})
SOFTWARE_IN_STUDY = "software_changed_in_study"
BAD_SERIES = ("violations", "unexpected")


def subscribe(subscribers: Subscribers) -> None:
    """Register the adherence check (one subscriber name for both event types)."""
    subscribers.subscribe(events.SERIES_STABLE, SUBSCRIBER, on_series_stable)
    subscribers.subscribe(events.STUDY_STABLE, SUBSCRIBER, on_study_stable)


def _event_project(session: Session, event: OutboxEvent) -> Project | None:
    if event.project_id is not None:
        return session.get(Project, event.project_id)
    key = event.payload.get("project")
    return session.scalar(select(Project).where(Project.key == key)) if key else None


def on_series_stable(session: Session, event: OutboxEvent) -> None:
    project = _event_project(session, event)
    if project is not None:
        check_series(session, project=project, series_uid=event.payload["series_uid"])


def on_study_stable(session: Session, event: OutboxEvent) -> None:
    project = _event_project(session, event)
    if project is not None:
        check_study(session, project=project, study_uid=event.payload["study_uid"])


@dataclass(frozen=True)
class _Context:
    project: Project
    protocol: Protocol
    version: int
    study: Study
    subject: Subject
    visit: Visit | None
    days: int | None  # days from the subject's anchor (visits assigned by date)


def _date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def _study_header(session: Session, study: Study) -> Header:
    """Study-level values (StudyDescription …) from any one instance of the study."""
    dicom_json = session.scalar(
        select(Instance.dicom_json)
        .join(Series, Series.id == Instance.series_pk)
        .where(Series.study_pk == study.id)
        .order_by(Instance.id)
        .limit(1)
    )
    return Header(dicom_json or {})


def representative(session: Session, series: Series) -> Header:
    """The series' first instance (lowest Instance Number) and its number of images."""
    dicom_json = session.scalar(
        select(Instance.dicom_json)
        .where(Instance.series_pk == series.id)
        .order_by(Instance.instance_number.is_(None), Instance.instance_number, Instance.id)
        .limit(1)
    )
    header = Header(dicom_json or {}, slices=series.instance_count)
    if series.instance_count == 1:  # an enhanced (multi-frame) object: frames are slices
        frames = header.values("NumberOfFrames")
        if frames and str(frames[0]).isdigit() and int(frames[0]) > 1:
            header = Header(header.dicom_json, slices=int(frames[0]))
    return header


def _rule_visit(protocol: Protocol, header: Header) -> Visit | None:
    return next((v for v in protocol.visits if v.match and rules_match(v.match, header)), None)


def assign_visit(
    session: Session, protocol: Protocol, study: Study
) -> tuple[Visit | None, int | None]:
    """The visit of a study: the first whose match rules fit, else by date.

    By date, the anchor is the subject's earliest study not matched by rules; the visit
    is the one whose offset is nearest the study's day from the anchor.
    """
    visit = _rule_visit(protocol, _study_header(session, study))
    if visit is not None:
        return visit, None
    dated = [v for v in protocol.visits if not v.match]
    date = _date(study.study_date)
    if not dated or date is None:
        return None, None
    anchor = date
    earlier = session.scalars(
        select(Study)
        .where(Study.project_id == study.project_id, Study.subject_pk == study.subject_pk)
        .where(Study.study_date != "", Study.study_date <= study.study_date)
        .order_by(Study.study_date, Study.study_time, Study.id)
    )
    for other in earlier:
        if other.id == study.id or _rule_visit(protocol, _study_header(session, other)) is None:
            anchor = _date(other.study_date) or date
            break
    days = (date - anchor).days
    visit = min(dated, key=lambda v: (abs(days - v.offset_days), v.offset_days))
    return visit, days


def _context(session: Session, project: Project, study: Study) -> _Context | None:
    current = protocols.protocol_version(session, project=project)
    if current is None:
        return None
    visit, days = assign_visit(session, current.protocol, study)
    subject = session.get(Subject, study.subject_pk)
    assert subject is not None
    return _Context(project, current.protocol, current.version, study, subject, visit, days)


def _upsert(session: Session, table: type[Any], project: Project, **key: str) -> Any:
    query = select(table).where(table.project_id == project.id)
    for name, value in key.items():
        query = query.where(getattr(table, name) == value)
    row = session.scalar(query.with_for_update())
    if row is None:
        row = table(project_id=project.id, **key)
        session.add(row)
    return row


def _check_series(
    session: Session, ctx: _Context, series: Series, header: Header
) -> SeriesAdherence:
    protocol = ctx.protocol
    device = identify_device(protocol.devices, header)
    key = device.key if device is not None else None
    status, expected, found = "unexpected", None, []
    if any(rules_match(rule, header) for rule in protocol.ignore):
        status = "ignored"
    elif ctx.visit is not None:
        candidates = []
        for spec in protocol.expected(ctx.visit):
            match, require, _ = effective(spec, header, key)
            if rules_match(match, header):
                candidates.append((len(candidates), spec.name, violations(require, header)))
        if candidates:  # the expected series it satisfies best (the first among equals)
            _, expected, found = min(candidates, key=lambda c: (len(c[2]), c[0]))
            status = "violations" if found else "ok"
    row = _upsert(session, SeriesAdherence, ctx.project, series_uid=series.series_uid)
    row.study_uid = ctx.study.study_uid
    row.protocol_version = ctx.version
    row.visit = ctx.visit.name if ctx.visit is not None else None
    row.expected = expected
    row.status = status
    row.violations = found
    row.device = key
    row.device_header = device_header(header)
    row.checked_at = utcnow()
    return row


def check_series(session: Session, *, project: Project, series_uid: str) -> SeriesAdherence | None:
    """Check one series against the latest protocol (None without protocol or series)."""
    series = session.scalar(
        select(Series).where(Series.project_id == project.id, Series.series_uid == series_uid)
    )
    if series is None:
        return None
    study = session.get(Study, series.study_pk)
    assert study is not None
    ctx = _context(session, project, study)
    if ctx is None:
        return None
    row = _check_series(session, ctx, series, representative(session, series))
    session.flush()
    return row


def _describe_device(header: dict[str, Any]) -> str:
    parts = [header.get("manufacturer", ""), header.get("model", "")]
    for name in ("serial_number", "station_name"):
        if header.get(name):
            parts.append(f"{name.replace('_', ' ')} {header[name]}")
    return " ".join(p for p in parts if p) or "(no device in the header)"


def _intrinsic_flags(ctx: _Context, rows: list[SeriesAdherence]) -> list[dict[str, Any]]:
    flags: list[dict[str, Any]] = []
    if ctx.visit is None:
        flags.append(
            {
                "flag": "no_visit",
                "expected": "a visit of the schedule",
                "actual": ctx.study.study_date or None,
            }
        )
    elif ctx.days is not None:
        low = ctx.visit.offset_days - ctx.visit.window.before
        high = ctx.visit.offset_days + ctx.visit.window.after
        if not low <= ctx.days <= high:
            flags.append(
                {
                    "flag": "out_of_window",
                    "visit": ctx.visit.name,
                    "expected": {"from_day": low, "to_day": high},
                    "actual": ctx.days,
                }
            )
    considered = [r for r in rows if r.status != "ignored"] or rows
    unknown = [r for r in considered if r.device is None]
    if unknown:
        flags.append(
            {
                "flag": "unknown_device",
                "expected": "a device of the inventory",
                "actual": _describe_device(unknown[0].device_header),
            }
        )
    devices = sorted({r.device for r in considered if r.device is not None})
    if len(devices) > 1:
        flags.append({"flag": "mixed_devices", "expected": "one device", "actual": devices})
    versions = sorted({r.device_header.get("software_versions", "") for r in considered} - {""})
    if len(versions) > 1:
        flags.append(
            {"flag": SOFTWARE_IN_STUDY, "expected": "one software version", "actual": versions}
        )
    return flags


def check_study(session: Session, *, project: Project, study_uid: str) -> StudyAdherence | None:
    """Check a study and all its series; refresh the flags of related studies."""
    study = session.scalar(
        select(Study).where(Study.project_id == project.id, Study.study_uid == study_uid)
    )
    if study is None:
        return None
    ctx = _context(session, project, study)
    if ctx is None:
        return None
    series_list = session.scalars(
        select(Series)
        .where(Series.study_pk == study.id)
        .order_by(Series.series_number.is_(None), Series.series_number, Series.id)
    ).all()
    rows = [_check_series(session, ctx, s, representative(session, s)) for s in series_list]
    # series rows of series that left the study (moved by a new version) are stale
    current = {s.series_uid for s in series_list}
    for stale in session.scalars(
        select(SeriesAdherence).where(
            SeriesAdherence.project_id == project.id, SeriesAdherence.study_uid == study_uid
        )
    ):
        if stale.series_uid not in current:
            session.delete(stale)
    matched = {r.expected for r in rows if r.expected is not None}
    missing = []
    if ctx.visit is not None:
        missing = [
            {"series": spec.name, "visit": ctx.visit.name}
            for spec in ctx.protocol.expected(ctx.visit)
            if spec.required and spec.name not in matched
        ]
    considered = [r for r in rows if r.status != "ignored"] or rows
    device = Counter(r.device for r in considered if r.device is not None).most_common(1)
    key = device[0][0] if device else None
    software = Counter(
        r.device_header.get("software_versions", "")
        for r in considered
        if r.device == key and r.device_header.get("software_versions")
    ).most_common(1)
    row = _upsert(session, StudyAdherence, project, study_uid=study_uid)
    previous_device = row.device
    row.subject_id = ctx.subject.subject_id
    row.study_date = study.study_date
    row.protocol_version = ctx.version
    row.visit = ctx.visit.name if ctx.visit is not None else None
    row.qualification = bool(ctx.visit is not None and ctx.visit.qualification)
    row.qualifies = bool(
        row.qualification
        and key is not None
        and not missing
        and all(r.status in ("ok", "ignored") for r in rows)
        and any(r.status == "ok" for r in rows)
    )
    row.device = key
    row.software_version = software[0][0] if software else ""
    row.missing = missing
    row.flags = _intrinsic_flags(ctx, rows)
    row.status = row.status or "ok"  # set with the flags below
    row.checked_at = utcnow()
    session.flush()
    devices = {d for d in (key, previous_device) if d is not None}
    refresh_flags(
        session, project=project, protocol=ctx.protocol, subject_id=row.subject_id, devices=devices
    )
    return row


def _first(rows: list[StudyAdherence]) -> StudyAdherence | None:
    dated = [r for r in rows if r.study_date]
    return min(dated, key=lambda r: (r.study_date, r.study_uid)) if dated else None


def _relational_flags(
    protocol: Protocol, row: StudyAdherence, related: list[StudyAdherence]
) -> list[dict[str, Any]]:
    flags: list[dict[str, Any]] = []
    if row.qualification:
        return flags
    baseline = _first(
        [r for r in related if r.subject_id == row.subject_id and not r.qualification]
    )
    if (
        baseline is not None
        and baseline.study_uid != row.study_uid
        and baseline.device is not None
        and row.device is not None
        and baseline.device != row.device
    ):
        flags.append(
            {
                "flag": "device_changed",
                "expected": baseline.device,
                "actual": row.device,
                "baseline_study": baseline.study_uid,
            }
        )
    if row.device is None:
        return flags
    same_device = [r for r in related if r.device == row.device and r.software_version]
    first = _first(same_device)
    if (
        first is not None
        and row.software_version
        and first.software_version != row.software_version
    ):
        flags.append(
            {
                "flag": "software_changed",
                "device": row.device,
                "expected": first.software_version,
                "actual": row.software_version,
                "first_study": first.study_uid,
            }
        )
    device = protocol.device(row.device)
    if device is not None and not device.qualified:
        passed = [
            r
            for r in related
            if r.device == row.device
            and r.qualifies
            and r.study_date
            and (not row.study_date or r.study_date <= row.study_date)
        ]
        if not passed:
            flags.append(
                {
                    "flag": "unqualified_device",
                    "expected": "a qualified device",
                    "actual": row.device,
                }
            )
    return flags


def refresh_flags(
    session: Session,
    *,
    project: Project,
    protocol: Protocol,
    subject_id: str,
    devices: set[str],
) -> None:
    """Recompute the comparing flags and the status of a subject's and devices' studies."""
    related = list(
        session.scalars(
            select(StudyAdherence).where(
                StudyAdherence.project_id == project.id,
                or_(
                    StudyAdherence.subject_id == subject_id,
                    StudyAdherence.device.in_(sorted(devices)),
                ),
            )
        )
    )
    # the comparisons need every study of these subjects and devices
    subjects = {r.subject_id for r in related}
    devices = devices | {r.device for r in related if r.device is not None}
    related = list(
        session.scalars(
            select(StudyAdherence).where(
                StudyAdherence.project_id == project.id,
                or_(
                    StudyAdherence.subject_id.in_(sorted(subjects)),
                    StudyAdherence.device.in_(sorted(devices)),
                ),
            )
        )
    )
    bad = set(
        session.scalars(
            select(SeriesAdherence.study_uid).where(
                SeriesAdherence.project_id == project.id,
                SeriesAdherence.study_uid.in_([r.study_uid for r in related]),
                SeriesAdherence.status.in_(BAD_SERIES),
            )
        )
    )
    for row in related:
        kept = [f for f in row.flags if f["flag"] in INTRINSIC or f["flag"] == SOFTWARE_IN_STUDY]
        flags = kept + _relational_flags(protocol, row, related)
        if flags != row.flags:
            row.flags = flags
        status = "deviations" if (row.missing or flags or row.study_uid in bad) else "ok"
        if status != row.status:
            row.status = status
    session.flush()


def recheck_project(session: Session, *, project: Project) -> int:
    """Check every stable study again (after loading a new protocol version, say)."""
    uids = session.scalars(
        select(Study.study_uid)
        .where(Study.project_id == project.id, Study.stable_at.is_not(None))
        .order_by(Study.study_date, Study.id)
    ).all()
    for uid in uids:
        check_study(session, project=project, study_uid=uid)
    return len(uids)
