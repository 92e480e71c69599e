"""Creating and listing projects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vesalius.archive import access
from vesalius.core import audit
from vesalius.core.auth.policy import ReadScope, readable_project_ids
from vesalius.core.errors import Conflict, InvalidInput
from vesalius.core.model import VISIBILITIES, Project, Study, User

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AE_PATTERN = re.compile(r"^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?$")


def default_ae_title(key: str) -> str:
    return key.upper()[:16]


@dataclass(frozen=True)
class ProjectView:
    key: str
    name: str
    ae_title: str | None
    visibility: str
    created_at: str
    study_count: int

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def create_project(
    session: Session,
    *,
    key: str,
    name: str | None,
    actor: str,
    ae_title: str | None = None,
    visibility: str = "private",
    stable_seconds: int | None = None,
    accept_unknown_ae: bool = False,
    recheck_deid: bool = False,
) -> Project:
    if not KEY_PATTERN.match(key):
        raise InvalidInput(
            "a project key is 1-64 letters, digits, '-' or '_', starting with a letter or digit"
        )
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}")
    ae = ae_title or default_ae_title(key)
    if not AE_PATTERN.match(ae):
        raise InvalidInput("an AE title is 1-16 printable ASCII characters without backslash")
    if session.scalar(select(Project.id).where(Project.key == key)) is not None:
        raise Conflict(f"project {key!r} exists already")
    if session.scalar(select(Project.id).where(Project.ae_title == ae)) is not None:
        raise Conflict(f"AE title {ae!r} is used by another project")
    project = Project(
        key=key,
        name=name or key,
        ae_title=ae,
        visibility=visibility,
        stable_seconds=stable_seconds,
        accept_unknown_ae=accept_unknown_ae,
        recheck_deid=recheck_deid,
    )
    session.add(project)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="project.create",
        target=f"project:{key}",
        detail={"visibility": visibility, "ae_title": ae, "accept_unknown_ae": accept_unknown_ae}
        | ({"recheck_deid": True} if recheck_deid else {}),
    )
    return project


def list_projects(session: Session, *, user: User | None) -> list[ProjectView]:
    """Projects ``user`` may read (all of them for the operator, ``user=None``); a
    project's study count is of the studies the user may read there (its site limit)."""
    query = select(Project).order_by(Project.key)
    scope = ReadScope.everything()
    if user is not None:
        ids = readable_project_ids(session, user)
        if ids is not None:
            query = query.where(Project.id.in_(ids))
        scope = access.read_scope(session, user=user, project_ids=ids)
    projects = list(session.scalars(query))
    counts: dict[int, int] = {}
    if projects:
        counts = dict(
            session.execute(
                scope.apply(
                    select(Study.project_id, func.count(Study.id)).where(
                        Study.project_id.in_([p.id for p in projects])
                    ),
                    Study.project_id,
                    Study.subject_pk,
                ).group_by(Study.project_id)
            ).all()
        )
    return [
        ProjectView(
            key=p.key,
            name=p.name,
            ae_title=p.ae_title,
            visibility=p.visibility,
            created_at=p.created_at.isoformat(),
            study_count=counts.get(p.id, 0),
        )
        for p in projects
    ]
