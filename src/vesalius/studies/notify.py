"""Reminders of due and overdue visits and notices of deviations, once per event.

Events: ``visit.due`` and ``visit.overdue`` (per subject and visit, see
:mod:`vesalius.studies.visits`) and ``deviation`` (per stable study whose adherence
result has findings). Recipients come from the protocol's ``notifications:`` section.

Once per event and recipient: a notice is claimed by inserting its
``visit_notification`` row (unique on project, kind, subject, ref, recipient) in a
transaction of its own *before* it is sent, so two nodes or a re-run never send it twice;
then it is marked ``sent``, or ``failed`` with the reason, and a failed one is claimed
again (compare-and-set on its status) by the next run. A claim left ``sending`` by a node
that died is taken over after :data:`STALE_CLAIM`.

Content carries research IDs, visit names, research UIDs and the dates users see
(shifted in de-identified projects), never names, birth dates or true dates.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vesalius.core.config import Settings
from vesalius.core.model import Project, utcnow
from vesalius.deid.truetime import offset_reader
from vesalius.studies import protocols
from vesalius.studies.model import SeriesAdherence, StudyAdherence, VisitNotification
from vesalius.studies.senders import EmailPort, SendFailed, WebhookPort, senders_from
from vesalius.studies.visits import ExpectedVisit, project_visits

log = logging.getLogger(__name__)
STALE_CLAIM = dt.timedelta(minutes=30)
REMINDER_STATUSES = ("due", "overdue")


@dataclass(frozen=True)
class Notice:
    kind: str  # visit.due | visit.overdue | deviation
    subject_id: str
    ref: str  # visit name or Study Instance UID
    subject: str  # e-mail subject line
    body: str
    payload: dict[str, Any]


@dataclass
class NotifyReport:
    sent: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    would_send: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0  # already sent, or claimed by another node

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "would_send": self.would_send,
            "skipped": self.skipped,
        }


def _reminder(project: Project, row: ExpectedVisit) -> Notice:
    kind = f"visit.{row.status}"
    when = f"window {row.window_from} to {row.window_to}"
    subject = (
        f"[vesalius {project.key}] visit {row.visit} of subject {row.subject_id} is {row.status}"
    )
    lines = [
        f"Project: {project.key}",
        f"Subject: {row.subject_id}" + (f" (site {row.site})" if row.site else ""),
        f"Visit: {row.visit}, {when}",
        f"Status: {row.status}"
        + (f", {row.days_late} days after the window closed" if row.days_late else ""),
    ]
    payload = {
        "id": f"{project.key}:{kind}:{row.subject_id}:{row.visit}",
        "event": kind,
        "project": project.key,
        "subject": row.subject_id,
        "site": row.site,
        "visit": row.visit,
        "window": {"from": row.window_from, "to": row.window_to},
        "days_late": row.days_late,
    }
    return Notice(kind, row.subject_id, row.visit, subject, "\n".join(lines) + "\n", payload)


def _deviation(project: Project, row: StudyAdherence, series: list[SeriesAdherence]) -> Notice:
    flags = sorted({f["flag"] for f in row.flags})
    missing = [m["series"] for m in row.missing]
    violations = [
        {
            "expected": s.expected,
            "constraints": sorted({str(v.get("attribute", "")) for v in s.violations}),
        }
        for s in series
        if s.status == "violations"
    ]
    unexpected = sum(1 for s in series if s.status == "unexpected")
    date = row.study_date
    shown = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else None
    subject = (
        f"[vesalius {project.key}] deviations in the {row.visit or 'unassigned'} study "
        f"of subject {row.subject_id}"
    )
    lines = [
        f"Project: {project.key}",
        f"Subject: {row.subject_id}",
        f"Study: {row.study_uid}" + (f" of {shown}" if shown else ""),
        f"Visit: {row.visit or '(none)'}",
    ]
    if flags:
        lines.append("Flags: " + ", ".join(flags))
    if missing:
        lines.append("Missing series: " + ", ".join(missing))
    for v in violations:
        lines.append(f"Series {v['expected']}: " + ", ".join(v["constraints"]))
    if unexpected:
        lines.append(f"Unexpected series: {unexpected}")
    payload = {
        "id": f"{project.key}:deviation:{row.subject_id}:{row.study_uid}",
        "event": "deviation",
        "project": project.key,
        "subject": row.subject_id,
        "study_uid": row.study_uid,
        "study_date": shown,
        "visit": row.visit,
        "device": row.device,
        "flags": flags,
        "missing": missing,
        "violations": violations,
        "unexpected": unexpected,
    }
    return Notice(
        "deviation", row.subject_id, row.study_uid, subject, "\n".join(lines) + "\n", payload
    )


def project_notices(
    session: Session, *, settings: Settings, project: Project, today: dt.date | None = None
) -> tuple[list[Notice], list[str]]:
    """The notices a project's protocol asks for now, and their recipients."""
    current = protocols.protocol_version(session, project=project)
    if current is None:
        return [], []
    config = current.protocol.notifications
    recipients = [f"email:{a}" for a in config.emails] + [f"webhook:{u}" for u in config.webhooks]
    if not recipients:
        return [], []
    notices: list[Notice] = []
    if config.reminders:
        offsets = offset_reader(session, settings=settings, project=project)
        visits = project_visits(
            session, project=project, protocol=current.protocol, today=today, offset_for=offsets
        )
        notices += [_reminder(project, v) for v in visits if v.status in REMINDER_STATUSES]
    if config.deviations:
        rows = session.scalars(
            select(StudyAdherence)
            .where(StudyAdherence.project_id == project.id, StudyAdherence.status == "deviations")
            .order_by(StudyAdherence.study_date, StudyAdherence.study_uid)
        ).all()
        series: dict[str, list[SeriesAdherence]] = {}
        for s in session.scalars(
            select(SeriesAdherence).where(
                SeriesAdherence.project_id == project.id,
                SeriesAdherence.study_uid.in_([r.study_uid for r in rows]),
            )
        ):
            series.setdefault(s.study_uid, []).append(s)
        notices += [_deviation(project, r, series.get(r.study_uid, [])) for r in rows]
    return notices, recipients


