"""Importing pydicom's test files and pydicom-data: every readable instance is listed under
its study and series in the API; importing again changes nothing; broken files are
quarantined with reasons."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pydicom
import pytest

from conftest import Cli, token_for

pydicom_files = Path(pydicom.__file__).parent / "data" / "test_files"
try:
    import data_store  # pydicom-data's package; read by path, never downloaded

    data_store_files = Path(data_store.__file__).parent / "data"
except ImportError:  # pragma: no cover - a test dependency
    data_store_files = None

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def expected_objects(roots: list[Path]) -> dict[str, tuple[str, str]]:
    """SOP UID -> (study, series) of the LAST file with that UID, in import order.

    Independent of vesalius: a file counts as readable when pydicom reads it (forcing
    where there is no preamble), it has the three UIDs, it is not a DICOMDIR, and its
    native pixel data is as long as its header says.
    """
    from pydicom.pixels.utils import get_expected_length

    expected: dict[str, tuple[str, str]] = {}
    files = []
    for root in roots:
        for folder, _dirs, names in sorted_walk(root):
            files.extend(Path(folder) / n for n in names)
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                try:
                    ds = pydicom.dcmread(path)
                except pydicom.errors.InvalidDicomError:
                    ds = pydicom.dcmread(path, force=True)
                uids = [
                    str(ds.get(k, "") or "").strip()
                    for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
                ]
                if (
                    not all(uids)
                    or ds.get("SOPClassUID") == DICOMDIR_CLASS
                    or (ds.file_meta.get("MediaStorageSOPClassUID") == DICOMDIR_CLASS)
                ):
                    continue
                ts = ds.file_meta.get("TransferSyntaxUID")
                native = "PixelData" in ds and not (ts and pydicom.uid.UID(ts).is_compressed)
                if native and len(ds.PixelData) < get_expected_length(ds):
                    continue
                ds.to_json_dict(suppress_invalid_tags=True)
            except Exception:
                continue
        expected[uids[0]] = (uids[1], uids[2])
    return expected


def sorted_walk(root: Path):
    import os

    for folder, dirs, names in os.walk(root):
        dirs.sort()
        yield folder, dirs, sorted(names)


def test_public_corpora_import_and_list(cli: Cli, server_factory, tmp_path: Path) -> None:
    if data_store_files is None:
        pytest.fail("pydicom-data is a test dependency: pip install -e '.[test]'")
    roots = [pydicom_files, data_store_files]
    cli("init")
    cli("project", "create", "corpus")
    first = json.loads(cli("import", "-p", "corpus", *map(str, roots), "--json", expect=3).stdout)
    assert first["stored"] > 130
    reasons = {Path(q["origin"]).name: q["reason"] for q in first["quarantine"]}
    assert reasons["MR_truncated.dcm"].startswith("truncated")
    assert "not a DICOM object" in reasons["README.txt"]

    again = json.loads(cli("import", "-p", "corpus", *map(str, roots), "--json", expect=3).stdout)
    assert again["stored"] == again["new_versions"] == 0
    assert again["duplicates"] == first["stored"] + first["new_versions"] + first["duplicates"]

    expected = expected_objects(roots)
    server = server_factory()
    client = server.client(token_for(cli, "admin"))
    found: dict[str, tuple[str, str]] = {}
    studies = client.get("/api/projects/corpus/studies", params={"limit": 1000}).json()
    for study in studies["items"]:
        uid = study["study_uid"]
        for series in client.get(f"/api/projects/corpus/studies/{uid}/series").json()["items"]:
            items = client.get(
                f"/api/projects/corpus/studies/{uid}/series/{series['series_uid']}/instances",
                params={"limit": 1000},
            ).json()["items"]
            for inst in items:
                found[inst["sop_uid"]] = (uid, series["series_uid"])
    assert found == expected
    assert sum(s["instance_count"] for s in studies["items"]) == len(expected)
