"""The delivery worker: queue stored objects, send them in batches, record the answers.

One worker per gateway, one batch at a time, so objects of a study arrive in the order
they were received. Each round is three short transactions:

1. queue new ``instance.stored`` events of the local project (:func:`.outbox.enqueue_stored`);
2. claim the next batch (one study, oldest first) and mark it ``in_flight``: committed
   *before* anything is sent;
3. send it (:class:`.transport.StowTransport`), then record each object as delivered,
   queued again with its reason and a backoff, or failed with the central's reason.

A crash between 2 and 3 leaves rows ``in_flight``; :meth:`DeliveryWorker.recover` puts
them back in the queue on start, and the central archive answers the re-sent identical
objects as duplicates, so the end state holds one copy of each.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from vesalius.core.errors import ConfigError, DeliveryError, StorageError
from vesalius.core.home import Home
from vesalius.core.model import Project, utcnow
from vesalius.gateway import outbox
from vesalius.gateway.model import GatewayItem
from vesalius.gateway.outbox import RetryPolicy
from vesalius.gateway.transport import StowTransport

log = logging.getLogger("vesalius.gateway")

__all__ = ["DeliveryWorker", "RetryPolicy", "Round"]


@dataclass(frozen=True)
class Round:
    """What one round did (the loop sleeps when nothing was sent)."""

    queued: int = 0
    sent: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    error: str = ""


class DeliveryWorker:
    """Delivers the outbox of one local project through one transport."""

    def __init__(
        self,
        home: Home,
        *,
        project: str,
        transport: StowTransport,
        policy: RetryPolicy | None = None,
        batch_objects: int = 50,
        batch_bytes: int = 64 * 1024 * 1024,
        poll_interval: float = 0.5,
    ) -> None:
        self.home = home
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.batch_objects = batch_objects
        self.batch_bytes = batch_bytes
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._last_error = ""
        with home.db.read() as session:
            project_id = session.scalar(select(Project.id).where(Project.key == project))
        if project_id is None:
            raise ConfigError(f"no project {project!r} in this gateway's home")
        self.project_id: int = project_id

    def recover(self) -> int:
        """Re-queue what an earlier run left in flight; call once before the first round."""
        with self.home.db.write() as session, session.begin():
            count = outbox.recover_in_flight(session, project_id=self.project_id, now=utcnow())
        if count:
            log.info(
                "%d objects were in flight when the gateway stopped; sending them again", count
            )
        return count

    def enqueue(self) -> int:
        with self.home.db.write() as session, session.begin():
            return outbox.enqueue_stored(session, project_id=self.project_id)

    def run_once(self) -> Round:
        """Queue what is new, then send one batch if one is due."""
        queued = self.enqueue()
        with self.home.db.write() as session, session.begin():
            batch = outbox.claim_batch(
                session,
                project_id=self.project_id,
                now=utcnow(),
                max_objects=self.batch_objects,
                max_bytes=self.batch_bytes,
            )
        if not batch:
            return Round(queued=queued)
        return self._deliver(batch, queued)

    def _deliver(self, batch: list[GatewayItem], queued: int) -> Round:
        parts: list[bytes] = []
        sendable: list[GatewayItem] = []
        missing: list[GatewayItem] = []
        for item in batch:
            try:
                parts.append(self.home.store.get(item.blob_hash))
                sendable.append(item)
            except StorageError:
                missing.append(item)
        error = ""
        delivered: list[GatewayItem] = []
        retry: dict[str, list[GatewayItem]] = {}
        failed: dict[str, list[GatewayItem]] = {}
        if missing:
            failed.setdefault("the stored object is missing from the gateway's storage", []).extend(
                missing
            )
        if sendable:
            try:
                result = self.transport.send(parts)
            except DeliveryError as exc:
                error = str(exc)
                retry.setdefault(error, []).extend(sendable)
            else:
                for item in sendable:
                    refusal = result.refused.get(item.sop_uid)
                    if item.sop_uid in result.stored:
                        delivered.append(item)
                    elif refusal is None:
                        retry.setdefault("not confirmed in the STOW-RS response", []).append(item)
                    elif refusal.permanent:
                        failed.setdefault(refusal.reason, []).append(item)
                    else:
                        retry.setdefault(refusal.reason, []).append(item)
        now = utcnow()
        with self.home.db.write() as session, session.begin():
            ids = [item.id for item in batch]
            rows = {
                row.id: row
                for row in session.scalars(select(GatewayItem).where(GatewayItem.id.in_(ids)))
            }
            outbox.mark_delivered(session, [rows[i.id] for i in delivered], now=now)
            for reason, items in retry.items():
                outbox.mark_retry(
                    session, [rows[i.id] for i in items], reason=reason, now=now, policy=self.policy
                )
            for reason, items in failed.items():
                outbox.mark_failed(session, [rows[i.id] for i in items], reason=reason)
        retried = sum(len(v) for v in retry.values())
        refused = sum(len(v) for v in failed.values())
        if error and error != self._last_error:
            log.warning("delivery failed, will retry with backoff: %s", error)
        elif delivered and self._last_error:
            log.info("delivering again")
        self._last_error = error
        if refused:
            log.warning("%d objects refused by the central archive (see gateway status)", refused)
        log.debug("batch: %d delivered, %d to retry, %d failed", len(delivered), retried, refused)
        return Round(queued, len(batch), len(delivered), retried, refused, error)

    def seconds_to_next(self) -> float:
        """How long the loop may sleep: until the next object is due, at most the poll."""
        with self.home.db.read() as session:
            due = outbox.next_due(session, project_id=self.project_id)
        if due is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, (due - utcnow()).total_seconds()))

    def run(self) -> None:
        """Deliver until :meth:`stop`; a failing round is logged and the loop goes on."""
        self.recover()
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception as exc:  # the database may be busy or gone for a moment
                log.error("gateway round failed: %s", type(exc).__name__)
                self._stop.wait(self.poll_interval)
                continue
            if done.sent and not done.error:
                continue
            self._stop.wait(self.seconds_to_next())

    def stop(self) -> None:
        self._stop.set()

    def drain(self, *, timeout: float) -> bool:
        """Run rounds until nothing is queued or due (tests, benchmarks); True if empty."""
        deadline = time.monotonic() + timeout
        self.recover()
        while time.monotonic() < deadline:
            done = self.run_once()
            if not done.sent:
                with self.home.db.read() as session:
                    if outbox.next_due(session, project_id=self.project_id) is None:
                        return True
                time.sleep(min(0.2, self.seconds_to_next()))
        return False
