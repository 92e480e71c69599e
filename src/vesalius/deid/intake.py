"""De-identification at intake: the settings of a ``--deid`` project and the stage that
applies them before anything is stored.

A project created with ``vesalius project create KEY --deid [--profile FILE]`` gets a
``deid_project`` row: its profile (options and overrides, as in ``deid run``) and its
research subject ID template. Without ``--profile`` the intake profile is the basic
profile plus retain-longitudinal-modified-dates (research needs the intervals between
visits; every date of a patient moves by the same keyed offset) and clean-pixel-data
(objects at risk of burned-in text go through OCR instead of being passed on with a
warning). A profile file may also set ``subject_id_template``.

:class:`IntakeSpec` is what a worker process needs (picklable: keys, profile, database
URL); :class:`IntakeDeidentifier` is built from it once per process and de-identifies
one object at a time: it reads the patient's identity, asks the vault for the research
ID and date offset (assigned at first sight), runs the engine with those as its hooks,
and returns the de-identified bytes plus the sealed vault links to record with the
object's index rows. Same input and key give the same bytes (the research ID is recalled,
the offset recorded), so a re-sent object is a duplicate.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vesalius.core import audit
from vesalius.core.config import Settings
from vesalius.core.db import Database, open_database
from vesalius.core.dicom.parse import read_dataset
from vesalius.core.errors import InvalidInput, RejectedObject, VesaliusError
from vesalius.core.model import Project
from vesalius.core.model.base import Base, JSONType, UTCDateTime, utcnow
from vesalius.core.sealing import MasterKey
from vesalius.deid.engine import Deidentifier
from vesalius.deid.keys import project_key
from vesalius.deid.pixels import OcrPixelCleaner
from vesalius.deid.private import SafePrivate
from vesalius.deid.profile import Option, Profile
from vesalius.deid.subjects import DEFAULT_TEMPLATE, validate_template, with_site_prefix
from vesalius.deid.text import KnownIdentifiers
from vesalius.deid.vault import Identity, LinkRow, SubjectEntry, Vault, VaultSubject

DEFAULT_OPTIONS = (Option.RETAIN_LONGITUDINAL_MODIFIED_DATES, Option.CLEAN_PIXEL_DATA)


class DeidProject(Base):
    """How one project de-identifies at intake (present only for ``--deid`` projects)."""

    __tablename__ = "deid_project"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType)
    subject_id_template: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def default_profile() -> Profile:
    return Profile(frozenset(DEFAULT_OPTIONS), name="intake-default")


def load_profile_file(path: Path) -> tuple[Profile, str | None]:
    """A profile TOML, which may also carry ``subject_id_template``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read profile ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: profile is not valid TOML: {exc}") from None
    template = data.pop("subject_id_template", None)
    if template is not None and not isinstance(template, str):
        raise InvalidInput(f"{path}: subject_id_template is a string")
    profile = Profile.from_mapping(data)
    return Profile(profile.options, profile.overrides, profile.name or path.stem), template


def configure_project(
    session: Session,
    *,
    project: Project,
    settings: Settings,
    actor: str,
    profile: Profile | None = None,
    template: str | None = None,
) -> DeidProject:
    """Make ``project`` de-identify at intake (in the caller's transaction).

    The project key and the vault master key are created now (0600 files in the home's
    secrets, unless the master key comes from the environment), so that the first
    object never has to, and the spool starts sealing entries from here on.
    """
    profile = profile or default_profile()
    template = validate_template(template or DEFAULT_TEMPLATE)
    if profile.has(Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES):
        Deidentifier(profile, b"0" * 32)  # raises OptionUnavailable: no defacing in this build
    MasterKey(settings).require()
    project_key(settings, project.key)
    row = session.get(DeidProject, project.id)
    if row is None:
        row = DeidProject(project_id=project.id, profile={}, subject_id_template=template)
        session.add(row)
    row.profile = profile.to_mapping()
    row.subject_id_template = template
    project.deid_profile = (profile.name or "custom")[:200]
    audit.record(
        session,
        actor=actor,
        action="deid.configure",
        target=f"project:{project.key}",
        detail={"options": [o.value for o in profile.ordered_options], "template": template},
    )
    return row


@dataclass(frozen=True)
class IntakeSpec:
    """Everything a process needs to de-identify a project's objects (picklable).

    ``profile`` is None when the project says it de-identifies but its settings are
    missing: its objects are then quarantined (sealed), never stored as received.
    """

    project: str
    project_id: int
    profile: Profile | None
    template: str
    key: bytes
    master_key: bytes
    database_url: str
    tcia_path: Path | None = None


