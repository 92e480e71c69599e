"""Benchmark: DICOM networking, vesalius side by side with Orthanc (same machine, same run).

Both servers run on their embedded defaults (vesalius: a fresh home, SQLite index and
files; Orthanc from Debian: SQLite index, no compression, DICOMweb plugin; configuration
from ``bench/orthanc/orthanc.json.template``), and every DCMTK process and both servers
get ``TCP_NODELAY=1``. Measured:

1. C-STORE ingest: ``--ingest`` generated 512 x 512 CT instances (studies of one
   500-slice series) sent by ONE ``storescu``, timed from its start until every instance
   is queryable (vesalius: QIDO ``NumberOfStudyRelatedInstances`` of the sent studies;
   Orthanc indexes before it acknowledges, its ``/statistics`` is polled).
2. QIDO-RS latency (median of 11 after one warm-up) of the study-list queries OHIF
   sends, with 10,000 and 100,000 studies in each server (``--sizes``), loaded through
   C-STORE (several ``storescu`` in parallel) from the same generated files (one small
   instance per study, varied names, dates, modalities and accession numbers).
3. WADO-RS ``/studies/{s}/series/{se}/metadata`` of a 500-instance series (median of 11).

Generated files are written once under ``--work`` (default ``bench/work``) and reused;
server homes go to ``<work>/network-homes`` (removed unless ``--keep``). Results go to
``bench/results/network-<date>.md`` (also printed).

Run:    .venv/bin/python bench/network.py
Quick:  .venv/bin/python bench/network.py --sizes 500 --ingest 200
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ORTHANC_TEMPLATE = BENCH / "orthanc" / "orthanc.json.template"
ORTHANC_BIN = "/usr/sbin/Orthanc"
DCMTK_ENV = {"TCP_NODELAY": "1"}  # DCMTK leaves Nagle on otherwise (~40 ms per C-STORE)

PROJECT = "bench"
VESALIUS_AE = "BENCH"  # the project's AE title
ORTHANC_AE = "ORTHANC"
CALLING_AE = "BENCHSCU"  # registered as a modality of the vesalius project
INGEST_SIZE = 512
SLICES_PER_STUDY = 500
QIDO_SIZE = 32
LOADERS = 4  # parallel storescu processes while loading the QIDO studies
REPEAT = 11
SEED = "vesalius-bench-network-v1"  # QIDO data is a function of this and the study index

# names for the QIDO studies: surnames of syllables, so that prefixes select a few percent
SYLLABLES = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "ba",
             "ri", "jo", "pe", "tu", "sa", "ne", "go", "la", "fi", "ma"]  # fmt: skip
GIVEN = ["Anna", "Ben", "Carla", "David", "Eva", "Felix", "Greta", "Hugo", "Ines", "Jonas",
         "Klara", "Lukas", "Mara", "Nils", "Olga", "Paul", "Rosa", "Simon", "Tara",
         "Udo"]  # fmt: skip
NAME_PREFIX = "Kalo"  # PatientName=Kalo*: surnames starting ka+lo, 1 in 400 patients
DATE_RANGE = "20200101-20200131"  # StudyDate: one month of 15 years
FIRST_DAY, DAYS = dt.date(2010, 1, 1), 5479

Latency = list[float]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Interrupted(Exception):
    """SIGTERM or SIGINT: unwind so that servers and clients are stopped."""


def _on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(f"signal {signum}")


# --------------------------------------------------------------------------- data


def _write_ingest_study(folder: str, seed: str, count: int, patient: int) -> tuple[str, str]:
    """One study of one axial CT series of ``count`` 512 x 512 slices (worker process)."""
    from vesalius.core.dicom.synthetic import StudySpec, make_study

    spec = StudySpec(
        patient_id=f"INGEST{patient:04d}",
        patient_name=f"Ingest^Patient{patient}",
        study_date=dt.date(2024, 6, 1) + dt.timedelta(days=patient),
        description="Network benchmark ingest",
        accession=f"ING{patient:06d}",
    )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    datasets = make_study(spec, [("CT", "Axial", count)], size=INGEST_SIZE, seed=seed)
    for index, ds in enumerate(datasets):
        ds.save_as(out / f"{index:04d}.dcm", enforce_file_format=True)
    return str(datasets[0].StudyInstanceUID), str(datasets[0].SeriesInstanceUID)


def qido_study(index: int) -> dict[str, Any]:
    """The attributes of QIDO study ``index`` (deterministic)."""
    rng = random.Random(f"{SEED}-{index}")
    patient = index // 2  # two studies per patient
    prng = random.Random(f"{SEED}-patient-{patient}")
    surname = "".join(prng.choice(SYLLABLES) for _ in range(3)).capitalize()
    roll = rng.random()
    modality = "CT" if roll < 0.5 else "MR" if roll < 0.85 else "PT"
    return {
        "patient_id": f"P{patient:07d}",
        "patient_name": f"{surname}^{prng.choice(GIVEN)}",
        "birth_date": (dt.date(1930, 1, 1) + dt.timedelta(days=prng.randrange(30000))),
        "sex": prng.choice("FMO"),
        "study_date": FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS)),
        "study_time": f"{rng.randrange(7, 19):02d}{rng.randrange(60):02d}00",
        "accession": f"ACC{index:09d}",
        "modality": modality,
        "description": f"{modality} {rng.choice(['Head', 'Chest', 'Abdomen', 'Knee', 'Spine'])}",
    }


def _write_qido_chunk(folder: str, start: int, end: int) -> int:
    """QIDO studies ``start``..``end - 1``, one 32 x 32 instance each (worker process)."""
    from pydicom.uid import generate_uid

    from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for index in range(start, end):
        attrs = qido_study(index)
        spec = StudySpec(
            patient_id=attrs["patient_id"],
            patient_name=attrs["patient_name"],
            study_date=attrs["study_date"],
            description=attrs["description"],
            accession=attrs["accession"],
        )

        def uid(kind: str, index: int = index) -> str:
            return generate_uid(prefix=ROOT, entropy_srcs=[SEED, kind, str(index)])

        ds = make_instance(
            spec=spec,
            study_uid=uid("study"),
            series_uid=uid("series"),
            modality=attrs["modality"],
            series_number=1,
            series_description=attrs["description"],
            index=0,
            size=QIDO_SIZE,
            sop_uid=uid("instance"),
        )
        ds.PatientBirthDate = attrs["birth_date"].strftime("%Y%m%d")
        ds.PatientSex = attrs["sex"]
        ds.StudyTime = ds.SeriesTime = attrs["study_time"]
        ds.save_as(out / f"{index:07d}.dcm", enforce_file_format=True)
    return end - start


@dataclass
class IngestSet:
    root: Path
    count: int
    studies: list[tuple[str, str, int]]  # (study UID, series UID, instances)


@dataclass
class QidoRange:
    start: int
    end: int
    parts: list[Path]

    @property
    def count(self) -> int:
        return self.end - self.start


def ingest_set(work: Path, count: int, workers: int) -> IngestSet:
    root = work / "network-data" / f"ingest-{count}"
    marker = root.parent / f"{root.name}.complete.json"
    if marker.is_file():
        log(f"reusing {root}")
        info = json.loads(marker.read_text())
        return IngestSet(root, count, [tuple(s) for s in info["studies"]])
    shutil.rmtree(root, ignore_errors=True)
    log(f"generating {count} 512 x 512 CT instances into {root}")
    started = time.perf_counter()
    sizes = [min(SLICES_PER_STUDY, count - s) for s in range(0, count, SLICES_PER_STUDY)]
    tag = secrets.token_hex(4)  # fresh UIDs for a fresh set
    with ProcessPoolExecutor(workers) as pool:
        futures = [
            pool.submit(_write_ingest_study, str(root / f"study-{k}"), f"{tag}-{k}", n, k)
            for k, n in enumerate(sizes)
        ]
        studies = [(*f.result(), n) for f, n in zip(futures, sizes, strict=True)]
    marker.write_text(json.dumps({"count": count, "studies": studies}))
    log(f"generated {count} instances in {time.perf_counter() - started:.0f} s")
    return IngestSet(root, count, studies)


def qido_range(work: Path, start: int, end: int, workers: int) -> QidoRange:
    """QIDO studies ``start``..``end - 1`` in ``LOADERS`` folders (one per storescu)."""
    root = work / "network-data" / f"qido-{start:07d}-{end:07d}"
    parts = [root / f"part-{k}" for k in range(LOADERS)]
    marker = root.parent / f"{root.name}.complete.json"
    if marker.is_file():
        log(f"reusing {root}")
        return QidoRange(start, end, parts)
    shutil.rmtree(root, ignore_errors=True)
    log(f"generating QIDO studies {start:,}..{end - 1:,} into {root}")
    started, done, total = time.perf_counter(), 0, end - start
    chunk = 500
    tasks = [
        (str(parts[(s - start) * LOADERS // total]), s, min(s + chunk, end))
        for s in range(start, end, chunk)
    ]
    # a chunk may straddle two parts' boundaries: keep it in the part of its first study
    with ProcessPoolExecutor(workers) as pool:
        for n in pool.map(_write_qido_chunk, *zip(*tasks, strict=True)):
            done += n
            if done % max(chunk, total // 10) < n:
                log(f"  {done:,}/{total:,} written")
    for part in parts:
        part.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"start": start, "end": end}))
    log(f"generated {total:,} studies in {time.perf_counter() - started:.0f} s")
    return QidoRange(start, end, parts)


def warm(folder: Path) -> None:
    """Read every file once, so that each server's run starts with them cached."""
    for path in sorted(folder.rglob("*.dcm")):
        path.read_bytes()


