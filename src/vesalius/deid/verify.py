"""Residual identifiers in objects that should be de-identified (``vesalius deid verify``).

A second look at output, by other means than the engine's own bookkeeping: every element
at every depth is judged against what PS3.15 requires under the options the object
declares in its marks (De-identification Method Code Sequence), and the pixels of objects
at risk of burned-in text are read by OCR. A finding names the file, the element (tag
path and keyword), the kind of problem and a masked hint (first character and length),
never the value itself: verify output is a log, and PHI never goes into logs.

What is checked (categories):

- ``mark``: Patient Identity Removed not YES; no De-identification Method; Burned In
  Annotation YES;
- ``header``: an attribute Table E.1-1 removes (X) or empties (Z) under the declared
  options still holds a value;
- ``file-meta``: File Meta that names the sending system (AE titles, addresses);
- ``private``: a private attribute not known safe (Table E.3.10-1, the TCIA list) or
  kept without the retain-safe-private option;
- ``person-name``: a PN value that is not a pseudonym (the object's research ID, the
  dummy, or the research-ID pattern);
- ``date``: a date left in place while the marks say dates were removed; ``age``: over 89;
- ``text``: free text holding an identifier pattern (dates, phone numbers, e-mail
  addresses, long IDs, UIDs) or a known identifier (``deid.text.identifier_spans``);
- ``overlay`` / ``curve``: overlay planes or curves the declared options remove;
- ``known``: a known identifier (``--known``) anywhere in the raw bytes;
- ``vault``: an identifier the project's honest-broker vault holds for one of its
  patients (``--project``, brokers only; :mod:`vesalius.deid.vault_search`), in a decoded
  element or the raw bytes; the hint names the kind of identifier, never even masked;
- ``pixels``: text found by OCR in the pixels of an object at risk, or pixels that
  cannot be read.

Heuristic by nature: a clean result means none of these checks found anything, not that
the object is safe. Known identifiers (the patient list, the vault) make it much stronger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from vesalius.core.dicom.parse import MediaDirectory, read_dataset
from vesalius.core.errors import InvalidInput, RejectedObject
from vesalius.deid import actions, iod
from vesalius.deid.pixels.blank import READ_CONFIDENCE, find_text
from vesalius.deid.pixels.ocr import Region, TextDetector
from vesalius.deid.pixels.risk import at_risk
from vesalius.deid.private import SafePrivate, Step, private_step
from vesalius.deid.profile import OPTION_CODES, Option
from vesalius.deid.rules import choose, rule_table
from vesalius.deid.text import KnownIdentifiers, identifier_spans
from vesalius.deid.vault_search import VaultMatcher, encodings, in_dataset

DEFAULT_PSEUDONYM = r"S-[0-9A-F]{12}"
"""The research-ID form of ``Pseudonyms.subject_id`` (standalone runs)."""

_CODE_OPTIONS = {code: option for option, (code, _meaning) in OPTION_CODES.items()}
_DUMMIES = {actions.DUMMY_TEXT, "19000101", "19000101000000", "000000", "000Y", "0"}
_OWN_MARKS = frozenset(
    {
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "LongitudinalTemporalInformationModified",
        "BurnedInAnnotation",
        "SpecificCharacterSet",
    }
)
_RESEARCH_ID = frozenset({"PatientID", "PatientName"})
_CODED = frozenset(
    {
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "LongCodeValue",
        "URNCodeValue",
        "MappingResourceName",
        "CodingSchemeName",
        "CodingSchemeResponsibleOrganization",
        "ContextIdentifier",
        "MappingResource",
    }
)
_FILE_META_IDENTIFYING = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "SourcePresentationAddress",
    "SendingPresentationAddress",
    "ReceivingPresentationAddress",
    "PrivateInformation",
)
_ID_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers|Identifier)$")
_MIN_RAW = 4  # shorter known values would match anywhere in pixel data
_VAULT_HIT = "an identifier the project's vault holds for one of its patients"


def mask(value: str) -> str:
    """A hint that says what kind of value it is without saying the value."""
    value = " ".join(str(value).split())
    if not value:
        return "(empty)"
    head = value[0] if len(value) >= 4 else ""
    return f"{head}… ({len(value)} chars)"


@dataclass(frozen=True)
class Finding:
    """One residual identifier (or a reason to think there is one). Holds no value."""

    file: str
    category: str
    tag: str
    keyword: str
    hint: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {
            "file": self.file,
            "category": self.category,
            "tag": self.tag,
            "keyword": self.keyword,
            "hint": self.hint,
            "detail": self.detail,
        }

    def line(self) -> str:
        where = " ".join(p for p in (self.tag, self.keyword) if p)
        return f"{self.file}: {where}: {self.category}: {self.detail} [{self.hint}]"


@dataclass
class VerifyReport:
    files: int = 0
    pixels_read: int = 0
    findings: list[Finding] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def files_with_findings(self) -> int:
        return len({f.file for f in self.findings})

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "clean_files": self.files - self.files_with_findings,
            "files_with_findings": self.files_with_findings,
            "findings": len(self.findings),
            "pixels_read": self.pixels_read,
            "skipped": len(self.skipped),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "items": [f.to_dict() for f in self.findings],
            "skipped_items": list(self.skipped),
        }


def load_known(path: Path) -> KnownIdentifiers:
    """Known identifiers from a file: JSON with lists under ``names``, ``ids``,
    ``birth_dates``, ``dates``, ``texts`` (KnownIdentifiers' fields), or plain text with
    one identifier per line (each matched literally, any case)."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"{path}: cannot read known identifiers ({type(exc).__name__})"
        ) from None
    stripped = content.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(content)
        except json.JSONDecodeError:
            raise InvalidInput(f"{path}: not valid JSON") from None
        fields = ("names", "ids", "birth_dates", "dates", "texts")
        unknown = set(data) - set(fields)
        if unknown:
            raise InvalidInput(f"{path}: unknown keys {sorted(unknown)}; use {list(fields)}")
        values = {}
        for name in fields:
            items = data.get(name, [])
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise InvalidInput(f"{path}: {name} must be a list of strings")
            values[name] = tuple(i.strip() for i in items if i.strip())
        return KnownIdentifiers(**values)
    lines = tuple(line.strip() for line in content.splitlines() if line.strip())
    return KnownIdentifiers(texts=lines)


