"""Objects that could not be archived, kept with the reason, never dropped silently.

The bytes go to the storage area like any object (so nothing is lost and an operator
can fetch them to repair and re-import); the row says where they came from and why
they were refused.

Objects refused by a project that de-identifies at intake are identified data, and those
a re-checking project refuses (a central archive's residual-identifier check of gateway
deliveries and ``--recheck-deid`` projects, including objects it could not read and so
not check) are suspected identified data: their blob is sealed with the vault master key
(``sealed`` is true; open it with ``vesalius.ingest.deidentify.unseal_rejected``) and the
row's origin names only the way in and the blob, never the input's path (folders are
often named after the patient).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, String, Text, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vesalius.core.model import Instance, Project
from vesalius.core.model.base import Base, UTCDateTime, utcnow


class QuarantineItem(Base):
    __tablename__ = "quarantine_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128), default="")  # who sent it
    site_code: Mapped[str | None] = mapped_column(String(16))  # a gateway's site code
    origin: Mapped[str] = mapped_column(String(1024), default="")
    reason: Mapped[str] = mapped_column(Text)
    blob_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(default=0)
    sop_uid: Mapped[str] = mapped_column(String(64), default="")
    # the blob holds (suspected) identified bytes sealed with the vault master key
    sealed: Mapped[bool] = mapped_column(default=False)


@dataclass(frozen=True)
class QuarantineView:
    id: int
    received_at: str
    project: str | None
    source: str
    origin: str
    reason: str
    size: int
    sop_uid: str
    blob_hash: str | None
    sealed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def add(
    session: Session,
    *,
    source: str,
    origin: str,
    reason: str,
    project_id: int | None,
    blob_hash: str | None,
    size: int,
    sop_uid: str = "",
    sealed: bool = False,
    actor: str = "",
    site_code: str | None = None,
) -> QuarantineItem:
    item = QuarantineItem(
        source=source,
        actor=actor[:128],
        site_code=site_code,
        origin=origin[:1024],
        reason=reason,
        project_id=project_id,
        blob_hash=blob_hash,
        size=size,
        sop_uid=sop_uid[:64],
        sealed=sealed,
    )
    session.add(item)
    return item


def list_items(
    session: Session,
    *,
    project_ids: list[int] | None = None,
    site_limits: Mapping[int, frozenset[str]] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[QuarantineView], int]:
    """Quarantined objects, newest first; ``project_ids=None`` means every project.

    ``site_limits`` (project id -> site codes) keeps, in those projects, only objects a
    gateway of one of those sites delivered: an object refused at intake has no subject
    yet, so the sender's site code is all that ties it to a site, and objects without
    one stay with the project-wide roles.
    """
    query = select(QuarantineItem, Project.key).outerjoin(
        Project, Project.id == QuarantineItem.project_id
    )
    count = select(func.count(QuarantineItem.id))
    if project_ids is not None:
        query = query.where(QuarantineItem.project_id.in_(project_ids))
        count = count.where(QuarantineItem.project_id.in_(project_ids))
    for project_id, codes in (site_limits or {}).items():
        keep = or_(
            QuarantineItem.project_id.is_(None),
            QuarantineItem.project_id != project_id,
            QuarantineItem.site_code.in_(sorted(codes)),
        )
        query = query.where(keep)
        count = count.where(keep)
    rows = session.execute(
        query.order_by(QuarantineItem.id.desc()).limit(limit).offset(offset)
    ).all()
    total = session.scalar(count) or 0
    return [
        QuarantineView(
            id=item.id,
            received_at=item.received_at.isoformat(),
            project=key,
            source=item.source,
            origin=item.origin,
            reason=item.reason,
            size=item.size,
            sop_uid=item.sop_uid,
            blob_hash=item.blob_hash,
            sealed=item.sealed,
        )
        for item, key in rows
    ], total


def rejected_by_site(session: Session, *, project_id: int) -> dict[str | None, dict[str, Any]]:
    """Objects of a project quarantined at intake, per sender site code (None: no code).

    An object counts once however often it was refused, and no more once the project holds
    it (a corrected copy arrived later), as a gateway's ``failed`` count does; reasons
    (attribute names and kinds of problem, never values) with the objects refused for each.
    """
    stored = (
        select(Instance.id)
        .where(Instance.project_id == project_id)
        .where(Instance.sop_uid == QuarantineItem.sop_uid)
        .exists()
    )
    rows = session.execute(
        select(
            QuarantineItem.site_code,
            QuarantineItem.reason,
            QuarantineItem.sop_uid,
            func.count(QuarantineItem.id),
            func.max(QuarantineItem.received_at),
        )
        .where(QuarantineItem.project_id == project_id)
        .where(~stored)
        .group_by(QuarantineItem.site_code, QuarantineItem.reason, QuarantineItem.sop_uid)
    ).all()
    objects: dict[str | None, set[str]] = {}
    unnamed: dict[str | None, int] = {}  # refused before a SOP Instance UID was read
    reasons: dict[str | None, dict[str, int]] = {}
    last: dict[str | None, dt.datetime] = {}
    for site, reason, sop_uid, count, when in rows:
        if sop_uid:
            objects.setdefault(site, set()).add(sop_uid)
        else:
            unnamed[site] = unnamed.get(site, 0) + count
        per_reason = reasons.setdefault(site, {})
        per_reason[reason] = per_reason.get(reason, 0) + (1 if sop_uid else count)
        if site not in last or when > last[site]:
            last[site] = when
    return {
        site: {
            "rejected": len(objects.get(site, ())) + unnamed.get(site, 0),
            "rejected_reasons": [
                {"reason": reason, "objects": n}
                for reason, n in sorted(reasons[site].items(), key=lambda r: (-r[1], r[0]))
            ],
            "last_rejected_at": last[site],
        }
        for site in reasons
    }
