"""What little we need to know of IOD attribute types: enough for combined action codes.

Table E.1-1's combined codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) mean "the first action unless
the attribute's type in the IOD forces the next". Most such attributes are Type 3 (or 2)
in the IODs met in research, where the first action is right; this module lists the
top-level exceptions in the IOD families we handle (SR documents, enhanced multi-frame
objects, projection X-ray with an Acquisition Context module, RT plans). Unknown means
"take the first"; nested attributes follow their macro's type, which we do not model.
"""

from __future__ import annotations

SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_ENHANCED = frozenset(
    "1.2.840.10008.5.1.4.1.1." + suffix
    for suffix in (
        "2.1",  # Enhanced CT
        "2.2",  # Legacy Converted Enhanced CT
        "4.1",  # Enhanced MR
        "4.2",  # MR Spectroscopy
        "4.3",  # Enhanced MR Color
        "4.4",  # Legacy Converted Enhanced MR
        "6.2",  # Enhanced US Volume
        "12.1.1",  # Enhanced XA
        "12.2.1",  # Enhanced XRF
        "13.1.1",  # X-Ray 3D Angiographic
        "13.1.2",  # X-Ray 3D Craniofacial
        "13.1.3",  # Breast Tomosynthesis
        "128.1",  # Legacy Converted Enhanced PET
        "130",  # Enhanced PET
        "30",  # Parametric Map
        "66.4",  # Segmentation
    )
)
_ACQUISITION_CONTEXT = _ENHANCED | frozenset(
    "1.2.840.10008.5.1.4.1.1." + suffix
    for suffix in ("1.1", "1.1.1", "1.2", "1.2.1", "1.3", "1.3.1")  # DX, MG, IO
)
_RT_PLANS = frozenset(("1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8"))

_SR_TYPES = {"ContentDate": "1", "ContentTime": "1"}
_ENHANCED_TYPES = {
    "ContentDate": "1",
    "ContentTime": "1",
    "AcquisitionDateTime": "1",  # 1C: Image Type ORIGINAL or MIXED, the usual case
    "DeviceSerialNumber": "1",  # Enhanced General Equipment
}
_RT_PLAN_TYPES = {"RTPlanDate": "2", "RTPlanTime": "2"}


def required_type(keyword: str, sop_class_uid: str, *, nested: bool) -> str | None:
    """The type ("1", "2", "3") of a top-level attribute where it matters, else ``None``."""
    if nested:
        return None
    if sop_class_uid.startswith(SR_PREFIX) and keyword in _SR_TYPES:
        return _SR_TYPES[keyword]
    if sop_class_uid in _ENHANCED and keyword in _ENHANCED_TYPES:
        return _ENHANCED_TYPES[keyword]
    if sop_class_uid in _ACQUISITION_CONTEXT and keyword == "AcquisitionContextSequence":
        return "2"
    if sop_class_uid in _RT_PLANS and keyword in _RT_PLAN_TYPES:
        return _RT_PLAN_TYPES[keyword]
    return None
