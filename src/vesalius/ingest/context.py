"""The small objects that travel through the intake stages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    NEW_VERSION = "new_version"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class IntakeContext:
    """Where objects come from and where they are going.

    ``source`` is the way in (``import``, ``c-store``, ``stow-rs``, ``gateway``);
    ``actor`` is who is audited for it (user name, or ``ae:TITLE`` for a modality);
    ``site`` the site code a gateway delivered it for (recorded with each version).
    """

    source: str
    actor: str
    project_key: str | None = None
    calling_ae: str | None = None
    called_ae: str | None = None
    site: str | None = None


@dataclass
class Summary:
    """Counts of what one intake run did, as printed by ``vesalius import --json``."""

    stored: int = 0
    duplicates: int = 0
    new_versions: int = 0
    quarantined: int = 0
    skipped: int = 0
    seconds: float = 0.0
    quarantine: list[dict[str, str]] = field(default_factory=list)
    skipped_items: list[dict[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.stored + self.duplicates + self.new_versions + self.quarantined + self.skipped

    def count(self, outcome: Outcome) -> None:
        match outcome:
            case Outcome.STORED:
                self.stored += 1
            case Outcome.DUPLICATE:
                self.duplicates += 1
            case Outcome.NEW_VERSION:
                self.new_versions += 1
            case Outcome.QUARANTINED:
                self.quarantined += 1
            case Outcome.SKIPPED:
                self.skipped += 1

    def to_dict(self) -> dict[str, Any]:
        indexed = self.stored + self.new_versions
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "new_versions": self.new_versions,
            "quarantined": self.quarantined,
            "skipped": self.skipped,
            "total": self.total,
            "seconds": round(self.seconds, 3),
            "instances_per_second": round(indexed / self.seconds, 1) if self.seconds else None,
            "quarantine": self.quarantine,
            "skipped_items": self.skipped_items,
        }
