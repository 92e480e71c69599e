"""Benchmark: header-level adherence and QC of one series after it becomes stable.

Issue 6's timing must-show: "header-level adherence and QC of a 500-instance series
finish within a second of the series becoming stable". A fresh home (embedded SQLite)
with a protocol receives ``--instances`` generated MR images of one series through
``vesalius import``; the stability check then announces the series (``series.stable``
and ``study.stable`` in the outbox, committed) and the clock starts. The subscribers
``serve`` runs (adherence, QC without a store: header checks only) are delivered the
events by the real dispatcher (``dispatch_pending``), each handler timed; the clock stops
when the results are committed and read back (``series_adherence``, ``series_qc``,
``study_adherence``). The same series is then announced ``--rounds`` more times (a
re-delivered event: results replaced) for a warm figure. Prints and writes
``bench/results/studies-<date>.md``.

Run:    .venv/bin/python bench/studies.py [--instances 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pydicom.uid import generate_uid
from sqlalchemy import select

from vesalius.core import events
from vesalius.core.config import load_settings
from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance
from vesalius.core.events import OutboxEvent, Subscribers, dispatch_pending
from vesalius.core.home import Home, open_home
from vesalius.core.model import Series, Study, utcnow
from vesalius.ingest.stability import check_stability
from vesalius.studies import subscribe as subscribe_adherence
from vesalius.studies.model import SeriesAdherence, StudyAdherence
from vesalius.studies.qc import subscribe as subscribe_qc
from vesalius.studies.qc.model import SeriesQC

PROTOCOL = """\
name: BENCH 1.0
devices:
  - {key: A-prisma, manufacturer: SIEMENS*, model: Prisma*, qualified: true}
series:
  - name: T1-3D
    match: {Modality: MR, SeriesDescription: "*mprage*"}
    require:
      SliceThickness: {equals: 1.0, tolerance: 0.1}
      RepetitionTime: {min: 2000, max: 2400}
      PixelSpacing: {equals: [1.0, 1.0], tolerance: 0.05}
      slices: {min: 160}
visits:
  - {name: baseline, offset_days: 0, window: {before: 0, after: 14}, series: [T1-3D]}
"""


def timed(subscribers: Subscribers, spent: dict[str, list[float]]) -> Subscribers:
    """The same handlers, each call's seconds added to ``spent[name]``."""
    out = Subscribers()
    for event_type, handlers in subscribers.handlers.items():
        for name, handler in handlers:

            def wrapper(session, event, handler=handler, name=name) -> None:  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                handler(session, event)
                spent[name].append(time.perf_counter() - started)

            out.subscribe(event_type, name, wrapper)
    return out


def announce(home: Home, series_uid: str, first: bool) -> None:
    """``series.stable`` (and ``study.stable``) committed to the outbox."""
    with home.db.write() as session, session.begin():
        if first:
            seen = check_stability(
                session, default_seconds=60, now=utcnow() + dt.timedelta(hours=1)
            )
            assert seen == (1, 1), seen
            return
        series = session.scalar(select(Series).where(Series.series_uid == series_uid))
        assert series is not None
        study = session.get(Study, series.study_pk)
        assert study is not None
        payload = {"project": "bench", "study_uid": study.study_uid, "series_uid": series_uid}
        events.publish(
            session,
            events.SERIES_STABLE,
            {**payload, "instances": series.instance_count},
            project_id=series.project_id,
        )
        events.publish(session, events.STUDY_STABLE, payload, project_id=series.project_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir()
        spec = StudySpec("BENCH-1", "Bench^Studies", dt.date(2024, 1, 1))
        study_uid, series_uid = generate_uid(prefix=ROOT), generate_uid(prefix=ROOT)
        for index in range(args.instances):
            ds = make_instance(
                spec=spec,
                study_uid=study_uid,
                series_uid=series_uid,
                modality="MR",
                series_number=1,
                series_description="t1_mprage_3d",
                index=index,
                size=64,
            )
            ds.Manufacturer, ds.ManufacturerModelName = "SIEMENS", "Prisma_fit"
            ds.StationName, ds.SoftwareVersions = "MRA1", "syngo MR XA30"
            ds.SliceThickness, ds.RepetitionTime, ds.PixelSpacing = 1.0, 2300, [1.0, 1.0]
            ds.ImagePositionPatient = [0.0, 0.0, float(index)]
            ds.save_as(data / f"{index:05d}.dcm", enforce_file_format=True)
        (root / "protocol.yaml").write_text(PROTOCOL)
        cli = [sys.executable, "-m", "vesalius", "--home", str(root / "home")]
        for command in (
            ["init"],
            ["project", "create", "bench"],
            ["protocol", "load", "--project", "bench", str(root / "protocol.yaml")],
            ["import", "-p", "bench", str(data)],
        ):
            subprocess.run([*cli, *command], check=True, capture_output=True)
        home = open_home(load_settings(root / "home"))
        try:
            plain = Subscribers()
            subscribe_adherence(plain)
            subscribe_qc(plain, None)  # header checks only
            while dispatch_pending(home.db.write, Subscribers()):  # the import's own events
                pass
            rounds: list[tuple[float, dict[str, float], str, str]] = []
            for round_ in range(args.rounds + 1):
                spent: dict[str, list[float]] = defaultdict(list)
                subscribers = timed(plain, spent)
                announce(home, series_uid, first=round_ == 0)
                started = time.perf_counter()
                dispatch_pending(home.db.write, subscribers)
                with home.db.read() as session:
                    adherence = session.scalar(
                        select(SeriesAdherence).where(SeriesAdherence.series_uid == series_uid)
                    )
                    qc = session.scalar(select(SeriesQC).where(SeriesQC.series_uid == series_uid))
                    study = session.scalar(select(StudyAdherence))
                    pending = session.scalar(
                        select(OutboxEvent.id).where(OutboxEvent.delivered_at.is_(None))
                    )
                    assert adherence is not None and qc is not None and study is not None
                    assert pending is None
                    statuses = (f"{adherence.status}/{study.status}", qc.status)
                seconds = time.perf_counter() - started
                rounds.append((seconds, {k: sum(v) for k, v in spent.items()}, *statuses))
        finally:
            home.close()
    lines = [
        f"# Header-level adherence and QC of one {args.instances}-instance series "
        "after series.stable (SQLite)",
        "",
        f"{dt.date.today().isoformat()}, `bench/studies.py --instances {args.instances} "
        f"--rounds {args.rounds}`; round 0 is the first announcement (cold caches), "
        "later rounds re-deliver the events (results replaced).",
        "",
        "| round | stable → results stored (s) | adherence (s) | QC headers (s) "
        "| adherence series/study | QC |",
        "|---|---:|---:|---:|---|---|",
    ]
    for i, (seconds, spent, adherence, qc) in enumerate(rounds):
        lines.append(
            f"| {i} | {seconds:.3f} | {spent.get('studies.adherence', 0):.3f} "
            f"| {spent.get('studies.qc', 0):.3f} | {adherence} | {qc} |"
        )
    warm = [r[0] for r in rounds[1:]] or [rounds[0][0]]
    lines += [
        "",
        f"first: {rounds[0][0]:.3f} s; median of the re-deliveries: "
        f"{statistics.median(warm):.3f} s; budget 1 s.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results" / f"studies-{dt.date.today().isoformat()}.md"
    out.write_text(text)


if __name__ == "__main__":
    main()