def _key(project: Project, notice: Notice, recipient: str) -> dict[str, Any]:
    return {
        "project_id": project.id,
        "kind": notice.kind,
        "subject_id": notice.subject_id,
        "ref": notice.ref,
        "recipient": recipient,
    }


def _claim(write: Callable[[], Session], key: dict[str, Any]) -> int | None:
    """Claim a notice for this run: its row id, or None if sent or claimed elsewhere."""
    now = utcnow()
    with write() as session, session.begin():
        query = select(VisitNotification)
        for name, value in key.items():
            query = query.where(getattr(VisitNotification, name) == value)
        row = session.scalar(query)
        if row is not None:
            if row.status == "sent":
                return None
            if row.status == "sending" and now - row.claimed_at < STALE_CLAIM:
                return None
            won = session.execute(
                update(VisitNotification)
                .where(
                    VisitNotification.id == row.id,
                    VisitNotification.status == row.status,
                    VisitNotification.attempts == row.attempts,
                )
                .values(status="sending", attempts=row.attempts + 1, claimed_at=now)
                .execution_options(synchronize_session=False)
            )
            return row.id if won.rowcount == 1 else None
    try:
        with write() as session, session.begin():
            row = VisitNotification(**key, status="sending", attempts=1, error="", claimed_at=now)
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:  # another node claimed it at the same moment
        return None


def _finish(write: Callable[[], Session], row_id: int, error: str | None) -> None:
    with write() as session, session.begin():
        row = session.get(VisitNotification, row_id)
        assert row is not None
        row.status = "failed" if error else "sent"
        row.error = error or ""
        row.sent_at = None if error else utcnow()


def _deliver(email: EmailPort, webhook: WebhookPort, notice: Notice, recipient: str) -> None:
    kind, _, target = recipient.partition(":")
    if kind == "email":
        email.send(to=target, subject=notice.subject, body=notice.body)
    else:
        webhook.post(url=target, payload=notice.payload)


def run_notifications(
    write: Callable[[], Session],
    *,
    settings: Settings,
    projects: list[str] | None = None,
    today: dt.date | None = None,
    email: EmailPort | None = None,
    webhook: WebhookPort | None = None,
    dry_run: bool = False,
) -> NotifyReport:
    """Send what is due for ``projects`` (default every project with a protocol).

    Runs its own short transactions on ``write`` (a session factory): reading, one claim
    per notice, one result per notice.
    """
    if email is None or webhook is None:
        default_email, default_webhook = senders_from(settings)
        email, webhook = email or default_email, webhook or default_webhook
    report = NotifyReport()
    with write() as session:
        query = select(Project).order_by(Project.key)
        if projects is not None:
            query = query.where(Project.key.in_(projects))
        work = []
        for project in session.scalars(query).all():
            notices, recipients = project_notices(
                session, settings=settings, project=project, today=today
            )
            session.expunge(project)
            work += [(project, n, r) for n in notices for r in recipients]
    for project, notice, recipient in work:
        item = {
            "project": project.key,
            "kind": notice.kind,
            "subject": notice.subject_id,
            "ref": notice.ref,
            "channel": recipient.partition(":")[0],
        }
        if dry_run:
            with write() as session:
                key = _key(project, notice, recipient)
                query = select(VisitNotification.status)
                for name, value in key.items():
                    query = query.where(getattr(VisitNotification, name) == value)
                if session.scalar(query) == "sent":
                    report.skipped += 1
                else:
                    report.would_send.append(item)
            continue
        row_id = _claim(write, _key(project, notice, recipient))
        if row_id is None:
            report.skipped += 1
            continue
        try:
            _deliver(email, webhook, notice, recipient)
        except SendFailed as exc:
            _finish(write, row_id, str(exc))
            report.failed.append({**item, "error": str(exc)})
            continue
        except Exception as exc:  # an unexpected failure is stored and retried too
            _finish(write, row_id, f"{type(exc).__name__}")
            report.failed.append({**item, "error": type(exc).__name__})
            continue
        _finish(write, row_id, None)
        report.sent.append(item)
    if report.sent or report.failed:
        log.info("notifications: %d sent, %d failed", len(report.sent), len(report.failed))
    return report
