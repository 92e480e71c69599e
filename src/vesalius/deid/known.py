"""The identifiers an object's own header gives away, gathered before anything changes.

Free text is cleaned with them (``text.KnownIdentifiers``): every person name in the
object (patients, physicians, operators, at any depth, private ones too), the IDs and
numbers Table E.1-1 protects, the patient's birth date and every date it carries,
addresses and phone numbers, and the institution's and station's names unless the
profile retains them. The vault adds what other objects of the same patient told it.
"""

from __future__ import annotations

import re

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from vesalius.deid.profile import Option, Profile
from vesalius.deid.rules import rule_table
from vesalius.deid.text import KnownIdentifiers

_ID_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers|Identifier|Locator)$")
_ID_VRS = {"LO", "SH", "UC", "CS", "LT", "ST"}
_PATIENT_TEXTS = (
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "RegionOfResidence",
)
_INSTITUTION_TEXTS = ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName")
_DEVICE_TEXTS = ("StationName",)
_SKIP_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ", "OB or OW", "US or OW"}


def _strings(value: object) -> list[str]:
    if value is None:
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    out = []
    for item in items:
        text = item.decode("latin-1", "replace") if isinstance(item, bytes) else str(item)
        text = text.strip().strip("\x00").strip()
        if text:
            out.append(text)
    return out


def collect(ds: Dataset, profile: Profile) -> KnownIdentifiers:
    """Identifiers found anywhere in ``ds`` (not modified)."""
    table = rule_table()
    names: list[str] = []
    ids: list[str] = []
    dates: list[str] = []
    texts: list[str] = []
    text_keywords = set(_PATIENT_TEXTS)
    if not profile.has(Option.RETAIN_INSTITUTION_IDENTITY):
        text_keywords |= set(_INSTITUTION_TEXTS)
    if not profile.has(Option.RETAIN_DEVICE_IDENTITY):
        text_keywords |= set(_DEVICE_TEXTS)

    def walk(dataset: Dataset) -> None:
        for element in dataset:
            vr = element.VR
            if vr == "SQ":
                for item in element.value or ():
                    walk(item)
                continue
            if vr in _SKIP_VRS or element.tag.element == 0:
                continue
            keyword = element.keyword
            if vr == "PN":
                names.extend(_strings(element.value))
            elif vr == "DA":
                dates.extend(_strings(element.value))
            elif vr == "DT":
                dates.extend(s[:8] for s in _strings(element.value))
            elif keyword in text_keywords:
                texts.extend(_strings(element.value))
            elif (
                vr in _ID_VRS
                and keyword
                and _ID_KEYWORD.search(keyword)
                and table.for_tag(int(element.tag)) is not None
            ):
                ids.extend(_strings(element.value))

    walk(ds)
    birth = _strings(ds.get("PatientBirthDate"))
    return KnownIdentifiers(
        names=tuple(dict.fromkeys(names)),
        ids=tuple(dict.fromkeys(ids)),
        birth_dates=tuple(birth),
        dates=tuple(d for d in dict.fromkeys(dates) if d not in birth),
        texts=tuple(dict.fromkeys(texts)),
    )
