"""C-MOVE to modalities registered with --tls: DCMTK storescp over TLS as destinations.

A destination whose certificate verifies against the registered CA (and names the
registered host) receives the stored bytes unchanged, with a client certificate when
it asks for one; one whose certificate does not verify gets nothing, and the mover gets
a failure status that is audited without PHI.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from dimse_world import DCMTK_ENV, World, dataset_part, wait_until, world, write_study
from pydicom.dataset import Dataset
from sqlalchemy import select

from vesalius.core.audit import AuditEvent
from vesalius.core.config import load_settings
from vesalius.core.home import open_home

from conftest import free_port, require_tool
from tls_pki import Authority, Identity

PATIENT_ID, PATIENT_NAME = "TLSMOVE77", "Tlsmove^Patient"


@dataclass
class Destination:
    ae_title: str
    folder: Path
    process: subprocess.Popen[bytes]


@dataclass
class Setup:
    w: World
    ca: Authority
    client: Identity
    studies: dict[str, list[Dataset]]  # study label -> objects imported into trial
    files: dict[str, Path]  # SOP Instance UID -> the imported file
    destinations: dict[str, Destination] = field(default_factory=dict)


def storescp(
    base: Path, ae_title: str, port: int, identity: Identity, *, ca: Path | None
) -> Destination:
    """A TLS storescp; with ``ca`` it requires a client certificate issued by that CA."""
    folder = base / ae_title.lower()
    folder.mkdir()
    peer = ["+cf", str(ca)] if ca is not None else ["-ic"]  # -ic: no client cert needed
    process = subprocess.Popen(
        [
            require_tool("storescp", "dcmtk"),
            "+B",
            "-aet",
            ae_title,
            "-od",
            str(folder),
            "+tls",
            str(identity.key),
            str(identity.cert),
            *peer,
            str(port),
        ],
        env={**os.environ, **DCMTK_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Destination(ae_title, folder, process)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("tlsmove")
    ca = Authority(base / "pki", "Test CA")
    other = Authority(base / "pki", "Other CA")
    client = ca.issue("vesalius")
    # name -> (AE title, the destination's certificate, CA it demands of us, our options)
    plan = {
        "secure": ("SECURE", ca.issue("secure"), None, ["--tls-ca", str(ca.cert)]),
        "mutual": (
            "MUTUAL",
            ca.issue("mutual"),
            ca.cert,
            [
                "--tls-ca",
                str(ca.cert),
                "--tls-cert",
                str(client.cert),
                "--tls-key",
                str(client.key),
            ],
        ),
        "impostor": ("IMPOSTOR", other.issue("impostor"), None, ["--tls-ca", str(ca.cert)]),
        "misnamed": (
            "MISNAMED",
            ca.issue("misnamed", hosts=("pacs.elsewhere.example",)),
            None,
            ["--tls-ca", str(ca.cert)],
        ),
        "anonymous": ("ANONYMOUS", ca.issue("anonymous"), ca.cert, ["--tls-ca", str(ca.cert)]),
    }
    destinations: dict[str, Destination] = {}
    try:
        ports = {}
        for name, (ae, identity, demand, _) in plan.items():
            ports[name] = free_port()
            destinations[name] = storescp(base, ae, ports[name], identity, ca=demand)
        with world(base) as w:
            w.cli("project", "create", "trial")
            w.cli(
                "modality", "add", "ws", "--ae-title", "WS", "--host", "127.0.0.1",
                "--port", "11104", "-p", "trial",
            )  # fmt: skip
            for name, (ae, _, _, options) in plan.items():
                w.cli(
                    "modality", "add", name, "--ae-title", ae, "--host", "127.0.0.1",
                    "--port", str(ports[name]), "-p", "trial", "--tls", *options,
                )  # fmt: skip
            trial = base / "trial"
            studies = {
                label: write_study(
                    trial / label, PATIENT_ID, PATIENT_NAME, dt.date(2024, 10, day), series
                )
                for label, day, series in (
                    ("A", 1, [("CT", "ax", 2)]),
                    ("B", 2, [("MR", "t1", 2)]),
                    ("C", 3, [("MR", "t2", 1)]),
                )
            }
            w.cli("import", "-p", "trial", str(trial), "--json")
            files = {
                pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
                for p in trial.rglob("*.dcm")
            }
            w.start()
            yield Setup(w, ca, client, studies, files, destinations)
    finally:
        for destination in destinations.values():
            destination.process.terminate()
            destination.process.wait(10)


def move(s: Setup, destination: str, study: str):
    uid = s.studies[study][0].StudyInstanceUID
    return s.w.scu(
        "movescu",
        "-v",
        "-S",
        "-aem",
        destination,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={uid}",
        calling="WS",
        called="TRIAL",
    )


def arrived(folder: Path, sop_uid: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(sop_uid)]


def failed_moves(s: Setup) -> list[dict]:
    home = open_home(load_settings(s.w.home))
    try:
        with home.db.read() as session:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "dimse.move.failed")
            )
            return [e.detail for e in events]
    finally:
        home.close()


@pytest.mark.parametrize(("destination", "study"), [("SECURE", "A"), ("MUTUAL", "B")])
def test_move_over_tls_arrives_byte_for_byte(setup: Setup, destination: str, study: str) -> None:
    s = setup
    result = move(s, destination, study)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Received Final Move Response (Success)" in text, text
    folder = s.destinations[destination.lower()].folder
    for ds in s.studies[study]:
        wait_until(lambda ds=ds: bool(arrived(folder, ds.SOPInstanceUID)), 10, "the object")
        [path] = arrived(folder, ds.SOPInstanceUID)
        got = path.read_bytes()
        assert dataset_part(got) == dataset_part(s.files[ds.SOPInstanceUID].read_bytes())
        assert dataset_part(got) == dataset_part(s.w.stored_file("trial", ds.SOPInstanceUID))


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("IMPOSTOR", "certificate verify failed: unable to get local issuer certificate"),
        ("MISNAMED", "certificate verify failed: IP address mismatch"),
    ],
)
def test_a_destination_whose_certificate_does_not_verify_gets_nothing(
    setup: Setup, destination: str, reason: str
) -> None:
    s = setup
    result = move(s, destination, "C")
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Move response with error status (Refused: MoveDestinationUnknown)" in text, text
    assert not list(s.destinations[destination.lower()].folder.iterdir())
    [failure] = [d for d in failed_moves(s) if d["destination"] == destination]
    assert failure["project"] == "trial" and failure["calling_ae"] == "WS"
    assert reason in failure["reason"], failure
    log = s.w.log()
    assert f"C-MOVE to {destination} refused: TLS handshake with 127.0.0.1" in log
    for phi in (PATIENT_ID, PATIENT_NAME, "Tlsmove"):
        assert phi not in log and phi not in json.dumps(failure)
    assert s.w.scu("echoscu", calling="WS", called="TRIAL").returncode == 0


def test_a_destination_that_wants_a_client_certificate_gets_none_without_one(
    setup: Setup,
) -> None:
    s = setup
    result = move(s, "ANONYMOUS", "C")
    assert result.returncode != 0
    assert "MoveDestinationUnknown" in result.stdout + result.stderr
    assert not list(s.destinations["anonymous"].folder.iterdir())


def test_a_key_file_loosened_after_registration_stops_the_moves(setup: Setup) -> None:
    s = setup
    s.client.key.chmod(0o644)
    try:
        result = move(s, "MUTUAL", "C")
    finally:
        s.client.key.chmod(0o600)
    assert result.returncode != 0
    assert "MoveDestinationUnknown" in result.stdout + result.stderr
    c = s.studies["C"][0].SOPInstanceUID
    assert not arrived(s.destinations["mutual"].folder, c)
    failures = [d for d in failed_moves(s) if d["destination"] == "MUTUAL"]
    assert any("readable by its owner only" in d["reason"] for d in failures), failures
    # tightened again, the next move works (the files are read for every move)
    assert move(s, "MUTUAL", "C").returncode == 0
    wait_until(lambda: bool(arrived(s.destinations["mutual"].folder, c)), 10, "the object")


def test_modality_list_and_show_give_tls_paths_never_keys(setup: Setup) -> None:
    s = setup
    listed = {m["name"]: m for m in json.loads(s.w.cli("modality", "list", "--json").stdout)}
    mutual = listed["mutual"]
    assert mutual["tls"] is True
    assert mutual["tls_ca"] == str(s.ca.cert)
    assert (mutual["tls_cert"], mutual["tls_key"]) == (str(s.client.cert), str(s.client.key))
    assert listed["ws"]["tls"] is False and listed["ws"]["tls_ca"] is None
    shown = json.loads(s.w.cli("modality", "show", "mutual", "--json").stdout)
    assert shown == mutual
    text = s.w.cli("modality", "show", "mutual").stdout
    assert "TLS client key:" in text and str(s.client.key.name) in text
    table = s.w.cli("modality", "list").stdout
    assert "TLS" in table and "off" in table
    for output in (text, table, json.dumps(listed)):
        assert "PRIVATE KEY" not in output and "BEGIN CERTIFICATE" not in output
    s.w.cli("modality", "show", "nobody", expect=1)


def test_modality_add_checks_tls_settings(setup: Setup, tmp_path: Path) -> None:
    s = setup
    add = ("modality", "add", "--host", "127.0.0.1", "--port", "104", "-p", "trial")
    s.w.cli(*add, "x1", "--ae-title", "X1", "--tls-ca", str(s.ca.cert), expect=2)  # no --tls
    s.w.cli(*add, "x2", "--ae-title", "X2", "--tls", "--tls-cert", str(s.client.cert), expect=2)
    missing = tmp_path / "missing.pem"
    result = s.w.cli(*add, "x3", "--ae-title", "X3", "--tls", "--tls-ca", str(missing), expect=1)
    assert "cannot load the modality x3 TLS CA certificates" in " ".join(result.output.split())
    loose = tmp_path / "client.key"
    loose.write_bytes(s.client.key.read_bytes())
    loose.chmod(0o640)
    result = s.w.cli(
        *add, "x4", "--ae-title", "X4", "--tls", "--tls-cert", str(s.client.cert),
        "--tls-key", str(loose), expect=1,
    )  # fmt: skip
    assert "readable by its owner only" in " ".join(result.output.split())
    assert "PRIVATE KEY" not in result.output
    names = {m["name"] for m in json.loads(s.w.cli("modality", "list", "--json").stdout)}
    assert not names & {"x1", "x2", "x3", "x4"}  # nothing registered by a refused add
