"""The QC subscriber: on ``series.stable`` run the enabled checks and store the result.

Headers come from the index; pixels from the storage area, one instance at a time (one
frame at a time for multi-frame objects). The result replaces any earlier one of the
series, so a re-delivered event or a series that re-opens and becomes stable again
leaves one current result. A check that raises is recorded as an ``error`` finding and
the others still run.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import pixel_array
from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core import events
from vesalius.core.events import OutboxEvent, Subscribers
from vesalius.core.model import Instance, Project, Series, Study, utcnow
from vesalius.core.storage import BlobStore
from vesalius.studies import protocols
from vesalius.studies.model import SeriesAdherence
from vesalius.studies.qc.base import Check, Finding, SeriesContext, Slice, worst
from vesalius.studies.qc.model import SeriesQC
from vesalius.studies.qc.registry import discover
from vesalius.studies.qc.settings import find_spec, thresholds_for
from vesalius.studies.rules import Header

log = logging.getLogger(__name__)

SUBSCRIBER = "studies.qc"


def subscribe(subscribers: Subscribers, store: BlobStore | None) -> None:
    """Register the QC subscriber; without a ``store`` only header checks run."""
    checks = discover()

    def on_series_stable(session: Session, event: OutboxEvent) -> None:
        project = _event_project(session, event)
        if project is not None:
            check_series(
                session,
                project=project,
                series_uid=event.payload["series_uid"],
                store=store,
                checks=checks,
            )

    subscribers.subscribe(events.SERIES_STABLE, SUBSCRIBER, on_series_stable)


def _event_project(session: Session, event: OutboxEvent) -> Project | None:
    if event.project_id is not None:
        return session.get(Project, event.project_id)
    key = event.payload.get("project")
    return session.scalar(select(Project).where(Project.key == key)) if key else None


def _frames(store: BlobStore, blob_hash: str, transfer_syntax: str) -> Iterator[np.ndarray]:
    """The frames of one stored object, decoded one at a time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(store.get(blob_hash)), force=True)
        if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
            ds.file_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
            implicit, _ = ds.original_encoding
            default = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
            ds.file_meta.TransferSyntaxUID = transfer_syntax or default
        if "PixelData" not in ds:
            return
        count = int(ds.get("NumberOfFrames") or 1)
        for index in range(count):
            yield pixel_array(ds, index=index if count > 1 else None)


def series_context(
    session: Session, *, project: Project, series: Series, store: BlobStore | None
) -> SeriesContext:
    study = session.get(Study, series.study_pk)
    assert study is not None
    rows = session.execute(
        select(
            Instance.sop_uid,
            Instance.instance_number,
            Instance.dicom_json,
            Instance.blob_hash,
            Instance.transfer_syntax_uid,
        )
        .where(Instance.series_pk == series.id)
        .order_by(Instance.instance_number.is_(None), Instance.instance_number, Instance.id)
    ).all()

    def loader(blob_hash: str, syntax: str) -> Any:
        if store is None:
            return lambda: iter(())
        return lambda: _frames(store, blob_hash, syntax)

    slices = [
        Slice(Header(r.dicom_json or {}), r.sop_uid, r.instance_number, loader(r[3], r[4]))
        for r in rows
    ]
    return SeriesContext(
        project=project.key,
        study_uid=study.study_uid,
        series_uid=series.series_uid,
        modality=series.modality,
        slices=slices,
    )


def run_checks(
    context: SeriesContext,
    checks: dict[str, Check],
    settings: dict[str, dict[str, Any]],
) -> tuple[list[Finding], float]:
    """Run each check that has settings; returns the findings and the pixel time."""
    findings: list[Finding] = []
    pixel_seconds = 0.0
    for name, check in checks.items():
        if name not in settings:
            continue
        started = time.perf_counter()
        try:
            findings.extend(check.run(context, settings[name]))
        except Exception as exc:  # one broken check must not hide the others' findings
            log.warning("QC check %s failed on a series: %s", name, type(exc).__name__)
            findings.append(
                Finding(name, "error", "error", None, None, f"{type(exc).__name__}: {exc}"[:500])
            )
        if check.needs == "pixels":
            pixel_seconds += time.perf_counter() - started
    return findings, pixel_seconds


def check_series(
    session: Session,
    *,
    project: Project,
    series_uid: str,
    store: BlobStore | None,
    checks: dict[str, Check] | None = None,
) -> SeriesQC | None:
    """Run QC on one series and store (replace) its result; None if there is no series."""
    series = session.scalar(
        select(Series).where(Series.project_id == project.id, Series.series_uid == series_uid)
    )
    if series is None:
        return None
    checks = checks if checks is not None else discover()
    context = series_context(session, project=project, series=series, store=store)
    current = protocols.protocol_version(session, project=project)
    spec = None
    if current is not None and context.slices:
        expected = session.scalar(
            select(SeriesAdherence.expected).where(
                SeriesAdherence.project_id == project.id,
                SeriesAdherence.series_uid == series_uid,
            )
        )
        spec = find_spec(current.protocol, expected, context.slices[0].header)
    settings: dict[str, dict[str, Any]] = {}
    for name, check in checks.items():
        if check.needs == "pixels" and store is None:
            continue
        chosen = thresholds_for(check, current.protocol if current else None, spec)
        if chosen is not None:
            settings[name] = chosen
    findings, pixel_seconds = run_checks(context, checks, settings)
    row = session.scalar(
        select(SeriesQC)
        .where(SeriesQC.project_id == project.id, SeriesQC.series_uid == series_uid)
        .with_for_update()
    )
    if row is None:
        row = SeriesQC(project_id=project.id, series_uid=series_uid)
        session.add(row)
    row.study_uid = context.study_uid
    row.protocol_version = current.version if current is not None else None
    row.expected = spec.name if spec is not None else None
    row.status = worst([f.status for f in findings])
    row.instances = len(context.slices)
    row.checks = sorted(settings)
    row.findings = [f.to_dict() for f in findings]
    row.pixel_seconds = round(pixel_seconds, 6)
    row.checked_at = utcnow()
    session.flush()
    return row
