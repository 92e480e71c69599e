"""Which objects may carry text burned into their pixels.

OCR costs about a second per frame, so it runs only where burned-in text is plausible:
what the modality says about itself (BurnedInAnnotation), the kinds of object that are
screenshots or carry on-screen annotations by nature (ultrasound, secondary captures,
screen saves), and colour images, which in radiology almost always come from a screen
or an ultrasound scanner. Plain CT/MR greyscale slices are not at risk unless they say so.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

_SECONDARY_CAPTURE = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
        "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
        "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
        "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
        "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    }
)

_ULTRASOUND = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6",  # US Image Storage (retired)
        "1.2.840.10008.5.1.4.1.1.6.1",  # US Image Storage
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume Storage
        "1.2.840.10008.5.1.4.1.1.3",  # US Multi-frame Image Storage (retired)
        "1.2.840.10008.5.1.4.1.1.3.1",  # US Multi-frame Image Storage
    }
)

_COLOUR = frozenset(
    {
        "RGB",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_PARTIAL_422",
        "YBR_PARTIAL_420",
        "YBR_ICT",
        "YBR_RCT",
        "PALETTE COLOR",
    }
)

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return str(value).strip().upper() if value is not None else ""


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None:
        return []
    items = [value] if isinstance(value, str | bytes) else list(value)
    return [str(item).strip().upper() for item in items]


def at_risk(ds: Dataset) -> str | None:
    """Why ``ds`` may carry burned-in text, or None when nothing suggests it.

    The reason names only attributes and their coded values (never PHI), so it can go
    into reports and logs. Objects without pixel data are never at risk: there is
    nothing to clean.
    """
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        return None
    if _text(ds, "BurnedInAnnotation") == "YES":
        return "BurnedInAnnotation YES"
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    if _text(ds, "Modality") == "US" or sop_class in _ULTRASOUND:
        return "ultrasound"
    if sop_class in _SECONDARY_CAPTURE:
        return "secondary capture"
    if "SCREEN SAVE" in _values(ds, "ImageType"):
        return "ImageType SCREEN SAVE"
    photometric = _text(ds, "PhotometricInterpretation")
    if photometric in _COLOUR:
        return f"colour image ({photometric})"
    return None
