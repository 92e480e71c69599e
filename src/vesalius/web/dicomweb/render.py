"""Rendered frames (PS3.18 8.3.5 and 9.5): a frame as a consumer image, PNG or JPEG.

The pixels go through what a viewer applies: palette or colour as is; grey scale through
the modality LUT (rescale), then a VOI window (the ``window`` parameter, else the
header's, else the frame's own range), MONOCHROME1 inverted. ``viewport`` scales (and
with a source rectangle crops and flips) the result; ``quality`` sets JPEG quality.

The picture itself comes from :mod:`vesalius.core.dicom.render`, shared with the
web UI's thumbnails.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image
from pydicom.dataset import Dataset

from vesalius.core.dicom.render import FUNCTIONS, Undecodable, Window, apply_window, frame_image
from vesalius.core.errors import InvalidInput

__all__ = ["Undecodable", "Window", "apply_window", "options_from_query", "render"]

MAX_SIDE = 8192


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    source: tuple[float, float, float, float] | None = None  # sx, sy, sw, sh


@dataclass(frozen=True)
class Options:
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = 90


def _numbers(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise InvalidInput(f"{name} must be comma-separated numbers") from exc
    if not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"{name} must be finite numbers")
    return values


def options_from_query(query: Mapping[str, str]) -> Options:
    window = viewport = None
    if text := query.get("window"):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise InvalidInput("window is center,width[,function]")
        c, w = _numbers(",".join(parts[:2]), "window")
        function = (parts[2] if len(parts) == 3 else "").lower() or "linear"
        if function not in FUNCTIONS:
            raise InvalidInput(f"window function must be one of {', '.join(FUNCTIONS)}")
        if w <= 0 or (function == "linear" and w < 1):
            raise InvalidInput("window width must be positive (at least 1 for linear)")
        window = Window(c, w, function)
    if text := query.get("viewport"):
        parts = text.split(",")
        if len(parts) not in (2, 6):
            raise InvalidInput("viewport is vw,vh or vw,vh,sx,sy,sw,sh")
        vw, vh = _numbers(",".join(parts[:2]), "viewport")
        if not (vw >= 1 and vh >= 1 and vw <= MAX_SIDE and vh <= MAX_SIDE):
            raise InvalidInput(f"viewport width and height must be 1..{MAX_SIDE}")
        source = None
        if len(parts) == 6:
            sx, sy, sw, sh = _numbers(",".join(parts[2:]), "viewport")
            if sw == 0 or sh == 0:
                raise InvalidInput("viewport source width and height must not be 0")
            source = (sx, sy, sw, sh)
        viewport = Viewport(int(vw), int(vh), source)
    quality = 90
    if text := query.get("quality"):
        try:
            quality = int(text)
        except ValueError as exc:
            raise InvalidInput("quality must be an integer 1..100") from exc
        if not 1 <= quality <= 100:
            raise InvalidInput("quality must be an integer 1..100")
    return Options(window, viewport, quality)


def render(ds: Dataset, number: int, options: Options, media_type: str) -> bytes:
    """Frame ``number`` (1-based) of ``ds`` as ``image/png`` or ``image/jpeg`` bytes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = frame_image(ds, number, options.window)
    except (Undecodable, InvalidInput):
        raise
    except Exception as exc:  # pydicom and the codecs raise many unrelated types
        raise Undecodable(type(exc).__name__) from exc
    if options.viewport is not None:
        image = _fit(image, options.viewport)
    buffer = io.BytesIO()
    if media_type == "image/png":
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=options.quality)
    return buffer.getvalue()


def _fit(image: Image.Image, viewport: Viewport) -> Image.Image:
    """Crop (and flip) the source rectangle, then scale into the viewport keeping aspect."""
    if viewport.source is not None:
        sx, sy, sw, sh = viewport.source
        left, right = sorted((sx, sx + sw))
        top, bottom = sorted((sy, sy + sh))
        image = image.crop((round(left), round(top), round(right), round(bottom)))
        if sw < 0:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if sh < 0:
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    scale = min(viewport.width / image.width, viewport.height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)
