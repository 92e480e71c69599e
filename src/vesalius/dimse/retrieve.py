"""C-MOVE and C-GET as an SCP: stored objects sent byte for byte as they were stored.

pynetdicom runs the sub-operations (counting pending, completed, failed and warning
C-STOREs and answering with the right final status); the handlers here name the objects
and, for C-MOVE, the destination: a registered modality of the caller's project whose
AE title is the Move Destination, else 0xA801 (move destination unknown).

pynetdicom sends what a handler yields as a decoded dataset it encodes again, which is
not byte-identical in general (group lengths dropped, deflate recompressed). So the
handlers yield :class:`OutgoingObject` placeholders, and the associations that carry
the sub-operations get a ``send_c_store`` that sends a placeholder's stored dataset
bytes unchanged (pynetdicom's raw file sending, ``STORE_SEND_CHUNKED_DATASET``) on a
presentation context with the stored transfer syntax. Only when the peer accepted no
such context is the object decoded and sent in a transfer syntax it did accept (a
compressed one decompressed first); that is logged as not byte-identical.

C-MOVE associations to the destination call with the project's AE title and propose,
for each SOP class, its stored transfer syntaxes one context each, plus an uncompressed
fallback context. To a destination registered with TLS they go over TLS (a verifying
client context from :mod:`.tls`, built for each move); when its certificate does not
verify, or the TLS files cannot be read, nothing is sent, the mover gets 0xA801 (the
status pynetdicom gives any destination it cannot associate with) and the failure is
audited (``dimse.move.failed``: AE titles, host and the TLS reason, no PHI).
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification

from vesalius.archive import modalities
from vesalius.archive.modalities import ModalityView
from vesalius.archive.retrieve import StoredObject, objects_to_retrieve
from vesalius.core import audit
from vesalius.core.dicom.parse import dataset_offset
from vesalius.core.errors import ConfigError
from vesalius.core.home import Home
from vesalius.dimse.admission import Admission, Peer, set_nodelay
from vesalius.dimse.find import match_string
from vesalius.dimse.storage import part10
from vesalius.dimse.tls import modality_context

log = logging.getLogger("vesalius.dimse")

PENDING = 0xFF00
CANCELLED = 0xFE00
MAX_CONTEXTS = 128
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
SENDER_ATTRIBUTE = "_vesalius_raw_sender"


class NotAdmitted(Exception):
    """An association without a principal (should never happen; fails the request)."""


class OutgoingObject(Dataset):
    """Placeholder for one stored object to send; the raw sender sends its stored bytes.

    It carries SOP Class/Instance UID as elements so that pynetdicom can name it in a
    Failed SOP Instance UID List.
    """

    def __init__(self, stored: StoredObject) -> None:
        super().__init__()
        self.SOPClassUID = stored.sop_class_uid
        self.SOPInstanceUID = stored.sop_uid
        self._stored = stored

    @property
    def stored(self) -> StoredObject:
        return self._stored


def _guess_syntax(dataset: bytes) -> str:
    """Transfer syntax of a dataset stored without File Meta (old exports)."""
    vr = dataset[4:6]
    return ExplicitVRLittleEndian if vr.isalpha() and vr.isupper() else ImplicitVRLittleEndian


class RawSender:
    """Sends stored objects over an association as their stored bytes."""

    def __init__(self, home: Home, tmp_dir: Path) -> None:
        self.home = home
        self.tmp_dir = tmp_dir

    def install(self, assoc: Any, *, move_originator: str | None = None) -> None:
        """Give ``assoc`` a ``send_c_store`` that understands :class:`OutgoingObject`."""
        if getattr(assoc, SENDER_ATTRIBUTE, False):
            return
        original = assoc.send_c_store

        @functools.wraps(original)
        def send_c_store(
            dataset: Any,
            msg_id: int = 1,
            priority: int = 2,
            originator_aet: str | None = None,
            originator_id: int | None = None,
        ) -> Dataset:
            if not isinstance(dataset, OutgoingObject):
                return original(dataset, msg_id, priority, originator_aet, originator_id)
            return self.send(
                original,
                dataset.stored,
                msg_id=msg_id,
                priority=priority,
                # pynetdicom names itself; the originator is the AE that asked for the move
                originator_aet=move_originator or originator_aet,
                originator_id=originator_id,
            )

        assoc.send_c_store = send_c_store
        setattr(assoc, SENDER_ATTRIBUTE, True)

    def send(self, original: Any, stored: StoredObject, **kwargs: Any) -> Dataset:
        data = self.home.store.get(stored.blob_hash)
        offset = dataset_offset(data)
        dataset = data[offset:]
        syntax = stored.transfer_syntax_uid or _guess_syntax(dataset)
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, suffix=".dcm")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(
                    part10(
                        dataset,
                        sop_class_uid=stored.sop_class_uid,
                        sop_uid=stored.sop_uid,
                        transfer_syntax=syntax,
                        source_ae="",
                    )
                )
            try:
                return original(name, **kwargs)  # raw bytes; needs the exact context
            except ValueError:
                return self._send_converted(original, name, stored, syntax, **kwargs)
        finally:
            os.unlink(name)

    def _send_converted(
        self, original: Any, path: str, stored: StoredObject, syntax: str, **kwargs: Any
    ) -> Dataset:
        ds = dcmread(path)
        if UID(syntax).is_compressed:
            ds.decompress(generate_instance_uid=False)  # a lossless change keeps the UID
        log.warning(
            "object %s sent converted from %s (the peer accepted no context for it as "
            "stored): not byte-identical",
            stored.sop_uid,
            UID(syntax).name,
        )
        return original(ds, **kwargs)


def move_contexts(objects: list[StoredObject]) -> list[PresentationContext]:
    """Contexts to propose to a move destination: stored syntaxes, then fallbacks."""
    exact: dict[tuple[str, str], None] = {}
    fallback: dict[str, None] = {}
    for obj in objects:
        if not obj.sop_class_uid:
            continue
        syntax = obj.transfer_syntax_uid or ExplicitVRLittleEndian
        exact[(obj.sop_class_uid, syntax)] = None
        if syntax not in UNCOMPRESSED:
            fallback[obj.sop_class_uid] = None
    contexts = [build_context(sop, [syntax]) for sop, syntax in exact]
    contexts += [build_context(sop, list(UNCOMPRESSED)) for sop in fallback]
    if len(contexts) > MAX_CONTEXTS:
        log.warning("a move needs %d presentation contexts; proposing 128", len(contexts))
    return contexts[:MAX_CONTEXTS]


def _retrieve_keys(identifier: Dataset) -> tuple[str, dict[str, str]]:
    level = match_string(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    keys = {
        keyword: match_string(identifier.get(keyword))
        for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
        if keyword in identifier
    }
    return level, keys


class RetrieveService:
    def __init__(self, home: Home, admission: Admission, sender: RawSender) -> None:
        self.home = home
        self.admission = admission
        self.sender = sender

    def _objects(self, event: Any) -> tuple[Any, list[StoredObject]]:
        peer = self.admission.peer(event.assoc)
        if peer is None:
            raise NotAdmitted("association without a principal")
        level, keys = _retrieve_keys(event.identifier)
        with self.home.db.read() as session:
            objects = objects_to_retrieve(
                session, project_id=peer.principal.project_id, level=level, keys=keys
            )
        return peer, objects

    def on_move(self, event: Any) -> Iterator[Any]:
        peer = self.admission.peer(event.assoc)
        if peer is None:
            raise NotAdmitted("association without a principal")
        destination_ae = match_string(event.move_destination).strip()
        with self.home.db.read() as session:
            destination = modalities.move_destination(
                session, project_id=peer.principal.project_id, ae_title=destination_ae
            )
        if destination is None:
            log.info("C-MOVE refused: %r is not a registered destination", destination_ae)
            yield None, None  # pynetdicom answers 0xA801, move destination unknown
            return
        tls_args = None
        if destination.tls:
            try:
                context = modality_context(
                    destination,
                    on_failure=functools.partial(self._tls_failed, peer, destination),
                )
            except ConfigError as exc:
                self._move_failed(peer, destination, str(exc))
                yield None, None  # 0xA801: it cannot be reached as registered
                return
            tls_args = (context, destination.host)  # the host name its certificate must name
        peer, objects = self._objects(event)
        peer.count(retrieves=1, matched=len(objects))
        with peer.lock:
            peer.destinations.add(destination.ae_title)
        yield (
            destination.host,
            destination.port,
            {
                "contexts": move_contexts(objects) or [build_context(Verification)],
                "calling_ae": peer.principal.called_ae,
                "move_originator": peer.principal.calling_ae,
                "tls_args": tls_args,
            },
        )
        yield len(objects)
        yield from self._pending(event, objects)

    def _tls_failed(self, peer: Peer, destination: ModalityView, where: str, reason: str) -> None:
        """The destination's TLS handshake failed (called in the association's thread)."""
        self._move_failed(peer, destination, f"TLS handshake with {where} failed: {reason}")

    def _move_failed(self, peer: Peer, destination: ModalityView, reason: str) -> None:
        """Log and audit a C-MOVE that sent nothing because of the destination's TLS."""
        log.warning("C-MOVE to %s refused: %s", destination.ae_title, reason)
        detail = {
            "project": peer.principal.project_key,
            "called_ae": peer.principal.called_ae,
            "calling_ae": peer.principal.calling_ae,
            "destination": destination.ae_title,
            "modality": destination.name,
            "address": f"{destination.host}:{destination.port}",
            "reason": reason,
        }
        try:
            with self.home.db.write() as session, session.begin():
                audit.record(
                    session,
                    actor=f"ae:{peer.principal.calling_ae}",
                    action="dimse.move.failed",
                    target=f"project:{peer.principal.project_key}",
                    detail=detail,
                )
        except Exception:
            log.exception("could not audit a failed C-MOVE")

    def on_get(self, event: Any) -> Iterator[Any]:
        peer, objects = self._objects(event)
        peer.count(retrieves=1, matched=len(objects))
        self.sender.install(event.assoc)
        yield len(objects)
        yield from self._pending(event, objects)

    def _pending(self, event: Any, objects: list[StoredObject]) -> Iterator[Any]:
        for obj in objects:
            if event.is_cancelled:
                yield CANCELLED, None
                return
            yield PENDING, OutgoingObject(obj)


def _outgoing_connection(event: Any) -> None:
    set_nodelay(event.assoc)


OUTGOING_HANDLERS = [(evt.EVT_CONN_OPEN, _outgoing_connection)]
