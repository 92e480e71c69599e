"""The OCR port: find text in an 8-bit image, and its implementation on RapidOCR.

Pixel cleaning needs only boxes (where to blank); ``deid verify`` also needs the text
and a confidence (what is left). The port keeps both callers independent of the engine,
and lets tests or another engine (Tesseract is the documented alternative) stand in.

The implementation uses rapidocr-onnxruntime 1.4.4 because its wheel ships the
PP-OCRv4 detection/recognition models: it runs with no network, where later rapidocr
releases download their models at run time. The engine is loaded once per process, on
first use, since loading costs a fraction of a second and most objects need no OCR.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vesalius.core.errors import ConfigError

RAPIDOCR_REQUIREMENT = "rapidocr-onnxruntime==1.4.4"


@dataclass(frozen=True)
class Region:
    """A detected text box: half-open pixel bounds ``[x0, x1) x [y0, y1)``.

    ``text`` is what the engine read, and may be PHI: never log it. ``frame`` is set by
    callers that search multi-frame objects (:func:`find_text`); detectors leave it None.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    text: str = ""
    confidence: float = 0.0
    frame: int | None = None

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x0, self.y0, self.x1, self.y1)


@runtime_checkable
class TextDetector(Protocol):
    """Finds text in one image: uint8, ``(rows, columns)`` grey or ``(rows, columns, 3)`` RGB."""

    def detect(self, image: np.ndarray) -> list[Region]: ...


def rapidocr_missing() -> str | None:
    """Why the OCR engine cannot be used here (without loading it), or None."""
    import importlib.util

    try:
        found = importlib.util.find_spec("rapidocr_onnxruntime") is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return f"the Python package {RAPIDOCR_REQUIREMENT} is not installed"


def load_rapidocr(**options: Any) -> Any:
    """Build a RapidOCR engine from the models in its wheel, or raise ConfigError.

    ``text_score=0`` keeps every detected box whatever the recogniser thought of it:
    for de-identification a box with unreadable text must still be blanked.
    """
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise ConfigError(
            "burned-in text detection needs the Python package "
            f"{RAPIDOCR_REQUIREMENT} (pip install '{RAPIDOCR_REQUIREMENT}'); "
            f"it could not be imported: {exc}"
        ) from exc
    settings = {"text_score": 0.0, **options}
    try:
        return RapidOCR(**settings)
    except Exception as exc:
        raise ConfigError(
            f"the OCR engine could not load the models bundled with {RAPIDOCR_REQUIREMENT} "
            f"({type(exc).__name__}); reinstall that exact version, later releases "
            "download their models at run time"
        ) from exc


class RapidOcrDetector:
    """:class:`TextDetector` on rapidocr-onnxruntime, one engine per process.

    Calls are serialised: the engine keeps per-call state, and ONNX Runtime already
    spreads one call over the machine's cores.
    """

    _engine: Any = None
    _lock = threading.Lock()

    def _get_engine(self) -> Any:
        cls = type(self)
        if cls._engine is None:
            cls._engine = load_rapidocr()
        return cls._engine

    def detect(self, image: np.ndarray) -> list[Region]:
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError("detect() takes a uint8 (rows, columns[, 3]) image")
        if image.ndim == 3:
            if image.shape[2] != 3:
                raise ValueError("colour images must have 3 samples (RGB)")
            image = np.ascontiguousarray(image[..., ::-1])  # the engine expects BGR
        height, width = image.shape[:2]
        with self._lock:
            result, _ = self._get_engine()(image)
        regions = []
        for points, text, score in result or []:
            xs = [point[0] for point in points]
            ys = [point[1] for point in points]
            x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
            x1, y1 = min(width, math.ceil(max(xs))), min(height, math.ceil(max(ys)))
            if x1 > x0 and y1 > y0:
                regions.append(Region(x0, y0, x1, y1, str(text), float(score)))
        return regions


_DEFAULT = RapidOcrDetector()


def default_detector() -> TextDetector:
    """The process's detector (RapidOCR); its engine loads on the first detect()."""
    return _DEFAULT
