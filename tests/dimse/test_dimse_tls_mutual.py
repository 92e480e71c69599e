"""Mutual TLS on the DIMSE server (--dicom-tls-ca), with DCMTK's TLS clients.

A peer with a client certificate from the configured CA can echo, store and find; one
without a certificate, or with one from another CA, fails the handshake and reaches
nothing of the project.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from dimse_world import World, world, write_study
from pydicom.dataset import Dataset

from tls_pki import Authority, Identity


@dataclass
class Mutual:
    w: World
    ca: Authority
    client: Identity  # issued by ca
    stranger: Identity  # issued by another CA
    server: Identity
    stored: list[Dataset]  # stored over mutual TLS by the first test


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mutual]:
    base = tmp_path_factory.mktemp("mtls")
    ca = Authority(base / "pki", "Test CA")
    other = Authority(base / "pki", "Other CA")
    server = ca.issue("localhost")
    with world(base) as w:
        w.cli("project", "create", "trial")
        w.cli(
            "modality",
            "add",
            "scanner",
            "--ae-title",
            "SCANNER",
            "--host",
            "127.0.0.1",
            "--port",
            "11104",
            "-p",
            "trial",
        )
        w.start(
            "--dicom-tls-cert",
            str(server.cert),
            "--dicom-tls-key",
            str(server.key),
            "--dicom-tls-ca",
            str(ca.cert),
        )
        yield Mutual(w, ca, ca.issue("scanner"), other.issue("scanner"), server, [])


def client_tls(m: Mutual, identity: Identity | None) -> tuple[str, ...]:
    """DCMTK TLS options: present ``identity`` (None: no certificate), trust our CA."""
    own = ("+tla",) if identity is None else ("+tls", str(identity.key), str(identity.cert))
    return (*own, "+cf", str(m.ca.cert))


def find_studies(m: Mutual, identity: Identity | None, out: Path):
    out.mkdir()
    return m.w.scu(
        "findscu",
        "-S",
        "-X",
        "-od",
        str(out),
        *client_tls(m, identity),
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID",
        "-k",
        "PatientID",
        calling="SCANNER",
        called="TRIAL",
        timeout=30,
    )


def test_a_client_certificate_from_the_ca_can_echo_store_and_find(
    mutual: Mutual, tmp_path: Path
) -> None:
    m = mutual
    secure = client_tls(m, m.client)
    echo = m.w.scu("echoscu", *secure, calling="SCANNER", called="TRIAL")
    assert echo.returncode == 0, echo.stdout + echo.stderr
    datasets = write_study(tmp_path, "M1", "Mutual^One", dt.date(2024, 9, 9), [("CT", "x", 2)])
    store = m.w.scu(
        "storescu",
        *secure,
        calling="SCANNER",
        called="TRIAL",
        files=tuple(str(tmp_path / f"{ds.SOPInstanceUID}.dcm") for ds in datasets),
    )
    assert store.returncode == 0, store.stdout + store.stderr
    m.w.wait_for_instances("trial", datasets[0].StudyInstanceUID, 2)
    m.stored.extend(datasets)
    result = find_studies(m, m.client, tmp_path / "found")
    assert result.returncode == 0, result.stdout + result.stderr
    found = [pydicom.dcmread(p) for p in (tmp_path / "found").glob("rsp*.dcm")]
    assert [ds.StudyInstanceUID for ds in found] == [datasets[0].StudyInstanceUID]


@pytest.mark.parametrize("who", ["no certificate", "another CA"])
def test_a_peer_without_a_certificate_from_the_ca_reaches_nothing(
    mutual: Mutual, tmp_path: Path, who: str
) -> None:
    m = mutual
    identity = None if who == "no certificate" else m.stranger
    secure = client_tls(m, identity)
    before = m.w.log().count("DIMSE TLS handshake with 127.0.0.1:")

    echo = m.w.scu("echoscu", "-to", "10", *secure, calling="SCANNER", called="TRIAL")
    assert echo.returncode != 0
    assert "Association Request Failed" in echo.stdout + echo.stderr

    [ds] = write_study(tmp_path, "M2", "Refused^Two", dt.date(2024, 9, 10), [("MR", "y", 1)])
    store = m.w.scu(
        "storescu",
        "-to",
        "10",
        *secure,
        calling="SCANNER",
        called="TRIAL",
        files=(str(tmp_path / f"{ds.SOPInstanceUID}.dcm"),),
    )
    assert store.returncode != 0
    result = find_studies(m, identity, tmp_path / "found")
    assert result.returncode != 0
    assert not list((tmp_path / "found").iterdir())  # no answer, not even an empty one

    # the same client with a certificate from the CA still works: the refusal was TLS
    assert (
        m.w.scu("echoscu", *client_tls(m, m.client), calling="SCANNER", called="TRIAL").returncode
        == 0
    )
    assert m.w.instance_count("trial", ds.StudyInstanceUID) == 0
    if m.stored:
        assert m.w.instance_count("trial", m.stored[0].StudyInstanceUID) == 2
    # the server says why (operators see refused handshakes); three refused connections
    log = m.w.log()
    assert log.count("DIMSE TLS handshake with 127.0.0.1:") - before >= 3
    reasons = re.findall(r"DIMSE TLS handshake with 127\.0\.0\.1:\d+ refused: (.*)", log)
    expected = "PEER_DID_NOT_RETURN_A_CERTIFICATE" if identity is None else "certificate verify"
    assert any(expected in reason for reason in reasons), reasons


def test_plain_tcp_is_refused_on_a_mutual_tls_port(mutual: Mutual) -> None:
    result = mutual.w.scu(
        "echoscu", "-to", "5", "-ta", "5", calling="SCANNER", called="TRIAL", timeout=30
    )
    assert result.returncode != 0


def flat(text: str) -> str:
    """Command output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_serve_checks_the_ca_option(mutual: Mutual, tmp_path: Path) -> None:
    m = mutual
    tls = ("--dicom-tls-cert", str(m.server.cert), "--dicom-tls-key", str(m.server.key))
    result = m.w.cli("serve", "--dicom-tls-ca", str(m.ca.cert), expect=2)
    assert "--dicom-tls-ca needs --dicom-tls-cert" in flat(result.output)
    missing = tmp_path / "missing-ca.pem"
    result = m.w.cli("serve", *tls, "--dicom-tls-ca", str(missing), expect=1)
    assert "cannot load the DICOM TLS CA certificates" in flat(result.output)
    assert str(missing) in flat(result.output)
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    result = m.w.cli("serve", *tls, "--dicom-tls-ca", str(empty), expect=1)
    assert "cannot load the DICOM TLS CA certificates" in flat(result.output)


def test_serve_refuses_a_private_key_others_may_read(mutual: Mutual, tmp_path: Path) -> None:
    m = mutual
    loose = tmp_path / "server.key"
    loose.write_bytes(m.server.key.read_bytes())
    loose.chmod(0o644)
    result = m.w.cli(
        "serve", "--dicom-tls-cert", str(m.server.cert), "--dicom-tls-key", str(loose), expect=1
    )
    assert "readable by its owner only" in flat(result.output)
    assert "PRIVATE KEY" not in result.output  # the path and mode, never the content
