"""The archive's hierarchy: project > subject > study > series > instance (+ versions).

These rows are the *index*; the bytes live in the storage area under ``blob_hash``.
Counts and modality lists are kept on the parent rows so that study lists never
aggregate over instances.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vesalius.core.model.base import Base, JSONType, UTCDateTime, utcnow

VISIBILITIES = ("private", "public")


class Project(Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    ae_title: Mapped[str | None] = mapped_column(String(16), unique=True)
    deid_profile: Mapped[str | None] = mapped_column(String(200))
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    stable_seconds: Mapped[int | None]
    accept_unknown_ae: Mapped[bool] = mapped_column(default=False)
    # a central archive re-checks what it receives for residual identifiers (deid.recheck)
    recheck_deid: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Site(Base):
    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))


class Subject(Base):
    """A research subject; without de-identification its ID is the DICOM PatientID."""

    __tablename__ = "subject"
    __table_args__ = (
        UniqueConstraint("project_id", "subject_id"),
        Index("ix_subject_subject_id", "subject_id"),  # PatientID across projects
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    subject_id: Mapped[str] = mapped_column(String(64))
    patient_name: Mapped[str] = mapped_column(String(200), default="")
    birth_date: Mapped[str] = mapped_column(String(8), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Study(Base):
    __tablename__ = "study"
    __table_args__ = (
        UniqueConstraint("project_id", "study_uid"),
        Index("ix_study_project_date", "project_id", "study_date"),
        Index("ix_study_project_open", "project_id", "stable_at"),
        # searches over every project the caller may read (QIDO, C-FIND)
        Index("ix_study_study_uid", "study_uid"),
        Index("ix_study_study_date", "study_date"),
        Index("ix_study_accession_number", "accession_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    subject_pk: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    study_uid: Mapped[str] = mapped_column(String(64))
    study_date: Mapped[str] = mapped_column(String(8), default="")
    study_time: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    accession_number: Mapped[str] = mapped_column(String(64), default="")
    study_id: Mapped[str] = mapped_column(String(64), default="")
    referring_physician: Mapped[str] = mapped_column(String(200), default="")
    modalities: Mapped[str] = mapped_column(String(200), default="")
    series_count: Mapped[int] = mapped_column(default=0)
    instance_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    stable_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    subject: Mapped[Subject] = relationship()


# Patient names match case-insensitively (PatientName=Doe*). PostgreSQL plans a
# left-anchored LIKE on this index only with text_pattern_ops (in any collation but C);
# SQLite is given the prefix as a range (vesalius.archive.query).
Index(
    "ix_subject_patient_name_lower",
    func.lower(Subject.patient_name).label("patient_name_lower"),
    postgresql_ops={"patient_name_lower": "text_pattern_ops"},
)


class Series(Base):
    __tablename__ = "series"
    __table_args__ = (
        UniqueConstraint("project_id", "series_uid"),
        Index("ix_series_project_open", "project_id", "stable_at"),
        Index("ix_series_series_uid", "series_uid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    series_uid: Mapped[str] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(16), default="")
    series_number: Mapped[int | None]
    description: Mapped[str] = mapped_column(String(200), default="")
    body_part: Mapped[str] = mapped_column(String(64), default="")
    performed_start_date: Mapped[str] = mapped_column(String(8), default="")
    performed_start_time: Mapped[str] = mapped_column(String(16), default="")
    instance_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    stable_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    study: Mapped[Study] = relationship()


class Instance(Base):
    """One object (SOP Instance UID within a project), pointing at its latest version."""

    __tablename__ = "instance"
    __table_args__ = (UniqueConstraint("project_id", "sop_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    series_pk: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sop_uid: Mapped[str] = mapped_column(String(64))
    sop_class_uid: Mapped[str] = mapped_column(String(64), default="")
    instance_number: Mapped[int | None]
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64), default="")
    blob_hash: Mapped[str] = mapped_column(String(64), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    version: Mapped[int] = mapped_column(default=1)
    dicom_json: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    series: Mapped[Series] = relationship()


class Modality(Base):
    """A registered remote DICOM node: the DIMSE principal of DESIGN.md's contracts.

    It belongs to one project and may store into, query and retrieve from that project
    only; C-MOVE sends only to registered nodes of the same project.
    """

    __tablename__ = "modality"
    __table_args__ = (UniqueConstraint("project_id", "ae_title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    ae_title: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int]
    # C-MOVE to it over TLS, verified against tls_ca (else the system's CAs), presenting
    # tls_cert/tls_key when given; the columns hold absolute paths, never key material
    tls: Mapped[bool] = mapped_column(default=False)
    tls_ca: Mapped[str | None] = mapped_column(String(1024))
    tls_cert: Mapped[str | None] = mapped_column(String(1024))
    tls_key: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstanceVersion(Base):
    """Every distinct content an object has had; old versions are never removed."""

    __tablename__ = "instance_version"
    __table_args__ = (
        UniqueConstraint("instance_pk", "version"),
        Index("ix_instance_version_digest", "instance_pk", "digest"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_pk: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"))
    version: Mapped[int]
    digest: Mapped[str] = mapped_column(String(64))
    blob_hash: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64), default="")
    series_uid: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="")
    # who sent this version: the user (or ``ae:TITLE``) and, for a site gateway, the
    # site code it declared (a research-ID prefix, never PHI)
    actor: Mapped[str] = mapped_column(String(128), default="")
    site_code: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
