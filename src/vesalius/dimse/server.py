"""The DIMSE server: one pynetdicom AE on one port, answering for every project.

``serve`` builds a :class:`DimseServer` and the web app starts and stops it with its
own lifespan, after the spool left by an earlier run has been drained, so the two
never work on the same spool entries. What C-STORE spools is parsed, stored and indexed
in a child process (:mod:`.intake_process`: the GIL would otherwise make every
association wait for the intake), or in a thread when the settings could not be rebuilt
in a child.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from typing import Any

from pydicom.uid import (
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom._globals import DEFAULT_MAX_LENGTH
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from vesalius.core.errors import ConfigError
from vesalius.core.home import Home
from vesalius.dimse.admission import Admission
from vesalius.dimse.find import FindService
from vesalius.dimse.intake import Intake, SpoolWorker
from vesalius.dimse.intake_process import IntakeProcess, settings_reproducible
from vesalius.dimse.retrieve import OUTGOING_HANDLERS, RawSender, RetrieveService
from vesalius.dimse.storage import StorageService
from vesalius.ingest.spool import Spool

log = logging.getLogger("vesalius.dimse")

SERVER_AE_TITLE = "VESALIUS"
MAX_ASSOCIATIONS = 64
MAX_PDU = 256 * 1024
# Where a peer proposes several transfer syntaxes in one context, pynetdicom takes the
# first of ours that it proposed: explicit VR first, then lossless compression, then the
# rest; lossy ones last, so that no sender is asked to compress an image lossily.
TRANSFER_SYNTAXES = list(
    dict.fromkeys(
        [
            ExplicitVRLittleEndian,
            JPEGLosslessSV1,
            JPEGLossless,
            JPEGLSLossless,
            JPEG2000Lossless,
            HTJ2KLossless,
            HTJ2KLosslessRPCL,
            RLELossless,
            DeflatedExplicitVRLittleEndian,
            ImplicitVRLittleEndian,
            ExplicitVRBigEndian,
            *AllTransferSyntaxes,
        ]
    )
)
QUERY_RETRIEVE = (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelGet,
)


class ArchiveAE(AE):
    """The server's AE. Outgoing C-MOVE associations call with the project's AE title
    (``calling_ae``) and send stored objects as stored (see :mod:`.retrieve`)."""

    def __init__(self, sender: RawSender) -> None:
        super().__init__(ae_title=SERVER_AE_TITLE)
        self._sender = sender

    def associate(  # type: ignore[override]
        self,
        addr: Any,
        port: int,
        contexts: Any = None,
        ae_title: str = "ANY-SCP",
        max_pdu: int = DEFAULT_MAX_LENGTH,
        ext_neg: Any = None,
        bind_address: Any = None,
        tls_args: Any = None,
        evt_handlers: Any = None,
        *,
        calling_ae: str | None = None,
        move_originator: str | None = None,
    ) -> Any:
        handlers = [*(evt_handlers or []), *OUTGOING_HANDLERS]
        ae: AE = self
        if calling_ae is not None:
            ae = AE(ae_title=calling_ae)
            for name in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
                setattr(ae, name, getattr(self, name))
        assoc = AE.associate(
            ae,
            addr,
            port,
            contexts=contexts,
            ae_title=ae_title,
            max_pdu=max_pdu,
            ext_neg=ext_neg,
            bind_address=bind_address,
            tls_args=tls_args,
            evt_handlers=handlers,
        )
        if assoc.is_established:
            self._sender.install(assoc, move_originator=move_originator)
        return assoc


class DimseServer:
    """C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET for all projects of one home."""

    def __init__(
        self,
        home: Home,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        intake: str = "process",
    ) -> None:
        self.home = home
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.spool = Spool.for_home(home.settings)
        self.tmp_dir = home.settings.home / "tmp" / "dimse"
        self.worker: Intake
        if intake == "process" and settings_reproducible(home.settings):
            self.worker = IntakeProcess(home.settings)
        else:  # the intake chain in a thread of this process (see .intake_process)
            self.worker = SpoolWorker(home, self.spool)
        self.admission = Admission(home)
        self.sender = RawSender(home, self.tmp_dir)
        self.storage = StorageService(self.admission, self.spool, self.worker)
        self.find = FindService(home, self.admission)
        self.retrieve = RetrieveService(home, self.admission, self.sender)
        self.ae = self._build_ae()
        self._server: Any = None

    def _build_ae(self) -> ArchiveAE:
        ae = ArchiveAE(self.sender)
        ae.maximum_associations = MAX_ASSOCIATIONS
        ae.maximum_pdu_size = MAX_PDU
        ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            # scu/scp_role: accept the role a C-GET requestor proposes (it is the SCP then)
            ae.add_supported_context(
                context.abstract_syntax, TRANSFER_SYNTAXES, scu_role=True, scp_role=True
            )
        for sop_class in QUERY_RETRIEVE:
            ae.add_supported_context(sop_class)
        return ae

    def check_address(self) -> None:
        """Fail early, with a clear message, when the DIMSE address cannot be bound."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen for DICOM on {self.host}:{self.port}: {exc.strerror}"
                ) from None

    def handlers(self) -> list[tuple[Any, Any]]:
        return [
            *self.admission.handlers(),
            (evt.EVT_C_ECHO, self.storage.on_echo),
            (evt.EVT_C_STORE, self.storage.on_store),
            (evt.EVT_C_FIND, self.find.on_find),
            (evt.EVT_C_MOVE, self.retrieve.on_move),
            (evt.EVT_C_GET, self.retrieve.on_get),
        ]

    def start(self) -> None:
        # Identifiers carry PHI: pynetdicom must not log them. Stored objects go out raw.
        _config.LOG_REQUEST_IDENTIFIERS = False
        _config.LOG_RESPONSE_IDENTIFIERS = False
        _config.STORE_SEND_CHUNKED_DATASET = True
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        self.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.tmp_dir, 0o700)
        for leftover in self.tmp_dir.iterdir():  # copies an earlier run was sending
            leftover.unlink(missing_ok=True)
        self.worker.start()
        try:
            self._server = self.ae.start_server(
                (self.host, self.port),
                block=False,
                evt_handlers=self.handlers(),
                ssl_context=self.ssl_context,
            )
        except OSError as exc:
            self.worker.stop(timeout=0)
            raise ConfigError(
                f"cannot listen for DICOM on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        log.info(
            "DIMSE listening on %s:%d%s",
            self.host,
            self.port,
            " (TLS)" if self.ssl_context else "",
        )

    def stop(self) -> None:
        """Stop listening, end open associations, then finish or leave queued objects."""
        if self._server is not None:
            self.ae.shutdown()
            self._server = None
        self.worker.stop()
        log.info("DIMSE stopped")
