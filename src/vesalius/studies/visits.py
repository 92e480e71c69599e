"""Visits: each subject's expected visits, the study received for each, and what is late.

**Anchor.** A subject's visit schedule counts from its anchor date: the date of its
baseline study, that is the earliest study the adherence check assigned by date (not by
a visit's match rules), the same anchor :func:`vesalius.studies.adherence.assign_visit`
uses. A subject whose studies were all assigned by rules is anchored at the earliest of
them minus its visit's offset; a subject with no study of a scheduled visit (a phantom's
qualification scans) has no schedule. Qualification visits are never scheduled.

**Window.** Visit ``v`` is expected in ``[anchor + v.offset_days - v.window.before,
anchor + v.offset_days + v.window.after]``.

**Status** of each scheduled visit on ``today``:

- ``received``: a study was assigned to it (the adherence assignment, reused as is);
  ``in_window`` tells whether its date fell inside the window;
- ``upcoming``: not received, the window opens after today;
- ``due``: not received, today is inside the window (both edges included);
- ``overdue``: not received, the window closed at most ``missed_after_days`` (protocol,
  default 30) days ago;
- ``missed``: not received, the window closed more than ``missed_after_days`` days ago.

**True time.** In a de-identified project every date of a subject is shifted by its
vault offset (shown = true + offset). Windows are computed on the shifted dates the users
see, and ``today`` is moved into the same frame (today + offset), so that statuses are
those of true time while no true date is shown. A subject without vault entry (delivered
already de-identified) is compared without offset and marked ``true_time: false``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core.model import Project, Site, Study, Subject, utcnow
from vesalius.studies.adherence import assign_visit
from vesalius.studies.protocol import Protocol, Visit

STATUSES = ("received", "due", "overdue", "missed", "upcoming")
Clock = Callable[[], dt.date]
OffsetFor = Callable[[str], int | None]


def utc_today() -> dt.date:
    return utcnow().date()


@dataclass(frozen=True)
class ExpectedVisit:
    """One scheduled visit of one subject; dates as users see them (YYYY-MM-DD)."""

    subject_id: str
    site: str | None
    visit: str
    offset_days: int
    anchor: str
    target: str
    window_from: str
    window_to: str
    status: str
    study_uid: str | None = None
    study_date: str | None = None
    in_window: bool | None = None
    days_late: int | None = None  # days since the window closed (overdue, missed)
    true_time: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def visit_status(
    *, window_from: dt.date, window_to: dt.date, today: dt.date, missed_after_days: int
) -> str:
    """The status of a visit not received (see the module's definitions)."""
    if today < window_from:
        return "upcoming"
    if today <= window_to:
        return "due"
    if (today - window_to).days <= missed_after_days:
        return "overdue"
    return "missed"


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(value or "", "%Y%m%d").date()
    except ValueError:
        return None


def scheduled(protocol: Protocol) -> list[Visit]:
    return [v for v in protocol.visits if not v.qualification]


def subject_visits(
    session: Session,
    *,
    protocol: Protocol,
    subject: Subject,
    site: str | None,
    today: dt.date,
    offset: int | None,
    true_time: bool = True,
) -> list[ExpectedVisit]:
    """The subject's scheduled visits with their status (empty without an anchor)."""
    studies = session.scalars(
        select(Study)
        .where(Study.project_id == subject.project_id, Study.subject_pk == subject.id)
        .order_by(Study.study_date, Study.study_time, Study.id)
    ).all()
    anchor: dt.date | None = None
    ruled: dt.date | None = None
    received: dict[str, Study] = {}
    for study in studies:
        visit, days = assign_visit(session, protocol, study)
        if visit is None or visit.qualification:
            continue
        received.setdefault(visit.name, study)
        date = _date(study.study_date)
        if date is None:
            continue
        if days is not None and anchor is None:
            anchor = date - dt.timedelta(days=days)
        elif days is None and ruled is None:
            ruled = date - dt.timedelta(days=visit.offset_days)
    anchor = anchor or ruled
    if anchor is None:
        return []
    now = today + dt.timedelta(days=offset or 0)  # today in the subject's (shown) frame
    out = []
    for visit in scheduled(protocol):
        target = anchor + dt.timedelta(days=visit.offset_days)
        low = target - dt.timedelta(days=visit.window.before)
        high = target + dt.timedelta(days=visit.window.after)
        common: dict[str, Any] = {
            "subject_id": subject.subject_id,
            "site": site,
            "visit": visit.name,
            "offset_days": visit.offset_days,
            "anchor": anchor.isoformat(),
            "target": target.isoformat(),
            "window_from": low.isoformat(),
            "window_to": high.isoformat(),
            "true_time": true_time,
        }
        study = received.get(visit.name)
        if study is not None:
            date = _date(study.study_date)
            out.append(
                ExpectedVisit(
                    **common,
                    status="received",
                    study_uid=study.study_uid,
                    study_date=date.isoformat() if date else None,
                    in_window=None if date is None else low <= date <= high,
                )
            )
            continue
        status = visit_status(
            window_from=low,
            window_to=high,
            today=now,
            missed_after_days=protocol.missed_after_days,
        )
        late = (now - high).days if status in ("overdue", "missed") else None
        out.append(ExpectedVisit(**common, status=status, days_late=late))
    return out


def project_visits(
    session: Session,
    *,
    project: Project,
    protocol: Protocol,
    today: dt.date | None = None,
    offset_for: OffsetFor | None = None,
    site: str | None = None,
    status: str | None = None,
) -> list[ExpectedVisit]:
    """Every subject's scheduled visits, by subject then schedule order.

    ``offset_for`` (research ID -> vault offset) is given for de-identified projects
    (:func:`vesalius.deid.truetime.offset_reader`); ``today`` defaults to today (UTC).
    """
    today = today or utc_today()
    query = (
        select(Subject, Site.key)
        .outerjoin(Site, Site.id == Subject.site_id)
        .where(Subject.project_id == project.id)
        .order_by(Subject.subject_id)
    )
    if site is not None:
        query = query.where(Site.key == site)
    out: list[ExpectedVisit] = []
    for subject, site_key in session.execute(query).all():
        offset = offset_for(subject.subject_id) if offset_for is not None else None
        rows = subject_visits(
            session,
            protocol=protocol,
            subject=subject,
            site=site_key,
            today=today,
            offset=offset,
            true_time=offset_for is None or offset is not None,
        )
        out.extend(r for r in rows if status is None or r.status == status)
    return out


def summary(visits: list[ExpectedVisit]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for row in visits:
        counts[row.status] += 1
    return {"expected": len(visits), **counts}
