"""Thumbnail rendering on built objects whose expected grey values are known.

The images are made of large flat regions so that the expected value of each region
after rescale and window can be computed by hand and read back from the PNG.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from vesalius.core.dicom.synthetic import to_bytes
from vesalius.web.ui import thumbnails


def image(pixels: np.ndarray, *, sop_class: str = CTImageStorage, **attributes: object) -> Dataset:
    """A minimal image object around ``pixels`` (rows x cols, or frames x rows x cols [x 3])."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    colour = pixels.ndim >= 3 and pixels.shape[-1] == 3
    frames = pixels.shape[0] if pixels.ndim == (4 if colour else 3) else 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = pixels.tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def grey(png: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG"
    return np.asarray(picture)


def thirds(values: tuple[int, int, int], dtype: str = "uint16", size: int = 60) -> np.ndarray:
    """Three vertical bands of the given stored values."""
    arr = np.empty((size, size), dtype=dtype)
    for i, value in enumerate(values):
        arr[:, i * size // 3 : (i + 1) * size // 3] = value
    return arr


def band_values(picture: np.ndarray) -> list[int]:
    width = picture.shape[1]
    return [int(picture[picture.shape[0] // 2, (2 * i + 1) * width // 6]) for i in range(3)]


def test_ct_window_from_the_header_after_rescale() -> None:
    # stored 24 / 1064 / 4024 with intercept -1024 → -1000 / 40 / 3000 HU
    ds = image(
        thirds((24, 1064, 4024)),
        RescaleIntercept=-1024,
        RescaleSlope=1,
        WindowCenter=40,
        WindowWidth=400,
    )
    assert band_values(grey(thumbnails.render(to_bytes(ds)))) == [0, 128, 255]


def test_without_window_the_range_is_stretched() -> None:
    ds = image(thirds((100, 300, 500)), sop_class=SecondaryCaptureImageStorage)
    assert band_values(grey(thumbnails.render(to_bytes(ds)))) == [0, 128, 255]


def test_monochrome1_is_inverted() -> None:
    ds = image(thirds((100, 300, 500)), PhotometricInterpretation="MONOCHROME1")
    assert band_values(grey(thumbnails.render(to_bytes(ds)))) == [255, 127, 0]  # 255 - round(127.5)


def test_large_images_shrink_to_128_keeping_the_aspect_ratio() -> None:
    ds = image(np.zeros((256, 512), dtype="uint16"))
    assert Image.open(io.BytesIO(thumbnails.render(to_bytes(ds)))).size == (128, 64)


def test_rgb_stays_in_colour() -> None:
    pixels = np.zeros((40, 40, 3), dtype="uint8")
    pixels[..., 0] = 200  # red
    pixels[20:, :, 2] = 90  # lower half purple-ish
    ds = image(pixels, sop_class=SecondaryCaptureImageStorage)
    picture = Image.open(io.BytesIO(thumbnails.render(to_bytes(ds))))
    assert picture.mode == "RGB"
    assert picture.getpixel((5, 5)) == (200, 0, 0)
    assert picture.getpixel((5, 35)) == (200, 0, 90)


def test_multiframe_shows_the_first_frame() -> None:
    frames = np.stack([thirds((100, 300, 500)), thirds((500, 300, 100))])
    ds = image(frames, sop_class=SecondaryCaptureImageStorage)
    assert band_values(grey(thumbnails.render(to_bytes(ds)))) == [0, 128, 255]


def test_enhanced_objects_use_the_functional_groups_window() -> None:
    frames = np.stack([thirds((24, 1064, 4024))] * 2)
    transform, voi, shared = Dataset(), Dataset(), Dataset()
    transform.RescaleIntercept, transform.RescaleSlope, transform.RescaleType = -1024, 1, "HU"
    voi.WindowCenter, voi.WindowWidth = 40, 400
    shared.PixelValueTransformationSequence = [transform]
    shared.FrameVOILUTSequence = [voi]
    ds = image(frames, sop_class=EnhancedCTImageStorage, SharedFunctionalGroupsSequence=[shared])
    assert band_values(grey(thumbnails.render(to_bytes(ds)))) == [0, 128, 255]


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_pixel_data_is_decoded(syntax: str) -> None:
    ds = image(thirds((100, 300, 500)), sop_class=SecondaryCaptureImageStorage)
    ds.compress(syntax)
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert band_values(grey(thumbnails.render(to_bytes(ds)))) == [0, 128, 255]


def test_undecodable_objects_raise_undecodable() -> None:
    garbled = image(thirds((1, 2, 3)))
    garbled.file_meta.TransferSyntaxUID = JPEG2000Lossless
    garbled.PixelData = encapsulate([b"not a codestream" * 4])
    garbled["PixelData"].VR = "OB"
    no_pixels = image(thirds((1, 2, 3)))
    del no_pixels.PixelData
    for data in (to_bytes(garbled), to_bytes(no_pixels), b"not DICOM at all"):
        with pytest.raises(thumbnails.Undecodable):
            thumbnails.render(data)


def test_placeholder_is_a_small_png() -> None:
    picture = Image.open(io.BytesIO(thumbnails.placeholder()))
    assert picture.format == "PNG"
    assert max(picture.size) <= thumbnails.MAX_SIDE
