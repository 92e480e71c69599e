"""Which projects a DICOMweb request sees, and finding studies, series and instances there.

``/dicom-web`` covers every project the caller may read; ``/dicom-web/projects/{key}``
one project. A project the caller may not read answers 404, exactly like one that does
not exist (the access policy raises ``NotFound`` for both). UIDs outside the scope are
unknown: 404 as well. A caller whose roles in a project are limited to sites sees there
only the studies of subjects attributed to those sites (:mod:`vesalius.archive.access`);
every lookup here and every QIDO search goes through :attr:`Scope.read`, so WADO-RS,
``/metadata``, frames, rendered and QIDO-RS answer the same studies.

Without de-identification the same Study Instance UID can be archived in two projects
(one study per project, DESIGN.md). Seen through ``/dicom-web``, a UID then names the
study of the project created first, so a retrieve never mixes two projects' objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.archive.access import readable_project, readable_projects
from vesalius.core.auth.policy import ReadScope
from vesalius.core.errors import NotFound
from vesalius.core.model import Instance, Project, Series, Study
from vesalius.web.deps import DB, CurrentUser

PREFIX = "/dicom-web"


@dataclass(frozen=True)
class Scope:
    project_ids: Sequence[int] | None
    """Projects this request may see; None means all (a site admin on /dicom-web)."""
    base_url: str
    """Absolute URL of this DICOMweb service root (for RetrieveURL and BulkDataURI)."""
    project: Project | None = None
    subjects: Mapping[int, frozenset[int]] = field(default_factory=dict)
    """Site-limited projects -> their readable subjects (:class:`ReadScope`)."""

    @property
    def read(self) -> ReadScope:
        """What this request may read, for the query builders."""
        return ReadScope(self.project_ids, self.subjects)

    def study_url(self, study_uid: str) -> str:
        return f"{self.base_url}/studies/{study_uid}"

    def series_url(self, study_uid: str, series_uid: str) -> str:
        return f"{self.study_url(study_uid)}/series/{series_uid}"

    def instance_url(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        return f"{self.series_url(study_uid, series_uid)}/instances/{sop_uid}"


PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto")
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(request: Request) -> str:
    """Scheme, host and port the client used, for absolute URLs in responses.

    Taken from the request (``Host``). A client that leaves a non-default port out of
    ``Host`` (dicomweb-client does) gets the port it connected to, unless a proxy
    forwarded the request: then ``Host`` is the proxy's public name and is kept.
    """
    base = str(request.base_url).rstrip("/")
    host = request.headers.get("host", "")
    server = request.scope.get("server")
    has_port = ":" in host.rsplit("]", 1)[-1]
    proxied = any(name in request.headers for name in PROXY_HEADERS)
    if host and not has_port and not proxied and server and server[1]:
        scheme = request.url.scheme
        if server[1] != DEFAULT_PORTS.get(scheme):
            return f"{scheme}://{host}:{server[1]}{request.scope.get('root_path', '')}"
    return base


def service_root(request: Request, key: str | None) -> str:
    root = origin(request) + PREFIX
    return root if key is None else f"{root}/projects/{quote(key, safe='')}"


def resolve_scope(request: Request, session: DB, user: CurrentUser) -> Scope:
    key = request.path_params.get("key")
    if key is None:
        read = readable_projects(session, user=user)
        return Scope(read.project_ids, service_root(request, None), subjects=read.subjects)
    project, read = readable_project(session, user=user, key=key)
    return Scope([project.id], service_root(request, project.key), project, read.subjects)


ScopeDep = Annotated[Scope, Depends(resolve_scope)]


@dataclass(frozen=True)
class StoredObject:
    """What retrieving one instance needs, detached from the session."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_hash: str
    instance_pk: int


def find_study(session: Session, scope: Scope, study_uid: str) -> Study:
    study = session.scalar(
        scope.read.apply(
            select(Study).where(Study.study_uid == study_uid), Study.project_id, Study.subject_pk
        )
        .order_by(Study.project_id)
        .limit(1)
    )
    if study is None:
        raise NotFound("no such study")
    return study


def find_series(session: Session, study: Study, series_uid: str) -> Series:
    series = session.scalar(
        select(Series).where(
            Series.study_pk == study.id,
            Series.series_uid == series_uid,
            Series.instance_count > 0,
        )
    )
    if series is None:
        raise NotFound("no such series in this study")
    return series


def instance_rows(
    session: Session,
    scope: Scope,
    study_uid: str,
    series_uid: str | None,
    sop_uid: str | None,
    *columns: Any,
) -> list[Any]:
    """``columns`` of every instance under the path (``Series`` joined), in series then
    instance order; 404 if the path names none. Shared by retrieval and ``/metadata`` so
    that both answer the same objects in the same order."""
    study = find_study(session, scope, study_uid)
    query = (
        select(*columns)
        .join(Series, Series.id == Instance.series_pk)
        .where(Series.study_pk == study.id)
    )
    if series_uid is not None:
        query = query.where(Series.id == find_series(session, study, series_uid).id)
    if sop_uid is not None:
        query = query.where(Instance.sop_uid == sop_uid)
    rows = session.execute(
        query.order_by(
            Series.series_number.is_(None),
            Series.series_number,
            Series.id,
            Instance.instance_number.is_(None),
            Instance.instance_number,
            Instance.id,
        )
    ).all()
    if not rows:
        raise NotFound("no such instance" if sop_uid else "no instances under this path")
    return rows


def find_objects(
    session: Session,
    scope: Scope,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> list[StoredObject]:
    """The latest version of every instance under the path; 404 if the path names none."""
    rows = instance_rows(
        session, scope, study_uid, series_uid, sop_uid, Instance, Series.series_uid
    )
    return [
        StoredObject(
            study_uid=study_uid,
            series_uid=series,
            sop_uid=instance.sop_uid,
            sop_class_uid=instance.sop_class_uid,
            transfer_syntax_uid=instance.transfer_syntax_uid,
            blob_hash=instance.blob_hash,
            instance_pk=instance.id,
        )
        for instance, series in rows
    ]
