"""Series thumbnails: one small PNG rendered from a stored DICOM object.

The pixels go through the same steps a viewer applies
(:mod:`vesalius.core.dicom.render`: modality LUT, then the header's window) so that a CT
thumbnail looks like the scanner's image rather than a grey rectangle. Anything
that cannot be decoded (an unsupported codec, a broken object) yields a generated
placeholder instead of an error, because one odd series must not break a study page.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings

import pydicom
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from vesalius.core.dicom.render import Undecodable, frame_image

log = logging.getLogger(__name__)

MAX_SIDE = 128
"""Longest side of a thumbnail in pixels (the study page shows them at this size)."""


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
            image = frame_image(ds, 1, None)
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


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
