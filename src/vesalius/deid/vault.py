"""The honest-broker vault: research subject IDs and the sealed links back to the patient.

Per project, a ``vault_subject`` row links a research subject ID to the patient it was
assigned to: original Patient ID, name, birth date and the subject's date offset, all in
one value sealed with the home's master key (``vesalius.core.sealing``: AES-256-GCM, the
project and research ID bound as associated data so a ciphertext moved to another row or
project does not open). ``vault_link`` rows add what later objects told: accession
numbers and original Study, Series and SOP Instance UIDs (each sealed, with the research
UID it became in the clear, since that one is public inside the project).

Recognising a patient again must not mean decrypting every row, and the lookup column
must not be a plain hash an attacker could recompute from a list of hospital IDs: it is
an HMAC of the patient key under the *project's* de-identification key, so the same
patient has unrelated lookup values (and research IDs) in two projects.

IDs are assigned at first sight from the project's template (``vesalius.deid.subjects``)
in a transaction of their own, committed at once, so that workers and nodes that see
the same new patient at the same time agree: the unique constraints on
(project, patient HMAC), (project, research ID) and (project, sequence) let exactly one
insert win, and the others retry and find the winner's row (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from vesalius.core.db import Database
from vesalius.core.errors import ConfigError
from vesalius.core.model.base import Base, UTCDateTime, utcnow
from vesalius.core.sealing import seal, unseal
from vesalius.deid.engine import patient_key
from vesalius.deid.subjects import format_subject_id
from vesalius.deid.text import KnownIdentifiers

ASSIGN_ATTEMPTS = 20
LINK_KINDS = ("accession", "study", "series", "sop")
_PATIENT_DOMAIN = b"vesalius:vault-patient:v1\x00"
_LINK_DOMAIN = b"vesalius:vault-link:v1\x00"


class VaultSubject(Base):
    __tablename__ = "vault_subject"
    __table_args__ = (
        UniqueConstraint("project_id", "patient_hmac"),
        UniqueConstraint("project_id", "research_id"),
        UniqueConstraint("project_id", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    research_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    patient_hmac: Mapped[str] = mapped_column(String(64))
    identity: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VaultLink(Base):
    __tablename__ = "vault_link"
    __table_args__ = (UniqueConstraint("project_id", "research_id", "kind", "value_hmac"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    research_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    value_hmac: Mapped[str] = mapped_column(String(64))
    pseudonym: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[bytes] = mapped_column(LargeBinary)  # sealed original
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Identity:
    """What one object says about its patient and itself, read before de-identification."""

    patient_key: str
    patient_id: str
    patient_name: str
    birth_date: str
    accession: str
    study_uid: str
    series_uid: str
    sop_uid: str

    @classmethod
    def of(cls, ds: Dataset) -> Identity:
        def text(keyword: str) -> str:
            return str(ds.get(keyword, "") or "").strip()

        return cls(
            patient_key=patient_key(ds),
            patient_id=text("PatientID"),
            patient_name=text("PatientName"),
            birth_date=text("PatientBirthDate"),
            accession=text("AccessionNumber"),
            study_uid=text("StudyInstanceUID"),
            series_uid=text("SeriesInstanceUID"),
            sop_uid=text("SOPInstanceUID"),
        )


@dataclass(frozen=True)
class SubjectEntry:
    """A subject as the intake needs it: its research ID, date offset and known identifiers."""

    research_id: str
    date_offset: int
    patient_id: str
    patient_name: str
    birth_date: str

    def known(self) -> KnownIdentifiers:
        return KnownIdentifiers(
            names=tuple(n for n in (self.patient_name,) if n),
            ids=tuple(i for i in (self.patient_id,) if i),
            birth_dates=tuple(b for b in (self.birth_date,) if b),
        )


@dataclass(frozen=True)
class LinkRow:
    """A sealed vault link, built where the object is de-identified (picklable, no PHI in
    the clear) and recorded with the object's index rows."""

    project_id: int
    research_id: str
    kind: str
    value_hmac: str
    pseudonym: str
    value: bytes


