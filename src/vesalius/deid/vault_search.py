"""Searching files for what a project's honest-broker vault holds (``deid verify --project``).

The header and OCR checks of :mod:`vesalius.deid.verify` look for what *looks like* an
identifier; the vault knows the real ones: every patient's original ID, name, birth date,
accession numbers and original Study, Series and SOP Instance UIDs. Searching output for
those is the strongest check there is, and it is a re-identification power: opening the
vault decrypts every patient of the project, and a hit says "this file belongs to one of
them". So it is gated and audited exactly like ``vesalius broker lookup``
(:mod:`vesalius.deid.broker`): only a user holding the ``broker`` role in the project may
open it (site admins too need the role), and every attempt, allowed or refused, is an
audit event (``broker.verify``) with the user, the OS operator and the outcome, never a
value.

What a hit reports is the element (tag path, keyword) or the byte offset and the *kind*
of identifier (``patient-id``, ``patient-name``, ``name-component``, ``birth-date``,
``accession-number``, ``study-uid``, ``series-uid``, ``sop-instance-uid``): never the
value, not even the masked hint (first character and length) the pattern checks give,
since these values are known to be a real patient's. Values are matched the way the
verifier matches ``--known`` identifiers: decoded text values (names as words in their
accent-free and transliterated forms, IDs between non-alphanumerics, birth dates in their
common written forms, UIDs whole), and the raw bytes (Latin-1 and UTF-8, as written,
upper and lower case) for what decoding does not show; a value found in a decoded element
is not reported again from the raw bytes. Values equal to one of the vault's research IDs
are pseudonyms and are not searched in; UIDs are not searched in objects that declare the
Retain UIDs option (PS3.15 keeps them there on purpose).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core import audit
from vesalius.core.auth.policy import roles_in
from vesalius.core.config import Settings
from vesalius.core.model import Project, User
from vesalius.core.sealing import MasterKey
from vesalius.deid.broker import BROKER_ROLE
from vesalius.deid.keys import project_key
from vesalius.deid.text import _variants as spellings  # the cleaner's own transliterations
from vesalius.deid.text import date_forms, name_tokens
from vesalius.deid.vault import Vault, VaultSubject

PATIENT_ID, PATIENT_NAME, NAME_COMPONENT, BIRTH_DATE, ACCESSION = (
    "patient-id",
    "patient-name",
    "name-component",
    "birth-date",
    "accession-number",
)
UID_KINDS = {"studies": "study-uid", "series": "series-uid", "instances": "sop-instance-uid"}
_MIN_RAW = 4  # shorter values would match anywhere in pixel data (as in verify)
_UID_LIKE = re.compile(r"(?<![\w.])\d+(?:\.\d+)+(?![\w.])")
_UID_BYTES = re.compile(rb"(?<![0-9.])[0-9]+(?:\.[0-9]+)+(?![0-9.])")
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN", "UR"})


@dataclass(frozen=True)
class VaultIdentifiers:
    """What the vault holds for a project's patients, by kind. Never printed: the
    ``repr`` shows counts only."""

    values: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (kind, value)
    research_ids: frozenset[str] = field(default=frozenset(), repr=False)
    subjects: int = 0

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> VaultIdentifiers:
        """From :meth:`Vault.reveal` records (one per research subject)."""
        values: list[tuple[str, str]] = []
        for record in records:
            values += [(PATIENT_ID, record["patient_id"]), (BIRTH_DATE, record["birth_date"])]
            values += [(PATIENT_NAME, record["patient_name"])]
            values += [(ACCESSION, a) for a in record["accession_numbers"]]
            for key, kind in UID_KINDS.items():
                values += [(kind, link["original"]) for link in record[key]]
        kept = tuple(dict.fromkeys((k, v.strip()) for k, v in values if v and v.strip()))
        return cls(kept, frozenset(r["research_id"] for r in records), len(records))


def _name_forms(name: str) -> set[str]:
    """A DICOM PN value the ways a person's name is written in text (accents dropped or
    transliterated too, as the text cleaner writes name tokens)."""
    parts = [p.strip() for p in name.split("=")[0].split("^")]
    family, given = [*parts, "", ""][:2]
    forms = {name.strip(), "^".join(parts).rstrip("^")}
    if family and given:
        forms |= {f"{given} {family}", f"{family}, {given}", f"{family} {given}"}
    return {spelled for form in forms if form for spelled in spellings(form)}


def _alternation(tokens: dict[str, set[str]], word: bool) -> re.Pattern[str] | None:
    """One case-insensitive pattern for every token (longest first), as in deid.text."""
    if not tokens:
        return None
    body = "|".join(re.escape(t) for t in sorted(tokens, key=lambda t: (-len(t), t)))
    if word:
        return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", re.IGNORECASE)


def encodings(value: str) -> set[bytes]:
    """The byte forms a value may take in a file: as written, upper and lower case, in
    Latin-1 and UTF-8 (what raw-byte searches look for)."""
    found = set()
    for variant in {value, value.upper(), value.lower()}:
        for codec in ("latin-1", "utf-8"):
            try:
                found.add(variant.encode(codec))
            except UnicodeEncodeError:
                continue
    return found


class VaultMatcher:
    """The vault's values compiled for searching; build once per verify run."""

    def __init__(self, identifiers: VaultIdentifiers) -> None:
        self.subjects = identifiers.subjects
        self._research_ids = {r.casefold() for r in identifiers.research_ids}
        words: dict[str, set[str]] = {}  # casefolded token -> kinds (names: word bounds)
        ids: dict[str, set[str]] = {}  # IDs, accession numbers, birth dates in text forms
        self._uids: dict[str, str] = {}
        self._dates: dict[str, str] = {}
        raw: dict[str, set[str]] = {}
        for kind, value in identifiers.values:
            if kind in UID_KINDS.values():
                self._uids[value] = kind
                continue
            if kind == PATIENT_NAME:
                for form in _name_forms(value):
                    words.setdefault(form.casefold(), set()).add(PATIENT_NAME)
                    raw.setdefault(form, set()).add(PATIENT_NAME)
                for token in name_tokens([value]):
                    words.setdefault(token.casefold(), set()).add(NAME_COMPONENT)
                    raw.setdefault(token, set()).add(NAME_COMPONENT)
            elif kind == BIRTH_DATE:
                self._dates[value] = kind
                for form in date_forms(value):
                    ids.setdefault(form.casefold(), set()).add(kind)
                raw.setdefault(value, set()).add(kind)
            else:
                if len(value) >= 3:
                    ids.setdefault(value.casefold(), set()).add(kind)
                for run in re.findall(r"\d{5,}", value):
                    ids.setdefault(run, set()).add(kind)
                raw.setdefault(value, set()).add(kind)
        self._words, self._ids = words, ids
        self._word_pattern = _alternation(words, True)
        self._id_pattern = _alternation(ids, False)
        self._raw: dict[bytes, tuple[str, set[str]]] = {}
        for value, kinds in raw.items():
            if len(value) >= _MIN_RAW:
                for encoded in encodings(value):
                    self._raw[encoded] = (value.casefold(), kinds)
        body = b"|".join(re.escape(e) for e in sorted(self._raw, key=lambda e: (-len(e), e)))
        self._raw_pattern = re.compile(body) if body else None

    # -- decoded values ---------------------------------------------------------------------

    def in_value(self, value: str, vr: str, *, uids: bool = True) -> dict[str, set[str]]:
        """Kinds of vault identifiers in one decoded value, by the matched token."""
        value = value.strip()
        if not value or value.casefold() in self._research_ids:
            return {}
        hits: dict[str, set[str]] = {}
        if vr in ("DA", "DT"):
            kind = self._dates.get(value[:8])
            if kind:
                hits.setdefault(value[:8], set()).add(kind)
            return hits
        if vr == "UI" or vr in _TEXT_VRS:
            if uids:
                for match in _UID_LIKE.finditer(value):
                    kind = self._uids.get(match.group(0))
                    if kind:
                        hits.setdefault(match.group(0), set()).add(kind)
            if vr == "UI":
                return hits
        if vr not in _TEXT_VRS:
            return hits
        for pattern, table in ((self._word_pattern, self._words), (self._id_pattern, self._ids)):
            if pattern is None:
                continue
            for match in pattern.finditer(value):
                token = match.group(0).casefold()
                hits.setdefault(token, set()).update(table.get(token, ()))
        return {token: kinds for token, kinds in hits.items() if kinds}

    # -- raw bytes --------------------------------------------------------------------------

    def in_bytes(
        self, data: bytes, *, decoded: list[str], uids: bool = True
    ) -> list[tuple[str, int]]:
        """``(kind, offset)`` of vault values in the raw bytes, each value once, leaving
        out values inside an element already reported (``decoded``: those elements'
        values, casefolded), so that one name is not reported again as its components."""
        found: list[tuple[str, int]] = []
        reported: set[str] = set()

        def new(token: str) -> bool:
            if token in reported or any(token in text for text in decoded):
                return False
            reported.add(token)
            return True

        if self._raw_pattern is not None:
            for match in self._raw_pattern.finditer(data):
                token, kinds = self._raw[match.group(0)]
                if new(token):
                    found += [(kind, match.start()) for kind in sorted(kinds)]
        if uids and self._uids:
            for match in _UID_BYTES.finditer(data):
                uid = match.group(0).decode("ascii")
                kind = self._uids.get(uid)
                if kind and new(uid):
                    found.append((kind, match.start()))
        return found


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _strings(element: DataElement) -> list[str]:
    value = element.value
    if value is None or isinstance(value, Sequence | bytes):
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [s for s in (str(i).strip().strip("\x00").strip() for i in items) if s]


