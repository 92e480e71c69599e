"""Registered modalities: the remote DICOM nodes that may talk to a project over DIMSE.

DESIGN.md's DIMSE principal: a registered modality belongs to one project; it may store
into, query and retrieve from that project only. A project answers on its own AE title;
a calling AE title that is not registered for it is refused unless the project accepts
unknown callers (``accept_unknown_ae``). C-MOVE sends only to registered nodes of the
same project, whatever that flag says.

A modality registered with ``tls`` receives its C-MOVEs over TLS; the registry keeps the
absolute paths of the CA file to verify it against and of the client certificate and
key to present (the files are read when a move starts: see ``vesalius.dimse.tls``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.archive.projects import AE_PATTERN
from vesalius.core import audit
from vesalius.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vesalius.core.model import Modality, Project

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ModalityView:
    name: str
    project: str
    ae_title: str
    host: str
    port: int
    created_at: str
    tls: bool = False
    tls_ca: str | None = None  # paths; None: the system's CAs / no client certificate
    tls_cert: str | None = None
    tls_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Principal:
    """Who is on the other end of an association, and which project it may use."""

    project_id: int
    project_key: str
    called_ae: str
    calling_ae: str
    modality: str | None  # the registered name; None for an accepted unknown caller


def _check_ae(ae_title: str) -> str:
    ae = ae_title.strip()
    if not AE_PATTERN.match(ae):
        raise InvalidInput("an AE title is 1-16 printable ASCII characters without backslash")
    return ae


def _view(modality: Modality, project_key: str) -> ModalityView:
    return ModalityView(
        name=modality.name,
        project=project_key,
        ae_title=modality.ae_title,
        host=modality.host,
        port=modality.port,
        created_at=modality.created_at.isoformat(),
        tls=modality.tls,
        tls_ca=modality.tls_ca,
        tls_cert=modality.tls_cert,
        tls_key=modality.tls_key,
    )


def _absolute(path: Path | None) -> str | None:
    """An absolute path (``serve`` may run in another folder); symlinks kept, so that a
    renewed certificate behind a stable link is picked up."""
    if path is None:
        return None
    text = str(Path(path).expanduser().absolute())
    if len(text) > 1024:
        raise InvalidInput("a TLS file path is at most 1024 characters")
    return text


def _tls_paths(
    tls: bool, ca: Path | None, cert: Path | None, key: Path | None
) -> tuple[str | None, str | None, str | None]:
    if not tls and (ca or cert or key):
        raise InvalidInput("a TLS CA, certificate or key is for a modality with TLS on")
    if (cert is None) != (key is None):
        raise InvalidInput("a TLS client certificate and its key go together")
    return _absolute(ca), _absolute(cert), _absolute(key)


def add_modality(
    session: Session,
    *,
    name: str,
    project_key: str,
    ae_title: str,
    host: str,
    port: int,
    actor: str,
    tls: bool = False,
    tls_ca: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> ModalityView:
    """Register a remote node for one project (C-MOVEs to it over TLS with ``tls``).

    The TLS files are not read here (a service knows no TLS): the CLI builds the
    client context before the registration is committed, so that a wrong path or a
    key others may read is refused at once rather than at the first C-MOVE.
    """
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            "a modality name is 1-64 letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    ae = _check_ae(ae_title)
    host = host.strip()
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise InvalidInput("a host is a name or address of at most 255 characters")
    if not 1 <= port <= 65535:
        raise InvalidInput("a port is a number from 1 to 65535")
    ca, cert, key = _tls_paths(tls, tls_ca, tls_cert, tls_key)
    project = session.scalar(select(Project).where(Project.key == project_key))
    if project is None:
        raise NotFound(f"no project {project_key!r}")
    if session.scalar(select(Modality.id).where(Modality.name == name)) is not None:
        raise Conflict(f"modality {name!r} exists already")
    taken = session.scalar(
        select(Modality.name).where(Modality.project_id == project.id, Modality.ae_title == ae)
    )
    if taken is not None:
        raise Conflict(f"AE title {ae!r} is registered already in {project_key!r} as {taken!r}")
    modality = Modality(
        name=name,
        project_id=project.id,
        ae_title=ae,
        host=host,
        port=port,
        tls=tls,
        tls_ca=ca,
        tls_cert=cert,
        tls_key=key,
    )
    session.add(modality)
    session.flush()
    detail: dict[str, Any] = {"project": project.key, "ae_title": ae, "host": host, "port": port}
    if tls:
        detail |= {"tls": True, "tls_ca": ca, "tls_cert": cert, "tls_key": key}
    audit.record(
        session, actor=actor, action="modality.add", target=f"modality:{name}", detail=detail
    )
    return _view(modality, project.key)


def list_modalities(session: Session, *, project_key: str | None = None) -> list[ModalityView]:
    query = (
        select(Modality, Project.key)
        .join(Project, Project.id == Modality.project_id)
        .order_by(Project.key, Modality.name)
    )
    if project_key is not None:
        query = query.where(Project.key == project_key)
    return [_view(m, key) for m, key in session.execute(query)]


def get_modality(session: Session, *, name: str) -> ModalityView:
    row = session.execute(
        select(Modality, Project.key)
        .join(Project, Project.id == Modality.project_id)
        .where(Modality.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no modality {name!r}")
    return _view(*row)


def remove_modality(session: Session, *, name: str, actor: str) -> None:
    row = session.execute(
        select(Modality, Project.key)
        .join(Project, Project.id == Modality.project_id)
        .where(Modality.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no modality {name!r}")
    modality, project_key = row
    session.delete(modality)
    audit.record(
        session,
        actor=actor,
        action="modality.remove",
        target=f"modality:{name}",
        detail={"project": project_key, "ae_title": modality.ae_title},
    )


def admit(session: Session, *, called_ae: str, calling_ae: str) -> Principal:
    """Decide whether an association may be accepted, and for which project.

    Raises NotFound when no project answers on ``called_ae`` and PermissionDenied when
    ``calling_ae`` is not a registered modality of that project (and the project does
    not accept unknown callers).
    """
    called, calling = called_ae.strip(), calling_ae.strip()
    project = session.scalar(select(Project).where(Project.ae_title == called))
    if project is None:
        raise NotFound(f"no project answers on AE title {called!r}")
    name = session.scalar(
        select(Modality.name).where(Modality.project_id == project.id, Modality.ae_title == calling)
    )
    if name is None and not project.accept_unknown_ae:
        raise PermissionDenied(f"AE title {calling!r} is not registered for {project.key!r}")
    return Principal(
        project_id=project.id,
        project_key=project.key,
        called_ae=called,
        calling_ae=calling,
        modality=name,
    )


def move_destination(session: Session, *, project_id: int, ae_title: str) -> ModalityView | None:
    """The registered node of this project that answers on ``ae_title``, if any."""
    row = session.execute(
        select(Modality, Project.key)
        .join(Project, Project.id == Modality.project_id)
        .where(Modality.project_id == project_id, Modality.ae_title == ae_title.strip())
    ).first()
    return None if row is None else _view(*row)
