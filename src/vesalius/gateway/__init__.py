"""The site gateway: de-identify at the hospital, deliver to the central archive.

A gateway is a vesalius home of its own at a site. Objects reach its local ``--deid``
project the usual ways (C-STORE through the DIMSE server, or a watched folder through the
intake pipeline), so what is stored there is already de-identified with the site's key
and vault; PHI never leaves the site. Every ``instance.stored`` event of that project
becomes a row of the gateway's durable outbox (:mod:`.outbox`), and the delivery worker
(:mod:`.worker`) sends the rows by STOW-RS to the central archive, per study in order,
recording each object's state before and after sending. The central archive treats a
re-sent identical object as a duplicate, so a crash between sending and recording ends
with exactly one copy there.
"""

from vesalius.gateway.model import GatewayItem, ItemState
from vesalius.gateway.status import gateway_status
from vesalius.gateway.transport import HttpStowTransport, StowResult, StowTransport
from vesalius.gateway.worker import DeliveryWorker, RetryPolicy

__all__ = [
    "DeliveryWorker",
    "GatewayItem",
    "HttpStowTransport",
    "ItemState",
    "RetryPolicy",
    "StowResult",
    "StowTransport",
    "gateway_status",
]
