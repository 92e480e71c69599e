"""The de-identification engine: one object in, a de-identified object (or a refusal) out.

Every attribute at every depth gets exactly one decision, in this order: a project
override; for private attributes, keep only if known safe (retain-safe-private) and
otherwise remove; for standard ones, the Table E.1-1 row under the profile's options
(combined codes resolved by the IOD type); attributes the table does not list are judged
by VR (UIDs replaced unless they name a class or syntax, dates shifted or removed, person
names emptied) and, inside sequences the table says to dummy or clean (SR content, graphic
annotations, request attributes), free text is dummied or cleaned too.

Nothing here depends on time, randomness or the process: the same input and key give the
same bytes (DESIGN.md, "Determinism"). Errors carry reasons, never values (no PHI).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from vesalius.core.dicom.parse import read_dataset
from vesalius.core.errors import OptionUnavailable, RejectedObject, VesaliusError
from vesalius.deid import actions, dates, iod
from vesalius.deid.hooks import PixelCleaner, VisualFeatureCleaner
from vesalius.deid.keyed import Pseudonyms
from vesalius.deid.known import collect
from vesalius.deid.marks import add_marks, replace_file_meta
from vesalius.deid.pixels.risk import at_risk
from vesalius.deid.private import SafePrivate, Step, private_step
from vesalius.deid.profile import Option, Override, Profile
from vesalius.deid.report import DeidResult, ObjectReport
from vesalius.deid.rules import choose, rule_table
from vesalius.deid.text import DefaultTextCleaner, KnownIdentifiers, TextCleaner
from vesalius.deid.uids import is_structural

SubjectIdFor = Callable[[str], str]
DateOffsetFor = Callable[[str], int]
KnownFor = Callable[[str], KnownIdentifiers]

# Coded values inside dummied or cleaned sequences: terminology, not free text.
CODED = frozenset(
    {
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "LongCodeValue",
        "MappingResourceName",
        "CodingSchemeName",
        "CodingSchemeResponsibleOrganization",
    }
)
_PATIENT_ID = Tag("PatientID")
_PATIENT_NAME = Tag("PatientName")
_PATIENT_AGE = Tag("PatientAge")
_AGE_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")


class Mode(Enum):
    """How unlisted free text inside a sequence is treated."""

    NORMAL = "normal"  # kept (the table lists what identifies)
    DUMMY = "dummy"  # replaced by a dummy (a D sequence: SR content under the basic profile)
    CLEAN = "clean"  # cleaned (a C sequence: clean-structured-content, clean-graphics ...)


@dataclass
class _Run:
    """What one object's de-identification knows and has done so far."""

    sop_class: str
    offset: int | None
    subject_id: str
    known: KnownIdentifiers
    counts: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    overlays_cleaned: bool = False


def patient_key(ds: Dataset) -> str:
    """Who the object is about: the Patient ID, or a stand-in when it is empty.

    The stand-in (name and birth date, else the study) keeps objects without an ID from
    all sharing one pseudonym and one date offset.
    """
    patient_id = str(ds.get("PatientID", "") or "").strip()
    if patient_id:
        return patient_id
    name = str(ds.get("PatientName", "") or "").strip()
    if name:
        return f"name:{name}|{str(ds.get('PatientBirthDate', '') or '').strip()}"
    return f"study:{str(ds.get('StudyInstanceUID', '') or '').strip()}"


