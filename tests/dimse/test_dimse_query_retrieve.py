"""C-FIND (Patient and Study Root), C-MOVE to registered nodes and C-GET, with DCMTK."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dimse_world import (
    DCMTK_ENV,
    TEST_FILES,
    World,
    dataset_part,
    wait_until,
    world,
    write_study,
)
from pydicom.dataset import Dataset

from conftest import free_port, require_tool

COMPRESSED = ["JPEG2000.dcm", "MR_small_RLE.dcm", "SC_jpeg_no_color_transform.dcm"]


@dataclass
class Data:
    studies: dict[str, list[Dataset]]  # A, B, C, D: generated studies in project trial
    files: dict[str, Path]  # SOP Instance UID -> the imported file
    viewer: Path  # where the registered move destination (a storescp) writes
    counter: itertools.count

    def uid(self, study: str) -> str:
        return self.studies[study][0].StudyInstanceUID


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Data]]:
    base = tmp_path_factory.mktemp("qr")
    viewer_dir = base / "viewer"
    viewer_dir.mkdir()
    viewer_port = free_port()
    viewer = subprocess.Popen(
        [
            require_tool("storescp", "dcmtk"),
            "+B",
            "+xa",
            "-aet",
            "VIEWER",
            "-od",
            str(viewer_dir),
            str(viewer_port),
        ],
        env={**os.environ, **DCMTK_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with world(base) as w:
            w.cli("project", "create", "trial")
            w.cli("project", "create", "other")
            for name, ae, port, project in (
                ("ws", "WS", 11104, "trial"),
                ("viewer", "VIEWER", viewer_port, "trial"),
                ("ghost", "GHOST", free_port(), "trial"),  # registered, not listening
                ("elsewhere", "ELSEWHERE", viewer_port, "other"),
            ):
                w.cli(
                    "modality",
                    "add",
                    name,
                    "--ae-title",
                    ae,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "-p",
                    project,
                )
            trial, other = base / "trial", base / "other"
            studies = {
                "A": write_study(
                    trial, "P1", "Doe^Jane", dt.date(2024, 3, 1), [("CT", "ax", 3), ("MR", "t1", 2)]
                ),
                "B": write_study(trial, "P2", "DOE^JOHN", dt.date(2023, 11, 15), [("MR", "t2", 2)]),
                "C": write_study(
                    trial, "P3", "Smith^Anna", dt.date(2024, 7, 20), [("CT", "ch", 1)]
                ),
                "D": write_study(
                    trial, "P4", "Müller^Jörg", dt.date(2024, 1, 10), [("MR", "x", 1)]
                ),
            }
            write_study(other, "P9", "Doe^Other", dt.date(2024, 5, 5), [("CT", "o", 1)])
            for name in COMPRESSED:
                shutil.copy(TEST_FILES / name, trial / name)
            w.cli("import", "-p", "trial", str(trial), "--json")
            w.cli("import", "-p", "other", str(other), "--json")
            files = {
                pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
                for p in trial.iterdir()
            }
            w.start()
            yield w, Data(studies, files, viewer_dir, itertools.count())
    finally:
        viewer.terminate()
        viewer.wait(10)


def find(setup, model: str, level: str, keys: dict[str, str], called: str = "TRIAL"):
    """findscu with -X: the responses as datasets, and the tool's output."""
    w, data = setup
    out = w.base / f"find-{next(data.counter)}"
    out.mkdir()
    args = ["-v", model, "-X", "-od", str(out), "-k", f"QueryRetrieveLevel={level}"]
    for keyword, value in keys.items():
        args += ["-k", f"{keyword}={value}"]
    result = w.scu("findscu", *args, calling="WS", called=called)
    found = [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]
    return found, result


def keywords(ds: Dataset) -> set[str]:
    return {e.keyword for e in ds}


def test_find_studies_by_name_wildcard_case_insensitively(setup) -> None:
    _w, data = setup
    keys = {
        "PatientName": "doe*",
        "StudyInstanceUID": "",
        "StudyDate": "",
        "ModalitiesInStudy": "",
        "NumberOfStudyRelatedInstances": "",
    }
    found, result = find(setup, "-S", "STUDY", keys)
    assert result.returncode == 0, result.stdout + result.stderr
    by_uid = {ds.StudyInstanceUID: ds for ds in found}
    assert set(by_uid) == {data.uid("A"), data.uid("B")}  # not Doe^Other of another project
    for ds in found:
        assert keywords(ds) == set(keys) | {"QueryRetrieveLevel"}
        assert ds.QueryRetrieveLevel == "STUDY"
    a = by_uid[data.uid("A")]
    assert str(a.PatientName) == "Doe^Jane" and a.StudyDate == "20240301"
    assert list(a.ModalitiesInStudy) == ["CT", "MR"]
    assert int(a.NumberOfStudyRelatedInstances) == 5


