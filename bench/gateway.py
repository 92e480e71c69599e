"""Benchmark: site gateway delivery beside a plain dicomweb-client upload of the same files.

One study of ``--instances`` (2,000) generated 512 x 512 CT images (16-bit, uncompressed)
is imported into a gateway home's ``--deid`` project (de-identified and stored there:
timed apart, as intake). Then, against one central ``vesalius serve`` (SQLite home, a
process of its own) and in the same run:

- **gateway**: the gateway's delivery worker (``vesalius.gateway.DeliveryWorker`` with its
  httpx STOW-RS transport, the code ``vesalius gateway`` runs; here in the benchmark's
  process) drains its outbox into central project ``gw<round>``: durable state before and
  after each batch of ``--batch`` (50), confirmation from the STOW-RS response;
- **plain**: dicomweb-client ``store_instances`` of the same, already de-identified bytes
  (exported from the gateway's storage) in batches of 50 into ``plain<round>``, reading
  each batch with pydicom as an uploader would.

Each transfer goes to a fresh central home (its storage area is content-addressed: a
second copy of the same bytes in one central would write nothing and look faster).
``--rounds`` (2) alternate the order; before each timed transfer ``sync`` runs, so that
neither pays for the site's freshly written files;
the target is gateway >= 80 % of plain (median over rounds). Results go to
``bench/results/gateway-<date>.md`` (also printed) unless ``--output`` names a file.

Run:    .venv/bin/python bench/gateway.py
Quick:  .venv/bin/python bench/gateway.py --instances 200 --output bench/work/gateway-quick.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
KEY = b"gateway bench key, 32 bytes long"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def vesalius(home: Path, *args: str, capture: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESALIUS_")}
    result = subprocess.run(
        [sys.executable, "-m", "vesalius", "--home", str(home), *args],
        env=env,
        check=True,
        capture_output=capture,
        text=True,
    )
    return result.stdout if capture else ""


def generate_study(root: Path, count: int) -> Path:
    """One study, one series, ``count`` 512 x 512 CT slices (reused when present)."""
    marker = root.parent / f"{root.name}.complete.json"
    if marker.is_file() and json.loads(marker.read_text()) == {"count": count}:
        log(f"reusing {root} ({count} files)")
        return root
    from pydicom.uid import generate_uid

    from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    spec = StudySpec("PID-990001", "Bench^Gateway", dt.date(2024, 3, 1), "Bench", "ACC990001")
    study, series = generate_uid(prefix=ROOT), generate_uid(prefix=ROOT)
    log(f"generating {count} CT files of 512 x 512 into {root}")
    for index in range(count):
        ds = make_instance(
            spec=spec,
            study_uid=study,
            series_uid=series,
            modality="CT",
            series_number=1,
            series_description="Thorax axial",
            index=index,
            size=512,
        )
        ds.save_as(root / f"{index:05d}.dcm", enforce_file_format=True)
    marker.write_text(json.dumps({"count": count}))
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_central(home: Path, log_file: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESALIUS_")}
    env["VESALIUS_HOME"] = str(home)
    process = subprocess.Popen(
        [sys.executable, "-m", "vesalius", "serve", "--http-port", str(port), "--dicom-port", "0"],
        env=env,
        stdout=log_file.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"central did not start: {log_file.read_text()}")


def export_deidentified(site: Path, project: str, out: Path) -> list[Path]:
    """The de-identified bytes the gateway stored (and sends), as files."""
    from sqlalchemy import select

    from vesalius.core.config import load_settings
    from vesalius.core.home import open_home
    from vesalius.core.model import Instance, Project

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    home = open_home(load_settings(site))
    try:
        with home.db.read() as session:
            rows = session.execute(
                select(Instance.sop_uid, Instance.blob_hash)
                .join(Project, Project.id == Instance.project_id)
                .where(Project.key == project)
                .order_by(Instance.id)
            ).all()
        paths = []
        for n, (_, blob_hash) in enumerate(rows):
            path = out / f"{n:05d}.dcm"
            path.write_bytes(home.store.get(blob_hash))
            paths.append(path)
    finally:
        home.close()
    return paths


def deliver(site: Path, project: str, central: str, token: str, batch: int) -> float:
    from vesalius.core.config import load_settings
    from vesalius.core.home import open_home
    from vesalius.gateway import DeliveryWorker, HttpStowTransport, gateway_status

    home = open_home(load_settings(site))
    transport = HttpStowTransport(central, project, token)
    try:
        worker = DeliveryWorker(home, project=project, transport=transport, batch_objects=batch)
        worker.enqueue()  # the queue is full before the clock starts, as for the upload
        started = time.perf_counter()
        if not worker.drain(timeout=6 * 3600):
            raise SystemExit("gateway delivery did not finish")
        seconds = time.perf_counter() - started
        with home.db.read() as session:
            status = gateway_status(session, project=project)
        if status["failed"] or status["queued"]:
            raise SystemExit(f"gateway delivery incomplete: {status['failed']} failed")
    finally:
        transport.close()
        home.close()
    return seconds


def upload(files: list[Path], central: str, project: str, token: str, batch: int) -> float:
    import pydicom
    from dicomweb_client.api import DICOMwebClient

    client = DICOMwebClient(
        url=f"{central}/dicom-web/projects/{project}",
        headers={"Authorization": f"Bearer {token}"},
    )
    started = time.perf_counter()
    for start in range(0, len(files), batch):
        datasets = [pydicom.dcmread(p) for p in files[start : start + batch]]
        client.store_instances(datasets)
    return time.perf_counter() - started


def central_count(central: str, token: str, project: str) -> int:
    import httpx

    response = httpx.get(
        f"{central}/api/projects/{project}/studies",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    return sum(s["instance_count"] for s in response.json()["items"])


def settle(central_home: Path, timeout: float = 600) -> None:
    """Start each timed transfer from the same state: the central's event loop has
    delivered the events of the previous transfer, and the gigabyte the site's import
    and export just wrote is on disk (its write-back otherwise slows whichever transfer
    comes first, by about a quarter)."""
    import sqlite3

    db = central_home / "vesalius.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            conn.execute("PRAGMA busy_timeout=10000")
            (left,) = conn.execute(
                "SELECT count(*) FROM outbox_event WHERE delivered_at IS NULL"
            ).fetchone()
        if not left:
            break
        time.sleep(1)
    os.sync()
    time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=BENCH / "work" / "gateway")
    parser.add_argument("--recheck", action="store_true", help="central projects --recheck-deid")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    source = generate_study(args.work / f"source-{args.instances}", args.instances)
    size_mb = sum(p.stat().st_size for p in source.iterdir()) / 1e6
    site = args.work / "site"
    shutil.rmtree(site, ignore_errors=True)
    vesalius(site, "init")
    extra = ["--recheck-deid"] if args.recheck else []
    rows = []
    for r in range(1, args.rounds + 1):
        gw, plain = f"gw{r}", f"plain{r}"
        key = site / "secrets" / "projects" / f"{gw}.key"
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(KEY[:-1] + bytes([r]))
        key.chmod(0o600)
        vesalius(site, "project", "create", gw, "--deid")
        started = time.perf_counter()
        vesalius(site, "import", "--project", gw, str(source), capture=True)
        intake = time.perf_counter() - started
        files = export_deidentified(site, gw, args.work / "deidentified")
        assert len(files) == args.instances, len(files)
        order = ["gateway", "plain"] if r % 2 else ["plain", "gateway"]
        seconds = {}
        for name in order:
            # A fresh central for each transfer: its storage area is content-addressed,
            # so a second transfer of the same bytes into one central would write no
            # blobs and look faster than it is.
            central_home = args.work / f"central-{name}"
            shutil.rmtree(central_home, ignore_errors=True)
            vesalius(central_home, "init")
            token = vesalius(central_home, "token", "create", "admin", capture=True).strip()
            project = gw if name == "gateway" else plain
            vesalius(central_home, "project", "create", project, *extra)
            process, central = start_central(central_home, args.work / f"central-{name}.log")
            try:
                settle(central_home)
                log(f"round {r}: {name}")
                if name == "gateway":
                    seconds[name] = deliver(site, gw, central, token, args.batch)
                else:
                    seconds[name] = upload(files, central, plain, token, args.batch)
                count = central_count(central, token, project)
                if count != args.instances:
                    raise SystemExit(f"central has {count} instances in {project}")
            finally:
                process.terminate()
                process.wait(30)
            shutil.rmtree(central_home, ignore_errors=True)
        rows.append((r, intake, seconds["gateway"], seconds["plain"]))
        log(f"round {r}: gateway {seconds['gateway']:.1f} s, plain {seconds['plain']:.1f} s")

    n = args.instances
    ratios = [plain / gateway for _, _, gateway, plain in rows]
    ratio = statistics.median(ratios)
    lines = [
        f"# Gateway delivery vs dicomweb-client upload ({dt.date.today().isoformat()})",
        "",
        f"{n} CT instances of 512 x 512 in one study ({size_mb:.0f} MB as generated), "
        f"batches of {args.batch}, central `vesalius serve` on loopback (SQLite home"
        f"{', --recheck-deid' if args.recheck else ''}).",
        "",
        "| round | gateway intake (de-identify, store) s | gateway delivery s | gateway inst/s "
        "| dicomweb-client s | dicomweb-client inst/s | gateway / plain |",
        "|---|---|---|---|---|---|---|",
    ]
    for (r, intake, gateway, plain), q in zip(rows, ratios, strict=True):
        lines.append(
            f"| {r} | {intake:.1f} | {gateway:.1f} | {n / gateway:.1f} | {plain:.1f} "
            f"| {n / plain:.1f} | {100 * q:.0f} % |"
        )
    lines += [
        "",
        f"Median gateway / plain rate: **{100 * ratio:.0f} %** (target >= 80 %).",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}; other benchmarks may have been running.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    target = args.output or BENCH / "results" / f"gateway-{dt.date.today().isoformat()}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report)
    log(f"wrote {target}")


if __name__ == "__main__":
    main()
