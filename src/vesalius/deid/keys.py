"""Project keys: the secret every pseudonym of a project derives from.

A key lives in a file only its owner can read (DESIGN.md, "Security defaults"); a key file
that the group or others may read is refused, because a copied key lets anyone recompute
every pseudonym. The key is the file's content without surrounding whitespace (so a hex
or base64 line works as well as raw bytes), at least 16 bytes.

Project keys are kept simply, for now, as ``<home>/secrets/projects/<KEY>.key`` (0600,
32 random bytes as hex), created on first use. The broker vault will take them over; the
file layout is the contract until then. Several nodes sharing a project must share the
file (copy it once) so that they derive the same pseudonyms.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from vesalius.core.config import Settings
from vesalius.core.errors import ConfigError, InvalidInput
from vesalius.core.secret_files import require_owner_only
from vesalius.deid.keyed import MIN_KEY_BYTES

_KEY_NAME_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def read_key_file(path: Path) -> bytes:
    """The key in ``path``; refuses files readable by group or others."""
    try:
        require_owner_only(path, what="the key file")
    except ConfigError as exc:  # a file the user named on the command line: bad input
        raise InvalidInput(str(exc)) from None
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read key file ({type(exc).__name__})") from None
    if len(key) < MIN_KEY_BYTES:
        raise InvalidInput(f"{path}: a key needs at least {MIN_KEY_BYTES} bytes")
    return key


def project_key_path(settings: Settings, project: str) -> Path:
    if not project or not set(project) <= _KEY_NAME_OK or project.startswith("-"):
        raise InvalidInput(f"not a project key: {project!r}")
    return settings.secrets_dir / "projects" / f"{project}.key"


def project_key(settings: Settings, project: str) -> bytes:
    """The project's key, created (32 random bytes, hex, mode 0600) on first use.

    Written to a private temporary file and linked into place, so a concurrent first use
    never reads a half-written key: exactly one link wins, the others read the winner's.
    """
    path = project_key_path(settings, project)
    if path.exists():
        return read_key_file(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use theirs
            os.link(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot create the key of project {project!r}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return read_key_file(path)
