"""Management reports: per site and overall, the numbers a study's central team follows.

**Site of a subject** (every number of a subject's studies and visits counts for it):
the archive's one attribution rule, :mod:`vesalius.studies.attribution` (recorded
site, else the inventory device of its earliest checked study, else a listed site code
a gateway declared); a subject no rule attributes is counted under *unassigned* (shown
to the study team only).

**Numbers** per site: subjects enrolled (subjects with at least one study), studies
received (all studies) and, from the visit schedule (:mod:`vesalius.studies.visits`),
visits expected, received, due, overdue and missed; adherence rate = studies without
deviations / studies checked (qualification scans excluded); QC failures = series whose
QC result is ``fail``; time from acquisition to arrival per series, in hours: first
arrival of the series (earliest ``instance.received_at``) minus its acquisition
(SeriesDate/SeriesTime from the series' performed start, else StudyDate/StudyTime), as
median and 90th percentile (nearest rank). DICOM times carry no time zone; they are
read as UTC.

**De-identified projects.** Shown dates are shifted per subject (shown = true +
offset). Delays are computed on true time: the acquisition date is moved back by the
subject's vault offset (the same lookup visits use, never shown). Series of a subject
without a vault offset (delivered already de-identified) are left out of the delay and
counted in ``delay_excluded``.

**Scope.** A user whose roles in the project are all limited to sites sees those sites
only (and an overall row over them); a role without a site, admins, and readers of a
public project see every site (:func:`vesalius.core.auth.policy.site_limits`, the same
limit the archive's reads obey).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vesalius.core.auth.policy import site_limits
from vesalius.core.config import Settings
from vesalius.core.errors import NotFound
from vesalius.core.model import (
    Instance,
    Project,
    Series,
    Study,
    Subject,
    User,
    utcnow,
)
from vesalius.deid.truetime import offset_reader
from vesalius.studies import protocols
from vesalius.studies.attribution import default_protocol, subject_sites
from vesalius.studies.model import StudyAdherence
from vesalius.studies.protocol import Protocol
from vesalius.studies.qc.model import SeriesQC
from vesalius.studies.visits import OffsetFor, project_visits

UNASSIGNED = "unassigned"
OVERALL = "overall"


@dataclass
class SiteReport:
    """The numbers of one site (or of every visible site: ``site == "overall"``)."""

    site: str
    name: str = ""
    subjects: int = 0
    studies: int = 0
    visits_expected: int = 0
    visits_received: int = 0
    visits_due: int = 0
    visits_overdue: int = 0
    visits_missed: int = 0
    studies_checked: int = 0
    studies_conforming: int = 0
    adherence_rate: float | None = None
    series_qc: int = 0
    qc_failures: int = 0
    delay_series: int = 0
    delay_median_hours: float | None = None
    delay_p90_hours: float | None = None
    delay_excluded: int = 0
    _delays: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def finish(self) -> None:
        if self.studies_checked:
            self.adherence_rate = round(self.studies_conforming / self.studies_checked, 4)
        self.delay_series = len(self._delays)
        if self._delays:
            ordered = sorted(self._delays)
            self.delay_median_hours = round(statistics.median(ordered), 2)
            rank = max(1, math.ceil(0.9 * len(ordered)))
            self.delay_p90_hours = round(ordered[rank - 1], 2)


COLUMNS = [f.name for f in fields(SiteReport) if not f.name.startswith("_")]


@dataclass
class Report:
    project: str
    protocol_version: int | None
    generated_at: str
    today: str
    scope: list[str] | None  # site codes the user may see; None: all
    sites: list[SiteReport]
    overall: SiteReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "protocol_version": self.protocol_version,
            "generated_at": self.generated_at,
            "today": self.today,
            "scope": self.scope,
            "sites": [s.to_dict() for s in self.sites],
            "overall": self.overall.to_dict(),
        }

    def rows(self) -> list[SiteReport]:
        return [*self.sites, self.overall]


def visible_sites(session: Session, *, user: User | None, project: Project) -> list[str] | None:
    """Site codes ``user`` may see in ``project``; None means every site."""
    if user is None:
        return None
    sites = site_limits(session, user, [project.id]).get(project.id)
    return None if sites is None else sorted(sites)


def _acquired(date: str, time: str) -> dt.datetime | None:
    try:
        day = dt.datetime.strptime(date, "%Y%m%d")
    except ValueError:
        return None
    digits = (time or "").split(".")[0]
    try:
        hours = int(digits[0:2] or 0)
        minutes = int(digits[2:4] or 0)
        seconds = int(digits[4:6] or 0)
    except ValueError:
        hours = minutes = seconds = 0
    return day.replace(hour=hours % 24, minute=minutes % 60, second=seconds % 60, tzinfo=dt.UTC)


def build_report(
    session: Session,
    *,
    project: Project,
    protocol: Protocol | None,
    protocol_version: int | None = None,
    scope: list[str] | None = None,
    site: str | None = None,
    today: dt.date | None = None,
    offset_for: OffsetFor | None = None,
) -> Report:
    """The report of ``project`` for the sites in ``scope`` (None: all), or one ``site``."""
    protocol = protocol or default_protocol()
    today = today or utcnow().date()
    sites_of = subject_sites(session, project=project, protocol=protocol)
    names = {s.key: s.name for s in protocol.sites}
    wanted: set[str] | None = None if scope is None else set(scope)
    if site is not None:
        wanted = {site} if wanted is None or site in wanted else set()

    subjects = session.execute(
        select(Subject.id, Subject.subject_id).where(Subject.project_id == project.id)
    ).all()
    site_by_id = {sid: sites_of.get(pk, UNASSIGNED) for pk, sid in subjects}
    site_by_pk = {pk: sites_of.get(pk, UNASSIGNED) for pk, _ in subjects}

    reports: dict[str, SiteReport] = {}

    def row(code: str) -> SiteReport | None:
        if wanted is not None and code not in wanted:
            return None
        if code not in reports:
            reports[code] = SiteReport(site=code, name=names.get(code, ""))
        return reports[code]

    for code in names:
        row(code)
    if wanted is not None:
        for code in wanted:
            row(code)

    studies = session.execute(
        select(Study.subject_pk, Study.study_uid).where(Study.project_id == project.id)
    ).all()
    study_site = {uid: site_by_pk.get(pk, UNASSIGNED) for pk, uid in studies}
    study_subject = {uid: pk for pk, uid in studies}
    enrolled: dict[str, set[int]] = defaultdict(set)
    for pk, _uid in studies:
        target = row(site_by_pk.get(pk, UNASSIGNED))
        if target is not None:
            target.studies += 1
            enrolled[target.site].add(pk)
    for code, pks in enrolled.items():
        reports[code].subjects = len(pks)

    if protocol_version is not None:
        for item in project_visits(
            session, project=project, protocol=protocol, today=today, offset_for=offset_for
        ):
            target = row(site_by_id.get(item.subject_id, UNASSIGNED))
            if target is None:
                continue
            target.visits_expected += 1
            if item.status == "received":
                target.visits_received += 1
            elif item.status in ("due", "overdue", "missed"):
                setattr(
                    target, f"visits_{item.status}", getattr(target, f"visits_{item.status}") + 1
                )

    for uid, status in session.execute(
        select(StudyAdherence.study_uid, StudyAdherence.status).where(
            StudyAdherence.project_id == project.id, StudyAdherence.qualification.is_(False)
        )
    ):
        target = row(study_site.get(uid, UNASSIGNED))
        if target is not None:
            target.studies_checked += 1
            target.studies_conforming += status == "ok"

    for uid, status in session.execute(
        select(SeriesQC.study_uid, SeriesQC.status).where(SeriesQC.project_id == project.id)
    ):
        target = row(study_site.get(uid, UNASSIGNED))
        if target is not None:
            target.series_qc += 1
            target.qc_failures += status == "fail"

    arrivals = session.execute(
        select(
            Study.study_uid,
            Study.study_date,
            Study.study_time,
            Series.performed_start_date,
            Series.performed_start_time,
            func.min(Instance.received_at),
        )
        .join(Series, Series.study_pk == Study.id)
        .join(Instance, Instance.series_pk == Series.id)
        .where(Study.project_id == project.id)
        .group_by(Study.study_uid, Study.study_date, Study.study_time, Series.id)
        .group_by(Series.performed_start_date, Series.performed_start_time)
    ).all()
    subject_id_of = {pk: sid for pk, sid in subjects}
    for uid, s_date, s_time, p_date, p_time, received in arrivals:
        target = row(study_site.get(uid, UNASSIGNED))
        if target is None:
            continue
        acquired = _acquired(p_date, p_time) if p_date else _acquired(s_date, s_time)
        if acquired is None or received is None:
            target.delay_excluded += 1
            continue
        if offset_for is not None:
            offset = offset_for(subject_id_of.get(study_subject[uid], ""))
            if offset is None:
                target.delay_excluded += 1
                continue
            acquired -= dt.timedelta(days=offset)
        if received.tzinfo is None:
            received = received.replace(tzinfo=dt.UTC)
        target._delays.append((received - acquired).total_seconds() / 3600)

    ordered = sorted(reports.values(), key=lambda r: (r.site == UNASSIGNED, r.site))
    if scope is not None:  # the study team's unassigned subjects stay with the study team
        ordered = [r for r in ordered if r.site != UNASSIGNED]
    overall = SiteReport(site=OVERALL, name="all sites" if scope is None else "your sites")
    for r in ordered:
        for name in COLUMNS:
            if name in ("site", "name") or name.startswith(("adherence", "delay_m", "delay_p")):
                continue
            setattr(overall, name, getattr(overall, name) + getattr(r, name))
        overall._delays.extend(r._delays)
        r.finish()
    overall.finish()
    return Report(
        project=project.key,
        protocol_version=protocol_version,
        generated_at=utcnow().isoformat(timespec="seconds"),
        today=today.isoformat(),
        scope=scope,
        sites=ordered,
        overall=overall,
    )


def to_csv(report: Report) -> str:
    """One line per site and a last ``overall`` line, the columns of :class:`SiteReport`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["project", *COLUMNS])
    for r in report.rows():
        data = r.to_dict()
        writer.writerow([report.project, *("" if data[c] is None else data[c] for c in COLUMNS)])
    return out.getvalue()


def project_report(
    session: Session,
    *,
    settings: Settings,
    project: Project,
    user: User | None,
    site: str | None = None,
    today: dt.date | None = None,
) -> Report:
    """The report ``user`` may see (access to the project checked by the caller).

    A site the user may not see, or one the protocol does not list, is refused as not
    found."""
    current = protocols.protocol_version(session, project=project)
    scope = visible_sites(session, user=user, project=project)
    if site is not None:
        listed = set() if current is None else {s.key for s in current.protocol.sites}
        if (site not in listed and site != UNASSIGNED) or (scope is not None and site not in scope):
            raise NotFound(f"no site {site!r} in project {project.key!r}")
    return build_report(
        session,
        project=project,
        protocol=None if current is None else current.protocol,
        protocol_version=None if current is None else current.version,
        scope=scope,
        site=site,
        today=today,
        offset_for=offset_reader(session, settings=settings, project=project),
    )
