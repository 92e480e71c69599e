"""The stage chain: route, parse, de-identify, store, index, publish.

``prepare`` holds the stages that need no database (parse, de-identify, store): import
runs it in worker processes. ``commit`` holds the ones that do (index and publish, or
the quarantine row) and runs in the caller's transaction. ``receive`` chains spool,
both halves and the commit for a single object, as the network services use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from vesalius.core.config import Settings
from vesalius.core.db import Database
from vesalius.core.dicom.parse import MediaDirectory, ParsedObject, parse_object
from vesalius.core.errors import ConfigError, NotFound, RejectedObject
from vesalius.core.model import Instance, InstanceVersion, Project, utcnow
from vesalius.core.storage import BlobStore
from vesalius.deid.intake import IntakeSpec, spec_for
from vesalius.deid.recheck import recheck as recheck_residual
from vesalius.deid.vault import LinkRow, record_links
from vesalius.ingest import quarantine
from vesalius.ingest.context import IntakeContext, Outcome
from vesalius.ingest.deidentify import (
    QuarantineSeal,
    deidentify,
    quarantine_seal,
    seal_rejected,
)
from vesalius.ingest.index import index_object
from vesalius.ingest.spool import Spool

PREPARE_THREADS = 3  # objects of a batch parsed and stored at once (see prepare_all)


@dataclass(frozen=True)
class Prepared:
    """An object after the stages that need no database; small and picklable."""

    origin: str
    parsed: ParsedObject | None = None
    rejected: Outcome | None = None
    reason: str = ""
    blob_hash: str | None = None
    size: int = 0
    written: bool = False
    sealed: bool = False  # the quarantined blob is sealed identified data
    # a refused object's SOP Instance UID when it is not identified data (a central
    # archive's re-check), so that a sender's rejected objects can be counted once each
    sop_uid: str = ""
    links: tuple[LinkRow, ...] = ()  # vault links of a de-identified object


StoredUids = tuple[str, str, str]
"""Study, Series and SOP Instance UID of an object as the archive holds it."""


def _stored_uids(prepared: Prepared, outcome: Outcome) -> StoredUids | None:
    if prepared.parsed is None or outcome in (Outcome.QUARANTINED, Outcome.SKIPPED):
        return None
    parsed = prepared.parsed
    return parsed.study_uid, parsed.series_uid, parsed.sop_uid


def route(session: Session, context: IntakeContext) -> Project:
    """Find the target project (CLI flag or STOW path now; called AE title later)."""
    if context.project_key:
        project = session.scalar(select(Project).where(Project.key == context.project_key))
        if project is not None:
            return project
        raise NotFound(f"no project {context.project_key!r}")
    if context.called_ae:
        project = session.scalar(select(Project).where(Project.ae_title == context.called_ae))
        if project is not None:
            return project
    raise NotFound("no project matches this object's destination")


def deid_spec(session: Session, project: Project, settings: Settings | None) -> IntakeSpec | None:
    """The project's de-identification spec (None: stored as received).

    A ``--deid`` project needs the home's settings (its keys); a caller without them
    must not go on, or identified bytes would reach the storage area.
    """
    if not project.deid_profile:
        return None
    if settings is None:
        raise ConfigError(
            f"project {project.key!r} de-identifies at intake: the home's keys are needed"
        )
    return spec_for(session, project, settings)


def prepare(
    data: bytes,
    *,
    origin: str,
    store: BlobStore,
    deid: IntakeSpec | None = None,
    db: Database | None = None,
    recheck: bool = False,
    seal: QuarantineSeal | None = None,
) -> Prepared:
    """Parse, de-identify and store one object; refusals keep their bytes for quarantine
    (sealed when they belong to a project that de-identifies, since they are identified).

    ``recheck``: the project checks what it receives for residual identifiers
    (:mod:`vesalius.deid.recheck`) and quarantines what fails, sealed with ``seal``
    (required then): what it refuses could not be confirmed de-identified.
    """
    links: tuple[LinkRow, ...] = ()
    parsed: ParsedObject | None = None
    try:
        parsed = parse_object(data)
        data, parsed, links = deidentify(data, parsed, spec=deid, db=db)
        if recheck:
            recheck_residual(data)
    except MediaDirectory as exc:
        return Prepared(origin=origin, rejected=Outcome.SKIPPED, reason=str(exc))
    except RejectedObject as exc:
        # a re-checking project's refusals (residual identifiers, or unreadable and so
        # unchecked) are suspected identified: sealed like a --deid project's, never clear
        sealer = deid if deid is not None else seal if recheck else None
        if recheck and sealer is None:
            raise ConfigError("a re-check's refusal is quarantined sealed: no vault key") from None
        if sealer is not None:
            data = seal_rejected(sealer, data)
        blob_hash = hashlib.sha256(data).hexdigest()
        store.put(blob_hash, data)
        return Prepared(
            origin=origin,
            rejected=Outcome.QUARANTINED,
            reason=str(exc),
            blob_hash=blob_hash,
            size=len(data),
            sealed=sealer is not None,
            sop_uid=parsed.sop_uid if parsed is not None and deid is None else "",
        )
    written = store.put(parsed.blob_hash, data)
    return Prepared(
        origin=origin,
        parsed=parsed,
        blob_hash=parsed.blob_hash,
        size=parsed.size,
        written=written,
        links=links,
    )


def prepare_all(jobs: list[Callable[[], Prepared]], *, parallel: bool) -> list[Prepared]:
    """Run the ``prepare`` of a batch, in a few threads when ``parallel``, in order.

    Why threads although parsing holds the GIL: storing an object is mostly waiting
    (hashing, writing, fsync of the file and its folder release the GIL), so while one
    object's blob is made durable the next one is parsed, and concurrent fsyncs share
    the file system's journal commits. On a 512 KB CT object that is about a quarter of
    the intake's time.
    """
    if not parallel or len(jobs) < 2:
        return [job() for job in jobs]
    with ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="vesalius-prepare") as pool:
        return list(pool.map(lambda job: job(), jobs))


def commit(
    session: Session, *, project: Project, prepared: Prepared, context: IntakeContext
) -> tuple[Outcome, str]:
    """Index (and publish) or quarantine one prepared object; returns outcome and reason."""
    if prepared.rejected is Outcome.SKIPPED:
        return Outcome.SKIPPED, prepared.reason
    if prepared.parsed is None:
        _quarantine(session, project, prepared, context, prepared.reason)
        return Outcome.QUARANTINED, prepared.reason
    try:
        with session.begin_nested():
            outcome = index_object(
                session,
                project=project,
                parsed=prepared.parsed,
                source=context.source,
                actor=context.actor,
                site=context.site,
                now=utcnow(),
            )
            record_links(session, prepared.links)
    except Exception as exc:  # keep the object, say why; never a silent drop
        reason = f"could not be indexed: {type(exc).__name__}"
        _quarantine(session, project, prepared, context, reason)
        return Outcome.QUARANTINED, reason
    return outcome, ""


def _quarantine(
    session: Session, project: Project, prepared: Prepared, context: IntakeContext, reason: str
) -> None:
    # a sealed object's origin (a file path, a folder named after the patient) stays out
    # of the quarantine list; the operator who imported it saw it in the summary
    origin = f"{context.source}:sealed:{prepared.blob_hash or ''}"[:80] if prepared.sealed else None
    quarantine.add(
        session,
        source=context.source,
        origin=origin or prepared.origin,
        reason=reason,
        project_id=project.id,
        blob_hash=prepared.blob_hash,
        size=prepared.size,
        sop_uid=prepared.parsed.sop_uid if prepared.parsed else prepared.sop_uid,
        sealed=prepared.sealed,
        actor=context.actor,
        site_code=context.site,
    )


def release_unreferenced(session: Session, store: BlobStore, hashes: Iterable[str]) -> None:
    """Remove blobs written for a failed transaction unless something refers to them."""
    for blob_hash in set(hashes):
        referenced = session.scalar(
            select(
                exists().where(Instance.blob_hash == blob_hash)
                | exists().where(InstanceVersion.blob_hash == blob_hash)
                | exists().where(quarantine.QuarantineItem.blob_hash == blob_hash)
            )
        )
        if not referenced:
            store.remove(blob_hash)


def receive(
    db: Database, store: BlobStore, spool: Spool, context: IntakeContext, data: bytes
) -> Outcome:
    """Spool one object durably, then run the whole chain; the spool entry goes last."""
    entry = spool.write(data, context)
    return process_spooled(db, store, spool, entry)


def process_spooled(db: Database, store: BlobStore, spool: Spool, entry: Path) -> Outcome:
    """Run one spooled object through the chain; its entry is removed once committed."""
    return process_batch(db, store, spool, [entry])[0]


def process_batch(
    db: Database, store: BlobStore, spool: Spool, entries: list[Path]
) -> list[Outcome]:
    """Run spooled objects through the chain (:func:`process_batch_with_reasons`)."""
    return [outcome for outcome, _ in process_batch_with_reasons(db, store, spool, entries)]


def process_batch_with_reasons(
    db: Database, store: BlobStore, spool: Spool, entries: list[Path]
) -> list[tuple[Outcome, str]]:
    """Each object's outcome and reason (:func:`process_batch_with_uids` without UIDs)."""
    return [(o, reason) for o, reason, _ in process_batch_with_uids(db, store, spool, entries)]


