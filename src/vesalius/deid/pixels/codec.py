"""Decode pixel data to frames and encode cleaned frames back.

Blanking happens on the stored values, so decoding keeps them as stored (``raw``: no
colour conversion) whenever the output can hold them exactly: native data stays native
in its own transfer syntax, lossless compressed data is re-encoded losslessly. Lossy
data cannot be re-encoded without a second generation of loss, so it is decoded to RGB
(the form its decoder is sure of) and stored as Explicit VR Little Endian, still marked
as lossy. Every change of transfer syntax or photometric interpretation is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.pixels import get_decoder, get_encoder, pack_bits
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from vesalius.core.errors import RejectedObject

# Inputs whose decoded values differ from what was acquired; stored natively, marked lossy.
LOSSY = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline
        "1.2.840.10008.1.2.4.51",  # JPEG Extended
        "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000 (may be lossy)
        "1.2.840.10008.1.2.4.203",  # HTJ2K (may be lossy)
    }
)
# Of those, the ones that are lossy for certain (the others keep LossyImageCompression).
CERTAINLY_LOSSY = frozenset(
    {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81"}
)
# Lossless inputs re-encoded to JPEG 2000 Lossless; every other lossless one goes to RLE.
_TO_J2K = frozenset(
    {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202"}
)
# Native syntaxes are kept (big endian too: the rest of the dataset is encoded that way).
_NATIVE_KEPT = frozenset(
    {
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
    }
)
_MAX_BASIC_OFFSETS = 2**32 - 1


@dataclass
class Pixels:
    """Decoded frames, ``(frames, rows, columns[, samples])``, and how to store them.

    ``props`` holds the Image Pixel values that describe ``frames`` (pydicom's names:
    ``photometric_interpretation``, ``bits_stored``, ...), which may differ from the
    dataset's after decoding (YBR_FULL_422 expanded, JPEG colour converted to RGB).
    """

    frames: np.ndarray
    props: dict[str, Any]
    transfer_syntax: UID
    lossy: bool
    notes: list[str] = field(default_factory=list)

    @property
    def photometric(self) -> str:
        return str(self.props["photometric_interpretation"])


def transfer_syntax(ds: Dataset) -> UID:
    """The dataset's transfer syntax; an object without one cannot be decoded."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if not uid:
        raise RejectedObject("pixel data cannot be decoded: no Transfer Syntax UID")
    return UID(str(uid))


def decode(ds: Dataset) -> Pixels:
    """All frames of ``ds`` as one writable array; RejectedObject when that fails."""
    if "PixelData" not in ds:
        raise RejectedObject("no Pixel Data to clean (float pixel data is not supported)")
    uid = transfer_syntax(ds)
    lossy = uid in LOSSY
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as exc:
        raise RejectedObject(f"pixel data cannot be decoded: {uid.name} unsupported") from exc
    try:
        array, props = decoder.as_array(ds, raw=not lossy, **as_pixel_options(ds))
    except Exception as exc:
        raise RejectedObject(
            f"pixel data cannot be decoded ({uid.name}): {type(exc).__name__}"
        ) from exc
    props = dict(props)
    if props["photometric_interpretation"] == "YBR_FULL_422":
        # Decoders return full-resolution samples; stored natively that is YBR_FULL.
        props["photometric_interpretation"] = "YBR_FULL"
    shape = (int(props.get("number_of_frames") or 1), int(props["rows"]), int(props["columns"]))
    if int(props["samples_per_pixel"]) > 1:
        shape += (int(props["samples_per_pixel"]),)
    try:
        frames = np.array(array, copy=True).reshape(shape)
    except ValueError as exc:
        raise RejectedObject(
            f"pixel data does not match its Image Pixel module ({uid.name})"
        ) from exc
    return Pixels(frames, props, uid, lossy)


def output_syntax(pixels: Pixels) -> UID:
    """Where cleaned frames go: the same syntax where exact, else lossless or native."""
    uid = pixels.transfer_syntax
    if pixels.lossy or not uid.is_compressed:
        return uid if uid in _NATIVE_KEPT else ExplicitVRLittleEndian
    if uid in _TO_J2K and get_encoder(JPEG2000Lossless).is_available:
        return JPEG2000Lossless
    return RLELossless


