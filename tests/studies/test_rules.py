"""Matching rules and every kind of constraint, with expected and actual values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from studies_world import PROTOCOL, SCANNER_A, SCANNER_B, T1, T1_GE, make_mr_study

from vesalius.core.dicom.dicom_json import dataset_to_json
from vesalius.studies.protocol import Constraint, Pattern, parse_protocol
from vesalius.studies.rules import (
    Header,
    effective,
    identify_device,
    pattern_matches,
    rules_match,
    violations,
)


def header(images: int = 4, **values: Any) -> Header:
    ds = make_mr_study(
        patient="X",
        date=dt.date(2024, 1, 1),
        scanner=SCANNER_A,
        series_list=[({**T1, **values}, 1)],
    )[0]
    return Header(dataset_to_json(ds), slices=images)


def check(constraint: Any, name: str, h: Header) -> list[dict[str, Any]]:
    return violations({name: Constraint.model_validate(constraint)}, h)


@pytest.mark.parametrize(
    ("constraint", "name", "values", "broken"),
    [
        (9, "FlipAngle", {}, False),
        (10, "FlipAngle", {}, True),
        ({"equals": 2.98, "tolerance": 0.1}, "EchoTime", {"EchoTime": 3.05}, False),
        ({"equals": 2.98, "tolerance": 0.1}, "EchoTime", {"EchoTime": 3.2}, True),
        ({"min": 2000, "max": 2400}, "RepetitionTime", {}, False),
        ({"min": 2000, "max": 2400}, "RepetitionTime", {"RepetitionTime": 2500}, True),
        ({"min": 2000}, "RepetitionTime", {"RepetitionTime": 1900}, True),
        ({"max": 1.2}, "SliceThickness", {"SliceThickness": 1.2}, False),
        ({"max": 1.2}, "SliceThickness", {"SliceThickness": 3}, True),
        ({"equals": 900, "tolerance": 10}, "InversionTime", {"InversionTime": None}, True),
        (3, "MagneticFieldStrength", {}, False),
        (1.5, "MagneticFieldStrength", {}, True),
        ({"equals": [1.0, 1.0], "tolerance": 0.05}, "PixelSpacing", {}, False),
        ({"equals": [1.0, 1.0]}, "PixelSpacing", {"PixelSpacing": [1.0, 1.5]}, True),
        ({"max": 1.2}, "PixelSpacing", {"PixelSpacing": [1.0, 1.5]}, True),
        (16, "Rows", {}, False),
        ({"one_of": [256, 512]}, "Columns", {}, True),
        ([16, 32], "Columns", {}, False),
        ({"min": 4}, "slices", {}, False),
        (False, "contrast", {}, False),
        (True, "contrast", {}, True),
        (True, "contrast", {"ContrastBolusAgent": "Gadobutrol"}, False),
        ({"glob": "*mprage*"}, "SeriesDescription", {}, False),
        ({"regex": "^t2"}, "SeriesDescription", {}, True),
        ("T1_MPRAGE_SAG", "SeriesDescription", {}, False),  # text compares case-insensitively
        ({"present": True}, "ScanningSequence", {}, True),
        ({"present": False}, "ContrastBolusAgent", {}, False),
        (
            {"one_of": ["GR", "GR\\IR"]},
            "ScanningSequence",
            {"ScanningSequence": ["GR", "IR"]},
            False,
        ),
    ],
)
def test_constraint_kinds(constraint: Any, name: str, values: dict, broken: bool) -> None:
    images = values.pop("images", 4)
    found = check(constraint, name, header(images, **values))
    assert bool(found) == broken, found
    if broken:
        assert found[0]["attribute"] == name
        assert found[0]["expected"] == Constraint.model_validate(constraint).describe()


def test_violation_carries_expected_and_actual() -> None:
    h = header(2, SliceThickness=2.5, PixelSpacing=[0.9, 1.4])
    found = violations(
        {
            "SliceThickness": Constraint(max=1.2),
            "PixelSpacing": Constraint(equals=[1.0, 1.0], tolerance=0.05),
            "slices": Constraint(min=4),
            "InversionTime": Constraint(equals=900, tolerance=10),
            "ContrastBolusAgent": Constraint(present=True),
        },
        h,
    )
    assert found == [
        {"attribute": "SliceThickness", "expected": {"max": 1.2}, "actual": 2.5,
         "reason": "above max"},
        {"attribute": "PixelSpacing", "expected": {"equals": [1.0, 1.0], "tolerance": 0.05},
         "actual": [0.9, 1.4], "reason": "not equal"},
        {"attribute": "slices", "expected": {"min": 4.0}, "actual": 2, "reason": "below min"},
        {"attribute": "ContrastBolusAgent", "expected": {"present": True}, "actual": None,
         "reason": "absent"},
    ]  # fmt: skip


def test_patterns() -> None:
    h = header(ImageType=["ORIGINAL", "PRIMARY", "M"])
    assert pattern_matches(Pattern.model_validate("*MPRAGE*"), h.values("SeriesDescription"))
    assert pattern_matches(Pattern.model_validate({"regex": "mprage_s"}), ["t1_mprage_sag"])
    assert not pattern_matches(Pattern.model_validate({"regex": "MPRAGE"}), ["t1_mprage_sag"])
    assert pattern_matches(Pattern.model_validate(["*flair*", "*mprage*"]), ["t1_mprage"])
    assert pattern_matches(Pattern.model_validate("ORIGINAL\\PRIMARY*"), h.values("ImageType"))
    assert pattern_matches(Pattern.model_validate("M"), h.values("ImageType"))
    assert not pattern_matches(Pattern.model_validate("MR"), [])
    assert rules_match({"Modality": Pattern.model_validate("mr")}, h)


def test_overrides_per_manufacturer_model_software_and_device() -> None:
    protocol = parse_protocol(
        PROTOCOL
        + """\
  - name: extra
    series:
      - name: S
        match: {Modality: MR}
        require: {FlipAngle: 9, EchoTime: 2.98, SliceThickness: {max: 1}}
        overrides:
          - when: {model: "signa*"}
            require: {FlipAngle: 12}
          - when: {software_version: "MR30*"}
            require: {SliceThickness: null}
          - when: {device: A-prisma}
            match: {SeriesDescription: "*mprage*"}
"""
    )
    spec = protocol.expected(protocol.visit("extra"))[0]  # type: ignore[arg-type]
    on_b = Header(
        dataset_to_json(
            make_mr_study(
                patient="X",
                date=dt.date(2024, 1, 1),
                scanner=SCANNER_B,
                series_list=[(T1_GE, 1)],
            )[0]
        )
    )
    match, require, applied = effective(spec, on_b, "B-signa")
    assert applied == [0, 1]
    assert require["FlipAngle"].equals == 12 and "SliceThickness" not in require
    assert set(match) == {"Modality"}
    match, require, applied = effective(spec, header(), "A-prisma")
    assert applied == [2] and require["FlipAngle"].equals == 9
    assert match["SeriesDescription"].glob == "*mprage*"


def test_devices_are_identified_by_header() -> None:
    protocol = parse_protocol(PROTOCOL)
    assert identify_device(protocol.devices, header()).key == "A-prisma"  # type: ignore[union-attr]
    pinned = parse_protocol(
        PROTOCOL.replace("    model: Prisma*\n", "    model: Prisma*\n    station_name: MRA2\n")
    )
    assert identify_device(pinned.devices, header()) is None, "another station"
    assert identify_device(pinned.devices, header(StationName="mra2")) is not None
