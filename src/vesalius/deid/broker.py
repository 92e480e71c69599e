"""The honest broker's re-identification: who may look a research subject up, and the audit.

Only a user holding the ``broker`` role in the project (directly or through a group) may
look up. Site administrators are *not* brokers by default: re-identification is a
separate duty, so an administrator who needs it grants themselves the role
(``vesalius grant NAME PROJECT broker``), which is itself an audited act that others can
see. Every attempt is audited under the user (``actor``), with the project and the
research ID and its outcome (``revealed``, ``refused``, ``not-found``), never with the
values revealed. Refusals are recorded too, so the caller must commit the session
before it reports the refusal (:func:`lookup` returns the outcome instead of raising).

A broker whose read roles in the project are all limited to sites (``grant … broker
--site A``) reveals only subjects attributed to those sites (the archive's one
attribution rule, :mod:`vesalius.studies.attribution`); any other research ID answers
``not-found``, exactly like an unknown one, so the limit does not tell which IDs exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core import audit
from vesalius.core.auth.policy import roles_in, site_limits
from vesalius.core.config import Settings
from vesalius.core.model import Project, Subject, User
from vesalius.core.sealing import MasterKey
from vesalius.deid.keys import project_key
from vesalius.deid.vault import Vault
from vesalius.studies.attribution import subjects_at

BROKER_ROLE = "broker"


@dataclass(frozen=True)
class Lookup:
    outcome: str  # revealed | refused | not-found
    record: dict[str, Any] | None = None
    reason: str = ""


def lookup(
    session: Session,
    *,
    settings: Settings,
    project: str,
    research_id: str,
    user_name: str,
    via: str,
    operator: str | None = None,
) -> Lookup:
    """Reveal what the vault holds on ``research_id`` to ``user_name`` if they are a broker.

    ``via`` says which interface asked (``cli``, ``api``); ``operator`` is the OS account
    behind a CLI call. The audit event is added to ``session``; commit it either way.
    """
    user = session.scalar(select(User).where(User.name == user_name))
    row = session.scalar(select(Project).where(Project.key == project))
    detail: dict[str, Any] = {"research_id": research_id[:64], "via": via}
    if operator:
        detail["operator"] = operator
    if user is None or not user.is_active or row is None:
        result = Lookup("refused", reason="no such active user or project")
    elif BROKER_ROLE not in roles_in(session, user, row.id):
        result = Lookup("refused", reason=f"this needs the {BROKER_ROLE!r} role in {project!r}")
    elif not row.deid_profile:
        result = Lookup("not-found", reason=f"project {project!r} does not de-identify")
    elif not within_sites(session, user, row, research_id):
        result = Lookup("not-found", reason=f"no research subject {research_id!r} in {project!r}")
    else:
        vault = Vault(
            project=row.key,
            project_id=row.id,
            project_key=project_key(settings, row.key),
            master_key=MasterKey(settings).require(),
        )
        record = vault.reveal(session, research_id)
        result = (
            Lookup("revealed", record)
            if record is not None
            else Lookup("not-found", reason=f"no research subject {research_id!r} in {project!r}")
        )
    audit.record(
        session,
        actor=user_name if user is not None else f"unknown:{user_name[:64]}",
        action="broker.lookup",
        target=f"project:{project}",
        detail=detail | {"outcome": result.outcome},
    )
    return result


def within_sites(session: Session, user: User, project: Project, research_id: str) -> bool:
    """True unless the user's roles limit them to sites the subject is not attributed to."""
    sites = site_limits(session, user, [project.id]).get(project.id)
    if sites is None:
        return True
    subject = session.scalar(
        select(Subject.id).where(
            Subject.project_id == project.id, Subject.subject_id == research_id
        )
    )
    return subject is not None and subject in subjects_at(session, project=project, sites=sites)
