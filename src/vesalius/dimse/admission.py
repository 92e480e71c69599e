"""Who may associate: one listening port, one AE title per project, registered callers.

The decision is made on the A-ASSOCIATE-RQ (``evt.EVT_REQUESTED``), before any
presentation context is negotiated: an unknown called AE title is answered with an
A-ASSOCIATE-RJ "called AE title not recognised", an unregistered calling AE title with
"calling AE title not recognised" (both rejected-permanent, DUL service user). If the
decision itself fails (database away) the answer is rejected-transient, never an
accepted association: the handlers behind it refuse to work without a principal too.

Each accepted association gets a :class:`Peer` (its principal and what it did); when
the connection closes, a summary is appended to the audit log (no PHI: AE titles and
counts).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import evt

from vesalius.archive import modalities
from vesalius.archive.modalities import Principal
from vesalius.core import audit
from vesalius.core.errors import NotFound, PermissionDenied
from vesalius.core.home import Home

log = logging.getLogger("vesalius.dimse")

REJECTED_PERMANENT, REJECTED_TRANSIENT = 0x01, 0x02
SERVICE_USER = 0x01
NO_REASON, CALLING_AE_NOT_RECOGNISED, CALLED_AE_NOT_RECOGNISED = 0x01, 0x03, 0x07


@dataclass
class Peer:
    """An accepted association's principal and counts of what it did (for the audit)."""

    principal: Principal
    address: str
    stored: int = 0
    store_failures: int = 0
    queries: int = 0
    retrieves: int = 0
    matched: int = 0
    destinations: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    @property
    def busy(self) -> bool:
        return bool(self.stored or self.store_failures or self.queries or self.retrieves)


class Admission:
    """The association gate and the registry of accepted peers."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._peers: weakref.WeakKeyDictionary[Any, Peer] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def handlers(self) -> list[tuple[Any, Callable[..., Any]]]:
        return [
            (evt.EVT_CONN_OPEN, self.on_connection),
            (evt.EVT_REQUESTED, self.on_requested),
            (evt.EVT_CONN_CLOSE, self.on_closed),
        ]

    def peer(self, assoc: Any) -> Peer | None:
        with self._lock:
            return self._peers.get(assoc)

    def on_connection(self, event: Any) -> None:
        set_nodelay(event.assoc)

    def on_requested(self, event: Any) -> None:
        assoc = event.assoc
        request = assoc.requestor.primitive
        called = str(request.called_ae_title or "").strip()
        calling = str(request.calling_ae_title or "").strip()
        address = f"{assoc.requestor.address}:{assoc.requestor.port}"
        try:
            with self.home.db.read() as session:
                principal = modalities.admit(session, called_ae=called, calling_ae=calling)
        except NotFound:
            self._reject(assoc, REJECTED_PERMANENT, CALLED_AE_NOT_RECOGNISED)
            self._audit_rejection(called, calling, address, "called AE title not recognised")
            return
        except PermissionDenied:
            self._reject(assoc, REJECTED_PERMANENT, CALLING_AE_NOT_RECOGNISED)
            self._audit_rejection(called, calling, address, "calling AE title not recognised")
            return
        except Exception:
            log.exception("could not decide on an association request; rejecting it")
            self._reject(assoc, REJECTED_TRANSIENT, NO_REASON)
            return
        assoc.acceptor.ae_title = principal.called_ae
        with self._lock:
            self._peers[assoc] = Peer(principal=principal, address=address)

    def on_closed(self, event: Any) -> None:
        with self._lock:
            peer = self._peers.pop(event.assoc, None)
        if peer is None or not peer.busy:
            return
        detail = {
            "project": peer.principal.project_key,
            "called_ae": peer.principal.called_ae,
            "calling_ae": peer.principal.calling_ae,
            "modality": peer.principal.modality,
            "address": peer.address,
            "stored": peer.stored,
            "store_failures": peer.store_failures,
            "queries": peer.queries,
            "retrieves": peer.retrieves,
            "matched": peer.matched,
            "destinations": sorted(peer.destinations),
        }
        self._audit("dimse.association", peer.principal.calling_ae, detail)

    def _reject(self, assoc: Any, result: int, diagnostic: int) -> None:
        assoc.acse.send_reject(result, SERVICE_USER, diagnostic)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()  # waits until the A-ASSOCIATE-RJ is out and the peer has closed

    def _audit_rejection(self, called: str, calling: str, address: str, reason: str) -> None:
        detail = {"called_ae": called, "calling_ae": calling, "address": address, "reason": reason}
        self._audit("dimse.reject", calling, detail)

    def _audit(self, action: str, calling_ae: str, detail: dict[str, Any]) -> None:
        try:
            with self.home.db.write() as session, session.begin():
                audit.record(
                    session,
                    actor=f"ae:{calling_ae}",
                    action=action,
                    target=f"project:{detail['project']}" if "project" in detail else "",
                    detail=detail,
                )
        except Exception:
            log.exception("could not audit a DIMSE association")


def set_nodelay(assoc: Any) -> None:
    """Send small PDUs (responses) at once instead of waiting for Nagle's algorithm."""
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # not a TCP socket, or already closed
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
