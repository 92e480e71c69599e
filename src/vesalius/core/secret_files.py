"""Secret files must be readable by their owner only (DESIGN.md, security defaults).

One check for every secret that vesalius reads from a path the operator names (private
keys of TLS identities today): a file that group or others may read is refused before
it is used, so a key left world-readable is noticed rather than silently trusted.
Messages name the path and the mode, never the content.
"""

from __future__ import annotations

import stat
from pathlib import Path

from vesalius.core.errors import ConfigError


def require_owner_only(path: Path, *, what: str) -> None:
    """Raise ConfigError unless ``path`` is a regular file without group/other access.

    ``what`` names the file in the message ("the TLS private key"). Mode 0600 and 0400
    pass; anything with a group or other bit set is refused with the chmod to run.
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path}: {what} must be a regular file")
    if mode & 0o077:
        raise ConfigError(
            f"{path}: {what} may be read by others (mode {stat.S_IMODE(mode):04o}); "
            f"it must be readable by its owner only (chmod 600 {path})"
        )
