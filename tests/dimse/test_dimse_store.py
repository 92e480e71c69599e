"""C-STORE: objects kept exactly as sent, acknowledged only once durable, in parallel."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from dimse_world import (
    DCMTK_ENV,
    TEST_FILES,
    World,
    dataset_part,
    dcmtk,
    wait_until,
    world,
    write_study,
)

from conftest import free_port, require_tool


@dataclass
class Reference:
    """DCMTK's storescp writing what it receives bit for bit: what storescu really sent."""

    port: int
    folder: Path

    def received(self, sop_uid: str) -> bytes:
        [path] = [p for p in self.folder.iterdir() if p.name.endswith(sop_uid)]
        return path.read_bytes()


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("store")) as built:
        built.cli("project", "create", "trial")
        built.cli(
            "modality",
            "add",
            "scanner",
            "--ae-title",
            "SCANNER",
            "--host",
            "127.0.0.1",
            "--port",
            "11104",
            "--project",
            "trial",
        )
        built.start()
        yield built


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    folder = tmp_path_factory.mktemp("reference")
    port = free_port()
    process = subprocess.Popen(
        [
            require_tool("storescp", "dcmtk"),
            "+B",
            "+xa",
            "-aet",
            "REF",
            "-od",
            str(folder),
            str(port),
        ],
        env={**__import__("os").environ, **DCMTK_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: dcmtk("echoscu", "-aec", "REF", "127.0.0.1", str(port)).returncode == 0,
            10,
            "the reference storescp",
        )
        yield Reference(port=port, folder=folder)
    finally:
        process.terminate()
        process.wait(10)


def stored(w: World, sop_uid: str) -> bytes:
    data: list[bytes] = []
    wait_until(
        lambda: bool(data.append(w.stored_file("trial", sop_uid) or b"") or data[-1]),
        30,
        f"object {sop_uid}",
    )
    return data[-1]


def test_generated_objects_are_stored_byte_for_byte(w: World, tmp_path: Path) -> None:
    datasets = write_study(tmp_path, "S1", "Store^One", dt.date(2024, 2, 2), [("CT", "ax", 4)])
    result = w.scu("storescu", "+sd", calling="SCANNER", called="TRIAL", files=(str(tmp_path),))
    assert result.returncode == 0, result.stdout + result.stderr
    w.wait_for_instances("trial", datasets[0].StudyInstanceUID, 4)
    for ds in datasets:
        sent = (tmp_path / f"{ds.SOPInstanceUID}.dcm").read_bytes()
        kept = stored(w, ds.SOPInstanceUID)
        assert dataset_part(kept) == dataset_part(sent)
        meta = pydicom.dcmread(pydicom.filebase.DicomBytesIO(kept)).file_meta
        assert meta.SourceApplicationEntityTitle == "SCANNER"


# (storescu option proposing the file's transfer syntax, pydicom test file)
SAMPLES = [
    ("-xy", "SC_jpeg_no_color_transform.dcm"),  # JPEG baseline
    ("-xs", "SC_rgb_jpeg_gdcm.dcm"),  # JPEG lossless, first-order prediction
    ("-xw", "JPEG2000.dcm"),  # JPEG 2000
    ("-xr", "MR_small_RLE.dcm"),  # RLE lossless
    ("-xd", "image_dfl.dcm"),  # deflated explicit VR little endian
    ("-xb", "ExplVR_BigEnd.dcm"),  # explicit VR big endian
    ("-xi", "CT_small.dcm"),  # sent as implicit VR little endian
]


@pytest.mark.parametrize(("option", "name"), SAMPLES, ids=[n for _, n in SAMPLES])
def test_objects_are_stored_as_sent_in_their_transfer_syntax(
    w: World, reference: Reference, option: str, name: str
) -> None:
    path = TEST_FILES / name
    sop_uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
    to_reference = dcmtk(
        "storescu",
        "-R",
        option,
        "-aet",
        "SCANNER",
        "-aec",
        "REF",
        "127.0.0.1",
        str(reference.port),
        str(path),
    )
    assert to_reference.returncode == 0, to_reference.stdout + to_reference.stderr
    result = w.scu("storescu", "-R", option, calling="SCANNER", called="TRIAL", files=(str(path),))
    assert result.returncode == 0, result.stdout + result.stderr
    sent = reference.received(sop_uid)
    kept = stored(w, sop_uid)
    assert dataset_part(kept) == dataset_part(sent)
    kept_syntax = pydicom.dcmread(pydicom.filebase.DicomBytesIO(kept)).file_meta.TransferSyntaxUID
    sent_syntax = pydicom.dcmread(pydicom.filebase.DicomBytesIO(sent)).file_meta.TransferSyntaxUID
    assert kept_syntax == sent_syntax
    if option != "-xi":  # stored in the transfer syntax it was sent in, never re-encoded
        assert (
            kept_syntax
            == pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        )


def test_parallel_senders_are_all_stored(w: World, tmp_path: Path) -> None:
    senders, studies = [], []
    for n in range(4):
        folder = tmp_path / f"sender{n}"
        studies.append(
            write_study(
                folder, f"PAR{n}", f"Parallel^{n}", dt.date(2024, 3, n + 1), [("MR", "t1", 12)]
            )[0].StudyInstanceUID
        )
        senders.append(
            subprocess.Popen(
                [
                    require_tool("storescu", "dcmtk"),
                    "-aet",
                    "SCANNER",
                    "-aec",
                    "TRIAL",
                    "127.0.0.1",
                    str(w.port),
                    "+sd",
                    str(folder),
                ],
                env={**__import__("os").environ, **DCMTK_ENV},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    for sender in senders:
        out, _ = sender.communicate(timeout=60)
        assert sender.returncode == 0, out.decode(errors="replace")
    for study_uid in studies:
        w.wait_for_instances("trial", study_uid, 12)


def test_an_unreadable_object_is_acknowledged_and_quarantined(w: World) -> None:
    # no Study Instance UID: it cannot be archived, but it is durably kept with a reason
    path = TEST_FILES / "JPEGLSNearLossless_08.dcm"
    result = w.scu("storescu", "-R", "-xu", calling="SCANNER", called="TRIAL", files=(str(path),))
    assert result.returncode == 0, result.stdout + result.stderr

    def quarantined() -> list[dict]:
        return json.loads(w.cli("quarantine", "list", "--json").stdout)["items"]

    wait_until(lambda: bool(quarantined()), 30, "the quarantine entry")
    [item] = quarantined()
    assert item["source"] == "c-store"
    assert "StudyInstanceUID" in item["reason"]


def test_a_spool_failure_is_a_failure_status_not_a_success(w: World, tmp_path: Path) -> None:
    [ds] = write_study(tmp_path / "f", "FAIL1", "Fail^One", dt.date(2024, 4, 4), [("CT", "x", 1)])
    spool = w.home / "spool"
    saved = w.home / "spool-saved"
    spool.rename(saved)
    spool.write_text("not a folder")  # writing an entry now fails, even as root
    try:
        result = w.scu(
            "storescu",
            "-v",
            calling="SCANNER",
            called="TRIAL",
            files=(str(tmp_path / "f" / f"{ds.SOPInstanceUID}.dcm"),),
        )
    finally:
        spool.unlink()
        saved.rename(spool)
    text = (result.stdout + result.stderr).lower()
    assert "received store response (refused: outofresources)" in text, text  # 0xA700
    assert "received store response (success)" not in text
    assert w.stored_file("trial", ds.SOPInstanceUID) is None
    again = w.scu(
        "storescu", "+sd", calling="SCANNER", called="TRIAL", files=(str(tmp_path / "f"),)
    )
    assert again.returncode == 0
    assert stored(w, ds.SOPInstanceUID)


def test_shutdown_is_clean(tmp_path: Path, w: World) -> None:
    """Runs last in this module: SIGTERM stops DIMSE, then HTTP, without an error."""
    assert w.server is not None
    w.server.process.terminate()
    assert w.server.process.wait(20) in (0, -15)  # uvicorn re-raises the signal when done
    log = w.log()
    assert "DIMSE stopped" in log and "Application shutdown complete" in log
    assert "Traceback" not in log.split("Shutting down", 1)[1]
    shutil.rmtree(tmp_path, ignore_errors=True)
