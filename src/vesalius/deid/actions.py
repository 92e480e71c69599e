"""The element-level actions of PS3.15 E.1.1 (D, Z, replace) and values that fit their VR.

Dummy values (D) are fixed per VR, so output stays deterministic and is recognisably not
real data; they never derive from the original value. Z writes a zero-length value
(an empty sequence for SQ). Cleaned or replaced text is cut to the VR's maximum length,
and CS values are kept to the characters CS allows, so the output stays valid.
"""

from __future__ import annotations

import re

from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence

TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
STRING_VRS = TEXT_VRS | {"PN", "CS", "AE", "AS", "DA", "DT", "TM", "DS", "IS", "UI", "UR"}
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW", "US or OW"})
INT_VRS = frozenset({"US", "SS", "UL", "SL", "SV", "UV", "AT", "US or SS"})
FLOAT_VRS = frozenset({"FL", "FD"})

DUMMY_TEXT = "ANONYMOUS"
_DUMMY = {
    "PN": DUMMY_TEXT,
    "AS": "000Y",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "UR": "urn:x-vesalius:anonymous",
}
MAX_LENGTH = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 64,
    "SH": 16,
    "ST": 1024,
    "TM": 14,
    "UI": 64,
}
_CS_INVALID = re.compile(r"[^A-Z0-9 _]")


def fit(value: str, vr: str) -> str:
    """``value`` made valid for ``vr``: CS upper case and restricted, cut to the maximum."""
    if vr == "CS":
        value = _CS_INVALID.sub("_", value.upper())
    elif vr == "AE":
        value = value.replace("\\", " ")
    limit = MAX_LENGTH.get(vr)
    return value[:limit].rstrip() if limit else value


def set_empty(element: DataElement) -> None:
    """Z: a zero-length value (an empty sequence for SQ)."""
    if element.VR == "SQ":
        element.value = Sequence()
    elif element.VR in STRING_VRS:
        element.value = ""
    else:
        element.value = None


def dummy_value(vr: str) -> object:
    if vr in TEXT_VRS or vr in ("CS", "AE"):
        return DUMMY_TEXT
    if vr in _DUMMY:
        return _DUMMY[vr]
    if vr in INT_VRS:
        return 0
    if vr in FLOAT_VRS:
        return 0.0
    return b"\x00\x00"  # binary VRs: a non-zero length, even, meaningless value


def set_dummy(element: DataElement) -> None:
    """D for non-sequence, non-UID elements: one dummy value of the element's VR."""
    element.value = dummy_value(element.VR)


def set_replacement(element: DataElement, text: str) -> bool:
    """An override's ``replace``: the value as the VR needs it; False if it cannot be."""
    vr = element.VR
    try:
        if vr in STRING_VRS:
            element.value = fit(text, vr) if vr not in ("DA", "DT", "TM", "UI") else text
        elif vr in INT_VRS:
            element.value = int(text, 0)
        elif vr in FLOAT_VRS:
            element.value = float(text)
        else:
            return False
    except ValueError:
        return False
    return True