def _values(element: DataElement) -> list[str]:
    value = element.value
    if value is None or isinstance(value, Sequence):
        return []
    if isinstance(value, bytes):
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    out = []
    for item in items:
        text = str(item).strip().strip("\x00").strip()
        if text:
            out.append(text)
    return out


def _has_value(element: DataElement) -> bool:
    value = element.value
    if element.VR == "SQ":
        return bool(value)
    if isinstance(value, bytes):
        return bool(value.strip(b"\x00 "))
    return bool(_values(element))


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def declared_options(ds: Dataset) -> frozenset[Option]:
    """The options an object says it was de-identified with (always the basic profile)."""
    options = {Option.BASIC}
    for item in ds.get("DeidentificationMethodCodeSequence") or ():
        if str(item.get("CodingSchemeDesignator", "")).strip() == "DCM":
            option = _CODE_OPTIONS.get(str(item.get("CodeValue", "")).strip())
            if option is not None:
                options.add(option)
    return frozenset(options)


@dataclass
class _Object:
    """What one object's check has gathered."""

    file: str
    sop_class: str
    options: frozenset[Option]
    dates_removed: bool
    research_id: str
    findings: list[Finding] = field(default_factory=list)
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, keyword, text)
    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    birth_dates: list[str] = field(default_factory=list)

    def add(self, category: str, tag: str, keyword: str, hint: str, detail: str) -> None:
        self.findings.append(Finding(self.file, category, tag, keyword, hint, detail))


