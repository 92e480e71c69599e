"""Each built-in QC check on generated series: the expected status and value; thresholds
from the protocol change the verdict; a third-party check is found by entry point."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import numpy as np
import pytest
from qc_world import context_of, copy_of, disc, make_series, set_pixels

from vesalius.studies.protocol import parse_protocol
from vesalius.studies.qc import registry
from vesalius.studies.qc.base import worst
from vesalius.studies.qc.header_checks import HeaderCompleteness, Orientation, Slices
from vesalius.studies.qc.pixel_checks import Motion, PixelStatistics, snr
from vesalius.studies.qc.runner import run_checks
from vesalius.studies.qc.settings import find_spec, thresholds_for


def by_metric(findings) -> dict:
    return {f.metric: f for f in findings}


def run(check, datasets, **overrides):
    return by_metric(check.run(context_of(datasets), {**check.defaults, **overrides}))


def test_clean_stack_passes_every_header_check() -> None:
    stack = make_series(6)
    for check in (HeaderCompleteness(), Slices(), Orientation()):
        findings = check.run(context_of(stack), check.defaults)
        assert findings and worst([f.status for f in findings]) == "pass", findings
    slices = run(Slices(), stack)
    assert slices["missing_positions"].value == 0
    assert slices["duplicate_positions"].value == 0
    assert slices["spacing_deviation"].value == 0
    assert "2.5 mm" in slices["missing_positions"].message


def test_missing_slice_is_found_by_position_and_instance_number() -> None:
    stack = make_series(7)
    del stack[3]
    found = run(Slices(), stack)
    assert (found["missing_positions"].status, found["missing_positions"].value) == ("fail", 1)
    assert (found["missing_instance_numbers"].status, found["missing_instance_numbers"].value) == (
        "fail",
        1,
    )
    assert found["spacing_deviation"].status == "pass"  # a whole gap is missing, not uneven
    # two missing slices in a row count two
    stack = make_series(8)
    del stack[3:5]
    assert run(Slices(), stack)["missing_positions"].value == 2
    # a threshold that allows one
    stack = make_series(7)
    del stack[3]
    assert run(Slices(), stack, max_missing=1)["missing_positions"].status == "pass"


def test_duplicated_slice_is_found() -> None:
    stack = make_series(5)
    stack.insert(3, copy_of(stack[2]))
    found = run(Slices(), stack)
    assert (found["duplicate_positions"].status, found["duplicate_positions"].value) == ("fail", 1)
    assert found["duplicate_instance_numbers"].value == 1
    assert "[3]" in found["duplicate_instance_numbers"].message
    assert found["missing_positions"].value == 0


def test_uneven_spacing_warns_then_fails() -> None:
    stack = make_series(5)
    for ds, z in zip(stack, (0.0, 2.5, 5.0, 8.0, 10.5), strict=True):
        ds.ImagePositionPatient = [0.0, 0.0, z]
    found = run(Slices(), stack)["spacing_deviation"]
    assert found.status == "warn" and found.value == pytest.approx(0.2)
    assert found.threshold == {"warn": 0.05, "fail": 0.5}
    assert run(Slices(), stack, spacing_fail=0.1)["spacing_deviation"].status == "fail"
    assert run(Slices(), stack, spacing_tolerance=0.25)["spacing_deviation"].status == "pass"


def test_oblique_stack_uses_the_slice_normal() -> None:
    stack = make_series(5)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    for i, ds in enumerate(stack):  # tilted about x: normal (0, -s, c)
        ds.ImageOrientationPatient = [1, 0, 0, 0, c, s]
        ds.ImagePositionPatient = [5.0, -s * 3.0 * i, c * 3.0 * i]
    found = run(Slices(), stack)
    assert found["spacing_deviation"].value == pytest.approx(0, abs=1e-6)
    assert found["missing_positions"].value == 0
    assert run(Orientation(), stack)["max_angle_degrees"].status == "pass"


def test_tilted_slice_fails_orientation() -> None:
    stack = make_series(5)
    a = np.radians(5)
    stack[2].ImageOrientationPatient = [1, 0, 0, 0, float(np.cos(a)), float(np.sin(a))]
    found = run(Orientation(), stack)["max_angle_degrees"]
    assert found.status == "fail" and found.value == pytest.approx(5, abs=1e-3)
    assert stack[2].SOPInstanceUID in found.message
    assert run(Orientation(), stack, tolerance_degrees=6)["max_angle_degrees"].status == "pass"


def test_header_completeness() -> None:
    stack = make_series(4)
    del stack[1].SliceThickness
    stack[2].PixelSpacing = None
    found = run(HeaderCompleteness(), stack)["incomplete_instances"]
    assert (found.status, found.value) == ("fail", 2)
    assert "PixelSpacing (1)" in found.message and "SliceThickness (1)" in found.message
    relaxed = run(HeaderCompleteness(), stack, required=["PatientID", "Rows"])
    assert relaxed["incomplete_instances"].status == "pass"


def test_clipped_and_constant_pixels() -> None:
    stack = make_series(4)
    for i, ds in enumerate(stack):
        set_pixels(ds, disc(32, 1000, 5, seed=i))
    clean = run(PixelStatistics(), stack)
    assert clean["clipped_fraction"].value == 0 and clean["clipped_fraction"].status == "pass"
    assert clean["constant_images"].value == 0
    # 5 % of one image's pixels at 4095, the top of the 12-bit stored range
    image = disc(32, 1000, 5, seed=9)
    image.ravel()[: int(0.05 * image.size * 4)] = 4095  # 20 % of one of four images
    set_pixels(stack[0], image)
    set_pixels(stack[1], np.full((32, 32), 100))
    found = run(PixelStatistics(), stack)
    assert found["clipped_fraction"].value == pytest.approx(0.05, abs=1e-3)
    assert found["clipped_fraction"].status == "fail"
    assert (found["constant_images"].status, found["constant_images"].value) == ("fail", 1)
    assert run(PixelStatistics(), stack, clipping_fail=0.1)["clipped_fraction"].status == "warn"


def test_signal_to_noise_of_a_clean_and_a_noisy_series() -> None:
    clean, noisy = make_series(3), make_series(3)
    for i, ds in enumerate(clean):
        set_pixels(ds, disc(64, 1000, 5, seed=i))
    for i, ds in enumerate(noisy):
        set_pixels(ds, disc(64, 1000, 250, seed=i, background=1000))
    good = run(PixelStatistics(), clean)["snr"]
    bad = run(PixelStatistics(), noisy)["snr"]
    assert good.status == "pass" and good.value > 100
    assert bad.status in ("warn", "fail") and bad.value < 10
    assert run(PixelStatistics(), noisy, snr_warn=1, snr_fail=0.5)["snr"].status == "pass"
    # zero-filled background: no noise to measure, no SNR
    assert snr(np.pad(np.full((8, 8), 500), 8)) is None


def _time_series(shifts: list[int]) -> list:
    """One slice position, a bright square shifted right by ``shifts`` pixels over time."""
    stack = make_series(len(shifts))
    for t, (ds, dx) in enumerate(zip(stack, shifts, strict=True)):
        ds.ImagePositionPatient = [0.0, 0.0, 0.0]
        ds.TemporalPositionIdentifier = t + 1
        ds.NumberOfTemporalPositions = len(shifts)
        image = np.full((32, 32), 50)
        image[10:20, 8 + dx : 18 + dx] = 900
        set_pixels(ds, image)
    return stack


def test_motion_of_a_time_series() -> None:
    still = run(Motion(), _time_series([0, 0, 0, 0]))["max_shift_mm"]
    assert still.status == "pass" and still.value == pytest.approx(0, abs=1e-6)
    moving_stack = _time_series([0, 0, 4, 4, 5])
    moving = run(Motion(), moving_stack)["max_shift_mm"]
    assert moving.status == "fail" and moving.value == pytest.approx(4, abs=1e-6)
    assert "mean 1.25 mm" in moving.message
    assert run(Motion(), moving_stack, shift_fail_mm=5)["max_shift_mm"].status == "warn"
    # repeats of a time series are neither duplicates nor missing slices
    slices = run(Slices(), moving_stack)
    assert slices["duplicate_positions"].value == 0 and slices["missing_positions"].value == 0
    # a plain stack is not a time series: no motion finding
    assert Motion().run(context_of(make_series(4)), Motion.defaults) == []


PROTOCOL = """\
name: QC
visits: [{name: baseline, series: [T1w, BOLD]}]
series:
  - name: T1w
    match: {SeriesDescription: "t1*"}
  - name: BOLD
    match: {SeriesDescription: "*bold*"}
    qc:
      motion: {shift_warn_mm: 5, shift_fail_mm: 10}
      slices: true
