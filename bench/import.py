"""Benchmark: `vesalius import` throughput into an empty and into a full index.

For each database (embedded SQLite, PostgreSQL) in a fresh vesalius home:

1. import ``--measure`` generated 512 x 512 CT instances (16-bit, uncompressed) into an
   empty index (rate_empty);
2. load ``--preload`` more instances through the same CLI import (small 32 x 32 images,
   1 study = 2 series x 50 instances), in a few chunks;
3. import another fresh set of ``--measure`` 512 x 512 instances (rate_full), paired with
   another empty-index import in a fresh scratch home right next to it (``--repeat`` pairs;
   the ratio is the median over the pairs, so that drifting load from elsewhere cancels).

Each import is the real command, ``python -m vesalius --home H import -p bench DIR --json``,
run in a fresh intermediate Python process that reads ``RUSAGE_CHILDREN.ru_maxrss`` after
it returns: the peak resident set of the largest process of the import's tree (main
process or a parser worker). The benchmark also samples the summed RSS of the whole tree
from /proc. Seconds are wall-clock until the command returns, i.e. until the last index
transaction has committed; instances/s = instances / seconds.

Generated files are written once under ``--work`` and reused across databases and runs.
Results go to ``bench/results/import-<date>.md`` as a markdown table (also printed).

Run:    .venv/bin/python bench/import.py
Quick:  .venv/bin/python bench/import.py --preload 5000 --measure 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PROJECT = "bench"
MEASURE_SIZE = 512
PRELOAD_SIZE = 32
SLICES_PER_STUDY = 500  # measured sets: studies of one axial CT series of up to 500 slices
SERIES_PER_STUDY, IMAGES_PER_SERIES = 2, 50  # preload: 100 instances per study

METHOD = [
    "- Each import is `python -m vesalius --home H import -p bench DIR --json`, run in a fresh "
    "intermediate process; *seconds* is wall-clock until the command returns (the import returns "
    "after its last index transaction commits), start-up included; *instances/s* = instances / "
    "seconds.",
    "- *peak RSS MiB* is `ru_maxrss` of `RUSAGE_CHILDREN` read by that intermediate process: the "
    "peak of the largest single process of the import's tree (main process or a parser worker). "
    "The tree sum is sampled from /proc every 0.25 s and counts pages shared between the forked "
    "workers more than once.",
    "- Fresh home per database (SQLite: embedded default, `VESALIUS_DATABASE_URL` unset; "
    "PostgreSQL: a new database `bench_<random>`), `vesalius init`, `vesalius project create "
    "bench`. Empty: import into that empty index; after the preload, each full run (one fresh "
    "set of new UIDs per repeat) is paired with another empty-index run in a fresh scratch home.",
    "- Before each measured import: `sync`, and the input files are read once so that both the "
    "empty and the full run start with their inputs in the page cache.",
    "- *seconds (import's own)* is the `seconds` of the import's JSON summary (without "
    "interpreter start-up and home opening). *CPU ms/instance* is user + system time of the whole "
    "import tree (`RUSAGE_CHILDREN`) per instance: less sensitive than wall-clock to other work "
    "on the machine. *other CPU (cores)* is what everything else on the machine used meanwhile "
    "(busy time from /proc/stat minus the import tree's CPU time, per wall-clock second; "
    "includes the PostgreSQL server, about 2.5 ms CPU per instance, and the benchmark "
    "itself): on a 2-core machine, much above 0.3 means the run competed with other work "
    "and its wall-clock rate understates vesalius.",
]

PAIRS_NOTE = (
    "*ratio vs empty*: each full-index run is paired with an import of the same kind into an "
    "empty index (a fresh scratch home) done right before or after it, in alternating order; "
    "the ratio is the median over the pairs of full rate / empty rate, so that load from other "
    "work on the machine, which drifts over the hour the preload takes, hits both sides of a "
    "pair alike. The empty row is the median of all empty-index runs (the first one, before "
    "the preload, included)."
)

# Runs the import in a child and reports what the child (and its whole tree) cost.
WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"returncode": proc.returncode, "seconds": seconds, "maxrss_kib": usage.ru_maxrss,
           "cpu_user": usage.ru_utime, "cpu_system": usage.ru_stime,
           "stdout": proc.stdout.decode("utf-8", "replace")}, sys.stdout)
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def _write_series(
    folder: str,
    patient_id: str,
    patient_name: str,
    study_date: str,
    study_uid: str,
    series_uid: str,
    series_number: int,
    description: str,
    start: int,
    count: int,
    size: int,
) -> int:
    """Write ``count`` images of one series (runs in a worker process)."""
    from vesalius.core.dicom.synthetic import StudySpec, make_instance

    spec = StudySpec(
        patient_id=patient_id,
        patient_name=patient_name,
        study_date=dt.date.fromisoformat(study_date),
        description="Benchmark study",
        accession=patient_id[-16:],
    )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        ds = make_instance(
            spec=spec,
            study_uid=study_uid,
            series_uid=series_uid,
            modality="CT",
            series_number=series_number,
            series_description=description,
            index=index,
            size=size,
        )
        ds.save_as(out / f"{index:04d}.dcm", enforce_file_format=True)
    return count


@dataclass
class Dataset:
    """A generated folder (or folder of chunk folders) and what it holds."""

    root: Path
    count: int
    chunks: list[Path] = field(default_factory=list)


def _uid() -> str:
    from pydicom.uid import generate_uid

    from vesalius.core.dicom.synthetic import ROOT

    return generate_uid(prefix=ROOT)  # random (UUID-derived): fresh UIDs on every call


def _generate(
    root: Path, tasks: list[tuple], count: int, chunks: list[Path], workers: int
) -> Dataset:
    marker = root.parent / f"{root.name}.complete.json"  # outside: import reads every file
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("count") == count:
            log(f"reusing {root} ({count} instances)")
            return Dataset(root, count, [root / c for c in info["chunks"]])
    if root.exists():
        shutil.rmtree(root)
    marker.unlink(missing_ok=True)
    root.mkdir(parents=True)
    log(f"generating {count} instances into {root}")
    started, done = time.perf_counter(), 0
    with ProcessPoolExecutor(workers) as pool:
        for n in pool.map(_write_series_args, tasks):
            done += n
            if done % max(1, count // 10) < n:
                log(f"  {done}/{count} written")
    names = [str(c.relative_to(root)) for c in chunks]
    marker.write_text(json.dumps({"count": count, "chunks": names}))
    log(f"generated {count} instances in {time.perf_counter() - started:.0f} s")
    return Dataset(root, count, chunks)


def _write_series_args(task: tuple) -> int:
    return _write_series(*task)


def measured_set(work: Path, name: str, count: int, workers: int) -> Dataset:
    """``count`` 512 x 512 CT slices in studies of one series of up to 500 slices."""
    root = work / "data" / f"{name}-{count}"
    tasks, study, left = [], 0, count
    tag = secrets.token_hex(3)
    while left > 0:
        slices = min(SLICES_PER_STUDY, left)
        study_uid, series_uid = _uid(), _uid()
        date = (dt.date(2023, 1, 2) + dt.timedelta(days=study)).isoformat()
        for start in range(0, slices, 50):  # tasks of 50 slices keep both cores busy
            tasks.append(
                (
                    str(root / f"study-{study:03d}"),
                    f"M{tag}-{study:05d}",
                    f"Bench^{name}{study}",
                    date,
                    study_uid,
                    series_uid,
                    1,
                    "Axial",
                    start,
                    min(50, slices - start),
                    MEASURE_SIZE,
                )
            )
        study += 1
        left -= slices
    return _generate(root, tasks, count, [root], workers)


def preload_set(work: Path, count: int, chunks: int, workers: int) -> Dataset:
    """``count`` small images: studies of 2 series x 50 instances, 2 studies per patient."""
    root = work / "data" / f"preload-{count}"
    per_study = SERIES_PER_STUDY * IMAGES_PER_SERIES
    studies = -(-count // per_study)
    chunks = max(1, min(chunks, studies))
    chunk_dirs = [root / f"chunk-{k:02d}" for k in range(chunks)]
    tasks, left = [], count
    for study in range(studies):
        folder = chunk_dirs[study * chunks // studies] / f"study-{study:05d}"
        study_uid = _uid()
        patient = study // 2
        date = (dt.date(2015, 1, 1) + dt.timedelta(days=study % 3000)).isoformat()
        for series in range(1, SERIES_PER_STUDY + 1):
            n = min(IMAGES_PER_SERIES, left)
            if n <= 0:
                break
            tasks.append(
                (
                    str(folder / f"series-{series}"),
                    f"P{patient:06d}",
                    f"Preload^{patient}",
                    date,
                    study_uid,
                    _uid(),
                    series,
                    f"Series {series}",
                    0,
                    n,
                    PRELOAD_SIZE,
                )
            )
            left -= n
    return _generate(root, tasks, count, chunk_dirs, workers)


def warm(folder: Path) -> None:
    """Read every input file once so that each measured run starts with them cached."""
    for path in sorted(folder.rglob("*.dcm")):
        path.read_bytes()


# --------------------------------------------------------------------------- homes


@dataclass
class Home:
    database: str
    path: Path
    env: dict[str, str]
    db_name: str | None = None  # PostgreSQL database to drop
    indexed: int = 0  # instances in the index (sum of what the imports stored)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESALIUS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pg_connect(url: str) -> psycopg.Connection:

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def pg_url_for(admin_url: str, name: str) -> str:
    return urllib.parse.urlsplit(admin_url)._replace(path="/" + name).geturl()


def vesalius(home: Home, *args: str) -> str:
    cmd = [sys.executable, "-m", "vesalius", "--home", str(home.path), *args]
    proc = subprocess.run(cmd, env=home.env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def new_home(database: str, work: Path, label: str, pg_admin: str) -> Home:
    path = work / "homes" / f"{database}-{label}-{secrets.token_hex(3)}"
    env = base_env()
    db_name = None
    if database == "postgresql":
        db_name = f"bench_{secrets.token_hex(4)}"
        with pg_connect(pg_admin) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        env["VESALIUS_DATABASE_URL"] = pg_url_for(pg_admin, db_name)
    home = Home(database, path, env, db_name)
    log(f"{database}: new home {path}" + (f", database {db_name}" if db_name else ""))
    vesalius(home, "init")
    vesalius(home, "project", "create", PROJECT)
    return home


def remove_home(home: Home, pg_admin: str, keep: bool) -> None:
    if keep:
        log(f"keeping {home.path}" + (f" and database {home.db_name}" if home.db_name else ""))
        return
    shutil.rmtree(home.path, ignore_errors=True)
    if home.db_name:
        with pg_connect(pg_admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{home.db_name}" WITH (FORCE)')


# --------------------------------------------------------------------------- measuring


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores; /proc/stat, not idle/iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class Run:
    database: str
    phase: str  # "empty", "preload", "full"
    index_before: int
    instances: int
    seconds: float
    maxrss_kib: int
    tree_rss_kib: int
    cpu_seconds: float
    command_seconds: float  # what the import itself reports (after start-up)
    other_cores: float  # CPU used meanwhile by everything else on the machine, in cores
    pair: int | None = None  # full run and the empty-index run done right next to it

    @property
    def rate(self) -> float:
        return self.instances / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.instances


def run_import(home: Home, folder: Path, expected: int, phase: str) -> Run:
    cmd = [
        sys.executable,
        "-m",
        "vesalius",
        "--home",
        str(home.path),
        "import",
        "-p",
        PROJECT,
        str(folder),
        "--json",
    ]
    peak_tree = 0
    busy_before = _busy_seconds()
    stop = threading.Event()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *cmd], env=home.env, stdout=subprocess.PIPE, text=True
    )

    def sample() -> None:
        nonlocal peak_tree
        while not stop.wait(0.25):
            peak_tree = max(peak_tree, sum(_rss_kib(p) for p in _descendants(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    busy = _busy_seconds() - busy_before
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"wrapper failed ({proc.returncode}) for {shlex.join(cmd)}")
    result = json.loads(out)
    if result["returncode"] != 0:
        raise SystemExit(
            f"import failed ({result['returncode']}): {shlex.join(cmd)}\n{result['stdout']}"
        )
    summary = json.loads(result["stdout"])
    cpu = result["cpu_user"] + result["cpu_system"]
    other = max(0.0, busy - cpu) / result["seconds"]
    if summary["stored"] != expected or summary["total"] != expected:
        raise SystemExit(f"import of {folder} stored {summary['stored']} of {expected}: {summary}")
    run = Run(
        home.database,
        phase,
        home.indexed,
        expected,
        result["seconds"],
        result["maxrss_kib"],
        peak_tree,
        cpu,
        summary["seconds"],
        other,
    )
    home.indexed += expected
    log(
        f"{home.database} {phase}: {expected} instances into an index of {run.index_before} in "
        f"{run.seconds:.1f} s = {run.rate:.1f}/s, peak RSS {run.maxrss_kib / 1024:.0f} MiB "
        f"(tree ~{peak_tree / 1024:.0f} MiB), CPU {run.cpu_ms:.1f} ms/instance, "
        f"other processes {other:.2f} cores"
    )
    return run


def measured(home: Home, data: Dataset, phase: str) -> Run:
    os.sync()  # no write-back of earlier work during the measured run
    warm(data.root)
    return run_import(home, data.root, data.count, phase)


# --------------------------------------------------------------------------- report


def machine_facts(databases: list[str], pg_admin: str) -> list[tuple[str, str]]:
    import pydicom
    import sqlalchemy

    import vesalius

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    facts = [
        ("CPUs", f"{os.cpu_count()} x {cpu}"),
        ("memory", mem),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("vesalius", vesalius.__version__),
        ("pydicom / SQLAlchemy", f"{pydicom.__version__} / {sqlalchemy.__version__}"),
        ("SQLite", sqlite3.sqlite_version),
    ]
    if "postgresql" in databases:
        with pg_connect(pg_admin) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            settings = ", ".join(
                f"{name}={conn.execute(f'SHOW {name}').fetchone()[0]}"
                for name in ("shared_buffers", "fsync", "synchronous_commit", "autovacuum")
            )
            facts.append(("PostgreSQL server", f"{version} ({settings})"))
    facts.append(("import workers", "default (one parser process per core)"))
    return facts


def _table(rows: list[list[str]]) -> list[str]:
    header = [
        "database",
        "index size before",
        "instances",
        "seconds",
        "instances/s",
        "peak RSS MiB",
        "ratio vs empty",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def report(
    args: argparse.Namespace, command: str, facts: list[tuple[str, str]], runs: list[Run]
) -> str:
    today = dt.date.today().isoformat()
    lines = [
        f"# `vesalius import` throughput, empty vs full index ({today})",
        "",
        f"Command: `{command}`",
        "",
        "| machine | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in facts]
    lines += [
        "",
        f"## Measured imports ({args.measure:,} × 512 × 512 CT, 16-bit, uncompressed; "
        f"median of {args.repeat + 1} empty-index and {args.repeat} full-index run(s))",
        "",
    ]
    rows, verdicts = [], []
    for database in args.databases:
        empty = [r for r in runs if r.database == database and r.phase == "empty"]
        full = [r for r in runs if r.database == database and r.phase == "full"]
        pairs = []
        for f in full:
            e = [r for r in empty if r.pair == f.pair]
            if e:
                pairs.append(100 * f.rate / e[0].rate)
        for phase, sel in (("empty", empty), ("full", full)):
            if not sel:
                continue
            seconds = statistics.median(r.seconds for r in sel)
            rate = args.measure / seconds
            if phase == "empty":
                ratio = "100 % (reference)"
            else:
                paired = statistics.median(pairs)
                ratio = f"**{paired:.1f} %**"
                empty_rate = args.measure / statistics.median(r.seconds for r in empty)
                e_cpu = statistics.median(r.cpu_ms for r in empty)
                f_cpu = statistics.median(r.cpu_ms for r in full)
                verdicts.append(
                    f"- {database}: rate_full / rate_empty = **{paired:.1f} %** "
                    f"({'meets' if paired >= 90 else 'BELOW'} the ≥ 90 % target): median of "
                    f"the pairs ({', '.join(f'{x:.1f} %' for x in pairs)}); medians of all "
                    f"runs give {100 * rate / empty_rate:.1f} %. CPU time of the import tree "
                    f"per instance: {e_cpu:.1f} ms empty, {f_cpu:.1f} ms full "
                    f"({100 * e_cpu / f_cpu:.1f} % as a CPU-bound rate ratio)."
                )
            rss = max(r.maxrss_kib for r in sel) / 1024
            rows.append(
                [
                    database,
                    _span([r.index_before for r in sel]),
                    f"{args.measure:,}",
                    f"{seconds:.1f}",
                    f"{rate:.1f}",
                    f"{rss:.0f}",
                    ratio,
                ]
            )
    lines += [*_table(rows), "", *verdicts, "", PAIRS_NOTE]
    lines += [
        "",
        f"## Preload ({args.preload:,} × 32 × 32 CT, 2 series × 50 per study, "
        "same CLI import, in chunks)",
        "",
    ]
    rows = []
    for r in runs:
        if r.phase == "preload":
            rows.append(
                [
                    r.database,
                    f"{r.index_before:,}",
                    f"{r.instances:,}",
                    f"{r.seconds:.1f}",
                    f"{r.rate:.1f}",
                    f"{r.maxrss_kib / 1024:.0f}",
                    "–",
                ]
            )
    lines += _table(rows)
    lines += [
        "",
        "## Every run",
        "",
        "| database | phase | pair | index before | seconds (wall) | seconds (import's own) | "
        "instances/s | CPU ms/instance (tree) | peak RSS MiB (largest process) | "
        "peak RSS MiB (tree sum, sampled) | other CPU (cores) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.database} | {r.phase} | {r.pair or ''} | {r.index_before:,} | {r.seconds:.1f} | "
            f"{r.command_seconds:.1f} | {r.rate:.1f} | {r.cpu_ms:.1f} | "
            f"{r.maxrss_kib / 1024:.0f} | {r.tree_rss_kib / 1024:.0f} | "
            f"{r.other_cores:.2f} |"
        )
    lines += ["", "## Method", "", *METHOD, ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--work", type=Path, default=BENCH / "work", help="generated files and vesalius homes"
    )
    parser.add_argument(
        "--preload",
        type=int,
        default=100_000,
        help="instances loaded between the two measured imports",
    )
    parser.add_argument("--preload-chunks", type=int, default=5, help="preload imports")
    parser.add_argument("--measure", type=int, default=2000, help="instances per measured import")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per phase (median)")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL URL for creating and dropping the benchmark databases",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown file (default bench/results/import-<date>.md)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the vesalius homes (and PostgreSQL databases)"
    )
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    if args.measure < 1 or args.preload < 0 or args.repeat < 1 or args.preload_chunks < 1:
        parser.error("--measure, --repeat and --preload-chunks must be positive, --preload ≥ 0")
    return args


def _command_line() -> str:
    exe = sys.executable
    try:
        rel = os.path.relpath(exe)
        exe = rel if not rel.startswith("..") else exe
    except ValueError:
        pass
    return shlex.join([exe, *sys.argv])


def bench_database(
    database: str, args: argparse.Namespace, data: dict[str, object]
) -> Iterator[Run]:
    work: Path = args.work
    home = new_home(database, work, "main", args.pg_url)
    try:
        yield measured(home, data["empty"], "empty")  # 1. into the main home's empty index
        preload = data["preload"]
        if preload is not None:  # 2. through the same CLI import, in chunks
            for chunk in preload.chunks:
                count = sum(1 for _ in chunk.rglob("*.dcm"))
                yield run_import(home, chunk, count, "preload")
        # 3. each full run paired with an empty-index run (fresh scratch home) right next to
        # it, in alternating order, so that load from elsewhere that drifts over the hour
        # hits both sides of each pair alike.
        for r in range(args.repeat):
            for phase in ("full", "empty") if r % 2 == 0 else ("empty", "full"):
                if phase == "full":
                    run = measured(home, data["full"][r], "full")
                else:
                    scratch = new_home(database, work, f"empty{r + 1}", args.pg_url)
                    try:
                        run = measured(scratch, data["empty"], "empty")
                    finally:
                        remove_home(scratch, args.pg_url, keep=False)
                run.pair = r + 1
                yield run
    finally:
        remove_home(home, args.pg_url, args.keep)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # `kill` runs the clean-up (homes, benchmark databases) like Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.work = args.work.resolve()
    command = _command_line()
    if "postgresql" in args.databases:
        try:
            pg_connect(args.pg_url).close()
        except psycopg.Error as exc:  # say why and stop before any work
            print(f"error: cannot reach PostgreSQL at {args.pg_url}: {exc}", file=sys.stderr)
            return 1
    facts = machine_facts(args.databases, args.pg_url)
    workers = os.cpu_count() or 1
    data: dict[str, object] = {
        "empty": measured_set(args.work, "measure-a", args.measure, workers),
        "preload": preload_set(args.work, args.preload, args.preload_chunks, workers)
        if args.preload
        else None,
        "full": [
            measured_set(args.work, f"measure-b{r}", args.measure, workers)
            for r in range(args.repeat)
        ],
    }
    runs: list[Run] = []
    for database in args.databases:
        runs.extend(bench_database(database, args, data))
    text = report(args, command, facts, runs)
    output = args.output or BENCH / "results" / f"import-{dt.date.today().isoformat()}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    log(f"wrote {output}")
    if not args.keep:
        shutil.rmtree(args.work / "homes", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
