"""A frame of a DICOM object as a picture, the way a viewer shows it.

Colour (and palette) frames stay colour; grey-scale frames go through the modality LUT
(rescale), then a VOI window (the caller's, else the header's, else the frame's own
range, or the header's VOI LUT), MONOCHROME1 inverted. Enhanced objects keep rescale and
window in their functional groups, which pydicom's LUT functions do not read, so the
frame's values are gathered first. Web thumbnails and DICOMweb ``/rendered`` both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

FUNCTIONS = ("linear", "linear-exact", "sigmoid")
_GROUP_ATTRIBUTES = {
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": ("WindowCenter", "WindowWidth", "VOILUTFunction"),
}


class Undecodable(Exception):
    """The frame's pixels cannot be turned into an image."""


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "linear"


def frame_image(ds: Dataset, number: int, window: Window | None) -> Image.Image:
    """Frame ``number`` (1-based) of ``ds`` as an 8-bit grey or RGB image."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise Undecodable("no pixel data")
    arr = pixel_array(ds, index=number - 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        rgb = arr[..., :3]
        return Image.fromarray(rgb if rgb.dtype == np.uint8 else stretch(rgb), "RGB")
    if arr.ndim != 2:
        raise Undecodable(f"unexpected pixel array shape {arr.shape}")
    header = frame_header(ds, number)
    values = np.asarray(apply_modality_lut(arr, header), dtype=np.float64)
    if window is None and "WindowCenter" in header and "WindowWidth" in header:
        window = header_window(header)
    if window is not None:
        grey = apply_window(values, window)
    elif header.get("VOILUTSequence"):
        grey = stretch(np.asarray(apply_voi_lut(values, header), dtype=np.float64))
    else:
        grey = stretch(values)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return Image.fromarray(grey, "L")


def _first(value: object) -> float:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0]  # type: ignore[index]
    return float(value)  # type: ignore[arg-type]


def header_window(header: Dataset) -> Window | None:
    try:
        center, width = _first(header.WindowCenter), _first(header.WindowWidth)
    except (TypeError, ValueError, IndexError):
        return None
    function = str(header.get("VOILUTFunction", "LINEAR") or "LINEAR").lower().replace("_", "-")
    if function not in FUNCTIONS or width <= 0 or (function == "linear" and width < 1):
        return None
    return Window(center, width, function)


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1/.2/.3 onto 0..255."""
    c, w = window.center, window.width
    if window.function == "sigmoid":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    elif window.function == "linear-exact":
        out = ((values - c) / w + 0.5) * 255.0
    elif w == 1:
        out = np.where(values <= c - 0.5, 0.0, 255.0)
    else:
        out = ((values - (c - 0.5)) / (w - 1) + 0.5) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def stretch(arr: np.ndarray) -> np.ndarray:
    values = np.asarray(arr, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise Undecodable("no finite pixel values")
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def frame_header(ds: Dataset, number: int) -> Dataset:
    """``ds``, or for enhanced objects a header carrying frame ``number``'s LUT values."""
    groups = []
    if shared := ds.get("SharedFunctionalGroupsSequence"):
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and len(per_frame) >= number:
        groups.append(per_frame[number - 1])
    if not groups:
        return ds
    header = Dataset()
    for keyword in (
        "PhotometricInterpretation",
        "BitsStored",
        "BitsAllocated",
        "PixelRepresentation",
        "ModalityLUTSequence",
        "VOILUTSequence",
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
    ):
        if keyword in ds:
            setattr(header, keyword, ds[keyword].value)
    for group in groups:  # per-frame values, read last, win over shared ones
        for sequence, keywords in _GROUP_ATTRIBUTES.items():
            if not group.get(sequence):
                continue
            item = group[sequence][0]
            for keyword in keywords:
                if keyword in item:
                    setattr(header, keyword, item[keyword].value)
    return header
