"""C-ECHO and C-STORE as an SCP.

A received object is kept exactly as it arrived: the Part 10 bytes are a File Meta
group written here (transfer syntax of the presentation context, the caller's AE title
as Source AE) followed by the dataset bytes of the C-STORE request, never decoded and
re-encoded. Success (0x0000) is answered only once those bytes are durably in the spool
(write, fsync, rename); the rest of the intake chain runs on a worker thread.

Statuses: 0x0000 once spooled, also for an object the pipeline will quarantine later
(it is durably kept, and the quarantine says why; a warning status would tell the
sender nothing it could act on); 0xA700 (out of resources) when the spool cannot be
written; 0xC210 (cannot understand) when the request carries no usable dataset;
0x0124 (not authorised) should an association somehow lack a principal.
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom.dataset import FileMetaDataset
from pynetdicom.dsutils import encode_file_meta

from vesalius import __version__
from vesalius.core.dicom.synthetic import ROOT
from vesalius.core.errors import StorageError
from vesalius.dimse.admission import Admission
from vesalius.dimse.intake import Intake
from vesalius.ingest.context import IntakeContext
from vesalius.ingest.spool import Spool

log = logging.getLogger("vesalius.dimse")

SUCCESS = 0x0000
NOT_AUTHORISED = 0x0124
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC210
IMPLEMENTATION_CLASS_UID = ROOT + "1"
IMPLEMENTATION_VERSION = f"VESALIUS_{__version__}"[:16]


def part10(
    dataset: bytes, *, sop_class_uid: str, sop_uid: str, transfer_syntax: str, source_ae: str
) -> bytes:
    """Preamble, File Meta group and the dataset bytes exactly as given."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    if source_ae:
        meta.SourceApplicationEntityTitle = source_ae
    return b"".join((b"\x00" * 128, b"DICM", encode_file_meta(meta), dataset))


class StorageService:
    def __init__(self, admission: Admission, spool: Spool, worker: Intake) -> None:
        self.admission = admission
        self.spool = spool
        self.worker = worker

    def on_echo(self, event: Any) -> int:
        return SUCCESS if self.admission.peer(event.assoc) is not None else NOT_AUTHORISED

    def on_store(self, event: Any) -> int:
        peer = self.admission.peer(event.assoc)
        if peer is None:
            return NOT_AUTHORISED
        principal = peer.principal
        try:
            request = event.request
            data = part10(
                event.encoded_dataset(include_meta=False),
                sop_class_uid=str(request.AffectedSOPClassUID),
                sop_uid=str(request.AffectedSOPInstanceUID),
                transfer_syntax=str(event.context.transfer_syntax),
                source_ae=principal.calling_ae,
            )
        except Exception:
            log.exception("a C-STORE request without a usable dataset")
            peer.count(store_failures=1)
            return CANNOT_UNDERSTAND
        context = IntakeContext(
            source="c-store",
            actor=f"ae:{principal.calling_ae}",
            project_key=principal.project_key,
            calling_ae=principal.calling_ae,
            called_ae=principal.called_ae,
        )
        try:
            entry = self.spool.write(data, context)
        except StorageError as exc:
            log.error("C-STORE refused: %s", exc)
            peer.count(store_failures=1)
            return OUT_OF_RESOURCES
        except Exception:
            log.exception("C-STORE refused: the spool failed")
            peer.count(store_failures=1)
            return OUT_OF_RESOURCES
        self.worker.submit(entry)
        peer.count(stored=1)
        return SUCCESS
