"""Which sites sent what, and when: the central archive's view of its site gateways.

Every stored version records its sender (``InstanceVersion.actor``, the user of the
token) and, for a gateway, the site code it declared (``site_code``, sent as the
``X-Vesalius-Site`` header of its STOW-RS requests); quarantined objects record the
same. From these rows this module answers, per site of a project, the objects received,
their studies, the first and last delivery and the objects refused (quarantined by the
central residual-identifier re-check, with the reasons), and per study and site the
instances received: the numbers a gateway's ``vesalius gateway status`` shows as
*delivered* and *failed*. Objects sent without a site code (uploads, C-STORE, import)
are one row with ``site`` None.

Site codes are research-ID prefixes, not PHI; study UIDs are the archive's own. A
reader whose roles are limited to sites (a :class:`ReadScope` with a limit) sees the
deliveries of the studies it may read and the refusals of its own sites' codes only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from vesalius.core.auth.policy import UPLOAD_ROLES, ReadScope
from vesalius.core.errors import InvalidInput, NotFound, PermissionDenied
from vesalius.core.model import (
    GroupMember,
    Instance,
    InstanceVersion,
    Membership,
    Project,
    Series,
    Site,
    Study,
    User,
)
from vesalius.deid.subjects import validate_site
from vesalius.ingest.quarantine import rejected_by_site

SITE_HEADER = "X-Vesalius-Site"
MAX_LIMIT = 1000


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def sender_site(
    session: Session, *, user: User, project: Project, claimed: str | None
) -> str | None:
    """The site code recorded for what ``user`` delivers to ``project``.

    A declared code must be a site code (1-16 letters or digits). A user whose upload
    roles in the project are all limited to sites (``grant … --site``) delivers for those
    sites only: another code is refused, and without one the single site is taken.
    """
    if claimed is not None:
        claimed = claimed.strip()
        try:
            validate_site(claimed)
        except InvalidInput:
            raise InvalidInput(
                f"{SITE_HEADER} must be a site code (1-16 letters or digits)"
            ) from None
    if user.is_admin:
        return claimed
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
    rows = session.execute(
        select(Membership.site_id, Site.key)
        .outerjoin(Site, Site.id == Membership.site_id)
        .where(Membership.project_id == project.id)
        .where(Membership.role.in_(UPLOAD_ROLES))
        .where(or_(Membership.user_id == user.id, Membership.group_id.in_(groups)))
    ).all()
    scoped = {key for site_id, key in rows if site_id is not None}
    if not scoped or any(site_id is None for site_id, _ in rows):
        return claimed
    if claimed is None:
        return next(iter(scoped)) if len(scoped) == 1 else None
    if claimed not in scoped:
        raise PermissionDenied(
            f"this user delivers to {project.key!r} for site {', '.join(sorted(scoped))} only"
        )
    return claimed


def _received(project: Project, scope: ReadScope) -> Select[Any]:
    """Versions of the project's objects joined to their study (the common FROM clause),
    limited to the studies ``scope`` may read."""
    return scope.apply(
        select()
        .select_from(InstanceVersion)
        .join(Instance, Instance.id == InstanceVersion.instance_pk)
        .join(Series, Series.id == Instance.series_pk)
        .join(Study, Study.id == Series.study_pk)
        .where(Instance.project_id == project.id),
        Study.project_id,
        Study.subject_pk,
    )


def site_summary(session: Session, *, project: Project, scope: ReadScope) -> list[dict[str, Any]]:
    """Per sender site: studies, instances, first and last received, rejected (with reasons).

    Sites are ordered by code; objects sent without a site code come last (``site`` None).
    """
    received = session.execute(
        _received(project, scope)
        .add_columns(
            InstanceVersion.site_code,
            func.count(func.distinct(InstanceVersion.instance_pk)),
            func.count(func.distinct(Study.id)),
            func.min(InstanceVersion.received_at),
            func.max(InstanceVersion.received_at),
        )
        .group_by(InstanceVersion.site_code)
    ).all()
    users: dict[str | None, set[str]] = {}
    for site, actor in session.execute(
        _received(project, scope)
        .add_columns(InstanceVersion.site_code, InstanceVersion.actor)
        .distinct()
    ):
        if actor:
            users.setdefault(site, set()).add(actor)
    rejected = rejected_by_site(session, project_id=project.id)
    if scope.limited(project.id):  # refused objects have no study: shown by sender code
        own = scope.sites.get(project.id, frozenset())
        rejected = {site: r for site, r in rejected.items() if site in own}
    names = dict(
        session.execute(select(Site.key, Site.name).where(Site.project_id == project.id)).all()
    )
    sites: dict[str | None, dict[str, Any]] = {}

    def entry(site: str | None) -> dict[str, Any]:
        return sites.setdefault(
            site,
            {
                "site": site,
                "name": names.get(site) if site is not None else None,
                "users": sorted(users.get(site, ())),
                "studies": 0,
                "instances": 0,
                "first_received_at": None,
                "last_received_at": None,
                "rejected": 0,
                "rejected_reasons": [],
                "last_rejected_at": None,
            },
        )

    for site, instances, studies, first, last in received:
        entry(site).update(
            instances=instances,
            studies=studies,
            first_received_at=_iso(first),
            last_received_at=_iso(last),
        )
    for site, refused in rejected.items():
        entry(site).update(
            rejected=refused["rejected"],
            rejected_reasons=refused["rejected_reasons"],
            last_rejected_at=_iso(refused["last_rejected_at"]),
        )
    return sorted(sites.values(), key=lambda s: (s["site"] is None, s["site"] or ""))


def site_studies(
    session: Session,
    *,
    project: Project,
    scope: ReadScope,
    site: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Instances received per study and sender site, by study UID; ``site`` filters on
    one code ('' for objects sent without one)."""
    if limit < 1 or limit > MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise InvalidInput("offset must not be negative")
    query = _received(project, scope).add_columns(
        Study.study_uid,
        InstanceVersion.site_code,
        func.count(func.distinct(InstanceVersion.instance_pk)),
        func.max(InstanceVersion.received_at),
    )
    if site == "":
        query = query.where(InstanceVersion.site_code.is_(None))
    elif site is not None:
        query = query.where(InstanceVersion.site_code == site)
    query = query.group_by(Study.study_uid, InstanceVersion.site_code)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Study.study_uid, InstanceVersion.site_code).limit(limit).offset(offset)
    ).all()
    return [
        {"study_uid": study_uid, "site": code, "instances": count, "last_received_at": _iso(last)}
        for study_uid, code, count, last in rows
    ], total


def deliveries_report(
    session: Session,
    *,
    project_key: str,
    site: str | None = None,
    limit: int = MAX_LIMIT,
    offset: int = 0,
) -> dict[str, Any]:
    """Sites and per-study counts of one project, as ``vesalius deliveries --json`` prints."""
    project = session.scalar(select(Project).where(Project.key == project_key))
    if project is None:
        raise NotFound(f"no project {project_key!r}")
    everything = ReadScope.everything()  # the operator's report
    sites = site_summary(session, project=project, scope=everything)
    if site is not None:
        sites = [s for s in sites if (s["site"] or "") == site]
    studies, total = site_studies(
        session, project=project, scope=everything, site=site, limit=limit, offset=offset
    )
    return {"project": project.key, "sites": sites, "studies": studies, "studies_total": total}
