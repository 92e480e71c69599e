"""Append-only, hash-chained audit log.

Each row's hash covers its content and the previous row's hash, so removing or editing
a row breaks the chain that :func:`verify_chain` walks. Details must not hold PHI:
record identifiers (keys, UIDs, research IDs, counts), never names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vesalius.core.model.base import Base, JSONType, UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(256), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """Single row naming the last event; locking it serialises appends on PostgreSQL."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_event_id: Mapped[int | None] = mapped_column(ForeignKey("audit_event.id"))
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


def _digest(
    prev_hash: str, at: dt.datetime, actor: str, action: str, target: str, detail: dict[str, Any]
) -> str:
    body = json.dumps(
        [prev_hash, at.isoformat(), actor, action, target, detail],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (committed with the action it audits)."""
    head = session.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, last_hash=GENESIS)
        session.add(head)
        session.flush()
    at = utcnow()
    detail = dict(detail or {})
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        target=target,
        detail=detail,
        prev_hash=head.last_hash,
        hash=_digest(head.last_hash, at, actor, action, target, detail),
    )
    session.add(event)
    session.flush()
    head.last_event_id = event.id
    head.last_hash = event.hash
    return event


def verify_chain(session: Session) -> int | None:
    """Return the id of the first event whose hash does not follow, or None if intact."""
    prev = GENESIS
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        expected = _digest(prev, event.at, event.actor, event.action, event.target, event.detail)
        if event.prev_hash != prev or event.hash != expected:
            return event.id
        prev = event.hash
    return None
