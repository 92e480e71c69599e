"""clean-recognizable-visual-features: 3D head series defaced (Quickshear), others withheld.

The phantom is a head (an ellipsoid), a brighter brain inside it and a nose and chin in
front of and below the brain, where a checkerboard is planted: after ``deid run`` most
of the planted face voxels must be 0 and most brain voxels untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from vesalius.core.dicom.synthetic import StudySpec, make_study, to_bytes
from vesalius.deid.pixels.deface import deface_missing

from conftest import Cli

pytestmark = pytest.mark.skipif(
    deface_missing() is not None, reason=f"deface extra missing: {deface_missing()}"
)
NX, NY, NZ = 64, 64, 48  # columns (to the patient's left), rows (posterior), slices (up)
SPEC = StudySpec("PID-DEFACE-1", "Facey^Fiona", dt.date(2024, 5, 6), "MR BRAIN")
CODE = "113102"  # Clean Recognizable Visual Features Option (CID 7050)


def head_phantom() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(volume, brain, planted face) indexed [column, row, slice]."""
    x, y, z = np.mgrid[0:NX, 0:NY, 0:NZ].astype(float)
    head = ((x - 31.5) / 26) ** 2 + ((y - 34) / 28) ** 2 + ((z - 22) / 24) ** 2 <= 1
    brain = ((x - 31.5) / 18) ** 2 + ((y - 37) / 20) ** 2 + ((z - 28) / 14) ** 2 <= 1
    nose = ((x - 31.5) / 10) ** 2 + ((y - 8) / 8) ** 2 + ((z - 10) / 8) ** 2 <= 1
    volume = np.zeros((NX, NY, NZ), np.uint16)
    volume[head | nose] = 300
    volume[brain] = 900
    face = (nose | (head & (y < 14) & (z < 18))) & ~brain
    volume[face & ((x + z) % 4 < 2)] = 600  # the planted pattern: a checkerboard
    return volume, brain, face


def head_series(volume: np.ndarray, *, description: str = "T1 MPRAGE") -> list[Dataset]:
    series = make_study(SPEC, [("MR", description, NZ)], seed="deface")
    for k, ds in enumerate(series):
        ds.BodyPartExamined = "HEAD"
        ds.PixelData = np.ascontiguousarray(volume[:, :, k].T).tobytes()
    return series


def localizer() -> Dataset:
    ds = make_study(SPEC, [("MR", "localizer", 1)], seed="localizer")[0]
    ds.BodyPartExamined = "BRAIN"
    return ds


def chest_ct() -> list[Dataset]:
    spec = StudySpec("PID-DEFACE-1", "Facey^Fiona", dt.date(2024, 5, 7), "CT CHEST")
    return make_study(spec, [("CT", "Thorax", 3)], seed="chest")


