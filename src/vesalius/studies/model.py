"""Tables of study management: protocol versions and adherence results.

``study_protocol`` keeps every loaded protocol file (its text as given and the
validated content); results are keyed by UID within a project and replaced whenever a
series or study is checked again, so a re-delivered event or a re-opened study leaves
one current result, never two.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vesalius.core.model.base import Base, JSONType, UTCDateTime, utcnow


class StudyProtocol(Base):
    """One version of a project's protocol file (versions count from 1 per project)."""

    __tablename__ = "study_protocol"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(Text)  # the file as loaded
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)  # validated, defaults filled
    digest: Mapped[str] = mapped_column(String(64))
    loaded_by: Mapped[str] = mapped_column(String(200), default="")
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeriesAdherence(Base):
    """The check of one stable series against the expected series of its study's visit.

    ``status``: ``ok`` (matches an expected series, no violation), ``violations``,
    ``unexpected`` (matches none) or ``ignored`` (matches an ignore rule).
    """

    __tablename__ = "series_adherence"
    __table_args__ = (
        UniqueConstraint("project_id", "series_uid"),
        Index("ix_series_adherence_study", "project_id", "study_uid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    study_uid: Mapped[str] = mapped_column(String(64))
    series_uid: Mapped[str] = mapped_column(String(64))
    protocol_version: Mapped[int]
    visit: Mapped[str | None] = mapped_column(String(200))
    expected: Mapped[str | None] = mapped_column(String(200))  # the expected series matched
    status: Mapped[str] = mapped_column(String(16))
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    device: Mapped[str | None] = mapped_column(String(64))  # device key of the inventory
    device_header: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StudyAdherence(Base):
    """The check of one stable study: visit, device, missing series and flags.

    ``qualifies`` marks a qualification scan that passed: its device counts as qualified
    for studies acquired from its date on.
    """

    __tablename__ = "study_adherence"
    __table_args__ = (
        UniqueConstraint("project_id", "study_uid"),
        Index("ix_study_adherence_subject", "project_id", "subject_id"),
        Index("ix_study_adherence_device", "project_id", "device"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    study_uid: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    study_date: Mapped[str] = mapped_column(String(8), default="")
    protocol_version: Mapped[int]
    visit: Mapped[str | None] = mapped_column(String(200))
    qualification: Mapped[bool] = mapped_column(default=False)
    qualifies: Mapped[bool] = mapped_column(default=False)
    device: Mapped[str | None] = mapped_column(String(64))
    software_version: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16))  # ok | deviations
    missing: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitNotification(Base):
    """One notice to one recipient: a reminder of a due or overdue visit, or a deviation.

    The unique key (project, kind, subject, ref, recipient) makes it once per event: a
    node claims a notice by inserting its row (``sending``) before it sends; a notice that
    failed keeps its reason and is claimed again by the next run. ``ref`` is the visit
    name (reminders) or the Study Instance UID (deviations); ``recipient`` is
    ``email:ADDRESS`` or ``webhook:URL``.
    """

    __tablename__ = "visit_notification"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "subject_id", "ref", "recipient"),
        Index("ix_visit_notification_status", "project_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # visit.due | visit.overdue | deviation
    subject_id: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # sending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