# --------------------------------------------------------------------------- processes


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the process group (each was started in a session of its own), then kill."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"process {proc.pid} did not stop in {timeout:.0f} s; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESALIUS_")}
    return env | DCMTK_ENV | {"PYTHONUNBUFFERED": "1"}


def storescu(port: int, called_ae: str, paths: list[Path], log_file: Path) -> subprocess.Popen:
    cmd = [
        "storescu",
        "-aet",
        CALLING_AE,
        "-aec",
        called_ae,
        "+sd",
        "+r",
        "127.0.0.1",
        str(port),
        *map(str, paths),
    ]
    return subprocess.Popen(
        cmd,
        env=base_env(),
        stdout=log_file.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def query_string(params: dict[str, str]) -> str:
    """Encoded as a browser's URLSearchParams does (OHIF): ``*`` stays as it is. Orthanc's
    DICOMweb plugin takes ``%2A`` literally, so a wildcard sent that way matches nothing."""
    return urllib.parse.urlencode(params, safe="*", quote_via=urllib.parse.quote_plus)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float) -> float:
    """Poll ``check`` until true; returns the perf_counter time when it was."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    folder: Path
    http_port: int = 0
    dicom_port: int = 0
    process: subprocess.Popen | None = None
    client: httpx.Client | None = None
    facts: dict[str, str] = field(default_factory=dict)

    called_ae = ""
    dicomweb_path = "/dicom-web"

    @property
    def log_file(self) -> Path:
        return self.folder / "server.log"

    @property
    def http(self) -> httpx.Client:
        assert self.client is not None
        return self.client

    def _start(self, cmd: list[str], health: str, headers: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            cmd,
            env=base_env(),
            stdout=self.log_file.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.http_port}",
            headers={"Accept-Encoding": "identity", **headers},
            timeout=600,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited on start; see {self.log_file}")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get(health).status_code == 200 and port_open(self.dicom_port):
                    log(f"{self.name}: HTTP {self.http_port}, DICOM {self.dicom_port}")
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start in 60 s; see {self.log_file}")

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.process is not None:
            stop_process(self.process)
            log(f"{self.name}: stopped (exit code {self.process.returncode})")

    def qido(self, path: str, params: dict[str, str]) -> tuple[float, int]:
        """Seconds for one QIDO request (whole body read) and how many results it gave."""
        url = f"{self.dicomweb_path}{path}?{query_string(params)}"
        started = time.perf_counter()
        response = self.http.get(url, headers={"Accept": "application/dicom+json"})
        body = response.content
        seconds = time.perf_counter() - started
        if response.status_code == 204:
            return seconds, 0
        if response.status_code != 200:
            raise RuntimeError(f"{self.name} {path} {params}: HTTP {response.status_code}")
        return seconds, len(json.loads(body))

    def study_instances(self, study_uids: list[str]) -> int:
        """Instances indexed in these studies, by QIDO."""
        _, results = self.qido_json("/studies", {"StudyInstanceUID": "\\".join(study_uids)})
        total = 0
        for study in results:
            values = study.get("00201208", {}).get("Value") or [0]
            total += int(values[0])
        return total

    def qido_json(self, path: str, params: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
        response = self.http.get(
            self.dicomweb_path + path, params=params, headers={"Accept": "application/dicom+json"}
        )
        if response.status_code == 204:
            return 204, []
        response.raise_for_status()
        return response.status_code, response.json()

    # overridden
    def instances_done(self, ingest: IngestSet) -> bool:
        raise NotImplementedError

    def studies(self) -> int:
        raise NotImplementedError

    def settled(self) -> bool:
        return True


class Vesalius(Server):
    called_ae = VESALIUS_AE

    def cli(self, *args: str) -> str:
        cmd = [sys.executable, "-m", "vesalius", "--home", str(self.home), *args]
        proc = subprocess.run(cmd, env=base_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"failed: {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    @property
    def home(self) -> Path:
        return self.folder / "home"

    def start(self) -> None:
        import pynetdicom
        import sqlalchemy
        import uvicorn

        import vesalius

        self.folder.mkdir(parents=True)
        self.cli("init")
        self.cli("project", "create", PROJECT)
        self.cli(
            "modality", "add", "benchscu", "--ae-title", CALLING_AE, "--host", "127.0.0.1",
            "--port", "11112", "--project", PROJECT,
        )  # fmt: skip
        token = self.cli("token", "create", "admin").strip()
        self.http_port, self.dicom_port = free_ports(2)
        cmd = [
            sys.executable, "-m", "vesalius", "--home", str(self.home), "serve",
            "--http-port", str(self.http_port), "--dicom-port", str(self.dicom_port),
        ]  # fmt: skip
        self._start(cmd, "/api/health", {"Authorization": f"Bearer {token}"})
        self.facts = {
            "version": vesalius.__version__,
            "stack": f"uvicorn {uvicorn.__version__}, pynetdicom {pynetdicom.__version__}, "
            f"SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}",
            "index": "SQLite (WAL) in a fresh home, objects as files in the home",
            "DICOMweb": f"{self.dicomweb_path} (every project the admin token may read)",
        }

    def instances_done(self, ingest: IngestSet) -> bool:
        return self.study_instances([s[0] for s in ingest.studies]) >= ingest.count

    def studies(self) -> int:
        response = self.http.get(f"/api/projects/{PROJECT}/studies", params={"limit": 1})
        response.raise_for_status()
        return int(response.json()["total"])

    def background_work(self) -> int:
        """Series and studies not yet announced stable plus undelivered events: the
        background writes still to come (read from the embedded database)."""
        db = self.home / "vesalius.db"
        if not db.exists():
            return 0  # not the embedded database: nothing to look at
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            conn.execute("PRAGMA busy_timeout=10000")
            (left,) = conn.execute(
                "SELECT (SELECT count(*) FROM series WHERE stable_at IS NULL)"
                " + (SELECT count(*) FROM study WHERE stable_at IS NULL)"
                " + (SELECT count(*) FROM outbox_event WHERE delivered_at IS NULL)"
            ).fetchone()
        return int(left)

    def settled(self) -> bool:
        return self.background_work() == 0


class Orthanc(Server):
    called_ae = ORTHANC_AE

    def start(self) -> None:
        self.folder.mkdir(parents=True)
        self.http_port, self.dicom_port = free_ports(2)
        plugin = find_dicomweb_plugin()
        text = string.Template(ORTHANC_TEMPLATE.read_text()).substitute(
            storage=str(self.folder / "storage"),
            http_port=self.http_port,
            dicom_port=self.dicom_port,
            dicom_aet=ORTHANC_AE,
            dicomweb_plugin=plugin,
        )
        json.loads(text)  # the filled-in template must be valid JSON
        config = self.folder / "orthanc.json"
        config.write_text(text)
        self._start([ORTHANC_BIN, str(config)], "/system", {})
        system = self.http.get("/system").json()
        plugin_info = self.http.get("/plugins/dicom-web").json()
        self.facts = {
            "version": str(system.get("Version")),
            "stack": f"DICOMweb plugin {plugin_info.get('Version')}, "
            f"database schema {system.get('DatabaseVersion')}",
            "index": "SQLite (Orthanc's embedded default), no storage compression",
            "DICOMweb": f"{self.dicomweb_path} (metadata mode: plugin default, Full)",
        }

    def statistics(self) -> dict[str, Any]:
        response = self.http.get("/statistics")
        response.raise_for_status()
        return response.json()

    def instances_done(self, ingest: IngestSet) -> bool:
        return int(self.statistics()["CountInstances"]) >= ingest.count

    def studies(self) -> int:
        return int(self.statistics()["CountStudies"])


def find_dicomweb_plugin() -> str:
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError("the orthanc-dicomweb package is not installed") from exc
    candidates = [p for p in listing if "DicomWeb" in p and ".so" in p and Path(p).is_file()]
    if not candidates:
        raise RuntimeError("no DICOMweb plugin .so in `dpkg -L orthanc-dicomweb`")
    return sorted(candidates, key=len)[0]


# --------------------------------------------------------------------------- measuring


@dataclass
class IngestRun:
    server: str
    instances: int
    seconds: float
    storescu_seconds: float
    settle_seconds: float | None = None  # background work after it (vesalius' event loop)
    round: int = 1
    other_cores: float = 0.0  # CPU used meanwhile by processes other than server+storescu

    @property
    def rate(self) -> float:
        return self.instances / self.seconds


@dataclass
class LoadRun:
    server: str
    before: int
    instances: int
    seconds: float
    settle_seconds: float | None = None  # background work after it (vesalius' event loop)

    @property
    def rate(self) -> float:
        return self.instances / self.seconds


@dataclass
class Timing:
    server: str
    size: int  # studies in the index (QIDO) or instances in the series (WADO)
    name: str
    seconds: Latency
    results: int

    @property
    def p50_ms(self) -> float:
        return 1000 * statistics.median(self.seconds)


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores; /proc/stat, not idle/iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(sessions: set[int]) -> float:
    """CPU seconds (user + system, reaped children included) of every live process in
    these sessions: each server and storescu runs in a session of its own."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[3]) in sessions:  # field 6 of stat: session id
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def run_ingest(server: Server, data: IngestSet, work: Path) -> IngestRun:
    os.sync()
    warm(data.root)
    log(f"{server.name}: C-STORE of {data.count} instances with one storescu")
    assert server.process is not None
    sessions = {server.process.pid}
    busy_before = busy_seconds()
    ours_before = session_cpu_seconds(sessions)
    started = time.perf_counter()
    proc = storescu(server.dicom_port, server.called_ae, [data.root], work / "storescu.log")
    sessions.add(proc.pid)
    try:
        code = proc.wait()
    finally:
        stop_process(proc)
    sent = time.perf_counter()
    if code != 0:
        raise RuntimeError(f"storescu to {server.name} failed ({code}); see {work}/storescu.log")
    done = wait_until(
        lambda: server.instances_done(data), 600, f"{server.name} to index", interval=0.02
    )
    # storescu has been reaped by now: its CPU shows in nobody's session, so it counts
    # as "other"; it is small (it reads files and writes sockets) and alike for both.
    ours = session_cpu_seconds(sessions) - ours_before
    other = max(0.0, busy_seconds() - busy_before - ours) / (done - started)
    run = IngestRun(server.name, data.count, done - started, sent - started, other_cores=other)
    log(
        f"{server.name}: {data.count} instances queryable after {run.seconds:.1f} s "
        f"(storescu {run.storescu_seconds:.1f} s) = {run.rate:.1f} instances/s, "
        f"other processes {other:.2f} cores"
    )
    return run