def _native_bytes(frames: np.ndarray, props: dict[str, Any], uid: UID) -> bytes:
    bits = int(props["bits_allocated"])
    if bits == 1:
        data = pack_bits(frames.ravel())
    else:
        kind = "i" if int(props.get("pixel_representation") or 0) else "u"
        order = "<" if uid.is_little_endian else ">"
        array = frames.astype(f"{order}{kind}{bits // 8}", copy=False)
        if array.ndim == 4 and int(props.get("planar_configuration") or 0) == 1:
            array = array.transpose(0, 3, 1, 2)
        data = np.ascontiguousarray(array).tobytes()
    return data + b"\0" if len(data) % 2 else data


def _encoded_bytes(frames: np.ndarray, props: dict[str, Any], uid: UID) -> list[bytes]:
    opts = {key: value for key, value in props.items() if value is not None}
    opts["number_of_frames"] = frames.shape[0]
    opts["planar_configuration"] = 0  # the encoders take interleaved samples
    source = frames if frames.shape[0] > 1 else frames[0]
    return list(get_encoder(uid).iter_encode(source, **opts))


@dataclass(frozen=True)
class Encoded:
    """New Pixel Data and the Image Pixel values that go with it."""

    pixel_data: bytes
    transfer_syntax: UID
    photometric: str
    planar_configuration: int | None
    extended_offsets: tuple[bytes, bytes] | None = None

    @property
    def encapsulated(self) -> bool:
        return self.transfer_syntax.is_compressed


def encode(pixels: Pixels) -> Encoded:
    """Encode ``pixels.frames`` for :func:`output_syntax`, falling back to native.

    A compressed encoding that fails (an unsupported bit depth, say) falls back to
    Explicit VR Little Endian, which holds any decoded frame exactly.
    """
    uid = output_syntax(pixels)
    spp = int(pixels.props["samples_per_pixel"])
    if uid.is_compressed:
        try:
            encoded = _encoded_bytes(pixels.frames, pixels.props, uid)
        except Exception as exc:
            pixels.notes.append(f"{uid.name} encoding failed ({type(exc).__name__})")
        else:
            offsets = None
            total = sum(len(item) + 8 for item in encoded)
            if total > _MAX_BASIC_OFFSETS:
                data, table, lengths = encapsulate_extended(encoded)
                offsets = (table, lengths)
            else:
                data = encapsulate(encoded)
            planar = 0 if spp > 1 else None
            return Encoded(data, uid, pixels.photometric, planar, offsets)
        uid = ExplicitVRLittleEndian
    planar = int(pixels.props.get("planar_configuration") or 0) if spp > 1 else None
    data = _native_bytes(pixels.frames, pixels.props, uid)
    return Encoded(data, uid, pixels.photometric, planar)


def apply(ds: Dataset, pixels: Pixels, encoded: Encoded) -> None:
    """Write ``encoded`` into ``ds`` with the Image Pixel values that describe it."""
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            del ds[keyword]
    ds.PixelData = encoded.pixel_data
    element = ds["PixelData"]
    element.is_undefined_length = encoded.encapsulated
    element.VR = "OB" if encoded.encapsulated or int(pixels.props["bits_allocated"]) <= 8 else "OW"
    if encoded.extended_offsets is not None:
        ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encoded.extended_offsets
    ds.file_meta.TransferSyntaxUID = encoded.transfer_syntax
    ds.PhotometricInterpretation = encoded.photometric
    if encoded.planar_configuration is not None:
        ds.PlanarConfiguration = encoded.planar_configuration
    for keyword, prop in (
        ("BitsStored", "bits_stored"),
        ("PixelRepresentation", "pixel_representation"),
    ):
        value = pixels.props.get(prop)
        if value is not None and ds.get(keyword) != value:
            setattr(ds, keyword, value)