def elements(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, DataElement]]:
    """Every element at every depth, File Meta and private ones included, with its tag
    path (``(0040,0275)[0](0040,1001)``, as verify names elements)."""
    meta = getattr(ds, "file_meta", None) if not prefix else None
    for element in [*(meta or ()), *ds]:
        label = prefix + _tag(int(element.tag))
        yield label, element
        if element.VR == "SQ":
            for index, item in enumerate(element.value or ()):
                yield from elements(item, f"{label}[{index}]")


def in_dataset(
    ds: Dataset, matcher: VaultMatcher, *, uids: bool = True
) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """``(tag path, keyword, kinds)`` of every element holding a vault identifier, and
    those elements' values, casefolded (for :meth:`VaultMatcher.in_bytes`)."""
    found: list[tuple[str, str, list[str]]] = []
    decoded: list[str] = []
    for label, element in elements(ds):
        kinds: set[str] = set()
        for value in _strings(element):
            matched = matcher.in_value(value, element.VR, uids=uids)
            if matched:
                kinds.update(*matched.values())
                decoded.append(value.casefold())
        if kinds:
            keyword = element.keyword or ("private" if element.tag.is_private else "")
            found.append((label, keyword, sorted(kinds)))
    return found, decoded


# -- access: the broker role, audited -------------------------------------------------------


