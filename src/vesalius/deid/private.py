"""Which private attributes are known to be safe (retain-safe-private, PS3.15 E.3.10).

Two references: the standard's Table E.3.10-1 (shipped, ``tables.e3_10_1``), matched by
private creator, group and element at any depth; and TCIA's private tag knowledge base,
read from the configured ``tcia_private_tags_path`` (never shipped), matched on the
element's whole path (the sequences it sits in), as TCIA lists it. An attribute is safe
only if TCIA's every row for that path says ``k`` (keep); ``d``, ``h``, ``o``, ``na`` or
a disagreement between rows means removal. Everything else private is removed.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from vesalius.core.errors import ConfigError
from vesalius.deid.tables.e3_10_1 import SAFE_PRIVATE

# One step of an element's path: ("s", tag) for a standard attribute, ("p", group,
# private creator, element byte within the block) for a private one.
Step = tuple[str, int] | tuple[str, int, str, int]
Path_ = tuple[Step, ...]

_ITEM = re.compile(r"\[<\d+>\]")
_STANDARD = re.compile(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)")
_PRIVATE = re.compile(r"\(([0-9A-Fa-f]{4}),\"?(.*?)\"?,([0-9A-Fa-f]{2})\)")


def private_step(group: int, creator: str, element: int) -> Step:
    return ("p", group, creator.strip(), element & 0xFF)


def parse_signature(signature: str) -> Path_ | None:
    """TCIA's ``(0019,"GEMS_ACQU_01",23)`` paths (``[<0>]`` between nested steps)."""
    steps: list[Step] = []
    for part in _ITEM.split(signature.strip()):
        if match := _STANDARD.fullmatch(part):
            steps.append(("s", (int(match.group(1), 16) << 16) | int(match.group(2), 16)))
        elif match := _PRIVATE.fullmatch(part):
            creator = match.group(2).strip()
            if not creator:
                return None  # no private creator: cannot be matched safely
            steps.append(private_step(int(match.group(1), 16), creator, int(match.group(3), 16)))
        else:
            return None
    return tuple(steps) or None


@dataclass(frozen=True)
class SafePrivate:
    """The private attributes kept under retain-safe-private."""

    standard: frozenset[tuple[int, str, int]]
    tcia: frozenset[Path_] = frozenset()

    def is_safe(self, path: Path_) -> bool:
        last = path[-1]
        if last[0] != "p":
            return False
        return last[1:] in self.standard or path in self.tcia

    @classmethod
    def load(cls, tcia_path: Path | None = None) -> SafePrivate:
        standard = frozenset((g, c, e) for c, g, e, _vr, _meaning in SAFE_PRIVATE)
        if tcia_path is None:
            return cls(standard)
        return cls(standard, _read_tcia(Path(tcia_path)))


@functools.lru_cache(maxsize=4)
def _read_tcia(path: Path) -> frozenset[Path_]:
    verdicts: dict[Path_, bool] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            needed = {"element_sig_pattern", "private_disposition"}
            if not needed <= set(reader.fieldnames or ()):
                raise ConfigError(
                    f"tcia_private_tags_path: {path} lacks the columns {sorted(needed)}"
                )
            for row in reader:
                steps = parse_signature(row["element_sig_pattern"] or "")
                if steps is None or steps[-1][0] != "p":
                    continue
                keep = (row["private_disposition"] or "").strip().lower() == "k"
                verdicts[steps] = verdicts.get(steps, True) and keep
    except OSError as exc:
        raise ConfigError(
            f"tcia_private_tags_path: cannot read {path} ({type(exc).__name__})"
        ) from None
    return frozenset(p for p, keep in verdicts.items() if keep)