def process_batch_with_uids(
    db: Database, store: BlobStore, spool: Spool, entries: list[Path]
) -> list[tuple[Outcome, str, StoredUids | None]]:
    """Run spooled objects through the chain with one index transaction for all of them;
    returns each object's outcome, for refusals the reason (no PHI: it is shown to the
    sender, as STOW-RS failure comments), and for objects in the archive the Study,
    Series and SOP Instance UIDs they are stored under: those of the de-identified object
    in a ``--deid`` project, which a STOW-RS response must point its RetrieveURLs at.

    Parsing and storing happen first, outside the transaction; each object is then
    indexed in a savepoint of its own, so one bad object is quarantined without costing
    the others, and one commit (one fsync) serves the batch. Entries are removed only
    after that commit; if it fails, blobs written for the batch are released unless
    something refers to them, and the entries stay for the next attempt.
    """
    loaded = [(entry, *spool.read(entry)) for entry in entries]
    targets: dict[tuple[str | None, str | None], tuple[str, IntakeSpec | None, bool]] = {}
    seals: dict[str, QuarantineSeal] = {}  # per project that re-checks this batch
    with db.read() as session:
        for _, context, _ in loaded:
            route_key = (context.project_key, context.called_ae)
            if route_key not in targets:
                project = route(session, context)
                targets[route_key] = (
                    project.key,
                    deid_spec(session, project, spool.settings),
                    project.recheck_deid,
                )
            key, _, rechecks = targets[route_key]
            if (rechecks or context.site) and key not in seals:
                seals[key] = quarantine_seal(spool.settings, key)
    jobs = [
        partial(
            prepare,
            data,
            origin=f"{context.source}:{entry.stem}",
            store=store,
            deid=targets[(context.project_key, context.called_ae)][1],
            db=db,
            # a gateway's delivery (it names its site) is always re-checked: the central
            # trusts no site's de-identification blindly (issue: site gateway)
            recheck=targets[(context.project_key, context.called_ae)][2] or bool(context.site),
            seal=seals.get(targets[(context.project_key, context.called_ae)][0]),
        )
        for entry, context, data in loaded
    ]
    # De-identification assigns research IDs in arrival order: keep it sequential there.
    prepared = prepare_all(jobs, parallel=all(spec is None for _, spec, _ in targets.values()))
    outcomes: list[tuple[Outcome, str, StoredUids | None]] = []
    with db.write() as session:
        try:
            with session.begin():
                projects: dict[str, Project] = {}
                for (_, context, _), item in zip(loaded, prepared, strict=True):
                    key = targets[(context.project_key, context.called_ae)][0]
                    if key not in projects:
                        projects[key] = route(
                            session,
                            IntakeContext(
                                source=context.source, actor=context.actor, project_key=key
                            ),
                        )
                    outcome, reason = commit(
                        session, project=projects[key], prepared=item, context=context
                    )
                    outcomes.append((outcome, reason, _stored_uids(item, outcome)))
        except Exception:
            written = [p.blob_hash for p in prepared if p.written and p.blob_hash]
            if written:
                with session.begin():
                    release_unreferenced(session, store, written)
            raise
    for entry in entries:
        spool.remove(entry)
    return outcomes


def drain(db: Database, store: BlobStore, spool: Spool, *, batch: int = 50) -> int:
    """Process what a previous run spooled but did not finish; returns how many."""
    pending = spool.pending()
    for start in range(0, len(pending), batch):
        process_batch(db, store, spool, pending[start : start + batch])
    return len(pending)