def load(server: Server, data: QidoRange, expected_total: int, work: Path) -> LoadRun:
    """C-STORE one range of QIDO studies with LOADERS storescu in parallel."""
    before = server.studies()
    os.sync()
    log(f"{server.name}: loading {data.count:,} studies ({LOADERS} storescu in parallel)")
    started = time.perf_counter()
    procs = [
        storescu(server.dicom_port, server.called_ae, [p], work / "storescu.log")
        for p in data.parts
        if any(p.iterdir())
    ]
    try:
        last = time.monotonic()
        while any(p.poll() is None for p in procs):
            time.sleep(1)
            if time.monotonic() - last >= 30:
                last = time.monotonic()
                now = server.studies()
                elapsed = time.perf_counter() - started
                log(
                    f"  {server.name}: {now - before:,}/{data.count:,} indexed after "
                    f"{elapsed:.0f} s ({(now - before) / elapsed:.0f}/s)"
                )
        codes = [p.returncode for p in procs]
    finally:
        for p in procs:
            stop_process(p)
    if any(codes):
        raise RuntimeError(f"storescu to {server.name} failed ({codes}); see {work}/storescu.log")

    def indexed() -> bool:
        return server.studies() >= expected_total

    done = wait_until(indexed, 3600, f"{server.name} to index", interval=0.5)
    run = LoadRun(server.name, before, data.count, done - started)
    log(f"{server.name}: loaded {data.count:,} studies in {run.seconds:.0f} s ({run.rate:.0f}/s)")
    return run


