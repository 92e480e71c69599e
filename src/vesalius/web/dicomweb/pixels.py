"""Stored objects as WADO-RS parts: Part 10 files, transcoded files and single frames.

The archive keeps objects byte for byte as received; this module only reads them. A
native (uncompressed) frame is cut out of Pixel Data; an encapsulated one is taken as
its compressed fragments (``pydicom.encaps.get_frame``) or decoded with pydicom's pixel
handlers (pylibjpeg, openjpeg, Pillow) when a client accepts uncompressed data only.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.filewriter import write_file_meta_info
from pydicom.pixels import get_decoder, pixel_array, unpack_bits
from pydicom.pixels.utils import get_nr_frames
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from vesalius.core.errors import InvalidInput, NotFound

NATIVE_LE = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}
)
NATIVE = NATIVE_LE | {ExplicitVRBigEndian}
PRODUCIBLE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
"""Transfer syntaxes a stored object can be transcoded to on request."""

# PS3.18 Table 8.7.3-2 (bulk data media types of the encapsulated transfer syntaxes)
MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.100": "video/mpeg2",
    "1.2.840.10008.1.2.4.101": "video/mpeg2",
    "1.2.840.10008.1.2.4.102": "video/mp4",
    "1.2.840.10008.1.2.4.103": "video/mp4",
    "1.2.840.10008.1.2.4.104": "video/mp4",
    "1.2.840.10008.1.2.4.105": "video/mp4",
    "1.2.840.10008.1.2.4.106": "video/mp4",
    "1.2.840.10008.1.2.4.107": "video/H265",
    "1.2.840.10008.1.2.4.108": "video/H265",
}
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class Unreadable(Exception):
    """The stored object cannot be read or decoded for this request."""


def is_native(ts: str) -> bool:
    return ts in NATIVE


def can_decode(ts: str) -> bool:
    """Whether pixels in transfer syntax ``ts`` can be made uncompressed here."""
    if is_native(ts) or not ts:
        return True
    try:
        return bool(get_decoder(ts).is_available)
    except Exception:  # pydicom: no decoder registered for this UID
        return False


def can_transcode(ts: str, target: str) -> bool:
    """Whether an object stored in ``ts`` can be written as ``target`` (ELE or ILE)."""
    if target not in PRODUCIBLE:
        return False
    return ts != ExplicitVRBigEndian and can_decode(ts)


def read(data: bytes, *, stop_before_pixels: bool = False) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            try:
                return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
            except InvalidDicomError:
                return pydicom.dcmread(
                    io.BytesIO(data), force=True, stop_before_pixels=stop_before_pixels
                )
        except Exception as exc:
            raise Unreadable(type(exc).__name__) from exc


def _encoding_uid(ds: Dataset, hint: str) -> str:
    if hint:
        return hint
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def as_part10(data: bytes, transfer_syntax: str) -> bytes:
    """``data`` as a Part 10 file: as stored when it is one; else with a File Meta added.

    Objects received without File Meta (raw C-STORE payloads) keep their dataset bytes;
    only the preamble and meta group that PS3.18 requires of application/dicom are added.
    """
    if data[128:132] == b"DICM":
        return data
    if data[:2] == b"\x02\x00":  # a File Meta group (always little endian), no preamble
        return b"\x00" * 128 + b"DICM" + data
    ds = read(data)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    meta.TransferSyntaxUID = _encoding_uid(ds, transfer_syntax)
    buffer = io.BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    buffer.write(data)
    return buffer.getvalue()


def transcode(data: bytes, target: str) -> bytes:
    """The object written in ``target`` (Explicit or Implicit VR Little Endian)."""
    ds = read(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = ds.file_meta.get("TransferSyntaxUID")
            if ts is not None and ts.is_compressed:
                ds.decompress(generate_instance_uid=False)
            ds.file_meta.TransferSyntaxUID = target
            buffer = io.BytesIO()
            ds.save_as(
                buffer,
                implicit_vr=target == ImplicitVRLittleEndian,
                little_endian=True,
                enforce_file_format=True,
            )
    except Exception as exc:
        raise Unreadable(type(exc).__name__) from exc
    return buffer.getvalue()


def frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(get_nr_frames(ds, warn=False)))
    except Exception:
        return 1


def check_frames(ds: Dataset, numbers: list[int]) -> None:
    if not any(k in ds for k in PIXEL_KEYWORDS):
        raise NotFound("this instance has no pixel data")
    count = frame_count(ds)
    wrong = [n for n in numbers if n > count]
    if wrong:
        raise NotFound(f"frame {wrong[0]} does not exist: the instance has {count} frame(s)")


def _pixel_keyword(ds: Dataset) -> str:
    return next(k for k in PIXEL_KEYWORDS if k in ds)


def native_frame(ds: Dataset, number: int) -> bytes:
    """Frame ``number`` (1-based) of native pixel data, little endian."""
    keyword = _pixel_keyword(ds)
    value = ds[keyword].value
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = {"PixelData": int(ds.BitsAllocated), "FloatPixelData": 32}.get(keyword, 64)
    pixels = rows * columns * samples
    if bits == 1:
        start, stop = (number - 1) * pixels, number * pixels
        unpacked = unpack_bits(value)[start:stop]
        return np.packbits(unpacked, bitorder="little").tobytes()
    size = pixels * bits // 8
    frame = bytes(value[(number - 1) * size : number * size])
    if len(frame) < size:
        raise Unreadable("pixel data shorter than its frames")
    big_endian = not ds.original_encoding[1]
    if big_endian and bits > 8:
        frame = np.frombuffer(frame, dtype=f">u{bits // 8}").astype(f"<u{bits // 8}").tobytes()
    return frame


def encapsulated_frame(ds: Dataset, number: int) -> bytes:
    """The compressed bytes of frame ``number`` (1-based), as stored."""
    try:
        return get_frame(ds.PixelData, number - 1, number_of_frames=frame_count(ds))
    except Exception as exc:
        raise Unreadable(type(exc).__name__) from exc


def decoded_frame(ds: Dataset, number: int) -> bytes:
    """Frame ``number`` decoded to little-endian samples (colour as RGB, interleaved)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = pixel_array(ds, index=number - 1)
    except Exception as exc:
        raise Unreadable(type(exc).__name__) from exc
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def parse_frame_list(text: str) -> list[int]:
    """``1,3,5`` → [1, 3, 5]; frame numbers start at 1."""
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError as exc:
        raise InvalidInput("frame numbers must be a comma-separated list of integers") from exc
    if not numbers or any(n < 1 for n in numbers):
        raise InvalidInput("frame numbers start at 1")
    return numbers