class Deidentifier:
    """Applies one profile with one project key. Build once, use for many objects.

    Hooks for the other parts of the work, each called with the patient key
    (``patient_key``: the Patient ID, or a stand-in when it is empty): ``subject_id_for``
    (research IDs from the vault; default: a keyed hash), ``date_offset_for`` (the
    vault's recorded offset in days, never 0; default: keyed, ``Pseudonyms``),
    ``known_for`` (identifiers the vault knows for the patient, added to the header's);
    and ``text_cleaner``, ``pixel_cleaner`` (OCR), ``visual_cleaner`` (defacing).
    ``withhold_uncleaned``: an object at risk of burned-in text that is not cleaned
    (clean-pixel-data not requested) is refused instead of passed with a warning.
    Picklable as long as the hooks are.
    """

    def __init__(
        self,
        profile: Profile,
        key: bytes,
        *,
        safe_private: SafePrivate | None = None,
        text_cleaner: TextCleaner | None = None,
        pixel_cleaner: PixelCleaner | None = None,
        visual_cleaner: VisualFeatureCleaner | None = None,
        subject_id_for: SubjectIdFor | None = None,
        date_offset_for: DateOffsetFor | None = None,
        known_for: KnownFor | None = None,
        withhold_uncleaned: bool = False,
    ) -> None:
        if profile.has(Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES) and visual_cleaner is None:
            raise OptionUnavailable(
                "clean-recognizable-visual-features: defacing is not available here (it "
                "needs whole 3D series: `vesalius deid run` with the 'deface' extra); leave "
                "the option out rather than mark data as cleaned"
            )
        self.profile = profile
        self.pseudonyms = Pseudonyms(key)
        self.safe_private = safe_private or SafePrivate.load(None)
        self.text_cleaner: TextCleaner = text_cleaner or DefaultTextCleaner()
        self.pixel_cleaner = pixel_cleaner
        self.visual_cleaner = visual_cleaner
        self.subject_id_for = subject_id_for
        self.date_offset_for = date_offset_for
        self.known_for = known_for
        self.withhold_uncleaned = withhold_uncleaned
        self.table = rule_table()
        self.options = profile.options
        # Objects the visual-feature cleaner did not deface carry no mark of that option.
        self._undefaced = Profile(
            profile.options - {Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES},
            profile.overrides,
            profile.name,
        )

    # -- entry points -------------------------------------------------------------------

    def deidentify_bytes(self, data: bytes) -> tuple[bytes, ObjectReport]:
        """Part 10 (or bare dataset) bytes in, de-identified Part 10 bytes out."""
        result = self.deidentify(read_dataset(data))
        try:
            return result.to_bytes(), result.report
        except Exception:
            raise RejectedObject("the de-identified object could not be written") from None

    def deidentify(self, ds: Dataset) -> DeidResult:
        """De-identify ``ds`` in place; raise ``RejectedObject`` if it cannot be made safe."""
        try:
            return self._deidentify(ds)
        except VesaliusError:
            raise
        except Exception as exc:  # pydicom meets every kind of broken value; none may leak
            raise RejectedObject(f"could not be de-identified: {type(exc).__name__}") from None

    # -- one object ---------------------------------------------------------------------

    def _deidentify(self, ds: Dataset) -> DeidResult:
        key = patient_key(ds)
        offset = None
        if self.profile.has(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES):
            offset = (
                self.date_offset_for(key)
                if self.date_offset_for
                else self.pseudonyms.date_offset_days(key)
            )
            if not offset:
                raise RejectedObject("a date offset of 0 days would keep the true dates")
        known = collect(ds, self.profile)
        if self.known_for is not None:
            known = known.merged(self.known_for(key))
        known = KnownIdentifiers(
            known.names, known.ids, known.birth_dates, known.dates, known.texts, offset
        )
        subject = (
            self.subject_id_for(key) if self.subject_id_for else self.pseudonyms.subject_id(key)
        )
        run = _Run(str(ds.get("SOPClassUID", "") or ""), offset, subject, known)
        pixels = self._pixels(ds, run)
        birth = str(ds.get("PatientBirthDate", "") or "")
        age_date = next((str(ds.get(k)) for k in _AGE_DATES if ds.get(k)), "")
        self._walk(ds, run, (), Mode.NORMAL)
        self._patient(ds, run, birth, age_date)
        applied = self.profile if run.counts["defaced"] else self._undefaced
        add_marks(ds, applied, self.table.edition)
        replace_file_meta(ds)
        report = ObjectReport(
            sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
            study_instance_uid=str(ds.get("StudyInstanceUID", "")),
            series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
            subject_id=subject,
            options=tuple(o.value for o in applied.ordered_options),
            actions=run.counts,
            pixels=pixels,
            warnings=run.warnings,
        )
        return DeidResult(ds, report)

    def _pixels(self, ds: Dataset, run: _Run) -> str:
        if self.profile.has(Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES):
            assert self.visual_cleaner is not None
            if self.visual_cleaner.clean(ds):
                run.counts["defaced"] += 1
        risk = at_risk(ds)
        if risk is None:
            return "not at risk"
        if self.profile.has(Option.CLEAN_PIXEL_DATA):
            if self.pixel_cleaner is None:
                raise RejectedObject(
                    f"pixel data at risk of burned-in text ({risk}): clean-pixel-data is "
                    "requested but no pixel cleaner is configured"
                )
            result = self.pixel_cleaner.clean(ds, run.known)
            ds.BurnedInAnnotation = "NO"
            run.overlays_cleaned = bool(getattr(result, "overlays_cleaned", False))
            note = f"cleaned ({risk}): {result.regions_blanked} text region(s) blanked"
            return note + (", transfer syntax changed" if result.transfer_syntax_changed else "")
        if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
            raise RejectedObject(
                "Burned In Annotation is YES: identifying text in the pixels; "
                "request clean-pixel-data"
            )
        if self.withhold_uncleaned:
            raise RejectedObject(
                f"pixel data at risk of burned-in text ({risk}) and not cleaned; "
                "request clean-pixel-data"
            )
        run.warnings.append(f"pixel data may show burned-in text ({risk}); not cleaned")
        return f"at risk ({risk}), not cleaned"

    def _patient(self, ds: Dataset, run: _Run, birth: str, age_date: str) -> None:
        """Patient ID and name become the research subject ID; ages are capped at 90."""
        for tag in (_PATIENT_ID, _PATIENT_NAME):
            if self.profile.override_for(tag) is None:
                ds[tag] = DataElement(tag, "LO" if tag == _PATIENT_ID else "PN", run.subject_id)
        if not self.profile.has(Option.RETAIN_PATIENT_CHARACTERISTICS):
            return
        if self.profile.override_for(_PATIENT_AGE) is not None:
            return
        if _PATIENT_AGE in ds:
            capped = dates.cap_age(str(ds[_PATIENT_AGE].value or ""))
            if capped is None:
                del ds[_PATIENT_AGE]
            else:
                ds[_PATIENT_AGE].value = capped
        elif birth and age_date:
            derived = dates.age_between(birth, age_date)
            if derived is not None:
                ds.PatientAge = derived
                run.counts["age-derived"] += 1

    # -- the walk -----------------------------------------------------------------------

    def _walk(self, ds: Dataset, run: _Run, path: tuple[Step, ...], mode: Mode) -> None:
        self._overlays(ds, run, nested=bool(path))
        creators = False
        for tag in sorted(ds.keys()):
            if tag not in ds:
                continue
            if tag.element == 0 or tag.group in (0x0000, 0x0002):
                del ds[tag]  # group lengths go stale; command and meta groups do not belong
                continue
            if tag.is_private:
                creators |= tag.is_private_creator
                self._private(ds, tag, run, path, mode)
                continue
            element = ds[tag]
            if _is_curve(tag.group) or _is_overlay(tag.group):
                self._graphics(ds, element, run)
                continue
            override = self.profile.override_for(int(tag))
            if override is not None:
                self._override(ds, element, override, run, path, mode)
                continue
            rule = self.table.for_tag(int(tag))
            if rule is None:
                code = self._unlisted(element, mode)
                if code == "K":  # not listed and harmless: kept, sequences still walked
                    if element.VR == "SQ":
                        self._items(element, run, path, mode)
                    continue
            else:
                required = iod.required_type(element.keyword, run.sop_class, nested=bool(path))
                code = choose(rule.action(self.options), required)
            self._apply(ds, element, code, run, path, mode)
        if creators:
            _prune_creators(ds)

    def _unlisted(self, element: DataElement, mode: Mode) -> str:
        vr = element.VR
        if vr == "SQ":
            return "K"
        if vr == "UI":
            keep = self.profile.has(Option.RETAIN_UIDS) or all(
                is_structural(element.keyword, v) for v in _values(element)
            )
            return "K" if keep else "U"
        if vr in ("DA", "DT"):
            if self.profile.has(Option.RETAIN_LONGITUDINAL_FULL_DATES):
                return "K"
            return "C" if self.profile.has(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES) else "X"
        if vr == "PN":
            return "Z"
        if vr in actions.TEXT_VRS and mode is not Mode.NORMAL and element.keyword not in CODED:
            return "D" if mode is Mode.DUMMY else "C"
        return "K"

    def _apply(
        self,
        ds: Dataset,
        element: DataElement,
        code: str,
        run: _Run,
        path: tuple[Step, ...],
        mode: Mode,
    ) -> None:
        vr = element.VR
        run.counts[code] += 1
        if code == "X":
            del ds[element.tag]
        elif code == "Z":
            actions.set_empty(element)
        elif code == "D":
            if vr == "UI":
                self._map_uids(element)
            elif vr == "SQ":
                self._items(element, run, path, Mode.DUMMY)
            else:
                actions.set_dummy(element)
        elif code == "C":
            self._clean(ds, element, run, path)
        elif vr == "SQ":  # K and U: keep the sequence, process its items
            self._items(element, run, path, mode)
        elif code == "U" and vr == "UI":
            self._map_uids(element)

    def _items(self, element: DataElement, run: _Run, path: tuple[Step, ...], mode: Mode) -> None:
        step: Step = ("s", int(element.tag))
        for item in element.value or ():
            self._walk(item, run, (*path, step), mode)

    def _clean(self, ds: Dataset, element: DataElement, run: _Run, path: tuple[Step, ...]) -> None:
        """C: values of similar meaning without identifying information, by VR."""
        vr = element.VR
        if vr == "SQ":
            self._items(element, run, path, Mode.CLEAN)
        elif vr in ("DA", "DT"):
            if run.offset is None or not self._shift(element, run.offset):
                del ds[element.tag]
        elif vr == "AS":
            capped = [dates.cap_age(v) for v in _values(element)]
            if None in capped:
                del ds[element.tag]
            else:
                element.value = capped[0] if len(capped) == 1 else capped
        elif vr in actions.TEXT_VRS or vr in ("PN", "CS", "AE", "UR"):
            cleaned = [
                actions.fit(self.text_cleaner.clean(v, run.known), vr) for v in _values(element)
            ]
            element.value = cleaned[0] if len(cleaned) == 1 else cleaned
        elif vr in actions.BINARY_VRS:
            del ds[element.tag]  # no way to tell what a binary value holds

    def _shift(self, element: DataElement, offset: int) -> bool:
        shift = dates.shift_da if element.VR == "DA" else dates.shift_dt
        shifted = [shift(v, offset) for v in _values(element)]
        if None in shifted:
            return False
        if shifted:
            element.value = shifted[0] if len(shifted) == 1 else shifted
        return True

    def _map_uids(self, element: DataElement) -> None:
        values = _values(element)
        if not values:
            return
        keyword = element.keyword
        mapped = [v if is_structural(keyword, v) else self.pseudonyms.uid(v) for v in values]
        element.value = mapped[0] if len(mapped) == 1 else mapped

    def _override(
        self,
        ds: Dataset,
        element: DataElement,
        override: Override,
        run: _Run,
        path: tuple[Step, ...],
        mode: Mode,
    ) -> None:
        run.counts["override"] += 1
        if override.action == "remove":
            del ds[element.tag]
        elif override.action == "replace":
            assert override.value is not None
            if not actions.set_replacement(element, override.value):
                del ds[element.tag]
                run.warnings.append(f"override for {element.tag} could not be applied: removed")
        elif element.VR == "SQ":
            self._items(element, run, path, mode)

    # -- private attributes, overlays, curves -------------------------------------------

    def _private(
        self, ds: Dataset, tag: BaseTag, run: _Run, path: tuple[Step, ...], mode: Mode
    ) -> None:
        if tag.is_private_creator:
            return  # kept or removed with its block, after the walk
        block = tag.element >> 8
        creator_element = ds.get(Tag(tag.group, block)) if block >= 0x10 else None
        creator = creator_element.value if creator_element is not None else None
        if not isinstance(creator, str) or not creator.strip():
            del ds[tag]
            run.counts["private-removed"] += 1
            return
        step = private_step(tag.group, creator, tag.element & 0xFF)
        override = self.profile.private_override(
            tag.group, creator.strip(), tag.element & 0xFF
        ) or self.profile.override_for(int(tag))
        if override is not None and override.action != "keep":
            self._override(ds, ds[tag], override, run, path, mode)
        elif override is not None or (
            self.profile.has(Option.RETAIN_SAFE_PRIVATE)
            and self.safe_private.is_safe((*path, step))
        ):
            self._keep_private(ds, ds[tag], run, (*path, step), mode)
            run.counts["override" if override else "private-kept"] += 1
        else:
            del ds[tag]
            run.counts["private-removed"] += 1

    def _keep_private(
        self,
        ds: Dataset,
        element: DataElement,
        run: _Run,
        path: tuple[Step, ...],
        mode: Mode,
    ) -> None:
        """A kept private attribute still gets its UIDs replaced and its dates handled."""
        vr = element.VR
        if vr == "SQ":
            for item in element.value or ():
                self._walk(item, run, path, mode)
        elif vr == "UI" and not self.profile.has(Option.RETAIN_UIDS):
            self._map_uids(element)
        elif vr in ("DA", "DT"):
            code = self._unlisted(element, mode)
            shifted = code == "C" and run.offset is not None and self._shift(element, run.offset)
            if code == "X" or (code == "C" and not shifted):
                del ds[element.tag]

    def _overlays(self, ds: Dataset, run: _Run, *, nested: bool) -> None:
        """Overlay planes (60xx) go as a whole; under clean-graphics they stay only if the
        pixel cleaner cleaned their bitmaps (nothing else can read text in them), which it
        can only have done for the object's own (top-level) overlays."""
        groups = sorted({t.group for t in _tags(ds) if _is_overlay(t.group)})
        rule = self.table.overlay.get(0x3000)
        for group in groups:
            code = rule.action(self.options) if rule else "X"
            if code == "C" and run.overlays_cleaned and not nested:
                continue
            if code == "C":
                run.warnings.append("overlay removed: no cleaner read its bitmap")
            for tag in [t for t in _tags(ds) if t.group == group]:
                del ds[tag]
            run.counts["X"] += 1

    def _graphics(self, ds: Dataset, element: DataElement, run: _Run) -> None:
        """Curve (50xx) and kept overlay (60xx) attributes: per the table, text cleaned."""
        if _is_overlay(element.tag.group):
            code = "C"  # the overlay survived _overlays: clean-graphics with a cleaner
        else:
            rule = self.table.curve
            code = rule.action(self.options) if rule else "X"
        if code == "X":
            del ds[element.tag]
            run.counts["X"] += 1
        elif element.VR in actions.TEXT_VRS or element.VR == "PN":
            self._clean(ds, element, run, ())
            run.counts["C"] += 1


def _tags(ds: Dataset) -> list[BaseTag]:
    return list(ds.keys())


def _is_curve(group: int) -> bool:
    return 0x5000 <= group <= 0x50FF and group % 2 == 0


def _is_overlay(group: int) -> bool:
    return 0x6000 <= group <= 0x60FF and group % 2 == 0


def _values(element: DataElement) -> list[str]:
    """The element's values as strings (one per value; none when empty)."""
    value = element.value
    if value is None or value == "" or isinstance(value, Sequence):
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _prune_creators(ds: Dataset) -> None:
    """Private creator elements whose block is now empty go too."""
    used = {(t.group, t.element >> 8) for t in _tags(ds) if t.is_private and t.element >= 0x1000}
    for tag in [t for t in _tags(ds) if t.is_private_creator]:
        if (tag.group, tag.element) not in used:
            del ds[tag]