def qido_queries(sizes: list[int]) -> list[tuple[str, dict[str, str]]]:
    """The study-list queries OHIF sends, with values from studies present at every size."""
    probe = qido_study(min(sizes) // 3)
    return [
        ("PatientName=<prefix>*", {"PatientName": f"{NAME_PREFIX}*", "limit": "101"}),
        ("StudyDate=<from>-<to>", {"StudyDate": DATE_RANGE, "limit": "101"}),
        ("ModalitiesInStudy=CT", {"ModalitiesInStudy": "CT", "limit": "101", "offset": "0"}),
        ("PatientID=<id>", {"PatientID": probe["patient_id"]}),
        ("limit=101", {"limit": "101"}),
        ("AccessionNumber=<acc>", {"AccessionNumber": probe["accession"]}),
    ]


def timed(call: Callable[[], tuple[float, int]], repeat: int) -> tuple[Latency, int]:
    call()  # warm-up
    seconds, counts = [], set()
    for _ in range(repeat):
        s, n = call()
        seconds.append(s)
        counts.add(n)
    if len(counts) != 1:
        raise RuntimeError(f"result counts changed between repeats: {counts}")
    return seconds, counts.pop()


def measure_qido(server: Server, size: int, sizes: list[int], repeat: int) -> list[Timing]:
    out = []
    for name, params in qido_queries(sizes):
        seconds, results = timed(lambda p=params: server.qido("/studies", p), repeat)
        timing = Timing(server.name, size, name, seconds, results)
        log(f"{server.name} @ {size:,}: {name}: p50 {timing.p50_ms:.1f} ms, {results} results")
        out.append(timing)
    return out


def measure_metadata(server: Server, data: IngestSet, size: int, repeat: int) -> Timing:
    study, series, count = max(data.studies, key=lambda s: s[2])
    path = f"/studies/{study}/series/{series}/metadata"

    def call() -> tuple[float, int]:
        started = time.perf_counter()
        response = server.http.get(
            server.dicomweb_path + path, headers={"Accept": "application/dicom+json"}
        )
        body = response.content
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{server.name} {path}: HTTP {response.status_code}")
        return seconds, len(json.loads(body))

    seconds, results = timed(call, repeat)
    if results != count:
        raise RuntimeError(f"{server.name}: metadata of {results} instances, expected {count}")
    timing = Timing(server.name, size, f"series metadata ({count} instances)", seconds, results)
    log(f"{server.name} @ {size:,} studies: /metadata p50 {timing.p50_ms:.1f} ms")
    return timing


# --------------------------------------------------------------------------- report


def machine_facts() -> list[tuple[str, str]]:
    import pydicom

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    dcmtk = "?"
    with contextlib.suppress(OSError, IndexError):
        out = subprocess.run(["storescu", "--version"], capture_output=True, text=True).stdout
        dcmtk = out.strip().splitlines()[0].strip("$ ")
    return [
        ("CPUs", f"{os.cpu_count()} x {cpu}"),
        ("memory", mem),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_version()}, pydicom {pydicom.__version__}"),
        ("DCMTK", dcmtk),
    ]


