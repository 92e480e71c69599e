"""The pieces of DICOMweb that need no server: headers, multipart, plans, parameters."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from dicomweb_world import sample

from vesalius.core.errors import InvalidInput
from vesalius.web.dicomweb import media, pixels, qido, render, wado
from vesalius.web.dicomweb.frames import DECODE, NATIVE, RAW, plan_frames

ELE, ILE, J2K, RLE = (
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.5",
)


def body(parts: list[bytes], boundary: str = "XyZ") -> bytes:
    """As dicomweb-client writes them: a CRLF preamble; here with an epilogue as well."""
    out = b"\r\n"
    for part in parts:
        out += b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
        out += part + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\nepilogue"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_multipart_reader_finds_every_part_whatever_the_chunking(step: int) -> None:
    parts = [b"first\r\n--Xy is not the boundary", b"", b"\r\n--XY\r\n\r\n--" * 3]
    data = body(parts)
    reader = media.MultipartReader("XyZ")
    found = []
    for start in range(0, len(data), step):
        found += reader.feed(data[start : start + step])
    reader.close()
    assert [p.data for p in found] == parts
    assert all(p.content_type == "application/dicom" for p in found)


def test_multipart_reader_takes_a_body_without_preamble_or_headers() -> None:
    reader = media.MultipartReader("b")
    parts = reader.feed(b"--b\r\n\r\nraw\r\n--b  \r\nContent-Type: x/y\r\n\r\nmore\r\n--b--")
    reader.close()
    assert [(p.headers, p.data) for p in parts] == [
        ({}, b"raw"),
        ({"content-type": "x/y"}, b"more"),
    ]


@pytest.mark.parametrize(
    "data",
    [b"", b"no boundary here", b"--XyZ\r\nContent-Type: a/b\r\n\r\nhalf a part"],
)
def test_multipart_reader_refuses_incomplete_bodies(data: bytes) -> None:
    reader = media.MultipartReader("XyZ")
    reader.feed(data)
    with pytest.raises(InvalidInput):
        reader.close()


def test_accept_parsing_keeps_quoted_parameters_and_orders_by_quality() -> None:
    ranges = media.parse_accept(
        'image/png;q=0.5, multipart/related; type="application/dicom"; transfer-syntax=*, '
        'text/plain; q=0, multipart/related; type="a,b"'
    )
    assert [(r.type, r.params.get("type"), r.q) for r in ranges] == [
        ("multipart/related", "application/dicom", 1.0),
        ("multipart/related", "a,b", 1.0),
        ("image/png", None, 0.5),
    ]
    assert ranges[0].params["transfer-syntax"] == "*"
    assert media.parse_accept(None) == [media.MediaRange("*/*")]
    assert media.negotiate("image/*;q=0.9, image/png", ["image/jpeg", "image/png"]) == "image/png"
    with pytest.raises(media.NotAcceptable):
        media.negotiate("application/dicom+xml", [media.DICOM_JSON])


@pytest.mark.parametrize(
    ("accept", "stored", "expected"),
    [
        ('multipart/related; type="application/dicom"; transfer-syntax=*', J2K, wado.AS_STORED),
        ('multipart/related; type="application/dicom"', ELE, wado.AS_STORED),
        ('multipart/related; type="application/dicom"', ILE, ELE),
        ('multipart/related; type="application/dicom"', J2K, ELE),
        (f'multipart/related; type="application/dicom"; transfer-syntax={J2K}', ELE, None),
        ("*/*", J2K, wado.AS_STORED),
        (None, ILE, wado.AS_STORED),
    ],
)
def test_instance_transfer_syntax_plan(
    accept: str | None, stored: str, expected: str | None
) -> None:
    assert wado.plan(stored, wado.acceptable_syntaxes(accept)) == expected


def test_bare_single_part_types_are_not_acceptable_for_instances() -> None:
    with pytest.raises(media.NotAcceptable):
        wado.acceptable_syntaxes("application/dicom")


@pytest.mark.parametrize(
    ("accept", "stored", "mode", "content_type"),
    [
        (
            "multipart/related; type=application/octet-stream",
            ELE,
            NATIVE,
            f"application/octet-stream; transfer-syntax={ELE}",
        ),
        ("*/*", ILE, NATIVE, f"application/octet-stream; transfer-syntax={ELE}"),
        (
            "multipart/related; type=application/octet-stream; transfer-syntax=*",
            J2K,
            RAW,
            f"application/octet-stream; transfer-syntax={J2K}",
        ),
        ('multipart/related; type="image/jp2"', J2K, RAW, f"image/jp2; transfer-syntax={J2K}"),
        ("*/*", RLE, RAW, f"image/dicom-rle; transfer-syntax={RLE}"),
        (
            "multipart/related; type=application/octet-stream",
            J2K,
            DECODE,
            f"application/octet-stream; transfer-syntax={ELE}",
        ),
        (
            'multipart/related; type="image/jpeg", multipart/related; type="application/*"',
            J2K,
            DECODE,
            f"application/octet-stream; transfer-syntax={ELE}",
        ),
    ],
)
def test_frame_plans(accept: str, stored: str, mode: str, content_type: str) -> None:
    assert plan_frames(media.multipart_ranges(accept), stored) == (mode, content_type)


@pytest.mark.parametrize(
    "accept", ['multipart/related; type="image/jpeg"', "application/octet-stream"]
)
def test_frames_that_cannot_be_made_are_406(accept: str) -> None:
    with pytest.raises(media.NotAcceptable):
        plan_frames(media.multipart_ranges(accept), ELE)


def test_bulk_data_uris_become_absolute_and_name_nested_values() -> None:
    item = {"00091001": {"vr": "OB", "BulkDataURI": "bulkdata/00091001"}}
    dicom_json = {
        "00081140": {"vr": "SQ", "Value": [{}, item]},
        "7FE00010": {"vr": "OW", "BulkDataURI": "bulkdata/7FE00010"},
    }
    out = wado.with_bulk_urls(dicom_json, "http://h/i")
    assert out["7FE00010"]["BulkDataURI"] == "http://h/i/bulkdata/7FE00010"
    assert out["00081140"]["Value"][1]["00091001"]["BulkDataURI"] == (
        "http://h/i/bulkdata/00081140/1/00091001"
    )
    assert dicom_json["7FE00010"]["BulkDataURI"] == "bulkdata/7FE00010"  # a copy


def test_search_parameters() -> None:
    filters, include, include_all, fuzzy, limit, offset, warnings = qido.parse(
        [
            ("00100010", "Doe*"),
            ("StudyDate", "20200101-"),
            ("includefield", "00081030,SeriesDescription"),
            ("includefield", "all"),
            ("fuzzymatching", "true"),
            ("limit", "101"),
            ("offset", "5"),
            ("emptyvaluematching", "true"),
        ]
    )
    assert filters == {"PatientName": "Doe*", "StudyDate": "20200101-"}
    assert include == ["StudyDescription", "SeriesDescription"]
    assert (include_all, fuzzy, limit, offset) == (True, True, 101, 5)
    assert warnings == [
        "The emptyvaluematching parameter is not supported. "
        "Empty Value Matching has not been performed."
    ]
    assert qido.attribute("00081032.00080100") == "ProcedureCodeSequence.CodeValue"
    for bad in ([("limit", "0")], [("PatientName", "a"), ("00100010", "b")], [("Nope", "1")]):
        with pytest.raises(InvalidInput):
            qido.parse(bad)


def test_window_functions_follow_ps3_3() -> None:
    values = np.array([-1000.0, 39.0, 40.0, 239.5, 1000.0])
    linear = render.apply_window(values, render.Window(40, 400, "linear"))
    assert linear.tolist() == [0, 127, 128, 255, 255]
    exact = render.apply_window(values, render.Window(40, 400, "linear-exact"))
    assert exact.tolist() == [0, 127, 128, 255, 255]
    sigmoid = render.apply_window(np.array([40.0]), render.Window(40, 400, "sigmoid"))
    assert sigmoid.tolist() == [128]


def test_rendering_parameters_are_checked() -> None:
    options = render.options_from_query(
        {"window": "40,400,SIGMOID", "viewport": "100,50,0,0,-10,10", "quality": "70"}
    )
    assert options.window == render.Window(40, 400, "sigmoid")
    assert options.viewport == render.Viewport(100, 50, (0, 0, -10, 10))
    assert options.quality == 70
    for bad in (
        {"window": "40"},
        {"window": "40,0"},
        {"window": "1,2,cubic"},
        {"viewport": "10"},
        {"viewport": "0,10"},
        {"quality": "101"},
    ):
        with pytest.raises(InvalidInput):
            render.options_from_query(bad)


def test_objects_without_file_meta_become_part10_with_their_dataset_unchanged() -> None:
    raw = sample("ExplVR_LitEndNoMeta.dcm")  # a dataset as a C-STORE payload carries it
    wrapped = pixels.as_part10(raw, "")
    assert wrapped[128:132] == b"DICM" and wrapped.endswith(raw)
    ds = pydicom.dcmread(io.BytesIO(wrapped))
    assert ds.file_meta.TransferSyntaxUID == ELE
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    part10 = sample("CT_small.dcm")
    assert pixels.as_part10(part10, ELE) is part10
    without_preamble = part10[132:]
    assert pixels.as_part10(without_preamble, ELE) == b"\0" * 128 + b"DICM" + without_preamble


def test_transcoding_decodes_compressed_pixels() -> None:
    source = pydicom.dcmread(io.BytesIO(sample("JPEG2000.dcm")))
    out = pydicom.dcmread(io.BytesIO(pixels.transcode(sample("JPEG2000.dcm"), ELE)))
    assert out.file_meta.TransferSyntaxUID == ELE
    assert out.SOPInstanceUID == source.SOPInstanceUID  # the same object, not a new one
    assert np.array_equal(out.pixel_array, source.pixel_array)
    assert pixels.can_transcode(J2K, ELE) and not pixels.can_transcode(ELE, J2K)
