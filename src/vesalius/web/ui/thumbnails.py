"""Series thumbnails: one small PNG rendered from a stored DICOM object.

The pixels go through the same steps a viewer applies (modality LUT or rescale, then
the VOI window from the header) so that a CT thumbnail looks like the scanner's image
rather than a grey rectangle; without a window the full range is stretched. Anything
that cannot be decoded (an unsupported codec, a broken object) yields a generated
placeholder instead of an error, because one odd series must not break a study page.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings

import numpy as np
import pydicom
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

log = logging.getLogger(__name__)

MAX_SIDE = 128
"""Longest side of a thumbnail in pixels (the study page shows them at this size)."""

# Attributes of the first frame that an enhanced (multi-frame) object keeps in its
# functional groups instead of the top level, where pydicom's LUT functions look.
_GROUP_ATTRIBUTES = {
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": ("WindowCenter", "WindowWidth", "VOILUTFunction"),
}


class Undecodable(Exception):
    """The object's pixels cannot be turned into an image; the caller shows a placeholder."""


def render(data: bytes) -> bytes:
    """A PNG thumbnail of the first frame of the DICOM object ``data``.

    Raises :class:`Undecodable` (chained to the cause) when the object has no pixels
    that pydicom and the installed decoders can read.
    """
    try:
        with warnings.catch_warnings():
            # pydicom warns about every header oddity; a thumbnail is best effort
            warnings.simplefilter("ignore")
            ds = _read(data)
            image = _to_image(ds)
    except Undecodable:
        raise
    except Exception as exc:  # pydicom and the codecs raise many unrelated types
        # the type name only: messages may quote header values, and this gets logged
        raise Undecodable(type(exc).__name__) from exc
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return _png(image)


@functools.cache
def placeholder() -> bytes:
    """A neutral "no preview" tile, generated once; PNG bytes."""
    image = Image.new("L", (MAX_SIDE, MAX_SIDE), 40)
    draw = ImageDraw.Draw(image)
    margin = MAX_SIDE // 4
    draw.rectangle((margin, margin, MAX_SIDE - margin, MAX_SIDE - margin), outline=110, width=3)
    draw.line((margin, margin, MAX_SIDE - margin, MAX_SIDE - margin), fill=110, width=3)
    draw.line((margin, MAX_SIDE - margin, MAX_SIDE - margin, margin), fill=110, width=3)
    return _png(image)


def _read(data: bytes) -> Dataset:
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        # objects without a preamble (raw C-STORE payloads) are archived as received
        return pydicom.dcmread(io.BytesIO(data), force=True)


def _to_image(ds: Dataset) -> Image.Image:
    if "PixelData" not in ds:
        raise Undecodable("no pixel data")
    # decode only the first frame: a large multi-frame object need not be expanded whole
    arr = pixel_array(ds, index=0)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        photometric = "RGB"
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        # pydicom converts YBR to RGB while decoding; only the depth may still differ
        rgb = arr[..., :3]
        return Image.fromarray(rgb if rgb.dtype == np.uint8 else _stretch(rgb), "RGB")
    if arr.ndim != 2:
        raise Undecodable(f"unexpected pixel array shape {arr.shape}")
    grey = _grey(arr, _first_frame_header(ds))
    if photometric == "MONOCHROME1":  # 0 is white
        grey = 255 - grey
    return Image.fromarray(grey, "L")


def _grey(arr: np.ndarray, header: Dataset) -> np.ndarray:
    """Modality LUT, then the header's VOI (window or LUT) if any, as 8-bit grey."""
    values = apply_modality_lut(arr, header)
    has_window = "WindowCenter" in header and "WindowWidth" in header
    if not (header.get("VOILUTSequence") or has_window):
        return _stretch(values)
    shown = np.asarray(apply_voi_lut(values, header), dtype=np.float64)
    if header.get("VOILUTSequence"):
        return _stretch(shown)  # a LUT's output range is its own entries' range
    # A window maps everything below/above it to the ends of its output range; feed it
    # two extreme values to learn that range, so that images without air or bone keep
    # the window's contrast instead of being stretched.
    ends = np.asarray(apply_voi_lut(np.array([-1e12, 1e12]), header), dtype=np.float64)
    low, high = float(ends.min()), float(ends.max())
    if not high > low:
        return _stretch(shown)
    scaled = (shown - low) / (high - low) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _stretch(arr: np.ndarray) -> np.ndarray:
    """Map the array's own min..max onto 0..255 (a flat image becomes black)."""
    values = np.asarray(arr, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise Undecodable("no finite pixel values")
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _first_frame_header(ds: Dataset) -> Dataset:
    """``ds`` itself, or for enhanced objects a copy carrying frame 1's rescale and window.

    Enhanced CT/MR/PET objects put these in the shared or per-frame functional groups;
    pydicom's LUT functions read the top level only.
    """
    groups = [
        seq[0]
        for name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
        if (seq := ds.get(name))
    ]
    if not groups:
        return ds
    header = Dataset()
    for keyword in ("PhotometricInterpretation", "BitsStored", "BitsAllocated",
                    "PixelRepresentation", "ModalityLUTSequence", "VOILUTSequence",
                    "RescaleSlope", "RescaleIntercept", "RescaleType",
                    "WindowCenter", "WindowWidth", "VOILUTFunction"):
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


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