def _fmt_ms(t: Timing) -> str:
    return f"{t.p50_ms:.1f}"


def report(
    args: argparse.Namespace,
    command: str,
    facts: list[tuple[str, str]],
    servers: list[Server],
    ingest: list[IngestRun],
    loads: list[LoadRun],
    timings: list[Timing],
    load_before: list[float],
) -> str:
    today = dt.date.today().isoformat()
    names = [s.name for s in servers]
    both = len(names) == 2
    lines = [
        f"# DICOM networking: vesalius and Orthanc side by side ({today})",
        "",
        f"Command: `{command}`",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in facts],
        *[f"| {s.name} {k} | {v} |" for s in servers for k, v in s.facts.items()],
        f"| load average at the measurements | {', '.join(f'{x:.1f}' for x in load_before)} |",
        "",
    ]
    verdicts: list[str] = []

    # 1. ingest
    lines += [
        f"## C-STORE ingest: {args.ingest:,} × 512 × 512 CT (16-bit, uncompressed), "
        "one storescu, until every instance is queryable",
        "",
        "Each round sends the same files to a fresh server of each kind (round 1: the "
        "servers measured below; later rounds in alternating order); the ratio is the "
        "median over the rounds of vesalius' rate / Orthanc's rate in the same round. "
        "*other CPU* is what the rest of the machine used meanwhile, in cores.",
        "",
        "| round | server | instances | storescu s | until queryable s | instances/s | "
        "vesalius / Orthanc | other CPU (cores) | background work after it, s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for r in ingest:
        ratio = "–"
        peer = [o for o in ingest if o.round == r.round and o.server == "Orthanc"]
        if both and r.server == "vesalius" and peer:
            ratios.append(r.rate / peer[0].rate)
            ratio = f"{ratios[-1]:.2f}"
        after = "–" if r.settle_seconds is None else f"{r.settle_seconds:.0f}"
        lines.append(
            f"| {r.round} | {r.server} | {r.instances:,} | {r.storescu_seconds:.1f} | "
            f"{r.seconds:.1f} | {r.rate:.1f} | {ratio} | {r.other_cores:.2f} | {after} |"
        )
    if both and ratios:
        ratio = statistics.median(ratios)
        verdicts.append(
            f"- C-STORE ingest: vesalius / Orthanc = **{ratio:.2f}** (median of "
            f"{', '.join(f'{x:.2f}' for x in ratios)}; "
            f"{'meets' if ratio >= 1.5 else 'MISSES'} the ≥ 1.5 target)"
        )

    # 2. QIDO
    lines += [
        "",
        f"## QIDO-RS study search: p50 of {args.repeat} (after 1 warm-up), ms",
        "",
        "Queries as OHIF's study list sends them (query string encoded like a browser's "
        "URLSearchParams), against `/dicom-web/studies`; *results* is the number of studies "
        "returned (same data in both servers; shown per server if they differ).",
        "",
    ]
    header = ["studies", "query", *[f"{n} p50 ms" for n in names]]
    header += ["results"] + (["Orthanc / vesalius (× faster)"] if both else [])
    lines += [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---:", "---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    qido = [t for t in timings if not t.name.startswith("series metadata")]
    for size in args.sizes:
        for name, _ in qido_queries(args.sizes):
            row = {t.server: t for t in qido if t.size == size and t.name == name}
            if not row:
                continue
            cells = [
                f"{size:,}",
                f"`{name}`",
                *[_fmt_ms(row[n]) if n in row else "–" for n in names],
            ]
            counts = [row[n].results for n in names if n in row]
            same = len(set(counts)) == 1
            cells.append(str(counts[0]) if same else " ≠ ".join(map(str, counts)))
            if both:
                ratio = row["Orthanc"].p50_ms / row["vesalius"].p50_ms
                cells.append(f"{ratio:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
    biggest = max(args.sizes)
    mine = [t for t in qido if t.server == "vesalius" and t.size == biggest]
    if mine:
        worst = max(mine, key=lambda t: t.p50_ms)
        verdicts.append(
            f"- QIDO at {biggest:,} studies: slowest vesalius p50 {worst.p50_ms:.1f} ms "
            f"(`{worst.name}`; {'meets' if worst.p50_ms <= 20 else 'MISSES'} the ≤ 20 ms target)"
        )
    if both:
        slower = [
            f"`{t.name}` at {t.size:,}"
            for t in qido
            if t.server == "vesalius"
            for o in qido
            if o.server == "Orthanc"
            and o.size == t.size
            and o.name == t.name
            and o.p50_ms <= t.p50_ms
        ]
        verdicts.append(
            "- QIDO: vesalius faster than Orthanc on every query at every size"
            if not slower
            else f"- QIDO: vesalius NOT faster than Orthanc on {', '.join(slower)}"
        )

    # 3. WADO metadata
    meta = [t for t in timings if t.name.startswith("series metadata")]
    lines += [
        "",
        f"## WADO-RS `/studies/{{s}}/series/{{se}}/metadata` of a 500-instance series: "
        f"p50 of {args.repeat}, ms",
        "",
        "| studies in the index | "
        + " | ".join(f"{n} p50 ms" for n in names)
        + (" | Orthanc / vesalius (× faster) |" if both else " |"),
        "|---:|" + "---:|" * (len(names) + (1 if both else 0)),
    ]
    for size in sorted({t.size for t in meta}):
        row = {t.server: t for t in meta if t.size == size}
        cells = [f"{size:,}", *[_fmt_ms(row[n]) if n in row else "–" for n in names]]
        if both and len(row) == 2:
            cells.append(f"{row['Orthanc'].p50_ms / row['vesalius'].p50_ms:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    mine = [t for t in meta if t.server == "vesalius"]
    if mine:
        worst = max(mine, key=lambda t: t.p50_ms)
        verdicts.append(
            f"- WADO-RS series metadata: vesalius p50 at most {worst.p50_ms:.1f} ms "
            f"({'meets' if worst.p50_ms <= 100 else 'MISSES'} the ≤ 100 ms target)"
        )

    # loading
    lines += [
        "",
        f"## Loading the QIDO studies (1 instance of 32 × 32 per study, {LOADERS} storescu "
        "in parallel, until indexed)",
        "",
        "| server | studies before | studies loaded | seconds | instances/s | "
        "background work after it, s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in loads:
        after = "–" if r.settle_seconds is None else f"{r.settle_seconds:.0f}"
        lines.append(
            f"| {r.server} | {r.before:,} | {r.instances:,} | {r.seconds:.0f} | {r.rate:.1f} | "
            f"{after} |"
        )
    lines += ["", "## Verdict", "", *verdicts, "", "## Method", "", *METHOD, ""]
    return "\n".join(lines)


METHOD = [
    "- Both servers run at the same time on loopback, each with a fresh home / storage folder, "
    "on their embedded defaults (vesalius: SQLite index and files in its home, `vesalius serve`; "
    "Orthanc: SQLite index, no compression, DICOMweb plugin, configuration from "
    "`bench/orthanc/orthanc.json.template`). Every DCMTK process and both servers run with "
    "`TCP_NODELAY=1`. Only one server is loaded or measured at a time.",
    "- C-STORE ingest: `storescu -aet BENCHSCU -aec <AE> +sd +r 127.0.0.1 <port> <folder>` "
    "(one association, the calling AE registered as a vesalius modality); the input files are "
    "read once before (page cache) and `sync` is called. *until queryable* runs from the "
    "start of storescu until the index answers the full count: vesalius acknowledges once "
    "the object is durably spooled and indexes in the background, so its clock stops when "
    "QIDO's `NumberOfStudyRelatedInstances` of the sent studies adds up (polled every 20 ms "
    "after storescu ended); Orthanc indexes before it acknowledges (`/statistics`, same "
    "polling).",
    "- QIDO: one keep-alive HTTP client (httpx), `Accept: application/dicom+json`, no "
    "compression; time until the whole body is read; the vesalius requests carry an admin "
    "bearer token (checked on every request), Orthanc runs without authentication. The "
    "studies are loaded through each server's C-STORE from the same generated files; "
    "vesalius is measured once every series and study has been announced stable and its "
    "outbox events delivered (its event loop has no background writes left; the time this "
    "took is in the loading table), Orthanc once its `StableAge` (60 s) has passed.",
    "- WADO-RS metadata: the largest series of the ingest set (500 instances), whole body read.",
]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=BENCH / "work", help="data and homes")
    parser.add_argument(
        "--sizes", default="10000,100000", help="studies in the index for the QIDO measurements"
    )
    parser.add_argument("--ingest", type=int, default=2000, help="instances for C-STORE ingest")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="timed requests (median)")
    parser.add_argument(
        "--ingest-rounds",
        type=int,
        default=3,
        help="C-STORE ingest rounds per server (fresh servers, alternating order; median)",
    )
    parser.add_argument("--skip-orthanc", action="store_true", help="vesalius only (debugging)")
    parser.add_argument("--output", type=Path, default=None, help="markdown file")
    parser.add_argument("--keep", action="store_true", help="keep the server homes")
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes: comma-separated numbers")
    if not args.sizes or min(args.sizes) < 10 or args.ingest < 1 or args.repeat < 1:
        parser.error("--sizes must be ≥ 10, --ingest and --repeat positive")
    return args


def _command_line() -> str:
    exe = sys.executable
    with contextlib.suppress(ValueError):
        rel = os.path.relpath(exe)
        exe = rel if not rel.startswith("..") else exe
    return shlex.join([exe, *sys.argv])


def settle(servers: list[Server], loaded_at: dict[str, float]) -> dict[str, float]:
    """Wait until the background work after loading is over, so that nothing but the
    measured requests runs: vesalius announces stable series and studies and delivers
    its outbox events (in its event loop); Orthanc's stable events come after StableAge.
    Returns the seconds each server still worked after its loading was done."""
    took: dict[str, float] = {}
    for server in servers:
        if isinstance(server, Vesalius):
            started, last = time.monotonic(), 0.0
            while (left := server.background_work()) > 0:
                if time.monotonic() - last >= 60:
                    last = time.monotonic()
                    log(
                        f"{server.name}: {left:,} stability checks and outbox events to go "
                        f"({time.monotonic() - started:.0f} s)"
                    )
                if time.monotonic() - started > 4 * 3600:
                    raise RuntimeError(f"{server.name} did not settle in 4 hours")
                time.sleep(2)
            took[server.name] = time.monotonic() - loaded_at.get(server.name, started)
            log(f"{server.name}: settled {took[server.name]:.0f} s after its loading ended")
        else:
            left = loaded_at.get(server.name, 0.0) + 65 - time.monotonic()  # StableAge 60 s
            if left > 0:
                log(f"{server.name}: waiting {left:.0f} s for StableAge to pass")
                time.sleep(left)
    time.sleep(2)
    return took


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work = args.work.resolve()
    command = _command_line()
    for tool in ("storescu",) + (() if args.skip_orthanc else (ORTHANC_BIN,)):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (Debian packages dcmtk, orthanc)", file=sys.stderr)
            return 1
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    workers = os.cpu_count() or 1
    ingest_data = ingest_set(args.work, args.ingest, workers)
    bounds = [0, *args.sizes]
    ranges = [qido_range(args.work, a, b, workers) for a, b in itertools.pairwise(bounds)]
    facts = machine_facts()

    run_dir = args.work / "network-homes" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    servers: list[Server] = [Vesalius("vesalius", run_dir / "vesalius")]
    if not args.skip_orthanc:
        servers.append(Orthanc("Orthanc", run_dir / "orthanc"))
    ingest: list[IngestRun] = []
    loads: list[LoadRun] = []
    timings: list[Timing] = []
    load_before: list[float] = []
    try:
        for server in servers:
            server.start()
        loaded_at: dict[str, float] = {}
        for server in servers:
            ingest.append(run_ingest(server, ingest_data, run_dir))
            ingest[-1].round = 1
            loaded_at[server.name] = time.monotonic()
        took = settle(servers, loaded_at)
        for run in ingest:
            run.settle_seconds = took.get(run.server)
        # More rounds into fresh servers, in alternating order, so that load from other
        # work on the machine does not favour whichever server happened to go first.
        for r in range(2, args.ingest_rounds + 1):
            for server in servers if r % 2 else servers[::-1]:
                fresh = type(server)(server.name, run_dir / f"{server.folder.name}-round{r}")
                fresh.start()
                try:
                    ingest.append(run_ingest(fresh, ingest_data, run_dir))
                    ingest[-1].round = r
                finally:
                    fresh.stop()
                    shutil.rmtree(fresh.folder, ignore_errors=True)
        for server in servers:
            timings.append(
                measure_metadata(server, ingest_data, len(ingest_data.studies), args.repeat)
            )
        total = 0
        for data in ranges:
            total += data.count
            loaded_at = {}
            for server in servers:
                loads.append(load(server, data, total + len(ingest_data.studies), run_dir))
                loaded_at[server.name] = time.monotonic()
            took = settle(servers, loaded_at)
            for run in loads[-len(servers) :]:
                run.settle_seconds = took.get(run.server)
            load_before.append(os.getloadavg()[0])
            for server in servers:
                timings.extend(measure_qido(server, total, args.sizes, args.repeat))
                timings.append(
                    measure_metadata(
                        server, ingest_data, total + len(ingest_data.studies), args.repeat
                    )
                )
    except (Interrupted, KeyboardInterrupt) as exc:
        log(f"interrupted ({exc}); stopping the servers")
        return 1
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                log(f"{server.name}: stop failed: {exc}")
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            log(f"kept {run_dir}")
    text = report(args, command, facts, servers, ingest, loads, timings, load_before)
    output = args.output or BENCH / "results" / f"network-{dt.date.today().isoformat()}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
