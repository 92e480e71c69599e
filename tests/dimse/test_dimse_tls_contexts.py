"""The TLS contexts of vesalius.dimse.tls over real sockets: reports and time limits."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vesalius.core.errors import ConfigError
from vesalius.dimse import tls

from tls_pki import Authority


@contextmanager
def tls_listener(context: ssl.SSLContext) -> Iterator[tuple[int, list[object]]]:
    """Accept one connection and handshake as a server; yields (port, [result])."""
    listener = socket.create_server(("127.0.0.1", 0))
    outcome: list[object] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            wrapped = context.wrap_socket(conn, server_side=True)
        except OSError as exc:
            outcome.append(exc)
            return
        outcome.append(wrapped.gettimeout())
        wrapped.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcome
    finally:
        thread.join(10)
        listener.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Authority]:
    base = tmp_path_factory.mktemp("pki")
    return Authority(base, "Test CA"), Authority(base, "Other CA")


def test_a_silent_peer_is_dropped_after_the_handshake_time_limit(
    pki: tuple[Authority, Authority], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, _ = pki
    server = ca.issue("localhost")
    monkeypatch.setattr(tls, "HANDSHAKE_TIMEOUT", 0.5)
    reports: list[tuple[str, str]] = []
    context = tls.server_context(
        server.cert,
        server.key,
        ca=ca.cert,
        on_failure=lambda peer, reason: reports.append((peer, reason)),
    )
    with tls_listener(context) as (port, outcome), socket.create_connection(("127.0.0.1", port)):
        started = time.monotonic()
        deadline = started + 10
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.05)
    assert isinstance(outcome[0], TimeoutError)
    assert time.monotonic() - started < 5  # not held up for good
    [(peer, reason)] = reports
    assert peer.startswith("127.0.0.1:") and reason == "no handshake within 0.5 s"


def test_after_a_handshake_the_socket_blocks_again(pki: tuple[Authority, Authority]) -> None:
    ca, _ = pki
    server = ca.issue("pacs", hosts=("pacs.example",))
    context = tls.server_context(server.cert, server.key)
    client = tls.client_context(ca=ca.cert)
    with (
        tls_listener(context) as (port, outcome),
        socket.create_connection(("127.0.0.1", port)) as raw,
        client.wrap_socket(raw, server_hostname="pacs.example") as secure,
    ):
        assert secure.version() in ("TLSv1.2", "TLSv1.3")
    assert outcome == [None]  # the time limit is for the handshake only


@pytest.mark.parametrize(
    ("trusted", "name", "expected"),
    [
        ("other", "pacs.example", "certificate verify failed: unable to get local issuer"),
        ("ca", "ris.example", "certificate verify failed: Hostname mismatch"),
    ],
)
def test_the_client_verifies_the_certificate_and_name_and_reports_why_not(
    pki: tuple[Authority, Authority], trusted: str, name: str, expected: str
) -> None:
    ca, other = pki
    server = ca.issue("pacs", hosts=("pacs.example",))
    context = tls.server_context(server.cert, server.key)
    reports: list[tuple[str, str]] = []
    client = tls.client_context(
        ca=(ca if trusted == "ca" else other).cert,
        on_failure=lambda peer, reason: reports.append((peer, reason)),
    )
    with (
        tls_listener(context) as (port, _),
        socket.create_connection(("127.0.0.1", port)) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.wrap_socket(raw, server_hostname=name)
    [(peer, reason)] = reports
    assert peer == f"{name} (127.0.0.1:{port})"
    assert reason.startswith(expected), reason


def test_client_contexts_verify_and_need_both_halves_of_an_identity(
    pki: tuple[Authority, Authority], tmp_path: Path
) -> None:
    ca, _ = pki
    me = ca.issue("me")
    context = tls.client_context(ca=ca.cert, cert=me.cert, key=me.key)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    with pytest.raises(ConfigError, match="go together"):
        tls.client_context(ca=ca.cert, cert=me.cert)
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(ConfigError, match="cannot load the DICOM TLS CA certificates"):
        tls.client_context(ca=empty)
