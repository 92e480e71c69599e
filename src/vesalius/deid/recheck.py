"""The central archive's second look at de-identified objects it receives.

A project created with ``--recheck-deid`` (a central archive taking what site gateways
deliver) does not trust the sender's de-identification: every object it receives goes
through the header checks of :mod:`vesalius.deid.verify` (marks, Table E.1-1 attributes
under the declared options, File Meta, private attributes, person names, dates, text
patterns) before it is stored; OCR is not run, because it is slow, and the sites have
already cleaned pixels at risk. An object with findings is quarantined with a reason
that names attributes and kinds of problem, never values, since the reason travels back
to the sender in the STOW-RS response; its bytes are quarantined sealed with the home's
vault master key (``vesalius.ingest.pipeline.prepare``), as suspected identified data.
"""

from __future__ import annotations

import threading

from vesalius.core.errors import RejectedObject
from vesalius.deid.verify import Verifier

REASON_PREFIX = "residual identifiers"
_local = threading.local()


def _verifier() -> Verifier:
    verifier: Verifier | None = getattr(_local, "verifier", None)
    if verifier is None:
        verifier = _local.verifier = Verifier(ocr=False)
    return verifier


def recheck(data: bytes) -> None:
    """Raise ``RejectedObject`` if the header check finds residual identifiers in ``data``."""
    findings = _verifier().verify_bytes(data, "received")
    if not findings:
        return
    names = list(dict.fromkeys(f.keyword or f.tag or f.category for f in findings))
    shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
    raise RejectedObject(f"{REASON_PREFIX}: {shown}")
