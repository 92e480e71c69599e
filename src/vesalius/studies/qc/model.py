"""The table of automated QC results: one current row per series, replaced on re-check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vesalius.core.model.base import Base, JSONType, UTCDateTime, utcnow


class SeriesQC(Base):
    """The QC checks run on one stable series and their findings.

    ``status`` is the worst finding's (``pass``, ``warn``, ``fail``; ``error`` when a
    check raised); ``findings`` lists ``{check, metric, status, value, threshold,
    message}``; ``checks`` the checks that ran; ``pixel_seconds`` the time spent reading
    pixels (with ``instances``, the rate of pixel QC).
    """

    __tablename__ = "series_qc"
    __table_args__ = (
        UniqueConstraint("project_id", "series_uid"),
        Index("ix_series_qc_study", "project_id", "study_uid"),
        Index("ix_series_qc_status", "project_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    study_uid: Mapped[str] = mapped_column(String(64))
    series_uid: Mapped[str] = mapped_column(String(64))
    protocol_version: Mapped[int | None]
    expected: Mapped[str | None] = mapped_column(String(200))  # expected series whose qc: applied
    status: Mapped[str] = mapped_column(String(16))
    instances: Mapped[int] = mapped_column(default=0)
    checks: Mapped[list[str]] = mapped_column(JSONType, default=list)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    pixel_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
