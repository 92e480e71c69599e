"""DIMSE over TLS (--dicom-tls-cert/--dicom-tls-key), with DCMTK's TLS client."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from dimse_world import World, world, write_study


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    base = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(base)
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
        w.start("--dicom-tls-cert", str(cert), "--dicom-tls-key", str(key))
        yield w, cert


def test_echo_and_store_over_tls(tls: tuple[World, Path], tmp_path: Path) -> None:
    w, cert = tls
    secure = ("+tla", "+cf", str(cert))  # anonymous client, server certificate trusted
    echo = w.scu("echoscu", "-v", *secure, calling="SCANNER", called="TRIAL")
    assert echo.returncode == 0, echo.stdout + echo.stderr
    [ds] = write_study(tmp_path, "T1", "Tls^One", dt.date(2024, 8, 8), [("MR", "x", 1)])
    store = w.scu(
        "storescu",
        *secure,
        calling="SCANNER",
        called="TRIAL",
        files=(str(tmp_path / f"{ds.SOPInstanceUID}.dcm"),),
    )
    assert store.returncode == 0, store.stdout + store.stderr
    w.wait_for_instances("trial", ds.StudyInstanceUID, 1)


def test_plain_tcp_is_refused_on_a_tls_port(tls: tuple[World, Path]) -> None:
    w, _ = tls
    result = w.scu("echoscu", "-to", "5", "-ta", "5", calling="SCANNER", called="TRIAL", timeout=30)
    assert result.returncode != 0
    assert "Association Request Failed" in result.stdout + result.stderr


def test_an_untrusted_server_certificate_is_refused_by_the_client(tls: tuple[World, Path]) -> None:
    w, _ = tls
    result = w.scu("echoscu", "+tla", calling="SCANNER", called="TRIAL")
    assert result.returncode != 0  # DCMTK verifies the server certificate by default
    assert "certificate verify failed" in result.stdout + result.stderr


def test_serve_refuses_unreadable_or_half_tls_settings(
    tls: tuple[World, Path], tmp_path: Path
) -> None:
    w, cert = tls
    missing = str(tmp_path / "missing.pem")
    result = w.cli("serve", "--dicom-tls-cert", str(cert), "--dicom-tls-key", missing, expect=1)
    assert "cannot load the DICOM TLS certificate or key" in result.output
    result = w.cli("serve", "--dicom-tls-cert", str(cert), expect=2)
    assert "go together" in result.output