def test_find_studies_by_date_range_and_uid_list(setup) -> None:
    _w, data = setup
    found, _ = find(
        setup, "-S", "STUDY", {"StudyDate": "20240101-20241231", "StudyInstanceUID": ""}
    )
    assert {ds.StudyInstanceUID for ds in found} == {data.uid(s) for s in "ACD"}
    found, _ = find(setup, "-S", "STUDY", {"StudyInstanceUID": f"{data.uid('A')}\\{data.uid('C')}"})
    assert {ds.StudyInstanceUID for ds in found} == {data.uid("A"), data.uid("C")}
    found, _ = find(setup, "-S", "STUDY", {"StudyDate": "-20231231", "PatientID": ""})
    assert [ds.PatientID for ds in found if ds.PatientID.startswith("P")] == ["P2"]


def test_find_series_and_images(setup) -> None:
    _w, data = setup
    found, _ = find(
        setup,
        "-S",
        "SERIES",
        {
            "StudyInstanceUID": data.uid("A"),
            "SeriesInstanceUID": "",
            "Modality": "CT",
            "SeriesNumber": "",
            "NumberOfSeriesRelatedInstances": "",
        },
    )
    [ct] = found
    assert ct.Modality == "CT" and int(ct.NumberOfSeriesRelatedInstances) == 3
    assert keywords(ct) == {
        "QueryRetrieveLevel",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
    }
    mr = next(ds for ds in data.studies["A"] if ds.Modality == "MR")
    found, _ = find(
        setup,
        "-S",
        "IMAGE",
        {
            "StudyInstanceUID": data.uid("A"),
            "SeriesInstanceUID": mr.SeriesInstanceUID,
            "SOPInstanceUID": "",
            "InstanceNumber": "",
            "SOPClassUID": "",
        },
    )
    expected = {ds.SOPInstanceUID for ds in data.studies["A"] if ds.Modality == "MR"}
    assert {ds.SOPInstanceUID for ds in found} == expected
    assert sorted(int(ds.InstanceNumber) for ds in found) == [1, 2]
    assert {ds.SOPClassUID for ds in found} == {mr.SOPClassUID}


