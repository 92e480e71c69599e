"""The access policy: which projects a user may read or change, and with which role.

Rules (DESIGN.md): admins may do everything; a role in a project comes from a direct
membership or one through a group; ``public`` projects are readable by every signed-in
user. A project the caller may not read is reported as not found, never as forbidden,
so that its existence does not leak.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vesalius.core.errors import NotFound, PermissionDenied
from vesalius.core.model import GroupMember, Membership, Project, User

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