@dataclass(frozen=True)
class VaultAccess:
    outcome: str  # opened | refused | no-vault
    identifiers: VaultIdentifiers | None = None
    reason: str = ""


def open_for_verify(
    session: Session,
    *,
    settings: Settings,
    project: str,
    user_name: str,
    via: str,
    operator: str | None = None,
) -> VaultAccess:
    """The project's vault identifiers for ``user_name`` if they are a broker there.

    Mirrors :func:`vesalius.deid.broker.lookup`: the audit event (``broker.verify``) is
    added to ``session`` whatever the outcome; the caller commits it before it reports a
    refusal or starts the check.
    """
    user = session.scalar(select(User).where(User.name == user_name))
    row = session.scalar(select(Project).where(Project.key == project))
    detail: dict[str, Any] = {"via": via}
    if operator:
        detail["operator"] = operator
    needs = f"this needs the {BROKER_ROLE!r} role in {project!r}"
    if user is None or not user.is_active or row is None:
        what = "project" if row is None else f"active vesalius user {user_name[:64]!r}"
        result = VaultAccess("refused", reason=f"no such {what} ({needs}; --as names the user)")
    elif BROKER_ROLE not in roles_in(session, user, row.id):
        result = VaultAccess("refused", reason=needs)
    elif not row.deid_profile:
        result = VaultAccess(
            "no-vault",
            reason=f"project {project!r} does not de-identify at intake: it has no vault "
            "to check against",
        )
    else:
        vault = Vault(
            project=row.key,
            project_id=row.id,
            project_key=project_key(settings, row.key),
            master_key=MasterKey(settings).require(),
        )
        research_ids = session.scalars(
            select(VaultSubject.research_id)
            .where(VaultSubject.project_id == row.id)
            .order_by(VaultSubject.id)
        ).all()
        records = [r for r in (vault.reveal(session, rid) for rid in research_ids) if r]
        identifiers = VaultIdentifiers.from_records(records)
        result = VaultAccess("opened", identifiers)
        detail["subjects"] = identifiers.subjects
    audit.record(
        session,
        actor=user_name if user is not None else f"unknown:{user_name[:64]}",
        action="broker.verify",
        target=f"project:{project}",
        detail=detail | {"outcome": result.outcome},
    )
    return result
