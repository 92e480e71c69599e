"""Benchmark: automated QC of one stable series through the real subscriber path.

A fresh home (embedded SQLite) receives ``--instances`` generated MR images
(``--size`` square, 16-bit) of one series through ``vesalius import``; the QC runner then
checks the series twice: headers only (no store) and with pixels. Prints and writes
``bench/results/qc-<date>.md``: seconds and instances/s for each, and the peak RSS.

Run:    .venv/bin/python bench/qc.py [--instances 500] [--size 256]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vesalius.core.config import load_settings
from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance
from vesalius.core.home import open_home
from vesalius.studies import protocols
from vesalius.studies.qc.runner import check_series


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    from pydicom.uid import generate_uid

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir()
        spec = StudySpec("QC-BENCH", "Bench^QC", dt.date(2024, 1, 1))
        study, series = generate_uid(prefix=ROOT), generate_uid(prefix=ROOT)
        for index in range(args.instances):
            ds = make_instance(
                spec=spec,
                study_uid=study,
                series_uid=series,
                modality="MR",
                series_number=1,
                series_description="bench",
                index=index,
                size=args.size,
            )
            ds.save_as(data / f"{index:05d}.dcm", enforce_file_format=True)
        cli = [sys.executable, "-m", "vesalius", "--home", str(root / "home")]
        for command in (["init"], ["project", "create", "bench"]):
            subprocess.run([*cli, *command], check=True, capture_output=True)
        subprocess.run([*cli, "import", "-p", "bench", str(data)], check=True, capture_output=True)
        home = open_home(load_settings(root / "home"))
        try:
            rows = []
            for label, store in (("headers only", None), ("headers + pixels", home.store)):
                with home.db.write() as session, session.begin():
                    project = protocols.project_by_key(session, "bench")
                    started = time.perf_counter()
                    row = check_series(session, project=project, series_uid=series, store=store)
                    seconds = time.perf_counter() - started
                    assert row is not None
                    rows.append((label, seconds, row.status, row.pixel_seconds))
        finally:
            home.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"# QC of one {args.instances}-instance series ({args.size}x{args.size}, SQLite)",
        "",
        "| checks | seconds | instances/s | status | pixel seconds |",
        "|---|---:|---:|---|---:|",
    ]
    for label, seconds, status, pixel in rows:
        lines.append(
            f"| {label} | {seconds:.2f} | {args.instances / seconds:.0f} | {status} | {pixel:.2f} |"
        )
    lines += ["", f"peak RSS of the process: {rss:.0f} MiB", ""]
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results" / f"qc-{dt.date.today().isoformat()}.md"
    out.write_text(text)


if __name__ == "__main__":
    main()