def write(folder: Path, datasets: list[Dataset], prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, ds in enumerate(datasets):
        (folder / f"{prefix}{i:03d}.dcm").write_bytes(to_bytes(ds))


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_text("0123456789abcdef0123456789abcdef\n")
    path.chmod(0o600)
    return path


def codes(ds: Dataset) -> set[str]:
    return {str(i.CodeValue) for i in ds.get("DeidentificationMethodCodeSequence") or []}


@pytest.fixture(scope="module")
def phantom() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return head_phantom()


def test_deid_run_defaces_a_head_series(cli: Cli, tmp_path: Path, phantom) -> None:
    volume, brain, face = phantom
    source = tmp_path / "in"
    originals = head_series(volume)
    write(source, originals, "head")
    write(source, [localizer()], "loc")
    write(source, chest_ct(), "chest")
    report_path = tmp_path / "report.json"
    result = cli(
        "deid", "run", str(source), str(tmp_path / "out"), "--key-file", str(key_file(tmp_path)),
        "-o", "clean-recognizable-visual-features", "--report", str(report_path),
        "--json", "--workers", "1", expect=3,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    assert (summary["written"], summary["withheld"]) == (NZ + 3, 1)
    report = json.loads(report_path.read_text())
    [withheld] = report["withheld_items"]
    assert Path(withheld["origin"]).name == "loc000.dcm"
    assert "not a 3D volume (1 slice(s)" in withheld["reason"]

    heads, others = [], []
    for path in (tmp_path / "out").rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        (heads if ds.Modality == "MR" else others).append(ds)
    assert len(heads) == NZ and len(others) == 3
    heads.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    for ds, original in zip(heads, originals, strict=True):
        assert (ds.Rows, ds.Columns) == (original.Rows, original.Columns)
        assert list(ds.ImagePositionPatient) == list(original.ImagePositionPatient)
        assert list(ds.ImageOrientationPatient) == list(original.ImageOrientationPatient)
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert CODE in codes(ds) and "113100" in codes(ds)
        assert "Clean Recognizable Visual Features Option" in ds.DeidentificationMethod
        assert ds.PatientName != SPEC.patient_name
    out = np.stack([ds.pixel_array.T for ds in heads], axis=2)
    planted = face & (volume > 0)
    assert (out[planted] == 0).mean() > 0.9  # the face is gone
    assert (out[brain] == volume[brain]).mean() > 0.99  # the brain is not touched
    assert (out[~planted & ~brain] == volume[~planted & ~brain]).mean() > 0.5
    for ds in others:  # not a head: written, not defaced, not marked as defaced
        assert CODE not in codes(ds) and "113100" in codes(ds)
    entries = {e["sop_instance_uid"]: e for e in report["objects"]}
    assert all(entries[ds.SOPInstanceUID]["pixels"].startswith("defaced") for ds in heads)
    assert all("clean-recognizable-visual-features" not in entries[ds.SOPInstanceUID]["options"]
               for ds in others)  # fmt: skip


def test_all_volumes_option_and_small_volumes(cli: Cli, tmp_path: Path, phantom) -> None:
    """Without head words the series passes untouched, unless every volume counts as a
    head; a covered stack below the minimum slice count is withheld."""
    volume = phantom[0]
    source = tmp_path / "in"
    series = head_series(volume, description="T1 3D")
    for ds in series:
        del ds.BodyPartExamined
        ds.StudyDescription = "Research study"
    write(source, series, "vol")
    key = str(key_file(tmp_path))
    option = ("-o", "clean-recognizable-visual-features", "--json", "--workers", "1")
    plain = json.loads(cli("deid", "run", str(source), str(tmp_path / "a"), "--key-file", key,
                           *option).stdout)  # fmt: skip
    assert (plain["written"], plain["withheld"]) == (NZ, 0)
    undefaced = [pydicom.dcmread(p) for p in (tmp_path / "a").rglob("*.dcm")]
    assert all(CODE not in codes(ds) for ds in undefaced)
    assert sum(int(ds.pixel_array.astype(bool).sum()) for ds in undefaced) == int(
        volume.astype(bool).sum()
    )
    every = json.loads(cli("deid", "run", str(source), str(tmp_path / "b"), "--key-file", key,
                           *option, "--deface-all-volumes").stdout)  # fmt: skip
    assert (every["written"], every["withheld"]) == (NZ, 0)
    assert all(CODE in codes(pydicom.dcmread(p)) for p in (tmp_path / "b").rglob("*.dcm"))

    few = tmp_path / "few"
    write(few, head_series(volume)[:8], "vol")
    result = cli("deid", "run", str(few), str(tmp_path / "c"), "--key-file", key, *option,
                 expect=3)  # fmt: skip
    assert json.loads(result.stdout)["withheld"] == 8
    assert not list((tmp_path / "c").rglob("*.dcm"))


def test_a_failed_brain_mask_withholds_the_series(cli: Cli, tmp_path: Path) -> None:
    flat = np.full((NX, NY, NZ), 500, np.uint16)
    source = tmp_path / "in"
    write(source, head_series(flat), "flat")
    report = tmp_path / "report.json"
    cli("deid", "run", str(source), str(tmp_path / "out"), "--key-file",
        str(key_file(tmp_path)), "-o", "clean-recognizable-visual-features", "--report",
        str(report), "--workers", "1", expect=3)  # fmt: skip
    reasons = {i["reason"] for i in json.loads(report.read_text())["withheld_items"]}
    assert reasons == {"defacing: the volume is empty or flat; no brain mask"}
    assert not list((tmp_path / "out").rglob("*.dcm"))


def test_without_the_extra_the_option_fails_clearly(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phantom
) -> None:
    monkeypatch.setitem(sys.modules, "quickshear", None)  # import quickshear: ImportError
    source = tmp_path / "in"
    write(source, head_series(phantom[0])[:2], "head")
    result = cli("deid", "run", str(source), str(tmp_path / "out"), "--key-file",
                 str(key_file(tmp_path)), "-o", "clean-recognizable-visual-features",
                 expect=1)  # fmt: skip
    said = " ".join(result.stderr.split())
    assert "quickshear is not installed" in said and "'deface' extra" in said
    assert not list((tmp_path / "out").rglob("*.dcm"))


def test_engine_alone_refuses_head_images_not_defaced_as_a_series(phantom) -> None:
    from vesalius.core.errors import RejectedObject
    from vesalius.deid.engine import Deidentifier
    from vesalius.deid.profile import Profile
    from vesalius.deid.series import HeadGuard

    profile = Profile.from_options(["clean-recognizable-visual-features"])
    engine = Deidentifier(profile, b"k" * 32, visual_cleaner=HeadGuard())
    with pytest.raises(RejectedObject, match="not defaced as part of a 3D series"):
        engine.deidentify(head_series(phantom[0])[0])
    ct = engine.deidentify(chest_ct()[0])
    assert CODE not in codes(ct.dataset)


def test_a_lossless_compressed_series_stays_lossless(cli: Cli, tmp_path: Path, phantom) -> None:
    from pydicom.uid import RLELossless

    volume, _, face = phantom
    series = head_series(volume)
    for ds in series:
        ds.compress(RLELossless)
    write(tmp_path / "in", series, "rle")
    key = str(key_file(tmp_path))
    option = ("-o", "clean-recognizable-visual-features", "--workers", "1")
    cli("deid", "run", str(tmp_path / "in"), str(tmp_path / "out"), "--key-file", key, *option)
    heads = sorted(
        (pydicom.dcmread(p) for p in (tmp_path / "out").rglob("*.dcm")),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    assert {ds.file_meta.TransferSyntaxUID for ds in heads} == {RLELossless}
    out = np.stack([ds.pixel_array.T for ds in heads], axis=2)
    kept = out != 0
    assert (out[kept] == volume[kept]).all()  # lossless: what was not blanked is exact
    assert (out[face & (volume > 0)] == 0).mean() > 0.9


def test_a_sagittal_series_is_defaced_too(cli: Cli, tmp_path: Path, phantom) -> None:
    """The volume is built from the geometry, not the file order or the slice axis."""
    volume, brain, face = phantom
    series = make_study(SPEC, [("MR", "T1 sag", NX)], seed="sagittal")
    for i, ds in enumerate(series):
        ds.BodyPartExamined = "HEAD"
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # rows run posterior, columns down
        ds.ImagePositionPatient = [i * 0.8, 0, (NZ - 1) * 2.5]
        ds.PixelSpacing = [2.5, 0.8]
        image = np.ascontiguousarray(volume[i, :, ::-1].T)
        ds.Rows, ds.Columns = image.shape
        ds.PixelData = image.tobytes()
    write(tmp_path / "in", series[::-1], "sag")
    key = str(key_file(tmp_path))
    option = ("-o", "clean-recognizable-visual-features", "--workers", "1")
    cli("deid", "run", str(tmp_path / "in"), str(tmp_path / "out"), "--key-file", key, *option)
    slices = sorted(
        (pydicom.dcmread(p) for p in (tmp_path / "out").rglob("*.dcm")),
        key=lambda ds: float(ds.ImagePositionPatient[0]),
    )
    out = np.stack([ds.pixel_array.T[:, ::-1] for ds in slices], axis=0)
    assert (out[face & (volume > 0)] == 0).mean() > 0.9
    assert (out[brain] == volume[brain]).mean() > 0.99
