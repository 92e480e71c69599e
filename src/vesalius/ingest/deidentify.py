"""The de-identification stage: between parse and store, for ``--deid`` projects.

Projects that receive identified data (``vesalius project create KEY --deid``) have an
:class:`~vesalius.deid.intake.IntakeSpec`; their objects leave this stage de-identified
(PS3.15 profile, keyed pseudonyms, research subject IDs and date offsets from the
vault), so the storage area and the index (DICOM JSON, subject rows) only ever see the
de-identified object. What the engine cannot make safe raises ``RejectedObject`` and is
quarantined *sealed* (:func:`seal_rejected`): the identified bytes are kept for a broker
or an administrator to repair, but never in the clear.

Projects without a spec pass objects through unchanged.
"""

from __future__ import annotations

from vesalius.core.db import Database
from vesalius.core.dicom.parse import ParsedObject, parse_object
from vesalius.core.sealing import seal, unseal
from vesalius.deid.intake import IntakeSpec, deidentifier_for
from vesalius.deid.vault import LinkRow

_QUARANTINE_CONTEXT = b"vesalius:quarantine:v1\x00"


def deidentify(
    data: bytes, parsed: ParsedObject, *, spec: IntakeSpec | None, db: Database | None = None
) -> tuple[bytes, ParsedObject, tuple[LinkRow, ...]]:
    """The bytes and facts to store, and the vault links to record with them.

    ``db`` is the database for vault assignments (a worker process opens its own when
    None). Raises ``RejectedObject`` for objects that cannot be made safe.
    """
    if spec is None:
        return data, parsed, ()
    out, links = deidentifier_for(spec, db).run(data)
    return out, parse_object(out), links


def seal_rejected(spec: IntakeSpec, data: bytes) -> bytes:
    """An identified object refused by a ``--deid`` project, sealed for the quarantine."""
    return seal(spec.master_key, data, _QUARANTINE_CONTEXT + spec.project.encode())


def unseal_rejected(master_key: bytes, project: str, sealed: bytes) -> bytes:
    """The identified bytes of a sealed quarantined object (broker or administrator use)."""
    return unseal(master_key, sealed, _QUARANTINE_CONTEXT + project.encode())