def spec_for(session: Session, project: Project, settings: Settings) -> IntakeSpec | None:
    """The intake spec of ``project``; None for projects that store what they receive."""
    if not project.deid_profile:
        return None
    row = session.get(DeidProject, project.id)
    return IntakeSpec(
        project=project.key,
        project_id=project.id,
        profile=Profile.from_mapping(row.profile) if row is not None else None,
        template=row.subject_id_template if row is not None else DEFAULT_TEMPLATE,
        key=project_key(settings, project.key),
        master_key=MasterKey(settings).require(),
        database_url=settings.resolved_database_url,
        tcia_path=settings.tcia_private_tags_path,
    )


class IntakeDeidentifier:
    """The engine with the vault as its hooks, for one project in one process."""

    def __init__(self, spec: IntakeSpec, db: Database | None = None) -> None:
        if spec.profile is None:
            raise RejectedObject(
                "this project de-identifies at intake but its de-identification settings "
                "are missing"
            )
        self.spec = spec
        self._db = db
        self._local = threading.local()  # the subject of the object this thread is on
        self.vault = Vault(
            project=spec.project,
            project_id=spec.project_id,
            project_key=spec.key,
            master_key=spec.master_key,
        )
        self.engine = Deidentifier(
            spec.profile,
            spec.key,
            safe_private=SafePrivate.load(spec.tcia_path),
            pixel_cleaner=OcrPixelCleaner(),
            subject_id_for=self._research_id,
            date_offset_for=self._date_offset,
            known_for=self._known,
        )

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self.spec.database_url, upgrade=False)
        return self._db

    def _current(self) -> SubjectEntry:
        subject: SubjectEntry | None = getattr(self._local, "subject", None)
        assert subject is not None
        return subject

    def _research_id(self, _key: str) -> str:
        return self._current().research_id

    def _date_offset(self, _key: str) -> int:
        return self._current().date_offset

    def _known(self, _key: str) -> KnownIdentifiers:
        return self._current().known()

    def run(self, data: bytes) -> tuple[bytes, tuple[LinkRow, ...]]:
        """De-identified bytes and the sealed vault links; ``RejectedObject`` if unsafe."""
        try:
            ds = read_dataset(data)
        except VesaliusError:
            raise
        except Exception as exc:
            raise RejectedObject(f"could not be read: {type(exc).__name__}") from None
        identity = Identity.of(ds)
        self._local.subject = self.vault.subject_for(
            self.db,
            identity,
            template=self.spec.template,
            date_offset=self.engine.pseudonyms.date_offset_days(identity.patient_key),
        )
        try:
            result = self.engine.deidentify(ds)
            try:
                out = result.to_bytes()
            except Exception:
                raise RejectedObject("the de-identified object could not be written") from None
        finally:
            self._local.subject = None
        report = result.report
        links = self.vault.links_for(
            report.subject_id,
            identity,
            {
                "study": report.study_instance_uid,
                "series": report.series_instance_uid,
                "sop": report.sop_instance_uid,
            },
        )
        return out, links


_runtimes: dict[tuple[IntakeSpec, int], IntakeDeidentifier] = {}


def deidentifier_for(spec: IntakeSpec, db: Database | None = None) -> IntakeDeidentifier:
    """The process's deidentifier for ``spec`` (built once: tables, OCR and vault cache).

    Keyed by process id too: a forked worker must not use its parent's database engine.
    """
    key = (spec, os.getpid())
    runtime = _runtimes.get(key)
    if runtime is None:
        if len(_runtimes) > 32:
            _runtimes.clear()
        runtime = _runtimes[key] = IntakeDeidentifier(spec, db)
    return runtime


def set_site_prefix(session: Session, *, project: Project, site: str, actor: str) -> str:
    """Put the site code in front of ``project``'s subject ID template (in the caller's
    transaction); returns the template in force.

    Refused once research IDs were assigned without the prefix: changing the template
    then would give the project IDs of two forms, and the earlier ones could still
    collide with another site's.
    """
    row = session.get(DeidProject, project.id)
    if row is None:
        raise InvalidInput(
            f"project {project.key!r} does not de-identify at intake "
            f"(create it with `vesalius project create {project.key} --deid`)"
        )
    template = with_site_prefix(row.subject_id_template, site)
    if template == row.subject_id_template:
        return template
    assigned = session.scalar(
        select(func.count(VaultSubject.id)).where(VaultSubject.project_id == project.id)
    )
    if assigned:
        raise InvalidInput(
            f"project {project.key!r} has assigned research IDs without the site prefix "
            f"{site!r}; its subject ID template can no longer change"
        )
    row.subject_id_template = template
    audit.record(
        session,
        actor=actor,
        action="deid.site_prefix",
        target=f"project:{project.key}",
        detail={"site": site, "template": template},
    )
    return template