class Verifier:
    """Checks objects for residual identifiers. Build once, use for many objects.

    ``known``: identifiers to look for in text and raw bytes (a patient list, the vault).
    ``ocr``: read the pixels of objects at risk of burned-in text (``detector``: the
    OCR port, default RapidOCR; a missing engine raises ConfigError). ``pseudonym``: a
    regular expression a research ID matches in full (default ``S-`` and 12 hex digits).
    ``vault``: a project's vault identifiers (``vault`` findings). They are kept apart
    from ``known`` on purpose: the pattern checks print a masked hint of what they find,
    and a real patient's value must not show even that.
    """

    def __init__(
        self,
        *,
        known: KnownIdentifiers | None = None,
        ocr: bool = True,
        detector: TextDetector | None = None,
        safe_private: SafePrivate | None = None,
        pseudonym: str = DEFAULT_PSEUDONYM,
        vault: VaultMatcher | None = None,
    ) -> None:
        self.known = known or KnownIdentifiers()
        self.vault = vault
        self.ocr = ocr
        self.detector = detector
        self.safe_private = safe_private or SafePrivate.load(None)
        try:
            self.pseudonym = re.compile(pseudonym)
        except re.error as exc:
            raise InvalidInput(f"not a regular expression: {exc}") from None
        self.table = rule_table()
        raw = {*self.known.names, *self.known.ids, *self.known.birth_dates, *self.known.texts}
        self._raw = sorted(v for v in raw if len(v) >= _MIN_RAW)
        self.pixels_read = 0

    # -- entry points -------------------------------------------------------------------

    def verify_bytes(self, data: bytes, file: str) -> list[Finding]:
        """Findings in one Part 10 object; raises RejectedObject or MediaDirectory when
        ``data`` is not an object to check (the caller lists it as skipped)."""
        ds = read_dataset(data)
        findings = self.verify_dataset(ds, file)
        for value in self._raw:
            for encoded in encodings(value):
                offset = data.find(encoded)
                if offset >= 0:
                    findings.append(
                        Finding(file, "known", "", "", mask(value),
                                f"a known identifier is in the raw bytes (offset {offset})")
                    )  # fmt: skip
                    break
        if self.vault is not None:
            uids = Option.RETAIN_UIDS not in declared_options(ds)
            _, decoded = in_dataset(ds, self.vault, uids=uids)
            for kind, offset in self.vault.in_bytes(data, decoded=decoded, uids=uids):
                findings.append(
                    Finding(file, "vault", "", "", kind, f"{_VAULT_HIT} is in the raw bytes "
                            f"(offset {offset})")
                )  # fmt: skip
        return findings

    def verify_dataset(self, ds: Dataset, file: str) -> list[Finding]:
        options = declared_options(ds)
        status = str(ds.get("LongitudinalTemporalInformationModified", "") or "").strip()
        obj = _Object(
            file,
            str(ds.get("SOPClassUID", "") or ""),
            options,
            dates_removed=status not in ("MODIFIED", "UNMODIFIED"),
            research_id=str(ds.get("PatientID", "") or "").strip(),
        )
        self._marks(ds, obj)
        self._file_meta(ds, obj)
        self._research_id(ds, obj)
        self._walk(ds, obj, (), "")
        self._texts(obj)
        if self.vault is not None:
            uids = Option.RETAIN_UIDS not in options  # kept on purpose under that option
            for label, keyword, kinds in in_dataset(ds, self.vault, uids=uids)[0]:
                obj.add("vault", label, keyword, ", ".join(kinds), f"holds {_VAULT_HIT}")
        if self.ocr:
            self._pixels(ds, obj)
        return obj.findings

    # -- checks -------------------------------------------------------------------------

    def _marks(self, ds: Dataset, obj: _Object) -> None:
        removed = str(ds.get("PatientIdentityRemoved", "") or "").strip().upper()
        if removed != "YES":
            hint = "missing" if not removed else mask(removed)
            obj.add("mark", "(0012,0062)", "PatientIdentityRemoved", hint, "must be YES")
        if not ds.get("DeidentificationMethod") and not ds.get(
            "DeidentificationMethodCodeSequence"
        ):
            obj.add("mark", "(0012,0063)", "DeidentificationMethod", "missing",
                    "no De-identification Method or its Code Sequence")  # fmt: skip
        if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
            obj.add("mark", "(0028,0301)", "BurnedInAnnotation", "YES",
                    "the object declares burned-in text")  # fmt: skip

    def _file_meta(self, ds: Dataset, obj: _Object) -> None:
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            return
        for keyword in _FILE_META_IDENTIFYING:
            element = meta.get(keyword)
            if element is not None and _has_value(meta[keyword]):
                hint = mask(" ".join(_values(meta[keyword]))) or "binary"
                obj.add("file-meta", _tag(int(meta[keyword].tag)), keyword, hint,
                        "File Meta names the sending system")  # fmt: skip

    def _is_pseudonym(self, value: str, obj: _Object) -> bool:
        value = value.strip()
        return (
            not value
            or value in _DUMMIES
            or bool(self.pseudonym.fullmatch(value))
            or (bool(obj.research_id) and value == obj.research_id)
        )

    def _research_id(self, ds: Dataset, obj: _Object) -> None:
        """Patient ID holds the research ID: a pseudonym, not an identifier-like value."""
        value = obj.research_id
        if not value or value in _DUMMIES or self.pseudonym.fullmatch(value):
            return
        spans = identifier_spans(value, self.known, dates=True)
        known_ids = {v.casefold() for v in self.known.ids}
        if spans or value.casefold() in known_ids:
            kinds = ", ".join(sorted({s.kind for s in spans})) or "known id"
            obj.add("header", "(0010,0020)", "PatientID", mask(value),
                    f"not a research ID ({kinds})")  # fmt: skip
            obj.ids.append(value)

    def _walk(self, ds: Dataset, obj: _Object, path: tuple[Step, ...], prefix: str) -> None:
        nested = bool(path)
        for element in list(ds):
            tag = element.tag
            if tag.element == 0 or tag.group == 0x0002:
                continue
            label = prefix + _tag(int(tag))
            if tag.is_private:
                if not tag.is_private_creator:
                    self._private(ds, element, obj, path, label)
                continue
            if 0x6000 <= tag.group <= 0x60FF and tag.group % 2 == 0:
                self._graphics(element, obj, label, overlay=True)
                continue
            if 0x5000 <= tag.group <= 0x50FF and tag.group % 2 == 0:
                self._graphics(element, obj, label, overlay=False)
                continue
            keyword = element.keyword
            if keyword in _OWN_MARKS or keyword == "DeidentificationMethodCodeSequence":
                continue
            rule = self.table.for_tag(int(tag))
            if rule is not None and not (keyword in _RESEARCH_ID and not nested):
                required = iod.required_type(keyword, obj.sop_class, nested=nested)
                code = choose(rule.action(obj.options), required)
                if code in ("X", "Z") and self._flag_present(element, obj, label, code):
                    continue
            self._element(element, obj, path, label)

    def _flag_present(self, element: DataElement, obj: _Object, label: str, code: str) -> bool:
        if not _has_value(element):
            return False
        values = _values(element)
        if element.VR != "SQ" and values and all(v in _DUMMIES for v in values):
            return False
        action = "removes" if code == "X" else "empties"
        hint = mask(values[0]) if values else ("sequence" if element.VR == "SQ" else "binary")
        obj.add("header", label, element.keyword, hint,
                f"PS3.15 Table E.1-1 {action} it ({code}) under the declared options")  # fmt: skip
        if element.VR == "PN":
            obj.names.extend(values)
        elif element.keyword == "PatientBirthDate":
            obj.birth_dates.extend(values)
        elif _ID_KEYWORD.search(element.keyword or "") and element.VR != "UI":
            obj.ids.extend(values)
        elif element.VR in actions.TEXT_VRS:
            obj.texts.extend((label, element.keyword, v) for v in values)
        return True

    def _element(
        self, element: DataElement, obj: _Object, path: tuple[Step, ...], label: str
    ) -> None:
        vr = element.VR
        keyword = element.keyword
        if vr == "SQ":
            step: Step = ("s", int(element.tag))
            for index, item in enumerate(element.value or ()):
                self._walk(item, obj, (*path, step), f"{label}[{index}]")
        elif vr == "PN":
            for value in _values(element):
                if not self._is_pseudonym(value, obj):
                    obj.add("person-name", label, keyword, mask(value), "not a pseudonym")
                    obj.names.append(value)
        elif vr in ("DA", "DT"):
            if obj.dates_removed:
                dated = [v for v in _values(element) if v not in _DUMMIES]
                if dated:
                    obj.add("date", label, keyword, mask(dated[0]),
                            "a date, while the marks say dates were removed")  # fmt: skip
        elif vr == "AS":
            for value in _values(element):
                if value[-1:].upper() == "Y" and value[:-1].isdigit() and int(value[:-1]) > 90:
                    obj.add("age", label, keyword, mask(value), "an age over 90 (HIPAA: 90)")
        elif vr in actions.TEXT_VRS and keyword not in _CODED:
            if keyword in _RESEARCH_ID and not path:
                return
            obj.texts.extend((label, keyword, v) for v in _values(element))

    def _private(
        self,
        ds: Dataset,
        element: DataElement,
        obj: _Object,
        path: tuple[Step, ...],
        label: str,
    ) -> None:
        tag = element.tag
        block = tag.element >> 8
        creator_element = ds.get(type(tag)((tag.group << 16) | block)) if block >= 0x10 else None
        creator = creator_element.value if creator_element is not None else None
        safe = False
        step: Step | None = None
        if isinstance(creator, str) and creator.strip():
            step = private_step(tag.group, creator, tag.element & 0xFF)
            safe = Option.RETAIN_SAFE_PRIVATE in obj.options and self.safe_private.is_safe(
                (*path, step)
            )
        if not safe:
            if _has_value(element):
                values = _values(element)
                hint = mask(values[0]) if values else element.VR
                why = "not known safe" if step else "no private creator"
                if step and Option.RETAIN_SAFE_PRIVATE not in obj.options:
                    why = "kept without retain-safe-private"
                obj.add("private", label, f"private {element.VR}", hint, why)
            return
        assert step is not None
        if element.VR == "SQ":
            for index, item in enumerate(element.value or ()):
                self._walk(item, obj, (*path, step), f"{label}[{index}]")
        else:
            self._element(element, obj, (*path, step), label)

    def _graphics(self, element: DataElement, obj: _Object, label: str, *, overlay: bool) -> None:
        rule = self.table.overlay.get(0x3000) if overlay else self.table.curve
        code = rule.action(obj.options) if rule else "X"
        category = "overlay" if overlay else "curve"
        text = element.VR in actions.TEXT_VRS or element.VR == "PN"
        if code.startswith("X"):
            if _has_value(element) and (element.tag.element == 0x3000 or text):
                values = _values(element)
                hint = mask(values[0]) if values else element.VR
                obj.add(category, label, element.keyword or category, hint,
                        f"{category} data or text the declared options remove")  # fmt: skip
        elif text:
            obj.texts.extend((label, element.keyword or category, v) for v in _values(element))

    def _texts(self, obj: _Object) -> None:
        known = self.known.merged(
            KnownIdentifiers(
                names=tuple(obj.names), ids=tuple(obj.ids), birth_dates=tuple(obj.birth_dates)
            )
        )
        for label, keyword, text in obj.texts:
            spans = identifier_spans(text, known, dates=obj.dates_removed)
            if not spans:
                continue
            kinds = sorted({s.kind for s in spans})
            first = spans[0]
            obj.add("text", label, keyword, mask(text[first.start : first.end]),
                    f"free text holds {', '.join(kinds)}")  # fmt: skip

    def _pixels(self, ds: Dataset, obj: _Object) -> None:
        reason = at_risk(ds)
        if reason is None:
            return

        self.pixels_read += 1
        try:
            regions = find_text(ds, detector=self.detector)
        except RejectedObject as exc:
            obj.add("pixels", "(7FE0,0010)", "PixelData", "unread", f"{exc} ({reason})")
            return
        for region in _distinct(regions):
            frame = f"frame {region.frame}, " if region.frame else ""
            obj.add("pixels", "(7FE0,0010)", "PixelData", mask(region.text),
                    f"text found by OCR ({reason}; {frame}box {list(region.box)})")  # fmt: skip


