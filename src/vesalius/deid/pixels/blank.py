"""Blank burned-in text: decode, OCR every frame, black out what was found, re-encode.

A region found in any frame is blanked in every frame: cine loops keep their overlay in
one place while its content (a clock, a frame counter) changes, and a frame where OCR
missed the text must not be the one that leaks it. Frames with identical pixels are
read once. Nothing is written into the dataset until every step has succeeded, so an
object that raises RejectedObject is left as it was (and must be quarantined).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from vesalius.core.errors import ConfigError, RejectedObject
from vesalius.deid.pixels import codec, view
from vesalius.deid.pixels.ocr import Region, TextDetector, default_detector
from vesalius.deid.pixels.risk import at_risk

MARGIN = 4
"""Pixels added around each detected box: anti-aliased glyph edges stay inside it."""

READ_CONFIDENCE = 0.5
"""A box whose text the recogniser read with at least this confidence is text."""

MAX_UNREAD_HEIGHT = 40
"""A box read with less confidence is still blanked when it is no taller than this
(pixels): scanner overlays are 8-40 px high, and an unreadable line of them (odd font,
noise) must not survive. Larger unread boxes are shapes (a round cyst read as "O"), and
blanking them would destroy anatomy."""

Box = tuple[int, int, int, int]


def is_text(region: Region) -> bool:
    """Whether a detected region counts as burned-in text (see the two constants above)."""
    return region.confidence >= READ_CONFIDENCE or region.y1 - region.y0 <= MAX_UNREAD_HEIGHT


@dataclass(frozen=True)
class CleanResult:
    """What clean_pixels did to one object; holds no PHI (boxes, not text).

    ``boxes`` are the blanked areas ``(x0, y0, x1, y1)``, half-open, margin included,
    applied to every frame. ``notes`` say what changed besides the pixels (transfer
    syntax, photometric interpretation, lossy input).
    """

    reason: str | None
    frames: int
    boxes: tuple[Box, ...]
    transfer_syntax_before: str
    transfer_syntax_after: str
    ocr_seconds: float
    notes: tuple[str, ...] = ()

    @property
    def regions_blanked(self) -> int:
        return len(self.boxes)

    @property
    def transfer_syntax_changed(self) -> bool:
        return self.transfer_syntax_before != self.transfer_syntax_after

    def as_dict(self) -> dict[str, Any]:
        """For the de-identification report (JSON)."""
        return {
            "reason": self.reason,
            "frames": self.frames,
            "regions_blanked": self.regions_blanked,
            "boxes": [list(box) for box in self.boxes],
            "transfer_syntax_before": self.transfer_syntax_before,
            "transfer_syntax_after": self.transfer_syntax_after,
            "ocr_seconds": round(self.ocr_seconds, 3),
            "notes": list(self.notes),
        }


def _distinct_frames(pixels: codec.Pixels) -> Iterator[tuple[int, np.ndarray]]:
    seen: set[bytes] = set()
    for index, frame in enumerate(pixels.frames):
        digest = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()
        if digest not in seen:
            seen.add(digest)
            yield index, frame


def _detect(
    ds: Dataset, pixels: codec.Pixels, detector: TextDetector
) -> tuple[list[Region], float]:
    view.check_supported(pixels.photometric, int(pixels.props["bits_stored"]))
    regions: list[Region] = []
    started = time.perf_counter()
    for index, frame in _distinct_frames(pixels):
        for image in view.ocr_views(frame, ds, pixels.props):
            try:
                found = detector.detect(image)
            except ConfigError:
                raise
            except Exception as exc:
                raise RejectedObject(f"text detection failed: {type(exc).__name__}") from exc
            regions.extend(replace(region, frame=index) for region in found if is_text(region))
    return regions, time.perf_counter() - started


def _boxes(regions: list[Region], rows: int, columns: int, margin: int) -> tuple[Box, ...]:
    boxes = {
        (
            max(0, region.x0 - margin),
            max(0, region.y0 - margin),
            min(columns, region.x1 + margin),
            min(rows, region.y1 + margin),
        )
        for region in regions
    }
    return tuple(sorted(boxes))


def find_text(ds: Dataset, *, detector: TextDetector | None = None) -> list[Region]:
    """Text the detector finds in any frame of ``ds`` (``Region.frame`` says which).

    For ``deid verify``: residual burned-in text after cleaning, by the same rule
    (:func:`is_text`) that decides what clean_pixels blanks. Region texts may be
    PHI; report boxes and counts, not the text. Raises RejectedObject when the pixels
    cannot be decoded.
    """
    pixels = codec.decode(ds)
    regions, _ = _detect(ds, pixels, detector or default_detector())
    return regions


def clean_pixels(
    ds: Dataset, *, detector: TextDetector | None = None, margin: int = MARGIN
) -> CleanResult:
    """Blank burned-in text in every frame of ``ds`` in place; set BurnedInAnnotation NO.

    Call it for objects where :func:`at_risk` gives a reason (or for every image under
    the clean-pixel-data option). When no text is found the pixel data is left
    byte-for-byte as it was. Raises RejectedObject (the object must be quarantined)
    when its pixels cannot be decoded, read or re-encoded, and ConfigError when the OCR
    engine is missing.
    """
    reason = at_risk(ds)
    pixels = codec.decode(ds)
    before = str(pixels.transfer_syntax)
    regions, seconds = _detect(ds, pixels, detector or default_detector())
    frames, rows, columns = pixels.frames.shape[:3]
    boxes = _boxes(regions, rows, columns, margin)
    after = _rewrite(ds, pixels, boxes) if boxes else before
    ds.BurnedInAnnotation = "NO"
    return CleanResult(reason, frames, boxes, before, after, seconds, tuple(pixels.notes))


def _rewrite(ds: Dataset, pixels: codec.Pixels, boxes: tuple[Box, ...]) -> str:
    """Blank ``boxes`` in every frame, re-encode, write into ``ds``; the new syntax."""
    for frame in pixels.frames:
        fill = view.black(frame, ds, pixels.props)
        for x0, y0, x1, y1 in boxes:
            frame[y0:y1, x0:x1] = fill
    try:
        encoded = codec.encode(pixels)
    except Exception as exc:
        raise RejectedObject(f"cleaned pixel data cannot be encoded: {type(exc).__name__}") from exc
    source, target = pixels.transfer_syntax, encoded.transfer_syntax
    if target != source:
        pixels.notes.append(f"transfer syntax {source.name} -> {target.name}")
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if encoded.photometric != photometric:
        pixels.notes.append(f"photometric interpretation {photometric} -> {encoded.photometric}")
    codec.apply(ds, pixels, encoded)
    if source in codec.CERTAINLY_LOSSY:
        ds.LossyImageCompression = "01"
        pixels.notes.append("lossy input stored uncompressed; LossyImageCompression 01")
    elif pixels.lossy:
        pixels.notes.append("possibly lossy input stored uncompressed; LossyImageCompression kept")
    return str(target)
