"""``vesalius import``: many files through the intake stages, parsed in parallel.

Worker processes read, parse and store objects (CPU and I/O bound, no database);
the main process indexes their results in input order, a batch per transaction with
a savepoint per object, so one bad object never costs the others and the order of
versions is the order of the inputs. Imported files are durable where they are, so
the spool stage is not needed on this path.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from vesalius.core import audit
from vesalius.core.config import Settings
from vesalius.core.db import Database
from vesalius.core.storage import BlobStore, open_store
from vesalius.deid.intake import IntakeSpec
from vesalius.ingest.context import IntakeContext, Outcome, Summary
from vesalius.ingest.deidentify import QuarantineSeal, quarantine_seal
from vesalius.ingest.pipeline import (
    Prepared,
    commit,
    deid_spec,
    prepare,
    release_unreferenced,
    route,
)
from vesalius.ingest.sources import Item, read_item

BATCH = 50
IN_FLIGHT_PER_WORKER = 32

_worker_store: BlobStore | None = None
_worker_deid: IntakeSpec | None = None
_worker_db: Database | None = None
_worker_recheck = False
_worker_seal: QuarantineSeal | None = None
_worker_zips: dict[str, zipfile.ZipFile] = {}


@dataclass(frozen=True)
class StoreSpec:
    url: str
    s3_endpoint_url: str | None = None


def _init_worker(
    spec: StoreSpec,
    deid: IntakeSpec | None,
    db: Database | None = None,
    recheck: bool = False,
    seal: QuarantineSeal | None = None,
) -> None:
    """``db`` only in the main process; worker processes open their own (for the vault)."""
    global _worker_store, _worker_deid, _worker_db, _worker_recheck, _worker_seal
    _worker_store = open_store(spec.url, s3_endpoint_url=spec.s3_endpoint_url)
    _worker_deid = deid
    _worker_db = db
    _worker_recheck = recheck
    _worker_seal = seal


def _prepare_item(item: Item) -> Prepared:
    assert _worker_store is not None
    try:
        data = read_item(item, _worker_zips)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        return Prepared(
            origin=item.origin,
            rejected=Outcome.QUARANTINED,
            reason=f"could not be read: {type(exc).__name__}",
        )
    return prepare(
        data,
        origin=item.origin,
        store=_worker_store,
        deid=_worker_deid,
        db=_worker_db,
        recheck=_worker_recheck,
        seal=_worker_seal,
    )


def _prepared_stream(
    items: Iterable[Item],
    spec: StoreSpec,
    deid: IntakeSpec | None,
    workers: int,
    db: Database,
    recheck: bool = False,
    seal: QuarantineSeal | None = None,
) -> Iterator[Prepared]:
    if workers <= 1:
        _init_worker(spec, deid, db, recheck, seal)
        yield from map(_prepare_item, items)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    window = workers * IN_FLIGHT_PER_WORKER
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(spec, deid, None, recheck, seal),
    ) as pool:
        # A bounded window of submitted items, consumed in input order: memory stays flat
        # however many files an import names, even when indexing is slower than parsing.
        pending: deque[Future[Prepared]] = deque()
        for item in items:
            pending.append(pool.submit(_prepare_item, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def import_items(
    db: Database,
    store: BlobStore,
    spec: StoreSpec,
    context: IntakeContext,
    items: list[Item],
    *,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> Summary:
    """Run every item through the chain and return what happened to each.

    ``settings`` gives the home's keys; a ``--deid`` project cannot be imported without.
    """
    started = time.perf_counter()
    summary = Summary()
    with db.read() as session:
        project = route(session, context)
        project_id, deid = project.id, deid_spec(session, project, settings)
        recheck = project.recheck_deid
        # what the re-check refuses is quarantined sealed (suspected identified data)
        seal = quarantine_seal(settings, project.key) if recheck else None
    workers = workers or os.cpu_count() or 1
    workers = min(workers, max(1, len(items) // 8))  # small imports: no pool start-up
    batch: list[Prepared] = []

    def flush() -> None:
        with db.write() as session:
            try:
                with session.begin():
                    project = route(session, context)
                    results = [
                        commit(session, project=project, prepared=p, context=context) for p in batch
                    ]
            except Exception:
                with session.begin():
                    release_unreferenced(
                        session, store, [p.blob_hash for p in batch if p.written and p.blob_hash]
                    )
                raise
        for prepared, (outcome, reason) in zip(batch, results, strict=True):
            summary.count(outcome)
            if outcome is Outcome.QUARANTINED:
                summary.quarantine.append({"origin": prepared.origin, "reason": reason})
            elif outcome is Outcome.SKIPPED:
                summary.skipped_items.append({"origin": prepared.origin, "reason": reason})
        if progress:
            progress(len(batch))
        batch.clear()

    for prepared in _prepared_stream(items, spec, deid, workers, db, recheck, seal):
        batch.append(prepared)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    summary.seconds = time.perf_counter() - started
    with db.write() as session, session.begin():
        audit.record(
            session,
            actor=context.actor,
            action="import",
            target=f"project:{context.project_key}",
            detail={
                k: v
                for k, v in summary.to_dict().items()
                if k not in ("quarantine", "skipped_items")
            }
            | {"project_id": project_id},
        )
    return summary