def _subject_context(project: str, research_id: str) -> bytes:
    return f"vesalius:vault-subject:v1\x00{project}\x00{research_id}".encode()


def _link_context(project: str, research_id: str, kind: str, value_hmac: str) -> bytes:
    parts = ("vesalius:vault-link:v1", project, research_id, kind, value_hmac)
    return "\x00".join(parts).encode()


class Vault:
    """One project's vault: ``project`` (key) and ``project_id`` name it, ``project_key`` (the
    de-identification key) keys the lookup HMACs, ``master_key`` seals the values."""

    def __init__(
        self, *, project: str, project_id: int, project_key: bytes, master_key: bytes
    ) -> None:
        self.project = project
        self.project_id = project_id
        self._hmac_key = project_key
        self._master = master_key
        self._subjects: dict[str, SubjectEntry] = {}

    # -- lookup values --------------------------------------------------------------------

    def patient_hmac(self, key: str) -> str:
        return hmac.new(self._hmac_key, _PATIENT_DOMAIN + key.encode(), hashlib.sha256).hexdigest()

    def _link_hmac(self, kind: str, value: str) -> str:
        message = _LINK_DOMAIN + kind.encode() + b"\x00" + value.encode()
        return hmac.new(self._hmac_key, message, hashlib.sha256).hexdigest()

    # -- subjects -------------------------------------------------------------------------

    def _entry(self, row: VaultSubject) -> SubjectEntry:
        plain = unseal(self._master, row.identity, _subject_context(self.project, row.research_id))
        data = json.loads(plain)
        return SubjectEntry(
            research_id=row.research_id,
            date_offset=int(data["date_offset"]),
            patient_id=data["patient_id"],
            patient_name=data["patient_name"],
            birth_date=data["birth_date"],
        )

    def find(self, session: Session, identity: Identity) -> SubjectEntry | None:
        row = session.scalar(
            select(VaultSubject).where(
                VaultSubject.project_id == self.project_id,
                VaultSubject.patient_hmac == self.patient_hmac(identity.patient_key),
            )
        )
        return None if row is None else self._entry(row)

    def subject_for(
        self, db: Database, identity: Identity, *, template: str, date_offset: int
    ) -> SubjectEntry:
        """The patient's subject, assigned (and committed) at first sight; recalled after.

        ``date_offset`` is used only for a new subject; a known one keeps its recorded
        offset. Runs its own short transactions on ``db``, outside the caller's.
        """
        cached = self._subjects.get(identity.patient_key)
        if cached is not None:
            return cached
        with db.read() as session:
            entry = self.find(session, identity)
        for _ in range(ASSIGN_ATTEMPTS):
            if entry is not None:
                break
            try:
                with db.write() as session, session.begin():
                    entry = self.find(session, identity) or self._assign(
                        session, identity, template=template, date_offset=date_offset
                    )
            except IntegrityError:
                entry = None  # another node took this sequence number or this patient: again
                with db.read() as session:
                    entry = self.find(session, identity)
        if entry is None:
            raise ConfigError("could not assign a research subject ID (too much contention)")
        if len(self._subjects) > 100_000:
            self._subjects.clear()
        self._subjects[identity.patient_key] = entry
        return entry

    def _assign(
        self, session: Session, identity: Identity, *, template: str, date_offset: int
    ) -> SubjectEntry:
        last = session.scalar(
            select(func.max(VaultSubject.seq)).where(VaultSubject.project_id == self.project_id)
        )
        seq = (last or 0) + 1
        research_id = format_subject_id(template, project=self.project, seq=seq)
        plain = {
            "patient_key": identity.patient_key,
            "patient_id": identity.patient_id,
            "patient_name": identity.patient_name,
            "birth_date": identity.birth_date,
            "date_offset": date_offset,
        }
        sealed = seal(
            self._master,
            json.dumps(plain, ensure_ascii=False, sort_keys=True).encode(),
            _subject_context(self.project, research_id),
        )
        session.add(
            VaultSubject(
                project_id=self.project_id,
                research_id=research_id,
                seq=seq,
                patient_hmac=self.patient_hmac(identity.patient_key),
                identity=sealed,
            )
        )
        session.flush()
        return SubjectEntry(
            research_id, date_offset, identity.patient_id, identity.patient_name,
            identity.birth_date,
        )  # fmt: skip

    # -- links ----------------------------------------------------------------------------

    def links_for(
        self, research_id: str, identity: Identity, pseudonyms: dict[str, str]
    ) -> tuple[LinkRow, ...]:
        """Sealed links of one object; ``pseudonyms`` maps kind to the value it became."""
        originals = {
            "accession": identity.accession,
            "study": identity.study_uid,
            "series": identity.series_uid,
            "sop": identity.sop_uid,
        }
        rows = []
        for kind, value in originals.items():
            if not value:
                continue
            value_hmac = self._link_hmac(kind, value)
            rows.append(
                LinkRow(
                    project_id=self.project_id,
                    research_id=research_id,
                    kind=kind,
                    value_hmac=value_hmac,
                    pseudonym=pseudonyms.get(kind, "")[:64],
                    value=seal(
                        self._master,
                        value.encode(),
                        _link_context(self.project, research_id, kind, value_hmac),
                    ),
                )
            )
        return tuple(rows)

    def date_offset(self, session: Session, research_id: str) -> int | None:
        """The subject's date shift in days (shown = true + offset), for services that
        need true time inside the server (visit windows); never for users' eyes."""
        row = session.scalar(
            select(VaultSubject).where(
                VaultSubject.project_id == self.project_id,
                VaultSubject.research_id == research_id,
            )
        )
        return None if row is None else self._entry(row).date_offset

    # -- the broker's view ----------------------------------------------------------------

    def reveal(self, session: Session, research_id: str) -> dict[str, Any] | None:
        """Everything the vault holds on one research subject, decrypted (broker only)."""
        row = session.scalar(
            select(VaultSubject).where(
                VaultSubject.project_id == self.project_id,
                VaultSubject.research_id == research_id,
            )
        )
        if row is None:
            return None
        entry = self._entry(row)
        out: dict[str, Any] = {
            "project": self.project,
            "research_id": research_id,
            "patient_id": entry.patient_id,
            "patient_name": entry.patient_name,
            "birth_date": entry.birth_date,
            "date_offset_days": entry.date_offset,
            "accession_numbers": [],
            "studies": [],
            "series": [],
            "instances": [],
        }
        lists = {"study": "studies", "series": "series", "sop": "instances"}
        links = session.scalars(
            select(VaultLink)
            .where(VaultLink.project_id == self.project_id, VaultLink.research_id == research_id)
            .order_by(VaultLink.id)
        )
        for link in links:
            original = unseal(
                self._master,
                link.value,
                _link_context(self.project, research_id, link.kind, link.value_hmac),
            ).decode()
            if link.kind == "accession":
                out["accession_numbers"].append(original)
            elif link.kind in lists:
                out[lists[link.kind]].append({"original": original, "research": link.pseudonym})
        return out


def record_links(session: Session, links: Iterable[LinkRow]) -> None:
    """Insert links not yet recorded (in the caller's transaction); known ones are skipped."""
    rows = [
        {
            "project_id": link.project_id,
            "research_id": link.research_id,
            "kind": link.kind,
            "value_hmac": link.value_hmac,
            "pseudonym": link.pseudonym,
            "value": link.value,
            "created_at": utcnow(),
        }
        for link in links
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(VaultLink).on_conflict_do_nothing(
        index_elements=["project_id", "research_id", "kind", "value_hmac"]
    )
    session.execute(statement, rows)
