"""The de-identification stage: a hook between parse and store.

Projects that receive identified data will plug their profile in here (issue: PS3.15
de-identification). Until then the stage passes objects through unchanged, and it is
called on every path so that adding it later changes no caller.
"""

from __future__ import annotations

from vesalius.core.dicom.parse import ParsedObject
from vesalius.core.errors import RejectedObject


def deidentify(
    data: bytes, parsed: ParsedObject, *, profile: str | None
) -> tuple[bytes, ParsedObject]:
    """Return the bytes and facts to store; identity for projects without a profile.

    A project that names a profile this build cannot apply gets its objects
    quarantined, never stored as received: identified data must not pass silently.
    """
    if profile:
        raise RejectedObject(f"de-identification profile {profile!r} is not available")
    return data, parsed
