"""The engine's pixel-cleaning hook (``vesalius.deid.hooks.PixelCleaner``) on OCR."""

from __future__ import annotations

from pydicom.dataset import Dataset

from vesalius.deid.pixels.blank import MARGIN, CleanResult, clean_pixels
from vesalius.deid.pixels.ocr import TextDetector


class OcrPixelCleaner:
    """Blanks every text region OCR finds, whether or not it matches a known identifier.

    ``known`` (the patient's identifiers) is accepted for the hook's signature but not
    used to choose what to blank: OCR misreads names often enough ("DOE~JOHN") that
    matching would leak, and burned-in text rarely carries anything research needs.
    """

    def __init__(self, detector: TextDetector | None = None, margin: int = MARGIN) -> None:
        self.detector = detector
        self.margin = margin

    def clean(self, ds: Dataset, known: object = None) -> CleanResult:
        return clean_pixels(ds, detector=self.detector, margin=self.margin)
