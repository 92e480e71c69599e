"""Everything derived from a project's secret key: UIDs, date offsets, default subject IDs.

All three are keyed HMAC-SHA256 values, so any node holding the same key derives the same
pseudonyms without sharing state (DESIGN.md, "Determinism"), and without the key they
cannot be reversed or recomputed by a dictionary attack over patient IDs. Each use has its
own domain string, so a UID never equals, say, a subject ID derived from the same text.
The honest-broker vault keeps the links back; nothing here stores anything.
"""

from __future__ import annotations

import hashlib
import hmac

from vesalius.core.errors import ConfigError

MIN_KEY_BYTES = 16
MAX_OFFSET_DAYS = 365
_UID_DOMAIN = b"vesalius:uid:v1\x00"
_OFFSET_DOMAIN = b"vesalius:date-offset:v1\x00"
_SUBJECT_DOMAIN = b"vesalius:subject-id:v1\x00"
_CACHE_LIMIT = 100_000


def uuid_uid(digest: bytes) -> str:
    """``2.25.<decimal>`` of a UUID (RFC 9562 version 8, custom) built from ``digest``.

    PS3.5 B.2 lets a UID be ``2.25.`` followed by a UUID as an integer; using the first
    128 bits of the HMAC with the version and variant bits set gives such a UUID (at most
    44 characters, well inside the 64 a UI value may hold).
    """
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC variant
    return "2.25." + str(int.from_bytes(raw, "big"))


class Pseudonyms:
    """Keyed pseudonyms of one project (one key); cheap to build, safe to share per process."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(f"a de-identification key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._uids: dict[str, str] = {}

    def _mac(self, domain: bytes, text: str) -> bytes:
        return hmac.new(self._key, domain + text.encode("utf-8"), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """The replacement of one UID; the same original always maps to the same UID."""
        original = original.strip().rstrip("\x00")
        if not original:
            return original
        mapped = self._uids.get(original)
        if mapped is None:
            if len(self._uids) >= _CACHE_LIMIT:
                self._uids.clear()
            mapped = self._uids[original] = uuid_uid(self._mac(_UID_DOMAIN, original))
        return mapped

    def date_offset_days(self, patient_key: str) -> int:
        """A per-patient shift in days, never 0, within ±MAX_OFFSET_DAYS.

        Every date of one patient moves by the same number of days, so the intervals
        between that patient's studies stay exact.
        """
        value = int.from_bytes(self._mac(_OFFSET_DOMAIN, patient_key)[:8], "big")
        n = value % (2 * MAX_OFFSET_DAYS)
        return n - MAX_OFFSET_DAYS if n < MAX_OFFSET_DAYS else n - MAX_OFFSET_DAYS + 1

    def subject_id(self, patient_key: str) -> str:
        """Default research subject ID for standalone use (projects assign theirs)."""
        return "S-" + self._mac(_SUBJECT_DOMAIN, patient_key)[:6].hex().upper()
