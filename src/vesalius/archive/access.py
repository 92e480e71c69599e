"""What a user may read of the archive: projects, and within them the sites of their roles.

The access policy (:mod:`vesalius.core.auth.policy`) says which projects a user may
read and where their roles are limited to sites; the attribution rule
(:mod:`vesalius.studies.attribution`, the one the management reports use) says which
subjects belong to those sites. This module joins the two into a
:class:`~vesalius.core.auth.policy.ReadScope` that every read service applies, so a
limited user sees the same studies through REST, the web UI and DICOMweb, and an
out-of-scope UID is as unknown as one never stored.

A scope is computed once per request; for a limited user that costs one attribution
pass over the project (see the attribution module), for everyone else nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core.auth.policy import ReadScope, project_for, readable_project_ids, site_limits
from vesalius.core.model import Project, User
from vesalius.studies.attribution import subjects_at


def read_scope(session: Session, *, user: User, project_ids: Sequence[int] | None) -> ReadScope:
    """The scope of ``user`` over ``project_ids`` (already known readable; None: all)."""
    limits = site_limits(session, user, project_ids)
    if not limits:
        return ReadScope(project_ids)
    subjects = {
        project.id: subjects_at(session, project=project, sites=limits[project.id])
        for project in session.scalars(select(Project).where(Project.id.in_(list(limits))))
    }
    return ReadScope(project_ids, subjects, limits)


def readable_projects(session: Session, *, user: User) -> ReadScope:
    """Every project ``user`` may read, with their site limits."""
    return read_scope(session, user=user, project_ids=readable_project_ids(session, user))


def readable_project(session: Session, *, user: User, key: str) -> tuple[Project, ReadScope]:
    """Project ``key`` and what ``user`` may read in it; 404 (``NotFound``) if nothing.

    The read routes' replacement for :func:`project_for`: the project check and the
    site limit in one call, so that no route can check the one and forget the other.
    """
    project = project_for(session, user, key)
    return project, read_scope(session, user=user, project_ids=[project.id])
