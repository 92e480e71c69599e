"""The access policy: which projects a user may read or change, and with which role.

Rules (DESIGN.md): admins may do everything; a role in a project comes from a direct
membership or one through a group; ``public`` projects are readable by every signed-in
user. A project the caller may not read is reported as not found, never as forbidden,
so that its existence does not leak.

**Site limits.** A role may be limited to one site (``vesalius grant USER PROJECT ROLE
--site SITE``). A user whose read roles in a project are *all* limited reads only the
subjects (and so the studies) attributed to those sites; one role without a site makes
the whole project readable, and a public project is read in full by everyone anyway, so
a limit there would hide nothing. :func:`site_limits` turns grants into site codes;
which subjects belong to a site is a service's rule (``vesalius.studies.attribution``),
and :class:`ReadScope` carries the result to the query builders, which apply it with
:meth:`ReadScope.apply`. Rows outside the scope are simply not found, like unknown ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, or_, select
from sqlalchemy.orm import Session

from vesalius.core.errors import NotFound, PermissionDenied
from vesalius.core.model import GroupMember, Membership, Project, Site, User

READ_ROLES = frozenset({"owner", "curator", "contributor", "member", "broker"})
UPLOAD_ROLES = frozenset({"owner", "curator", "contributor"})
MANAGE_ROLES = frozenset({"owner", "curator"})


def roles_in(session: Session, user: User, project_id: int) -> set[str]:
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
    rows = session.scalars(
        select(Membership.role)
        .where(Membership.project_id == project_id)
        .where(or_(Membership.user_id == user.id, Membership.group_id.in_(groups)))
    )
    return set(rows)


def readable_project_ids(session: Session, user: User) -> list[int] | None:
    """Ids of the projects ``user`` may read; None means all (admin)."""
    if user.is_admin:
        return None
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
    member_of = select(Membership.project_id).where(
        or_(Membership.user_id == user.id, Membership.group_id.in_(groups))
    )
    return list(
        session.scalars(
            select(Project.id).where(or_(Project.id.in_(member_of), Project.visibility == "public"))
        )
    )


def project_for(
    session: Session, user: User, key: str, *, need: frozenset[str] = READ_ROLES
) -> Project:
    """The project ``key`` if ``user`` holds one of the ``need`` roles (or may read it)."""
    project = session.scalar(select(Project).where(Project.key == key))
    if project is None:
        raise NotFound(f"no project {key!r}")
    if user.is_admin:
        return project
    roles = roles_in(session, user, project.id)
    readable = bool(roles & READ_ROLES) or project.visibility == "public"
    if not readable:
        raise NotFound(f"no project {key!r}")
    if need is not READ_ROLES and not roles & need:
        raise PermissionDenied(f"this needs one of the roles {sorted(need)} in {key!r}")
    return project


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise PermissionDenied("this needs the site-wide admin role")


def site_limits(
    session: Session, user: User, project_ids: Iterable[int] | None = None
) -> dict[int, frozenset[str]]:
    """Project id -> site codes, for the projects (of ``project_ids``, else any) where every
    read role of ``user`` is limited to a site.

    A project missing from the answer is read in full (a role without a site, a public
    project, an admin) or not at all (:func:`project_for` decides that).
    """
    if user.is_admin:
        return {}
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
    query = (
        select(Membership.project_id, Membership.site_id, Site.key)
        .outerjoin(Site, Site.id == Membership.site_id)
        .join(Project, Project.id == Membership.project_id)
        .where(Membership.role.in_(READ_ROLES), Project.visibility != "public")
        .where(or_(Membership.user_id == user.id, Membership.group_id.in_(groups)))
    )
    if project_ids is not None:
        query = query.where(Membership.project_id.in_(list(project_ids)))
    whole: set[int] = set()
    limited: dict[int, set[str]] = {}
    for project_id, site_id, key in session.execute(query):
        if site_id is None:
            whole.add(project_id)
        else:
            limited.setdefault(project_id, set()).add(key)
    return {p: frozenset(keys) for p, keys in limited.items() if p not in whole}


def _ids(values: Iterable[int]) -> Any:
    """An IN list rendered into the statement: a site can hold more subjects than a
    database accepts bound parameters (SQLite: 32766), and the values are integers."""
    return bindparam(None, sorted(values), expanding=True, literal_execute=True)


@dataclass(frozen=True)
class ReadScope:
    """What one caller may read: whole projects and, where its roles are limited to sites,
    only the subjects attributed to those sites (every study of a subject counts for one
    site, so a subject's later studies follow it).

    Built by a service that knows the attribution (``vesalius.archive.access``) and
    applied by every query builder that reads studies, series or instances, so that REST,
    web UI and DICOMweb answer the same rows.
    """

    project_ids: Sequence[int] | None
    """Projects readable at all; None means every project (an admin, or the operator)."""
    subjects: Mapping[int, frozenset[int]] = field(default_factory=dict)
    """Project id -> the subject keys readable there, for site-limited projects only."""
    sites: Mapping[int, frozenset[str]] = field(default_factory=dict)
    """Project id -> the site codes of the limit (for views grouped by site)."""

    @classmethod
    def everything(cls) -> ReadScope:
        """The operator's (CLI) view: every row of every project."""
        return cls(None)

    def narrowed(self, project_id: int) -> ReadScope:
        """This scope inside one project (its limit kept)."""
        return ReadScope(
            [project_id],
            {k: v for k, v in self.subjects.items() if k == project_id},
            {k: v for k, v in self.sites.items() if k == project_id},
        )

    def limited(self, project_id: int) -> bool:
        return project_id in self.subjects

    def condition(self, project: Any, subject: Any) -> ColumnElement[bool] | None:
        """The SQL condition on a row's project and subject columns; None: no condition."""
        if self.project_ids is None and not self.subjects:
            return None
        whole = [p for p in self.project_ids or () if p not in self.subjects]
        parts: list[ColumnElement[bool]] = []
        if whole:
            parts.append(project.in_(whole) if len(whole) > 1 else project == whole[0])
        for project_id, pks in sorted(self.subjects.items()):
            if self.project_ids is None or project_id in self.project_ids:
                parts.append(and_(project == project_id, subject.in_(_ids(pks))))
        if not parts:
            return false()
        return or_(*parts) if len(parts) > 1 else parts[0]

    def apply(self, query: Select[Any], project: Any, subject: Any) -> Select[Any]:
        """``query`` limited to the rows this scope may read."""
        condition = self.condition(project, subject)
        return query if condition is None else query.where(condition)

    def allows(self, project_id: int, subject_pk: int) -> bool:
        if self.project_ids is not None and project_id not in self.project_ids:
            return False
        limit = self.subjects.get(project_id)
        return limit is None or subject_pk in limit
