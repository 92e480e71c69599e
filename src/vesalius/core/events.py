"""Durable outbox of domain events and the subscribers that react to them.

Events are rows written in the same transaction as the change they describe, so they
are released only when that change is committed (never an event for a rolled-back
store). A dispatcher delivers them to subscribers later, retrying with backoff until
each subscriber has taken each event once; subscribers are notifications in
pynetdicom's sense: one that fails is logged and retried, the others still run.

Event types (DESIGN.md contracts): ``instance.stored``, ``series.stable``, ``study.stable``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vesalius.core.model.base import Base, JSONType, UTCDateTime, utcnow

log = logging.getLogger(__name__)

INSTANCE_STORED = "instance.stored"
SERIES_STABLE = "series.stable"
STUDY_STABLE = "study.stable"

MAX_BACKOFF = dt.timedelta(minutes=10)


class OutboxEvent(Base):
    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class EventDelivery(Base):
    """That one subscriber has taken one event, so a retry never repeats it."""

    __tablename__ = "event_delivery"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_event.id", ondelete="CASCADE"), primary_key=True
    )
    subscriber: Mapped[str] = mapped_column(String(128), primary_key=True)
    delivered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


Handler = Callable[[Session, "OutboxEvent"], None]


@dataclass
class Subscribers:
    """Named handlers per event type; built at start-up and passed to the dispatcher."""

    handlers: dict[str, list[tuple[str, Handler]]] = field(default_factory=dict)

    def subscribe(self, event_type: str, name: str, handler: Handler) -> None:
        self.handlers.setdefault(event_type, []).append((name, handler))

    def for_type(self, event_type: str) -> list[tuple[str, Handler]]:
        return self.handlers.get(event_type, [])


def publish(
    session: Session, event_type: str, payload: dict[str, Any], *, project_id: int | None = None
) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction."""
    event = OutboxEvent(type=event_type, payload=payload, project_id=project_id)
    session.add(event)
    return event


def dispatch_pending(
    session_factory: Callable[[], Session],
    subscribers: Subscribers,
    *,
    now: dt.datetime | None = None,
    batch: int = 200,
) -> int:
    """Deliver due events to their subscribers; returns how many were fully delivered.

    Each subscriber call runs in its own transaction together with its delivery mark,
    so a handler's effects and the record that it ran commit or roll back together.
    """
    now = now or utcnow()
    delivered = 0
    with session_factory() as session:
        rows = session.execute(
            select(OutboxEvent.id, OutboxEvent.type)
            .where(OutboxEvent.delivered_at.is_(None))
            .where((OutboxEvent.next_attempt_at.is_(None)) | (OutboxEvent.next_attempt_at <= now))
            .order_by(OutboxEvent.id)
            .limit(batch)
        ).all()
    # Events nobody subscribes to (most are instance.stored) are delivered by definition:
    # mark them in one transaction instead of one commit (one fsync) each, so that the
    # outbox keeps up with an ingest of hundreds of objects per second.
    unheard = [event_id for event_id, kind in rows if not subscribers.for_type(kind)]
    if unheard:
        with session_factory() as session, session.begin():
            for event in session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.id.in_(unheard), OutboxEvent.delivered_at.is_(None)
                )
            ):
                event.attempts += 1
                event.delivered_at = utcnow()
                event.last_error = ""
                delivered += 1
    due = [event_id for event_id, kind in rows if subscribers.for_type(kind)]
    for event_id in due:
        failures: list[str] = []
        with session_factory() as session:
            event = session.get(OutboxEvent, event_id)
            assert event is not None
            done = set(
                session.scalars(
                    select(EventDelivery.subscriber).where(EventDelivery.event_id == event_id)
                )
            )
        for name, handler in subscribers.for_type(event.type):
            if name in done:
                continue
            try:
                with session_factory() as session, session.begin():
                    handler(session, session.get(OutboxEvent, event_id))
                    session.add(EventDelivery(event_id=event_id, subscriber=name))
            except Exception as exc:  # a failing subscriber must not stop the others
                log.warning(
                    "subscriber %s failed on event %s: %s", name, event_id, type(exc).__name__
                )
                failures.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
        with session_factory() as session, session.begin():
            event = session.get(OutboxEvent, event_id)
            assert event is not None
            event.attempts += 1
            if failures:
                backoff = min(dt.timedelta(seconds=2 ** min(event.attempts, 10)), MAX_BACKOFF)
                event.next_attempt_at = now + backoff
                event.last_error = "\n".join(failures)
            else:
                event.delivered_at = utcnow()
                event.last_error = ""
                delivered += 1
    return delivered
