"""The gateway's durable outbox: filling it from stored objects, claiming batches, and
recording what the central archive answered.

Every function runs in the caller's transaction (the worker owns commits), because the
order of commits *is* the exactly-once argument: a batch is marked ``in_flight`` and
committed before it is sent, and its outcome is committed after the answer. Objects are
queued from the ``instance.stored`` events of the local project (written in the same
transaction as the object's index rows), one row per event; the event's id is unique in
the outbox, so a row is queued once however often the queueing runs or crashes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from vesalius.core import events
from vesalius.core.events import OutboxEvent
from vesalius.core.model import Instance, InstanceVersion
from vesalius.gateway.model import GatewayItem, ItemState

SCAN_LIMIT = 5000  # queued rows looked at to choose the next study
REASON_LENGTH = 500


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff per object: ``base * 2**(attempts-1)`` seconds, at most ``maximum``.

    The time of the next attempt is stored with the object, so the backoff holds across
    restarts (a node that crash-loops does not hammer the central archive).
    """

    base: float = 2.0
    maximum: float = 300.0

    def delay(self, attempts: int) -> dt.timedelta:
        seconds = self.base * 2 ** max(min(attempts, 32) - 1, 0)
        return dt.timedelta(seconds=min(seconds, self.maximum))


def enqueue_stored(session: Session, *, project_id: int, limit: int = 1000) -> int:
    """Queue the project's stored objects not queued yet; returns how many were added."""
    rows = session.execute(
        select(OutboxEvent.id, OutboxEvent.payload)
        .where(OutboxEvent.type == events.INSTANCE_STORED)
        .where(OutboxEvent.project_id == project_id)
        .where(~exists().where(GatewayItem.event_id == OutboxEvent.id))
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    added = 0
    for event_id, payload in rows:
        version = session.execute(
            select(InstanceVersion.blob_hash, InstanceVersion.size)
            .join(Instance, Instance.id == InstanceVersion.instance_pk)
            .where(Instance.project_id == project_id)
            .where(Instance.sop_uid == payload["sop_uid"])
            .where(InstanceVersion.version == payload["version"])
        ).first()
        if version is None:  # the object was deleted before it could be queued
            continue
        session.add(
            GatewayItem(
                project_id=project_id,
                event_id=event_id,
                study_uid=payload["study_uid"],
                series_uid=payload["series_uid"],
                sop_uid=payload["sop_uid"],
                version=int(payload["version"]),
                blob_hash=version.blob_hash,
                size=version.size,
                state=ItemState.QUEUED.value,
            )
        )
        added += 1
    session.flush()
    return added


def recover_in_flight(session: Session, *, project_id: int, now: dt.datetime) -> int:
    """Put back what a previous run had in flight when it stopped (crash, kill -9).

    Those objects may or may not have reached the central archive; sending them again is
    safe because it answers a re-sent identical object as a duplicate.
    """
    result = session.execute(
        update(GatewayItem)
        .where(GatewayItem.project_id == project_id)
        .where(GatewayItem.state == ItemState.IN_FLIGHT.value)
        .values(
            state=ItemState.QUEUED.value,
            next_attempt_at=now,
            last_error="in flight when the gateway stopped; sent again",
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim_batch(
    session: Session,
    *,
    project_id: int,
    now: dt.datetime,
    max_objects: int,
    max_bytes: int,
) -> list[GatewayItem]:
    """The next batch, marked ``in_flight``: objects of one study, oldest first.

    Order per study: a study is taken only when its oldest queued object is due, and the
    batch stops at the first object that is not, so a later object never overtakes an
    earlier one that is backing off. Studies take turns by the age of their oldest object.
    """
    candidates = session.execute(
        select(GatewayItem.id, GatewayItem.study_uid, GatewayItem.next_attempt_at)
        .where(GatewayItem.project_id == project_id)
        .where(GatewayItem.state == ItemState.QUEUED.value)
        .order_by(GatewayItem.id)
        .limit(SCAN_LIMIT)
    ).all()
    seen: set[str] = set()
    study: str | None = None
    for _, study_uid, next_at in candidates:
        if study_uid in seen:
            continue
        seen.add(study_uid)
        if next_at is None or next_at <= now:
            study = study_uid
            break
    if study is None:
        return []
    items = session.scalars(
        select(GatewayItem)
        .where(GatewayItem.project_id == project_id)
        .where(GatewayItem.state == ItemState.QUEUED.value)
        .where(GatewayItem.study_uid == study)
        .order_by(GatewayItem.id)
        .limit(max_objects)
    ).all()
    batch: list[GatewayItem] = []
    size = 0
    for item in items:
        if item.next_attempt_at is not None and item.next_attempt_at > now:
            break
        if batch and size + item.size > max_bytes:
            break
        batch.append(item)
        size += item.size
    for item in batch:
        item.state = ItemState.IN_FLIGHT.value
        item.attempts += 1
        item.sent_at = now
    session.flush()
    return batch


def next_due(session: Session, *, project_id: int) -> dt.datetime | None:
    """When the earliest queued object may be tried (None: nothing queued)."""
    row = session.execute(
        select(GatewayItem.next_attempt_at)
        .where(GatewayItem.project_id == project_id)
        .where(GatewayItem.state == ItemState.QUEUED.value)
        .order_by(GatewayItem.next_attempt_at.is_not(None), GatewayItem.next_attempt_at)
        .limit(1)
    ).first()
    if row is None:
        return None
    return row[0] or dt.datetime.min.replace(tzinfo=dt.UTC)


def mark_delivered(session: Session, items: Iterable[GatewayItem], *, now: dt.datetime) -> None:
    for item in items:
        item.state = ItemState.DELIVERED.value
        item.delivered_at = now
        item.next_attempt_at = None
        item.last_error = ""


def mark_retry(
    session: Session,
    items: Iterable[GatewayItem],
    *,
    reason: str,
    now: dt.datetime,
    policy: RetryPolicy,
) -> None:
    """Back to the queue with the reason, not to be tried before the backoff has passed."""
    for item in items:
        item.state = ItemState.QUEUED.value
        item.last_error = reason[:REASON_LENGTH]
        item.next_attempt_at = now + policy.delay(item.attempts)


def mark_failed(session: Session, items: Iterable[GatewayItem], *, reason: str) -> None:
    """Refused for good by the central archive (for example quarantined by its check)."""
    for item in items:
        item.state = ItemState.FAILED.value
        item.last_error = reason[:REASON_LENGTH]
        item.next_attempt_at = None


def requeue_failed(session: Session, *, project_id: int, sop_uids: Sequence[str] = ()) -> int:
    """Queue refused objects again (after the central side was fixed); returns how many."""
    query = (
        update(GatewayItem)
        .where(GatewayItem.project_id == project_id)
        .where(GatewayItem.state == ItemState.FAILED.value)
    )
    if sop_uids:
        query = query.where(GatewayItem.sop_uid.in_(list(sop_uids)))
    result = session.execute(
        query.values(state=ItemState.QUEUED.value, next_attempt_at=None, attempts=0)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
