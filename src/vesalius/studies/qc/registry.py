"""Finding QC checks: the ``vesalius.qc`` entry point group (built-in and third-party).

Declared in a package's ``pyproject.toml``::

    [project.entry-points."vesalius.qc"]
    my_check = "my_package.qc:MyCheck"

An entry point that cannot be loaded, or loads something that is not a check, is logged
and left out; the others still run. Two checks of one name: the first one found (by
entry point name) wins.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

from vesalius.studies.qc.base import Check
from vesalius.studies.qc.header_checks import HeaderCompleteness, Orientation, Slices
from vesalius.studies.qc.pixel_checks import Motion, PixelStatistics

log = logging.getLogger(__name__)

GROUP = "vesalius.qc"
# the built-in checks, also declared as entry points in pyproject.toml; listed here too so
# that an installation whose metadata predates them (an old editable install) runs them
BUILTIN: tuple[type[Check], ...] = (
    HeaderCompleteness,
    Slices,
    Orientation,
    PixelStatistics,
    Motion,
)  # type: ignore[assignment]


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def discover() -> dict[str, Check]:
    """Every installed check by name (entry points, loaded and built on each call)."""
    checks: dict[str, Check] = {}
    for ep in _entry_points():
        try:
            loaded = ep.load()
            check = loaded() if isinstance(loaded, type) else loaded
        except Exception as exc:  # a broken plugin must not stop the others
            log.warning("QC plugin %s cannot be loaded: %s", ep.value, type(exc).__name__)
            continue
        if not isinstance(check, Check) or check.needs not in ("headers", "pixels"):
            log.warning("QC plugin %s is not a check (name, needs, defaults, run)", ep.value)
            continue
        checks.setdefault(check.name, check)
    for builtin in BUILTIN:
        if builtin.name not in checks:
            checks[builtin.name] = builtin()
    return checks
