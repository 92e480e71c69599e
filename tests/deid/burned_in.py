"""Images with burned-in identifiers, drawn as scanners draw them.

Text is rendered with Pillow in a real TrueType font (Debian's fonts-dejavu) at 12-20 px
over a noisy, anatomy-like background: an ultrasound sector with speckle, or a body
outline with soft-tissue texture. Each builder returns the dataset (read back from
bytes, as from a file) and the exact bounding boxes of the text it drew.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless, generate_uid

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_PACKAGE = "fonts-dejavu-core"

PATIENT = "DOE^JOHN"
PLANTED = (PATIENT, "MRN 12345678", "2024-03-05 14:22", "St Elsewhere General Hospital")
EXTRA = "ACC 99887766"  # drawn in one frame only of multi-frame objects
# Pieces of the planted strings that must not be read back after cleaning.
TOKENS = ("DOE", "JOHN", "MRN", "12345678", "2024", "1422", "ELSEWHERE", "GENERAL", "HOSPITAL")

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"

Box = tuple[int, int, int, int]


def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at ``size`` px; skip locally (fail in CI) when the font is missing."""
    if not FONT.is_file():
        message = f"{FONT} not found: install the Debian package {FONT_PACKAGE!r}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return ImageFont.truetype(str(FONT), size)


def normalise(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def leaked(texts: list[str]) -> set[str]:
    """The planted tokens found in OCR output."""
    joined = " ".join(normalise(text) for text in texts)
    return {token for token in TOKENS if token in joined}


@dataclass
class Planted:
    ds: Dataset
    boxes: list[list[Box]]  # per frame: the bounding boxes of the text drawn there


def _layout(rows: int, columns: int) -> list[tuple[str, tuple[int, int], int]]:
    """Where scanners put their overlay (corners, bottom edge), one line over the anatomy."""
    return [
        (PATIENT, (8, 6), 18),
        ("MRN 12345678", (columns // 2 - 40, rows // 2 - 30), 14),
        ("2024-03-05 14:22", (columns - 150, 8), 14),
        ("St Elsewhere General Hospital", (columns // 2 - 110, rows - 48), 15),
    ]


def _draw(canvas: Image.Image, lines: list[tuple[str, tuple[int, int], int]], fill) -> list[Box]:
    draw = ImageDraw.Draw(canvas)
    boxes = []
    for text, xy, size in lines:
        face = font(size)
        draw.text(xy, text, fill=fill, font=face)
        boxes.append(tuple(int(v) for v in draw.textbbox(xy, text, font=face)))
    return boxes


def ultrasound_background(rows: int, columns: int, seed: int) -> np.ndarray:
    """A speckled sector scan with a dark cyst, values 0..1."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    apex_x, apex_y = columns / 2, rows * 0.08
    radius = np.hypot(x - apex_x, y - apex_y)
    angle = np.arctan2(x - apex_x, y - apex_y)
    sector = (np.abs(angle) < 0.7) & (radius < rows * 0.9) & (radius > rows * 0.05)
    tissue = 0.45 + 0.15 * np.sin(radius / 11.0) + 0.1 * np.cos(angle * 9)
    cyst = np.hypot(x - columns * 0.55, y - rows * 0.55) < rows * 0.1
    speckle = rng.rayleigh(0.35, size=(rows, columns))
    image = np.where(sector, tissue * speckle, 0.1 * rng.rayleigh(0.5, size=(rows, columns)))
    image[cyst & sector] *= 0.2
    return np.clip(image, 0, 1)


def body_background(rows: int, columns: int, seed: int) -> np.ndarray:
    """An axial body outline with organs and noise, values 0..1."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    body = ((x - columns / 2) / (columns * 0.38)) ** 2 + ((y - rows / 2) / (rows * 0.3)) ** 2 < 1
    organ = ((x - columns * 0.4) / 60) ** 2 + ((y - rows * 0.5) / 40) ** 2 < 1
    image = np.where(body, 0.45, 0.02) + np.where(organ, 0.15, 0)
    image = image + rng.normal(0, 0.04, (rows, columns))
    return np.clip(image, 0, 1)


def _base(sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = PATIENT
    ds.PatientID = "12345678"
    return ds


def reread(ds: Dataset) -> Dataset:
    """``ds`` written as a DICOM file and read back."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return dcmread(buffer)


def ultrasound(
    photometric: str = "RGB",
    frames: int = 1,
    rows: int = 384,
    columns: int = 512,
    text: bool = True,
) -> Planted:
    """A colour US image (RGB or YBR_FULL, native) with the overlay in every frame."""
    pixels, boxes = [], []
    for index in range(frames):
        grey = (ultrasound_background(rows, columns, seed=index) * 220).astype(np.uint8)
        canvas = Image.fromarray(grey).convert("RGB")
        lines = _layout(rows, columns) if text else []
        if text and frames > 1 and index == 1:
            lines.append((EXTRA, (columns - 150, 30), 13))
        boxes.append(_draw(canvas, lines, fill=(235, 235, 200)))
        pixels.append(np.asarray(canvas))
    array = np.stack(pixels)
    ds = _base(US_MULTIFRAME if frames > 1 else US_IMAGE, "US")
    if frames > 1:
        ds.NumberOfFrames = frames
    if photometric == "YBR_FULL":
        array = convert_color_space(array, "RGB", "YBR_FULL")
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = array.tobytes()
    return Planted(reread(ds), boxes)


def secondary_capture(bits: int = 8, rows: int = 384, columns: int = 512) -> Planted:
    """A MONOCHROME2 SC image; 16-bit ones store 12 bits and carry a display window."""
    top = 255 if bits == 8 else 4095
    grey = body_background(rows, columns, seed=7) * (top * 0.6)
    canvas = Image.fromarray(grey.astype(np.float32), mode="F")
    boxes = _draw(canvas, _layout(rows, columns), fill=float(top))
    array = np.asarray(canvas).round().astype(np.uint8 if bits == 8 else np.uint16)
    ds = _base(SECONDARY_CAPTURE, "OT")
    ds.ConversionType = "WSD"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored = bits, 8 if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if bits == 16:
        ds.WindowCenter, ds.WindowWidth = 1200, 2400
    ds.PixelData = array.tobytes()
    return Planted(reread(ds), [boxes])


def ct(rows: int = 256, columns: int = 256) -> Dataset:
    """A plain CT slice: greyscale, signed 16-bit, no burned-in text."""
    ds = _base(CT_IMAGE, "CT")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.BurnedInAnnotation = "NO"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    values = (body_background(rows, columns, seed=3) * 2000 - 1000).astype(np.int16)
    ds.PixelData = values.tobytes()
    return reread(ds)


def as_rle(planted: Planted) -> Planted:
    ds = planted.ds
    ds.compress(RLELossless, generate_instance_uid=False)
    return Planted(reread(ds), planted.boxes)


def as_jpeg_baseline(planted: Planted) -> Planted:
    """The RGB image JPEG-compressed by Pillow (YCbCr 4:2:2), as ultrasound scanners do."""
    ds = planted.ds
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns, 3)
    fragments = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, "JPEG", quality=90, subsampling=1)
        fragments.append(buffer.getvalue())
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    return Planted(reread(ds), planted.boxes)
