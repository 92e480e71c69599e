"""A standalone de-identification run on behalf of a project: checked and audited.

``vesalius deid run --project KEY`` uses the project's key, so the project must exist
(a typo must not silently create a key for a project nobody has), and the run is recorded
in the audit log under the operator with its counts (never names, paths or UIDs).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core import audit
from vesalius.core.errors import NotFound
from vesalius.core.model import Project


def require_project(session: Session, *, project: str) -> None:
    if session.scalar(select(Project.id).where(Project.key == project)) is None:
        raise NotFound(f"no project {project!r}")


def record_run(session: Session, *, project: str, actor: str, summary: dict[str, Any]) -> None:
    """Audit one run (in the caller's transaction)."""
    require_project(session, project=project)
    audit.record(
        session,
        actor=actor,
        action="deid.run",
        target=f"project:{project}",
        detail={k: v for k, v in summary.items() if k != "seconds"},
    )


def record_verify(session: Session, *, project: str, actor: str, summary: dict[str, Any]) -> None:
    """Audit one ``deid verify`` on behalf of a project: counts only."""
    require_project(session, project=project)
    audit.record(
        session,
        actor=actor,
        action="deid.verify",
        target=f"project:{project}",
        detail=dict(summary),
    )
