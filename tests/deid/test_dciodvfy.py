"""dicom3tools' dciodvfy on de-identified output: no error that the input did not have.

Removing or emptying attributes can break an IOD (a Type 1 attribute removed, a Type 2 one
dropped instead of emptied); combined action codes exist to prevent that. Warnings are
ignored: de-identified data legitimately loses optional content.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from deid_corpus import KEY, RESEARCH, FakePixelCleaner, build_corpus, read

from vesalius.core.dicom.synthetic import to_bytes
from vesalius.core.errors import RejectedObject
from vesalius.deid import Deidentifier, Profile

from conftest import require_tool

PROFILES = {
    "basic": (),
    "research": RESEARCH,
    "pixels": (*RESEARCH, "clean-pixel-data"),
    "retain-all": (
        "retain-uids",
        "retain-longitudinal-full-dates",
        "retain-device-identity",
        "retain-institution-identity",
        "retain-patient-characteristics",
        "retain-safe-private",
    ),
}


def errors(tool: str, path: Path) -> tuple[str, set[str]]:
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).splitlines()
    iod = next((line for line in lines if re.fullmatch(r"[A-Za-z0-9]+", line.strip())), "")
    return iod, {line.strip() for line in lines if line.startswith("Error")}


@pytest.mark.parametrize("label", PROFILES)
def test_output_has_no_new_errors(tmp_path: Path, label: str) -> None:
    tool = require_tool("dciodvfy", "dicom3tools")
    engine = Deidentifier(
        Profile.from_options(PROFILES[label]), KEY, pixel_cleaner=FakePixelCleaner()
    )
    checked = 0
    for name, data in build_corpus().objects.items():
        source = tmp_path / f"{name}.in.dcm"
        source.write_bytes(data)
        try:
            out, _ = engine.deidentify_bytes(data)
        except RejectedObject:
            continue
        target = tmp_path / f"{name}.out.dcm"
        target.write_bytes(out)
        iod_in, before = errors(tool, source)
        iod_out, after = errors(tool, target)
        assert iod_in == iod_out and iod_out, name  # dciodvfy recognised the same IOD
        assert after - before == set(), name
        checked += 1
    assert checked >= 7


def test_the_comparison_can_fail(tmp_path: Path) -> None:
    tool = require_tool("dciodvfy", "dicom3tools")
    data = build_corpus().objects["a-study1-sr"]
    out, _ = Deidentifier(Profile(), KEY).deidentify_bytes(data)
    broken = read(out)
    del broken.ContentDate, broken.PatientID  # what X instead of D, or of Z, would do
    (tmp_path / "in.dcm").write_bytes(data)
    (tmp_path / "broken.dcm").write_bytes(to_bytes(broken))
    new = errors(tool, tmp_path / "broken.dcm")[1] - errors(tool, tmp_path / "in.dcm")[1]
    assert any("ContentDate" in line for line in new) and any("PatientID" in line for line in new)
