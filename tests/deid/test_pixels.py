"""Burned-in text: objects at risk are found, their text is blanked, nothing else changes.

The oracle is independent of the cleaner's own 8-bit views: it renders the stored pixels
as pydicom displays them and asks the OCR engine (the real one, offline) for text, and
it is shown to find every planted string before cleaning. Codec paths (compressed,
big-endian, palette, multi-frame sample files) use a stub detector that reports a fixed
box, so they need no OCR and still show exactly which pixels changed.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from burned_in import (
    EXTRA,
    PATIENT,
    TOKENS,
    Planted,
    as_jpeg_baseline,
    as_rle,
    ct,
    leaked,
    normalise,
    reread,
    secondary_capture,
    ultrasound,
)
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)

from vesalius.core.errors import ConfigError, RejectedObject
from vesalius.deid.hooks import PixelCleaner
from vesalius.deid.pixels import (
    OcrPixelCleaner,
    RapidOcrDetector,
    Region,
    at_risk,
    clean_pixels,
    default_detector,
    find_text,
    load_rapidocr,
)

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


# -- the oracle ----------------------------------------------------------------------------


def rendered(ds: Dataset) -> list[np.ndarray]:
    """Each frame as a viewer shows it: RGB for colour, min-max scaled 8-bit greyscale."""
    array = ds.pixel_array
    frames = array if int(ds.get("NumberOfFrames") or 1) > 1 else array[np.newaxis]
    out = []
    for frame in frames:
        if frame.dtype != np.uint8:
            low, high = float(frame.min()), float(frame.max())
            frame = ((frame - low) * (255.0 / max(high - low, 1))).astype(np.uint8)
        out.append(frame)
    return out


def read_back(ds: Dataset) -> list[list[str]]:
    """OCR text of every frame of ``ds`` after a write/read round trip."""
    detector = default_detector()
    return [[r.text for r in detector.detect(frame)] for frame in rendered(reread(ds))]


def stored(ds: Dataset) -> np.ndarray:
    """Stored values, no colour conversion, always ``(frames, rows, columns[, samples])``."""
    array = pixel_array(ds, raw=True)
    frames = int(ds.get("NumberOfFrames") or 1)
    return array.reshape((frames, ds.Rows, ds.Columns, *array.shape[(3 if frames > 1 else 2) :]))


def outside(boxes, shape) -> np.ndarray:
    mask = np.ones(shape[1:3], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = False
    return mask


def assert_text_blanked(cleaned: np.ndarray, planted: Planted, fills) -> None:
    """Every box where text was drawn, in any frame, is the fill value in every frame."""
    drawn = {box for frame_boxes in planted.boxes for box in frame_boxes}
    for index, frame in enumerate(cleaned):
        for x0, y0, x1, y1 in drawn:
            patch = frame[y0:y1, x0:x1]
            assert np.all(patch == np.asarray(fills[index])), (index, (x0, y0, x1, y1))


def assert_rest_unchanged(before: np.ndarray, after: np.ndarray, boxes) -> None:
    mask = outside(boxes, before.shape)
    assert mask.sum() > 0.8 * mask.size  # cleaning blanked text, not the image
    assert np.array_equal(before[:, mask], after[:, mask])


# -- which objects are at risk -------------------------------------------------------------


def _header(**attributes) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    ds.Modality = "MR"
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\0\0"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"BurnedInAnnotation": "YES"}, "BurnedInAnnotation YES"),
        ({"Modality": "US"}, "ultrasound"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.3.1", "Modality": "OT"}, "ultrasound"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}, "secondary capture"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7.2"}, "secondary capture"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7.4"}, "secondary capture"),
        ({"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]}, "ImageType SCREEN SAVE"),
        ({"PhotometricInterpretation": "RGB"}, "colour image (RGB)"),
        ({"PhotometricInterpretation": "YBR_FULL_422"}, "colour image (YBR_FULL_422)"),
        ({"BurnedInAnnotation": "NO"}, None),
        ({"ImageType": ["DERIVED", "SECONDARY", "MPR"]}, None),
        ({}, None),
    ],
)
def test_at_risk_reasons(attributes, reason) -> None:
    assert at_risk(_header(**attributes)) == reason


def test_plain_ct_is_not_at_risk_and_objects_without_pixels_never_are() -> None:
    assert at_risk(ct()) is None
    no_pixels = _header(BurnedInAnnotation="YES", Modality="US")
    del no_pixels.PixelData
    assert at_risk(no_pixels) is None


# -- the oracle can see the planted text -----------------------------------------------------


def test_planted_text_is_read_before_cleaning() -> None:
    for planted in (ultrasound(), secondary_capture(16)):
        (texts,) = read_back(planted.ds)
        assert leaked(texts) == set(TOKENS)
        assert normalise(PATIENT) in "".join(normalise(t) for t in texts)


# -- cleaning with the real OCR engine -------------------------------------------------------


def test_ultrasound_rgb_is_cleaned() -> None:
    planted = ultrasound("RGB")
    before = stored(planted.ds)
    result = clean_pixels(planted.ds)
    ds = reread(planted.ds)
    after = stored(ds)
    assert result.reason == "ultrasound"
    assert result.frames == 1
    assert result.regions_blanked >= 4
    assert result.transfer_syntax_before == result.transfer_syntax_after == ExplicitVRLittleEndian
    assert not result.transfer_syntax_changed
    assert result.ocr_seconds > 0
    assert ds.BurnedInAnnotation == "NO"
    assert_text_blanked(after, planted, fills=[(0, 0, 0)])
    assert_rest_unchanged(before, after, result.boxes)
    assert not leaked(read_back(ds)[0])


def test_ultrasound_ybr_full_is_blanked_to_ybr_black() -> None:
    planted = ultrasound("YBR_FULL")
    before = stored(planted.ds)
    result = clean_pixels(planted.ds)
    ds = reread(planted.ds)
    after = stored(ds)
    assert ds.PhotometricInterpretation == "YBR_FULL"
    assert result.transfer_syntax_after == ExplicitVRLittleEndian
    assert_text_blanked(after, planted, fills=[(0, 128, 128)])
    assert_rest_unchanged(before, after, result.boxes)
    assert np.all(ds.pixel_array[outside(result.boxes, before.shape) == 0] == 0)  # black in RGB
    assert not leaked(read_back(ds)[0])


@pytest.mark.parametrize("bits", [8, 16])
def test_secondary_capture_greyscale_is_cleaned(bits) -> None:
    planted = secondary_capture(bits)
    before = stored(planted.ds)
    result = clean_pixels(planted.ds)
    ds = reread(planted.ds)
    after = stored(ds)
    assert result.reason == "secondary capture"
    assert (ds.BitsAllocated, ds.BitsStored) == ((8, 8) if bits == 8 else (16, 12))
    assert after.dtype == before.dtype
    assert_text_blanked(after, planted, fills=[before[0].min()])
    assert_rest_unchanged(before, after, result.boxes)
    assert not leaked(read_back(ds)[0])


def test_every_frame_of_a_multiframe_object_is_cleaned() -> None:
    planted = ultrasound("RGB", frames=3, rows=256, columns=384)
    found = find_text(planted.ds)
    assert {region.frame for region in found} == {0, 1, 2}
    extra = [r for r in found if normalise(EXTRA) in normalise(r.text)]
    assert [r.frame for r in extra] == [1]  # drawn in the second frame only
    before = stored(planted.ds)
    result = clean_pixels(planted.ds)
    ds = reread(planted.ds)
    after = stored(ds)
    assert result.frames == 3
    # what was found in one frame is blanked in all of them
    assert_text_blanked(after, planted, fills=[(0, 0, 0)] * 3)
    assert_rest_unchanged(before, after, result.boxes)
    for texts in read_back(ds):
        assert not leaked(texts)
        assert normalise(EXTRA)[-8:] not in "".join(normalise(t) for t in texts)


def test_lossy_jpeg_ultrasound_is_stored_uncompressed_and_stays_marked_lossy() -> None:
    planted = as_jpeg_baseline(ultrasound("RGB"))
    assert planted.ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    decoded = planted.ds.pixel_array[np.newaxis].copy()  # RGB, as any viewer shows it
    result = clean_pixels(planted.ds)
    ds = reread(planted.ds)
    assert result.transfer_syntax_before == JPEGBaseline8Bit
    assert result.transfer_syntax_after == ExplicitVRLittleEndian
    assert result.transfer_syntax_changed
    assert any("LossyImageCompression 01" in note for note in result.notes)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    after = stored(ds)
    assert_text_blanked(after, planted, fills=[(0, 0, 0)])
    assert_rest_unchanged(decoded, after, result.boxes)
    assert not leaked(read_back(ds)[0])


def test_rle_ultrasound_is_reencoded_as_rle() -> None:
    planted = as_rle(ultrasound("RGB"))
    before = stored(planted.ds)
    uid = planted.ds.SOPInstanceUID
    result = clean_pixels(planted.ds)
    ds = reread(planted.ds)
    assert result.transfer_syntax_before == result.transfer_syntax_after == RLELossless
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert ds.SOPInstanceUID == uid  # UIDs are the header engine's business
    after = stored(ds)
    assert_text_blanked(after, planted, fills=[(0, 0, 0)])
    assert_rest_unchanged(before, after, result.boxes)
    assert not leaked(read_back(ds)[0])


def test_an_image_without_text_keeps_its_pixel_data_byte_for_byte() -> None:
    # at this size the engine detects the round cyst as an "O" read with low confidence
    planted = ultrasound("RGB", rows=512, columns=512, text=False)
    pixel_data = planted.ds.PixelData
    result = clean_pixels(planted.ds)
    assert result.regions_blanked == 0
    assert planted.ds.PixelData == pixel_data
    assert planted.ds.BurnedInAnnotation == "NO"


# -- codec paths, with a stub detector ----------------------------------------------------


class Stub:
    """Reports one fixed box in every image, and remembers what it was shown."""

    def __init__(self, box=(2, 3, 20, 12), confidence: float = 1.0) -> None:
        self.box = box
        self.confidence = confidence
        self.images: list[np.ndarray] = []

    def detect(self, image: np.ndarray) -> list[Region]:
        assert image.dtype == np.uint8 and image.ndim in (2, 3)
        self.images.append(image)
        return [Region(*self.box, text="X", confidence=self.confidence)]


@pytest.mark.parametrize(
    ("name", "after"),
    [
        ("SC_rgb_rle.dcm", RLELossless),
        ("SC_rgb_rle_16bit_2frame.dcm", RLELossless),
        ("MR_small_RLE.dcm", RLELossless),
        ("MR_small_jp2klossless.dcm", JPEG2000Lossless),
        ("MR_small_jpeg_ls_lossless.dcm", RLELossless),
        ("SC_rgb_jpeg_gdcm.dcm", RLELossless),  # JPEG Lossless, process 14
        ("SC_rgb_jpeg_dcmtk.dcm", ExplicitVRLittleEndian),  # JPEG Baseline, lossy
        ("SC_rgb_dcmtk_+eb+cy+s2.dcm", ExplicitVRLittleEndian),  # lossy, YBR_FULL_422
        ("JPEGLSNearLossless_08.dcm", ExplicitVRLittleEndian),
        ("SC_ybr_full_422_uncompressed.dcm", ExplicitVRLittleEndian),
        ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2"),
        ("MR_small_implicit.dcm", "1.2.840.10008.1.2"),
        ("image_dfl.dcm", DeflatedExplicitVRLittleEndian),
        ("SC_rgb_small_odd.dcm", ExplicitVRLittleEndian),
        ("examples_palette.dcm", ExplicitVRLittleEndian),
    ],
)
def test_codec_paths_blank_only_the_box_and_record_the_transfer_syntax(name, after) -> None:
    ds = dcmread(TEST_FILES / name)
    before_uid = ds.file_meta.TransferSyntaxUID
    original = ds.pixel_array.copy()  # as displayed: YBR converted to RGB, palette as indices
    frames = int(ds.get("NumberOfFrames") or 1)
    photometric = ds.PhotometricInterpretation
    stub = Stub()
    result = clean_pixels(ds, detector=stub)
    assert result.transfer_syntax_before == before_uid
    assert result.transfer_syntax_after == after
    assert result.frames == frames
    assert len(stub.images) >= 1
    cleaned_ds = reread(ds)
    cleaned = cleaned_ds.pixel_array
    if frames == 1:
        original, cleaned = original[np.newaxis], cleaned[np.newaxis]
    assert cleaned.shape == original.shape
    x0, y0, x1, y1 = result.boxes[0]
    assert (x0, y0) == (0, 0) and x1 == min(24, ds.Columns) and y1 == min(16, ds.Rows)
    mask = outside(result.boxes, original.shape)
    if after == ExplicitVRLittleEndian and before_uid != after and "YBR" in photometric:
        # YBR -> RGB conversions may round differently by one level
        assert np.abs(original[:, mask].astype(int) - cleaned[:, mask]).max() <= 1
    else:
        assert np.array_equal(original[:, mask], cleaned[:, mask])
    for index in range(frames):
        patch = cleaned[index, y0:y1, x0:x1]
        if photometric == "PALETTE COLOR":
            indices = np.unique(original[index])
            luminance = apply_color_lut(indices, ds).astype(float) @ (0.299, 0.587, 0.114)
            darkest = indices[np.argmin(luminance)]
            assert np.all(patch == darkest)
        elif patch.ndim == 3:
            assert np.all(patch == 0)
        else:
            assert np.all(patch == original[index].min())
    assert cleaned_ds.BurnedInAnnotation == "NO"


@pytest.mark.parametrize(
    ("box", "confidence", "blanked"),
    [
        ((10, 10, 60, 50), 0.1, True),  # unread, but of burned-in text's height
        ((10, 10, 60, 51), 0.1, False),  # unread and taller: a shape, not text
        ((10, 10, 90, 90), 0.9, True),  # large but read: text
    ],
)
def test_unread_large_shapes_are_not_blanked(box, confidence, blanked) -> None:
    ds = ultrasound("RGB", rows=128, columns=128, text=False).ds
    result = clean_pixels(ds, detector=Stub(box, confidence))
    assert result.regions_blanked == int(blanked)
    assert find_text(ds, detector=Stub(box, confidence)) == (
        [Region(*box, text="X", confidence=confidence, frame=0)] if blanked else []
    )


def test_monochrome1_is_blanked_to_its_maximum() -> None:
    planted = secondary_capture(8, rows=64, columns=96)
    planted.ds.PhotometricInterpretation = "MONOCHROME1"
    before = stored(planted.ds)
    stub = Stub()
    clean_pixels(planted.ds, detector=stub)
    after = stored(planted.ds)
    assert np.all(after[0, 0:16, 0:24] == before[0].max())
    assert stub.images[0].mean() > 128  # shown inverted: a dark screen


def test_deeper_greyscale_is_shown_windowed_and_full_range() -> None:
    planted = secondary_capture(16, rows=64, columns=96)
    stub = Stub()
    clean_pixels(planted.ds, detector=stub)
    full, windowed = stub.images
    assert full.max() == 255 and windowed.max() == 255
    assert not np.array_equal(full, windowed)


# -- objects that cannot be cleaned are rejected -------------------------------------------


def _corrupt_native(ds: Dataset) -> None:
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]


def _corrupt_rle(ds: Dataset) -> None:
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.PixelData = encapsulate([b"\x01\x00\x00\x00" + b"\xff" * 60])


def _corrupt_jpeg(ds: Dataset) -> None:
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0" + b"\x00" * 100])
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit


def _no_transfer_syntax(ds: Dataset) -> None:
    ds.file_meta = FileMetaDataset()


def _unsupported_syntax(ds: Dataset) -> None:
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264


DAMAGE = [_corrupt_native, _corrupt_rle, _corrupt_jpeg, _no_transfer_syntax, _unsupported_syntax]


@pytest.mark.parametrize("damage", DAMAGE)
def test_pixels_that_cannot_be_decoded_are_rejected_without_phi(damage) -> None:
    ds = ultrasound("RGB", rows=64, columns=96, text=False).ds
    damage(ds)
    pixel_data = ds.PixelData
    stub = Stub()
    with pytest.raises(RejectedObject) as caught:
        clean_pixels(ds, detector=stub)
    message = str(caught.value)
    assert "DOE" not in message and "12345678" not in message
    assert ds.PixelData == pixel_data and "BurnedInAnnotation" not in ds
    assert stub.images == []
    with pytest.raises(RejectedObject):
        find_text(ds, detector=stub)


def test_a_failing_detector_rejects_the_object() -> None:
    class Broken:
        def detect(self, image: np.ndarray) -> list[Region]:
            raise RuntimeError("onnx session failed")

    ds = ultrasound("RGB", rows=64, columns=96, text=False).ds
    with pytest.raises(RejectedObject, match="text detection failed"):
        clean_pixels(ds, detector=Broken())
    assert "BurnedInAnnotation" not in ds


# -- the engine ---------------------------------------------------------------------------


def test_the_cleaner_fits_the_engines_hook() -> None:
    cleaner = OcrPixelCleaner(detector=Stub())
    assert isinstance(cleaner, PixelCleaner)
    ds = ultrasound("RGB", rows=64, columns=96, text=False).ds
    outcome = cleaner.clean(ds, None)
    assert outcome.regions_blanked == 1 and not outcome.transfer_syntax_changed
    assert not getattr(outcome, "overlays_cleaned", False)  # overlays are not read


def test_missing_engine_is_a_config_error_naming_the_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    with pytest.raises(ConfigError, match=r"rapidocr-onnxruntime==1\.4\.4"):
        load_rapidocr()

    class Fresh(RapidOcrDetector):
        _engine = None

    ds = ultrasound("RGB", rows=64, columns=96, text=False).ds
    with pytest.raises(ConfigError):
        clean_pixels(ds, detector=Fresh())


def test_engine_loads_and_reads_with_no_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    class Fresh(RapidOcrDetector):
        _engine = None

    planted = secondary_capture(8, rows=128, columns=512)
    (frame,) = rendered(planted.ds)
    texts = [region.text for region in Fresh().detect(frame)]
    assert normalise(PATIENT) in "".join(normalise(t) for t in texts)
