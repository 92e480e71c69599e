"""Objects that could not be archived, kept with the reason, never dropped silently.

The bytes go to the storage area like any object (so nothing is lost and an operator
can fetch them to repair and re-import); the row says where they came from and why
they were refused.

Objects refused by a project that de-identifies at intake are identified data: their
blob is sealed with the vault master key (``sealed`` is true; open it with
``vesalius.ingest.deidentify.unseal_rejected``) and the row's origin names only the way
in and the blob, never the input's path (folders are often named after the patient).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vesalius.core.model import Project
from vesalius.core.model.base import Base, UTCDateTime, utcnow


class QuarantineItem(Base):
    __tablename__ = "quarantine_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(1024), default="")
    reason: Mapped[str] = mapped_column(Text)
    blob_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(default=0)
    sop_uid: Mapped[str] = mapped_column(String(64), default="")
    # the blob holds identified bytes sealed with the vault master key (--deid projects)
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
) -> QuarantineItem:
    item = QuarantineItem(
        source=source,
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
    session: Session, *, project_ids: list[int] | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[QuarantineView], int]:
    """Quarantined objects, newest first; ``project_ids=None`` means every project."""
    query = select(QuarantineItem, Project.key).outerjoin(
        Project, Project.id == QuarantineItem.project_id
    )
    count = select(func.count(QuarantineItem.id))
    if project_ids is not None:
        query = query.where(QuarantineItem.project_id.in_(project_ids))
        count = count.where(QuarantineItem.project_id.in_(project_ids))
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