qc:
  slices: {spacing_tolerance: 0.3}
  motion: false
  orientation: {enabled: false}
"""


def test_protocol_thresholds_change_the_verdict() -> None:
    protocol = parse_protocol(PROTOCOL)
    uneven = make_series(5)
    for ds, z in zip(uneven, (0.0, 2.5, 5.0, 8.0, 10.5), strict=True):
        ds.ImagePositionPatient = [0.0, 0.0, z]
    context = context_of(uneven)
    spec = find_spec(protocol, None, context.slices[0].header)
    assert spec is not None and spec.name == "T1w"
    checks = registry.discover()
    settings = {
        name: chosen
        for name, check in checks.items()
        if (chosen := thresholds_for(check, protocol, spec)) is not None
    }
    assert "motion" not in settings and "orientation" not in settings
    assert settings["slices"]["spacing_tolerance"] == 0.3
    assert settings["slices"]["max_missing"] == 0  # the rest are defaults
    findings, _ = run_checks(context, checks, settings)
    assert by_metric(findings)["spacing_deviation"].status == "pass"  # warn by default
    # the BOLD series turns motion back on with its own thresholds
    bold = _time_series([0, 4, 4])
    for ds in bold:
        ds.SeriesDescription = "ep2d_bold_rest"
    bold_spec = find_spec(protocol, None, context_of(bold).slices[0].header)
    assert bold_spec is not None and bold_spec.name == "BOLD"
    motion = thresholds_for(checks["motion"], protocol, bold_spec)
    assert motion is not None and motion["shift_fail_mm"] == 10
    findings, _ = run_checks(context_of(bold), checks, {"motion": motion})
    assert by_metric(findings)["max_shift_mm"].status == "pass"
    # without a protocol every check runs with its defaults
    assert thresholds_for(checks["motion"], None, None) == checks["motion"].defaults


def test_protocol_qc_section_is_optional_and_validated() -> None:
    assert parse_protocol("visits: [{name: v}]").qc == {}
    with pytest.raises(Exception, match="qc"):
        parse_protocol("visits: [{name: v}]\nqc: {slices: 3}\n")


def test_third_party_plugin_is_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = [
        EntryPoint("image_count", "qc_world:EchoCount", registry.GROUP),
        EntryPoint("broken", "qc_world:Broken", registry.GROUP),
        EntryPoint("absent", "qc_world_missing:Nothing", registry.GROUP),
    ]
    monkeypatch.setattr(registry, "_entry_points", lambda: plugins)
    checks = registry.discover()
    assert "image_count" in checks and "broken" not in checks
    assert {"header_completeness", "slices", "orientation", "pixel_statistics", "motion"} <= set(
        checks
    )
    two = make_series(2)
    findings, _ = run_checks(context_of(two), checks, {"image_count": {"min_images": 3}})
    assert [(f.check, f.status, f.value) for f in findings] == [
        (
            "image_count",
            "fail",
            2,
        )
    ]


def test_a_failing_check_is_recorded_and_the_others_run() -> None:
    class Exploding(Slices):
        name = "exploding"

        def run(self, series, thresholds):
            raise RuntimeError("boom")

    checks = {"exploding": Exploding(), "orientation": Orientation()}
    settings = {"exploding": {}, "orientation": Orientation.defaults}
    findings, _ = run_checks(context_of(make_series(3)), checks, settings)
    assert [(f.check, f.status) for f in findings] == [
        ("exploding", "error"),
        ("orientation", "pass"),
    ]
    assert "boom" in findings[0].message
