"""The de-identification stage: between parse and store, for ``--deid`` projects.

Projects that receive identified data (``vesalius project create KEY --deid``) have an
:class:`~vesalius.deid.intake.IntakeSpec`; their objects leave this stage de-identified
(PS3.15 profile, keyed pseudonyms, research subject IDs and date offsets from the
vault), so the storage area and the index (DICOM JSON, subject rows) only ever see the
de-identified object. What the engine cannot make safe raises ``RejectedObject`` and is
quarantined *sealed* (:func:`seal_rejected`): the identified bytes are kept for a broker
or an administrator to repair, but never in the clear.

Projects without a spec pass objects through unchanged. What a re-checking project (a
central archive, :mod:`vesalius.deid.recheck`) refuses is sealed the same way, with a
:class:`QuarantineSeal`: an object whose de-identification could not be confirmed is
suspected identified data.
"""

from __future__ import annotations

from dataclasses import dataclass

from vesalius.core.config import Settings
from vesalius.core.db import Database
from vesalius.core.dicom.parse import ParsedObject, parse_object
from vesalius.core.errors import ConfigError
from vesalius.core.sealing import MasterKey, seal, unseal
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


@dataclass(frozen=True)
class QuarantineSeal:
    """What sealing a refused object needs in a project that does not de-identify
    (picklable, for import's worker processes): the home's master key and the project,
    bound as associated data exactly as for a ``--deid`` project's refusals, so that
    :func:`unseal_rejected` opens both kinds."""

    project: str
    master_key: bytes


def quarantine_seal(settings: Settings | None, project: str) -> QuarantineSeal:
    """The seal for what ``project`` re-checks and refuses: the home's vault master key,
    created on first need (mode 0600, as ``--deid`` creates it) unless it comes from
    ``VESALIUS_VAULT_KEY``. Without the home's settings there is no key, and refused
    objects must not be kept in the clear instead."""
    if settings is None:
        raise ConfigError(
            f"project {project!r} re-checks what it receives: the home's vault key is needed "
            "to quarantine what fails"
        )
    return QuarantineSeal(project=project, master_key=MasterKey(settings).require())


def seal_rejected(spec: IntakeSpec | QuarantineSeal, data: bytes) -> bytes:
    """A refused object that is (or may be) identified, sealed for the quarantine."""
    return seal(spec.master_key, data, _QUARANTINE_CONTEXT + spec.project.encode())


def unseal_rejected(master_key: bytes, project: str, sealed: bytes) -> bytes:
    """The identified bytes of a sealed quarantined object (broker or administrator use)."""
    return unseal(master_key, sealed, _QUARANTINE_CONTEXT + project.encode())