def _readable(region: Region) -> bool:
    """Text OCR read with confidence, with a letter or digit in it. Cleaning blanks more
    (small unreadable boxes too); verify reports what reads as text, so that the edge of
    a blanked box read as a stray glyph at 0.1 confidence does not count as a leak."""
    return region.confidence >= READ_CONFIDENCE and any(c.isalnum() for c in region.text)


def _distinct(regions: list[Region]) -> list[Region]:
    """Readable regions, one per place: the views of one frame (full range, display
    window) and the frames of a cine loop read the same overlay more than once."""
    kept: list[Region] = []
    for region in sorted(filter(_readable, regions), key=lambda r: (r.y0, r.x0, r.frame or 0)):
        if not any(_overlap(region, other) >= 0.5 for other in kept):
            kept.append(region)
    return kept


def _overlap(a: Region, b: Region) -> float:
    """Intersection over the smaller box's area."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a.x1 - a.x0) * (a.y1 - a.y0), (b.x1 - b.x0) * (b.y1 - b.y0))
    return width * height / smaller


def verify(
    items: Iterable[tuple[str, Callable[[], bytes]]],
    verifier: Verifier,
    *,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check every ``(name, read)`` item; what is not a DICOM object is listed as skipped."""
    report = VerifyReport()
    before = verifier.pixels_read
    for name, read in items:
        try:
            data = read()
            findings = verifier.verify_bytes(data, name)
        except MediaDirectory:
            report.skipped.append({"file": name, "reason": "a DICOMDIR media directory"})
        except RejectedObject as exc:
            report.skipped.append({"file": name, "reason": str(exc)})
        except OSError as exc:
            report.skipped.append({"file": name, "reason": f"cannot be read: {type(exc).__name__}"})
        else:
            report.files += 1
            report.findings.extend(findings)
        if progress:
            progress(1)
    report.pixels_read = verifier.pixels_read - before
    return report
