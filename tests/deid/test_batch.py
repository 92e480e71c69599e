"""``run_batch``: the worker count changes nothing but the time (outputs, report, order)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydicom.uid import generate_uid

from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance
from vesalius.deid.batch import POOL_MIN_ITEMS, BatchSpec, run_batch
from vesalius.deid.profile import Profile

KEY = b"0123456789abcdef0123456789abcdef"


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _origin(path: str) -> str:
    return Path(path).name


def _inputs(folder: Path) -> list[str]:
    """Enough objects for the worker pool, two patients, and one SOP Instance UID twice
    with different content (a duplicate: the later input must win, whatever the timing)."""
    folder.mkdir()
    paths = []
    for patient in range(2):
        spec = StudySpec(f"PID-{patient}", f"Batch^Patient{patient}", dt.date(2024, 5, 1 + patient))
        study, series = generate_uid(prefix=ROOT), generate_uid(prefix=ROOT)
        for index in range(POOL_MIN_ITEMS):
            ds = make_instance(spec=spec, study_uid=study, series_uid=series, modality="CT",
                               series_number=1, series_description="Axial", index=index,
                               size=16)  # fmt: skip
            path = folder / f"{patient}-{index:02d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(str(path))
    ds = make_instance(spec=spec, study_uid=study, series_uid=series, modality="CT",
                       series_number=1, series_description="Axial again", index=3, size=16,
                       sop_uid=_sop_uid(folder / "1-03.dcm"))  # fmt: skip
    duplicate = folder / "z-duplicate.dcm"
    ds.save_as(duplicate, enforce_file_format=True)
    paths.append(str(duplicate))
    (folder / "junk.dcm").write_bytes(b"not dicom")
    paths.append(str(folder / "junk.dcm"))
    return paths


def _sop_uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_worker_count_changes_nothing_but_the_time(tmp_path: Path) -> None:
    items = _inputs(tmp_path / "in")
    spec = BatchSpec(Profile.from_options(["clean-descriptors"]), KEY)
    results = {}
    for workers in (1, 2):
        out = tmp_path / f"out-{workers}"
        report = run_batch(items, read=_read, origin=_origin, output=out, spec=spec,
                           workers=workers)  # fmt: skip
        results[workers] = (report.to_dict() | {"seconds": 0}, _files(out))
    assert results[1] == results[2]
    report, files = results[2]
    assert (report["written"], report["duplicates"], report["withheld"]) == (len(items) - 1, 1, 1)
    assert [o["origin"] for o in report["objects"]] == [Path(p).name for p in items[:-1]]
    assert not [name for name in files if name.endswith(".tmp")]
    last = report["objects"][-1]["output"]  # the duplicate: the later input's content
    assert last == report["objects"][POOL_MIN_ITEMS + 3]["output"]
    assert b"Axial again" in files[last]
