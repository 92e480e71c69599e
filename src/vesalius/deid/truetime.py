"""True time for services inside the server: each de-identified subject's date offset.

Dates of a de-identified project are shifted per subject (shown = true + offset). A
service that compares them with today (visit windows, reminders) reads the offset here
and never shows it: users keep seeing shifted dates; only brokers see true ones.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from vesalius.core.config import Settings
from vesalius.core.model import Project
from vesalius.core.sealing import MasterKey
from vesalius.deid.keys import project_key
from vesalius.deid.vault import Vault

OffsetFor = Callable[[str], int | None]


def offset_reader(session: Session, *, settings: Settings, project: Project) -> OffsetFor | None:
    """A research ID -> date offset lookup (cached), or None when the project does not
    de-identify (its dates are true dates)."""
    if not project.deid_profile:
        return None
    vault = Vault(
        project=project.key,
        project_id=project.id,
        project_key=project_key(settings, project.key),
        master_key=MasterKey(settings).require(),
    )
    cache: dict[str, int | None] = {}

    def offset_for(research_id: str) -> int | None:
        if research_id not in cache:
            cache[research_id] = vault.date_offset(session, research_id)
        return cache[research_id]

    return offset_for