def test_find_with_patient_root(setup) -> None:
    _w, data = setup
    found, result = find(
        setup, "-P", "PATIENT", {"PatientName": "smith*", "PatientID": "", "PatientBirthDate": ""}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [patient] = found
    assert patient.PatientID == "P3" and patient.PatientBirthDate == "19700101"
    found, _ = find(setup, "-P", "STUDY", {"PatientID": "P1", "StudyInstanceUID": ""})
    assert [ds.StudyInstanceUID for ds in found] == [data.uid("A")]


def test_find_answers_in_utf8_when_names_need_it(setup) -> None:
    found, _ = find(setup, "-S", "STUDY", {"PatientName": "m*", "PatientID": ""})
    [ds] = found
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Müller^Jörg"


def test_find_patient_level_in_study_root_is_a_failure(setup) -> None:
    found, result = find(setup, "-S", "PATIENT", {"PatientName": "*"})
    assert found == []
    assert "Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in result.stderr  # A900


def move(setup, destination: str, model: str, level: str, **keys: str):
    w, _ = setup
    args = [model, "-aem", destination, "-k", f"QueryRetrieveLevel={level}"]
    args += [a for k, v in keys.items() for a in ("-k", f"{k}={v}")]
    return w.scu("movescu", "-v", *args, calling="WS", called="TRIAL")


def received(folder: Path, sop_uid: str) -> bytes:
    paths: list[Path] = []
    wait_until(
        lambda: bool(
            paths.extend(p for p in folder.iterdir() if p.name.endswith(sop_uid)) or paths
        ),
        10,
        f"{sop_uid} at the destination",
    )
    return paths[0].read_bytes()


def test_move_a_study_to_a_registered_node_byte_for_byte(setup) -> None:
    w, data = setup
    result = move(setup, "VIEWER", "-S", "STUDY", StudyInstanceUID=data.uid("A"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Received Final Move Response (Success)" in result.stdout + result.stderr
    for ds in data.studies["A"]:
        got = received(data.viewer, ds.SOPInstanceUID)
        assert dataset_part(got) == dataset_part(data.files[ds.SOPInstanceUID].read_bytes())
        assert dataset_part(got) == dataset_part(w.stored_file("trial", ds.SOPInstanceUID))
        assert (
            pydicom.dcmread(
                pydicom.filebase.DicomBytesIO(got)
            ).file_meta.SourceApplicationEntityTitle
            == "TRIAL"
        )


@pytest.mark.parametrize(
    ("name", "level"), list(zip(COMPRESSED, ["PATIENT", "STUDY", "SERIES"], strict=True))
)
def test_move_compressed_objects_keeps_them_compressed(setup, name: str, level: str) -> None:
    _w, data = setup
    original = pydicom.dcmread(TEST_FILES / name, stop_before_pixels=True)
    keys = {"PatientID": original.get("PatientID", "")}
    if level in ("STUDY", "SERIES"):
        keys["StudyInstanceUID"] = original.StudyInstanceUID
    if level == "SERIES":
        keys["SeriesInstanceUID"] = original.SeriesInstanceUID
    result = move(setup, "VIEWER", "-P", level, **keys)
    assert result.returncode == 0, result.stdout + result.stderr
    got = received(data.viewer, original.SOPInstanceUID)
    assert dataset_part(got) == dataset_part((TEST_FILES / name).read_bytes())
    meta = pydicom.dcmread(pydicom.filebase.DicomBytesIO(got)).file_meta
    assert meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_move_to_an_unknown_destination_fails_cleanly(setup) -> None:
    w, data = setup
    for destination in ("NOWHERE", "ELSEWHERE"):  # unknown; registered in another project
        result = move(setup, destination, "-S", "STUDY", StudyInstanceUID=data.uid("B"))
        assert result.returncode != 0
        assert "MoveDestinationUnknown" in result.stdout + result.stderr
    assert not [
        p
        for p in data.viewer.iterdir()
        if any(p.name.endswith(ds.SOPInstanceUID) for ds in data.studies["B"])
    ]
    assert w.scu("echoscu", calling="WS", called="TRIAL").returncode == 0


def test_move_to_a_node_that_does_not_answer_fails_cleanly(setup) -> None:
    w, data = setup
    result = move(setup, "GHOST", "-S", "STUDY", StudyInstanceUID=data.uid("C"))
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "Move response with error status (Refused: MoveDestinationUnknown)" in text, text
    assert w.scu("echoscu", calling="WS", called="TRIAL").returncode == 0


def get(setup, *keys: str, extra: tuple[str, ...] = ()):
    w, data = setup
    out = w.base / f"get-{next(data.counter)}"
    out.mkdir()
    args = ["-v", "-S", "+B", "-od", str(out), *extra]
    args += [a for k in keys for a in ("-k", k)]
    return w.scu("getscu", *args, calling="WS", called="TRIAL"), out


def completed(output: str) -> int:
    return int(re.findall(r"Number of Completed Suboperations\s*:\s*(\d+)", output)[-1])


def test_get_a_study_byte_for_byte(setup) -> None:
    _w, data = setup
    result, out = get(setup, "QueryRetrieveLevel=STUDY", f"StudyInstanceUID={data.uid('B')}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert completed(result.stdout + result.stderr) == 2
    for ds in data.studies["B"]:
        got = received(out, ds.SOPInstanceUID)
        assert dataset_part(got) == dataset_part(data.files[ds.SOPInstanceUID].read_bytes())


def test_get_converts_only_when_the_peer_takes_no_stored_syntax(setup) -> None:
    """getscu proposes uncompressed syntaxes only: an RLE object arrives decompressed."""
    w, _data = setup
    original = pydicom.dcmread(TEST_FILES / "MR_small_RLE.dcm")
    result, out = get(
        setup,
        "QueryRetrieveLevel=IMAGE",
        f"StudyInstanceUID={original.StudyInstanceUID}",
        f"SeriesInstanceUID={original.SeriesInstanceUID}",
        f"SOPInstanceUID={original.SOPInstanceUID}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert completed(result.stdout + result.stderr) == 1
    got = pydicom.dcmread(pydicom.filebase.DicomBytesIO(received(out, original.SOPInstanceUID)))
    assert not got.file_meta.TransferSyntaxUID.is_compressed
    assert np.array_equal(got.pixel_array, original.pixel_array)
    assert "not byte-identical" in w.log()


def test_retrieve_without_the_unique_key_fails(setup) -> None:
    result, out = get(setup, "QueryRetrieveLevel=SERIES", "SeriesInstanceUID=")
    text = result.stdout + result.stderr
    assert "Received C-GET Response (Failed: UnableToProcess)" in text, text  # 0xC413
    assert not list(out.iterdir())


def test_retrieve_is_audited(setup) -> None:
    w, _ = setup
    from sqlalchemy import select

    from vesalius.core.audit import AuditEvent
    from vesalius.core.config import load_settings
    from vesalius.core.home import open_home

    home = open_home(load_settings(w.home))
    try:
        with home.db.read() as session:
            details = [
                e.detail
                for e in session.scalars(
                    select(AuditEvent).where(AuditEvent.action == "dimse.association")
                )
            ]
    finally:
        home.close()
    assert any(d["destinations"] == ["VIEWER"] and d["matched"] >= 5 for d in details)
    assert any(d["queries"] >= 1 for d in details)
    assert os.environ["VESALIUS_HOME"] == str(w.home)
