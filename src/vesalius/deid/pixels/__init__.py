"""Burned-in text: which objects are at risk, and blanking what OCR finds in them.

The header engine calls :func:`at_risk` for each object and, when it gives a reason and
clean-pixel-data is requested, its pixel cleaner (:class:`OcrPixelCleaner`, which calls
:func:`clean_pixels`): the dataset changes in place and a :class:`CleanResult` goes to
the report. ``deid verify``
uses :func:`find_text`. Objects whose pixels cannot be cleaned raise
:class:`~vesalius.core.errors.RejectedObject` and must be quarantined.
"""

from vesalius.deid.pixels.blank import MARGIN, CleanResult, clean_pixels, find_text, is_text
from vesalius.deid.pixels.cleaner import OcrPixelCleaner
from vesalius.deid.pixels.ocr import (
    RapidOcrDetector,
    Region,
    TextDetector,
    default_detector,
    load_rapidocr,
    rapidocr_missing,
)
from vesalius.deid.pixels.risk import at_risk

__all__ = [
    "MARGIN",
    "CleanResult",
    "OcrPixelCleaner",
    "RapidOcrDetector",
    "Region",
    "TextDetector",
    "at_risk",
    "clean_pixels",
    "default_detector",
    "find_text",
    "is_text",
    "load_rapidocr",
    "rapidocr_missing",
]
