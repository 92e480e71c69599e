"""8-bit views of a frame for OCR, and the "black" each photometric interpretation uses.

OCR engines read 8-bit images, so each stored frame is shown to them as a person would
see it. Greyscale deeper than 8 bits is windowed: over its full range (text burned in at
the maximum stays white) and, when the object carries one, through its own display
window too, since text can be drawn at a value only that window shows. Blanking, in
turn, writes the darkest value in the stored representation, so a cleaned area looks
like the black margin of a scanner screen and not like tissue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, convert_color_space

from vesalius.core.errors import RejectedObject

SUPPORTED = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR"})


def check_supported(photometric: str, bits_stored: int) -> None:
    """Reject what the views and fills below cannot show or blank correctly."""
    if photometric not in SUPPORTED:
        raise RejectedObject(f"pixel cleaning does not support photometric {photometric}")
    if photometric == "YBR_FULL" and bits_stored > 8:
        raise RejectedObject("pixel cleaning does not support YBR_FULL deeper than 8 bits")


def _to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _first(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str | bytes | int | float):
        value = next(iter(value), None)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _grey_views(frame: np.ndarray, ds: Dataset, props: dict[str, Any]) -> list[np.ndarray]:
    unsigned = not int(props.get("pixel_representation") or 0)
    if int(props["bits_stored"]) <= 8 and unsigned and frame.dtype == np.uint8:
        views = [frame]
    else:
        views = [_to_uint8(frame, float(frame.min()), float(frame.max()))]
        center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
        if center is not None and width is not None and width >= 1:
            slope = _first(ds.get("RescaleSlope")) or 1.0
            intercept = _first(ds.get("RescaleIntercept")) or 0.0
            values = frame.astype(np.float32) * slope + intercept
            low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
            views.append(_to_uint8(values, low, high))
    if props["photometric_interpretation"] == "MONOCHROME1":
        views = [255 - view for view in views]
    return views


def ocr_views(frame: np.ndarray, ds: Dataset, props: dict[str, Any]) -> list[np.ndarray]:
    """One or two uint8 images (grey or RGB) showing ``frame`` as it would be displayed."""
    photometric = props["photometric_interpretation"]
    bits = int(props["bits_stored"])
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        return _grey_views(frame, ds, props)
    if photometric == "YBR_FULL":
        return [convert_color_space(frame.astype(np.uint8), "YBR_FULL", "RGB")]
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(frame, ds)
        return [_to_uint8(rgb, 0, float(np.iinfo(rgb.dtype).max))]
    if bits > 8 or frame.dtype != np.uint8:
        return [_to_uint8(frame, 0, float(2**bits - 1))]
    return [frame]


def black(frame: np.ndarray, ds: Dataset, props: dict[str, Any]) -> Any:
    """The stored value (scalar or per-sample tuple) that blanks a region of ``frame``."""
    photometric = props["photometric_interpretation"]
    if photometric == "MONOCHROME2":
        return frame.min()
    if photometric == "MONOCHROME1":
        return frame.max()
    if photometric == "RGB":
        return (0, 0, 0)
    if photometric == "YBR_FULL":
        middle = 2 ** (int(props["bits_stored"]) - 1)
        return (0, middle, middle)
    # PALETTE COLOR: the index present in the frame whose colour is darkest.
    indices = np.unique(frame)
    luminance = apply_color_lut(indices, ds).astype(np.float64) @ (0.299, 0.587, 0.114)
    return indices[int(np.argmin(luminance))]
