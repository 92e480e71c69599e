"""TLS for DIMSE: the server's context and the contexts of outgoing C-MOVE associations.

Server side (``serve --dicom-tls-cert/--dicom-tls-key``): TLS 1.2 or newer; with
``--dicom-tls-ca`` every peer must present a client certificate issued by that CA
(mutual TLS), so a peer without one never gets as far as an A-ASSOCIATE-RQ and nothing
of any project is reachable to it. The AE-title admission still applies on top.

Client side (a modality registered with ``--tls``): C-MOVE sub-associations to it are
made over TLS with certificate verification always on, against its ``--tls-ca`` or the
system's CAs, and the host name it was registered with checked against the certificate.
A client certificate (``--tls-cert/--tls-key``) is presented when given.

Private keys are secrets: their files must be readable by their owner only
(:func:`vesalius.core.secret_files.require_owner_only`).

A failed handshake is invisible in pynetdicom (the server drops the connection in its
accept loop; a requestor only logs it), so the contexts built here use a socket class
that reports why a handshake failed to a callback: the server logs it, C-MOVE audits
it. Handshakes get a time limit, since pynetdicom runs the server's handshakes in the
thread that accepts connections: a peer that connects and stays silent would
otherwise hold every other caller up.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from vesalius.archive.modalities import ModalityView
from vesalius.core.errors import ConfigError
from vesalius.core.secret_files import require_owner_only

log = logging.getLogger("vesalius.dimse")

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
HANDSHAKE_TIMEOUT = 15.0  # seconds; a real handshake takes milliseconds

# (peer, reason): who it was (address, or host name for outgoing) and why it failed
HandshakeReport = Callable[[str, str], None]


def failure_reason(exc: BaseException) -> str:
    """Why a handshake failed, in words fit for a log and the audit (no PHI in TLS)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc.strerror or type(exc).__name__)
    if isinstance(exc, TimeoutError):
        return f"no handshake within {HANDSHAKE_TIMEOUT:g} s"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


class _ReportingSocket(ssl.SSLSocket):
    """An SSL socket that tells its context's ``on_failure`` why a handshake failed."""

    def do_handshake(self, block: bool = False) -> None:
        previous = self.gettimeout()
        if previous is None:
            self.settimeout(HANDSHAKE_TIMEOUT)
        try:
            super().do_handshake(block)
        except OSError as exc:
            context = self.context
            if isinstance(context, ReportingContext):
                context.report(self, exc)
            raise
        finally:
            self.settimeout(previous)


class ReportingContext(ssl.SSLContext):
    """An SSL context whose sockets report failed handshakes to ``on_failure``."""

    sslsocket_class = _ReportingSocket
    on_failure: HandshakeReport | None = None

    def report(self, sock: ssl.SSLSocket, exc: OSError) -> None:
        if self.on_failure is None:
            return
        name = sock.server_hostname or ""  # outgoing: the name the certificate must match
        try:
            host, port = sock.getpeername()[:2]
            peer = f"{host}:{port}"
        except OSError:
            host, peer = "", name or "?"
        if name and name != host:
            peer = f"{name} ({peer})"
        try:
            self.on_failure(peer, failure_reason(exc))
        except Exception:  # a report must never change what the handshake does
            log.exception("could not report a failed TLS handshake")


def _load_identity(context: ssl.SSLContext, cert: Path, key: Path, what: str) -> None:
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the {what} certificate or key: {exc}") from None
    require_owner_only(key, what=f"the {what} private key")


def _load_trust(context: ssl.SSLContext, ca: Path, what: str) -> None:
    try:
        context.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the {what} CA certificates from {ca}: {exc}") from None
    if not context.cert_store_stats()["x509"]:
        raise ConfigError(f"cannot load the {what} CA certificates from {ca}: it holds none")


def _log_refused(peer: str, reason: str) -> None:
    log.warning("DIMSE TLS handshake with %s refused: %s", peer, reason)


def server_context(
    cert: Path,
    key: Path,
    *,
    ca: Path | None = None,
    on_failure: HandshakeReport | None = None,
) -> ReportingContext:
    """The DIMSE server's context; with ``ca``, peers need a certificate issued by it.

    Refused handshakes go to ``on_failure``, by default a warning in the log (the
    peer's address and the reason), the only trace pynetdicom would otherwise leave.
    """
    context = ReportingContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    _load_identity(context, cert, key, "DICOM TLS")
    if ca is not None:
        _load_trust(context, ca, "DICOM TLS")
        context.verify_mode = ssl.CERT_REQUIRED
    context.on_failure = on_failure or _log_refused
    return context


tls_context = server_context  # the name ``serve`` has always imported


def client_context(
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    what: str = "DICOM TLS",
    on_failure: HandshakeReport | None = None,
) -> ReportingContext:
    """A verifying client context: ``ca`` (else the system's CAs), optional identity.

    Verification and host name checking are on (``PROTOCOL_TLS_CLIENT``'s defaults) and
    cannot be turned off here: a peer with a self-signed certificate is trusted by
    giving that certificate as ``ca``.
    """
    if (cert is None) != (key is None):
        raise ConfigError(f"the {what} client certificate and key go together")
    context = ReportingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = MINIMUM_VERSION
    if ca is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_trust(context, ca, what)
    if cert is not None and key is not None:
        _load_identity(context, cert, key, what)
    context.on_failure = on_failure
    return context


def modality_context(
    modality: ModalityView, *, on_failure: HandshakeReport | None = None
) -> ReportingContext:
    """The client context for C-MOVE associations to a modality registered with TLS.

    Built for each move, so that renewed certificates and keys are used without a
    restart (and a key whose mode was loosened is refused from then on).
    """

    def path(value: str | None) -> Path | None:
        return None if value is None else Path(value)

    return client_context(
        ca=path(modality.tls_ca),
        cert=path(modality.tls_cert),
        key=path(modality.tls_key),
        what=f"modality {modality.name} TLS",
        on_failure=on_failure,
    )
