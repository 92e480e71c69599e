"""The gateway's outbox table: one row per object version to deliver, with its state.

States move ``queued -> in_flight -> delivered``; a delivery that fails for a reason that
may pass (network, central down, out of resources) goes back to ``queued`` with the
reason and a time before which it is not tried again; one the central archive refuses
for good (its residual-identifier check quarantined it) ends ``failed`` with the central's
reason. ``in_flight`` is written and committed *before* a batch is sent, so after a crash
the rows still in flight are exactly those that may or may not have arrived: they are
sent again, and the central side answers duplicates for those that had.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vesalius.core.model.base import Base, UTCDateTime, utcnow


class ItemState(enum.StrEnum):
    QUEUED = "queued"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"


class GatewayItem(Base):
    """One de-identified object version of the local project, on its way to central."""

    __tablename__ = "gateway_item"
    __table_args__ = (
        UniqueConstraint("project_id", "sop_uid", "version"),
        Index("ix_gateway_item_due", "state", "next_attempt_at"),
        Index("ix_gateway_item_study", "project_id", "study_uid", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(unique=True)  # the instance.stored event it came from
    study_uid: Mapped[str] = mapped_column(String(64))
    series_uid: Mapped[str] = mapped_column(String(64))
    sop_uid: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    blob_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(16), default=ItemState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
