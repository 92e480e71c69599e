"""DIMSE interface: a pynetdicom SCP for C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET.

One listening port; each project answers on its own AE title and only its registered
modalities may call it (DESIGN.md, DIMSE principal). Handlers are thin: admission and
retrieval decisions come from :mod:`vesalius.archive`, queries from
:mod:`vesalius.archive.query`, received objects go through :mod:`vesalius.ingest`.
"""

from vesalius.dimse.server import DimseServer
from vesalius.dimse.tls import client_context, modality_context, server_context, tls_context

__all__ = ["DimseServer", "client_context", "modality_context", "server_context", "tls_context"]
