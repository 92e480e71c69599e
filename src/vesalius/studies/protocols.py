"""Loading and reading versions of a project's protocol file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vesalius.core import audit
from vesalius.core.errors import NotFound
from vesalius.core.model import Project, Site
from vesalius.studies.model import StudyProtocol
from vesalius.studies.protocol import Protocol, parse_protocol


@dataclass(frozen=True)
class ProtocolVersion:
    project: str
    version: int
    name: str
    digest: str
    loaded_by: str
    loaded_at: str
    protocol: Protocol
    source: str

    def to_dict(self, *, source: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "project": self.project,
            "version": self.version,
            "name": self.name,
            "digest": self.digest,
            "loaded_by": self.loaded_by,
            "loaded_at": self.loaded_at,
            "protocol": self.protocol.model_dump(mode="json", exclude_defaults=True),
        }
        if source:
            data["source"] = self.source
        return data


def _view(project: Project, row: StudyProtocol) -> ProtocolVersion:
    return ProtocolVersion(
        project=project.key,
        version=row.version,
        name=row.name,
        digest=row.digest,
        loaded_by=row.loaded_by,
        loaded_at=row.loaded_at.isoformat(),
        protocol=Protocol.model_validate(row.content),
        source=row.source,
    )


def project_by_key(session: Session, key: str) -> Project:
    project = session.scalar(select(Project).where(Project.key == key))
    if project is None:
        raise NotFound(f"no project {key!r}")
    return project


def load_protocol(
    session: Session, *, project: Project, text: str, actor: str, source: str = "protocol"
) -> ProtocolVersion:
    """Validate ``text`` and store it as the project's next protocol version."""
    protocol = parse_protocol(text, source=source)
    # versions are numbered per project: the project row serialises concurrent loads
    session.execute(select(Project.id).where(Project.id == project.id).with_for_update())
    current = session.scalar(
        select(func.max(StudyProtocol.version)).where(StudyProtocol.project_id == project.id)
    )
    row = StudyProtocol(
        project_id=project.id,
        version=(current or 0) + 1,
        name=protocol.name,
        source=text,
        content=protocol.model_dump(mode="json"),
        digest=hashlib.sha256(text.encode()).hexdigest(),
        loaded_by=actor,
    )
    session.add(row)
    _sync_sites(session, project=project, protocol=protocol)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="protocol.load",
        target=project.key,
        detail={"version": row.version, "digest": row.digest, "name": protocol.name},
    )
    return _view(project, row)


def _sync_sites(session: Session, *, project: Project, protocol: Protocol) -> None:
    """Add the protocol's sites to the project's ``site`` rows (so that roles can be
    limited to them: ``vesalius grant ... --site``); names follow the latest protocol,
    sites no longer listed are kept (memberships may name them)."""
    existing = {
        s.key: s for s in session.scalars(select(Site).where(Site.project_id == project.id))
    }
    for site in protocol.sites:
        if site.key in existing:
            existing[site.key].name = site.name or existing[site.key].name
        else:
            session.add(Site(project_id=project.id, key=site.key, name=site.name or site.key))


def protocol_version(
    session: Session, *, project: Project, version: int | None = None
) -> ProtocolVersion | None:
    """The given version, or the latest when ``version`` is None (None if none loaded)."""
    query = select(StudyProtocol).where(StudyProtocol.project_id == project.id)
    if version is None:
        query = query.order_by(StudyProtocol.version.desc()).limit(1)
    else:
        query = query.where(StudyProtocol.version == version)
    row = session.scalar(query)
    if row is None:
        if version is not None:
            raise NotFound(f"project {project.key!r} has no protocol version {version}")
        return None
    return _view(project, row)


def list_versions(session: Session, *, project: Project) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(StudyProtocol)
        .where(StudyProtocol.project_id == project.id)
        .order_by(StudyProtocol.version)
    )
    return [
        {
            "version": r.version,
            "name": r.name,
            "digest": r.digest,
            "loaded_by": r.loaded_by,
            "loaded_at": r.loaded_at.isoformat(),
        }
        for r in rows
    ]
