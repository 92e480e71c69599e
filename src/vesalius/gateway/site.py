"""The gateway's site code, remembered by its home.

A gateway's site code is part of every research ID it assigns (``A01-trial-0001``) and
names the site to the central archive (``X-Vesalius-Site``), so it must never change
between two starts of the same gateway: a start without ``--site`` would send
deliveries the central attributes to no site, and a start with another code would give
new subjects IDs of another form (one patient could be counted as two subjects, and the
site's numbers would be split at the centre). Passing it on every start is one
forgotten option away from that, so the home remembers it.

It is remembered where the home keeps its settings: ``site_code`` in
``<home>/vesalius.toml`` (the setting ``VESALIUS_SITE_CODE`` already names), written the
first time a gateway starts with a site code. Every later start uses it; one that names
another code (``--site`` or ``VESALIUS_SITE_CODE``) is refused. A home that ran a gateway
before the code was remembered has it in its database instead: the audit record of the
site prefix put in front of its project's research ID template (``deid.site_prefix``),
which is taken as remembered too, and written to ``vesalius.toml`` on the next start.
"""

from __future__ import annotations

import os
import secrets
import stat
import tomllib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core.audit import AuditEvent
from vesalius.core.config import CONFIG_FILE, Settings
from vesalius.core.errors import ConfigError, InvalidInput
from vesalius.core.model import Project
from vesalius.deid.subjects import validate_site

SETTING = "site_code"
PREFIX_ACTION = "deid.site_prefix"  # recorded by vesalius.deid.intake.set_site_prefix


def config_path(settings: Settings) -> Path:
    return settings.home / CONFIG_FILE


def configured_site(settings: Settings) -> str | None:
    """``site_code`` as written in the home's ``vesalius.toml`` (not the environment)."""
    path = config_path(settings)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
    value = data.get(SETTING)
    return str(value) if value is not None else None


def recorded_site(session: Session, *, project: Project) -> str | None:
    """The site whose code was last put in front of ``project``'s research IDs."""
    detail = session.scalar(
        select(AuditEvent.detail)
        .where(AuditEvent.action == PREFIX_ACTION, AuditEvent.target == f"project:{project.key}")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    site = (detail or {}).get("site")
    return str(site) if site else None


def remembered_site(session: Session, *, settings: Settings, project: Project) -> str | None:
    """The site this home runs as, if it has run as one; ``ConfigError`` if the home's
    settings and the project's research IDs disagree on it (a copied ``vesalius.toml``)."""
    configured = configured_site(settings)
    recorded = recorded_site(session, project=project)
    if configured and recorded and configured != recorded:
        raise ConfigError(
            f"{config_path(settings)} names site {configured!r}, but project "
            f"{project.key!r} assigns research IDs for site {recorded!r}: one home is one "
            "site; correct site_code there"
        )
    return configured or recorded


def check_site(remembered: str | None, given: str | None, *, settings: Settings) -> str | None:
    """The site code to run with: the remembered one, or ``given`` on a first start.

    A ``given`` code other than the remembered one is refused (``InvalidInput``): the
    site's research IDs and its deliveries at the centre would be split in two.
    """
    if remembered and given and given != remembered:
        raise InvalidInput(
            f"this gateway's home is site {remembered!r} (site_code in "
            f"{config_path(settings)}) and cannot start as site {given!r}: new subjects "
            "would get research IDs of another form and the central archive would count "
            "its deliveries for another site. Leave --site out (or give the remembered "
            "code); another site needs a gateway home of its own"
        )
    return remembered or given


def remember_site(settings: Settings, site: str) -> bool:
    """Write ``site_code`` into the home's ``vesalius.toml`` unless it is there already;
    True if written.

    The line goes first in the file (top-level keys must come before any table), and the
    file is replaced atomically (temporary file, fsync, rename) with its mode kept (0600
    for a new file), so an interrupted start never leaves half a settings file.
    """
    validate_site(site)  # letters and digits only: safe inside a TOML string
    configured = configured_site(settings)
    if configured == site:
        return False
    path = config_path(settings)
    if configured is not None:  # check_site refuses this first; never write a second key
        raise ConfigError(f"{path} names site {configured!r} already")
    try:
        old = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        old, mode = "", 0o600
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    text = (
        "# remembered by `vesalius gateway` at its first start with a site code: part of\n"
        "# every research ID this site assigns; a site's code never changes\n"
        f'{SETTING} = "{site}"\n' + (f"\n{old}" if old else "")
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # os.open's mode is masked by the umask
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return True
