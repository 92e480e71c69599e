"""Benchmark: `vesalius deid run` against dicognito, pydicom/deid and dicom-anonymizer.

1. **Speed**: files/s of each tool on the same ``--count`` (300) generated 512 x 512 CT
   files (16-bit, uncompressed, no burned-in text, so no OCR), each tool as ONE process
   (its CLI, or a small driver of its Python API over the folder), in the same run,
   ``--repeat`` times in rotating order; the median counts.
2. **OCR path**: files/s of ``vesalius deid run -o clean-pixel-data`` on generated
   ultrasound and secondary-capture images with burned-in text (tests/deid/burned_in.py).
3. **Leaks**: every tool over the planted-identifier corpus of the tests
   (tests/deid/deid_corpus.py, plus one US and one SC image with burned-in text), each
   output searched by the tests' own oracle: the planted values in the raw bytes and the
   decoded text (``oracle_leaks``) and in the OCR of the pixels. Never by ``deid verify``.

The peers are installed by name with pip into their own venv, ``<work>/peers-venv``
(created on first use), never into the project's. Results go to
``bench/results/deid-<date>.md`` (also printed).

Run:    .venv/bin/python bench/deid.py
Quick:  .venv/bin/python bench/deid.py --count 60 --repeat 1 --ocr-count 4
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TESTS = REPO / "tests" / "deid"
PEERS = ("dicognito", "deid", "dicom-anonymizer")
KEY_HEX = "62656e63682d6b65792d6f662d33322d62797465732d2d2d2d2d2d2d2d2d2d2d"
SLICES_PER_SERIES = 100
# The options under which the tests expect zero leaks on the corpus (deid_corpus.RESEARCH).
RESEARCH = (
    "clean-descriptors",
    "clean-structured-content",
    "clean-graphics",
    "retain-longitudinal-modified-dates",
    "retain-patient-characteristics",
    "retain-safe-private",
)

# pydicom/deid has no folder CLI for header de-identification: its documented API
# (default recipe, replace_identifiers over every file, save into the output folder).
DEID_DRIVER = r"""
import os, sys
from deid.config import DeidRecipe
from deid.dicom import replace_identifiers
source, output = sys.argv[1], sys.argv[2]
files = sorted(os.path.join(d, f) for d, _, names in os.walk(source) for f in names)
os.makedirs(output, exist_ok=True)
replace_identifiers(dicom_files=files, deid=DeidRecipe(), save=True, output_folder=output,
                    overwrite=True)
"""

# Floors: what any pydicom-based tool must at least spend. COPY_DRIVER reads each file with
# pydicom and writes it back unchanged (no de-identification at all), in one process or in
# a pool of forked workers (one per core), with the same interpreter and pydicom as
# vesalius; the start-up floor is the interpreter importing pydicom and exiting.
COPY_DRIVER = r"""
import os, sys
from concurrent.futures import ProcessPoolExecutor
import pydicom

def copy(pair):
    src, dst = pair
    pydicom.dcmread(src).save_as(dst)
    return 1

source, output, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = [os.path.join(d, f) for d, _, files in os.walk(source) for f in sorted(files)]
pairs = [(src, os.path.join(output, f"{i:06d}.dcm")) for i, src in enumerate(names)]
if workers == 1:
    done = sum(map(copy, pairs))
else:
    with ProcessPoolExecutor(workers) as pool:
        done = sum(pool.map(copy, pairs, chunksize=max(1, len(pairs) // (4 * workers))))
"""
STARTUP_DRIVER = "import pydicom, pydicom.filewriter"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def _write_series(folder: str, patient: int, count: int, size: int) -> int:
    from pydicom.uid import generate_uid

    from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance

    spec = StudySpec(
        patient_id=f"PID-{880000 + patient}",
        patient_name=f"Bench^Patient{patient}",
        study_date=dt.date(2024, 1, 1) + dt.timedelta(days=patient),
        description="Benchmark study",
        accession=f"ACC{770000 + patient}",
    )
    study, series = generate_uid(prefix=ROOT), generate_uid(prefix=ROOT)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        ds = make_instance(
            spec=spec,
            study_uid=study,
            series_uid=series,
            modality="CT",
            series_number=1,
            series_description="Thorax axial",
            index=index,
            size=size,
        )
        ds.save_as(out / f"p{patient:02d}-{index:04d}.dcm", enforce_file_format=True)
    return count


def _write_series_args(task: tuple) -> int:
    return _write_series(*task)


def generate_ct(root: Path, count: int, size: int) -> Path:
    marker = root.parent / f"{root.name}.complete.json"
    if marker.is_file() and json.loads(marker.read_text()) == {"count": count, "size": size}:
        log(f"reusing {root} ({count} files)")
        return root
    shutil.rmtree(root, ignore_errors=True)
    marker.unlink(missing_ok=True)
    root.mkdir(parents=True)
    tasks, left, patient = [], count, 0
    while left:
        n = min(SLICES_PER_SERIES, left)
        tasks.append((str(root), patient, n, size))
        left, patient = left - n, patient + 1
    log(f"generating {count} CT files of {size} x {size} into {root}")
    with ProcessPoolExecutor(2) as pool:
        done = sum(pool.map(_write_series_args, tasks))
    marker.write_text(json.dumps({"count": count, "size": size}))
    log(f"generated {done} files")
    return root


def _burned_in():  # the tests' generators (not a package: put on sys.path)
    sys.path.insert(0, str(TESTS))
    import burned_in
    import deid_corpus

    return burned_in, deid_corpus


def generate_ocr_set(root: Path, count: int) -> Path:
    burned_in, _ = _burned_in()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for index in range(count):
        planted = burned_in.ultrasound() if index % 2 == 0 else burned_in.secondary_capture()
        planted.ds.save_as(root / f"{index:03d}.dcm", enforce_file_format=True)
    return root


@dataclass
class LeakCorpus:
    folder: Path
    planted: tuple[str, ...]
    ocr_tokens: tuple[str, ...]
    count: int


def generate_leak_corpus(root: Path) -> LeakCorpus:
    burned_in, deid_corpus = _burned_in()
    corpus = deid_corpus.build_corpus()
    corpus.add("burned-in-us", burned_in.ultrasound().ds)
    corpus.add("burned-in-sc", burned_in.secondary_capture().ds)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name, data in corpus.objects.items():
        (root / f"{name}.dcm").write_bytes(data)
    planted = (*corpus.planted, burned_in.PATIENT, "12345678")
    tokens = tuple(
        dict.fromkeys(
            (*burned_in.TOKENS, *(burned_in.normalise(v) for v in deid_corpus.PLANTED_TEXT))
        )
    )
    return LeakCorpus(root, planted, tokens, len(corpus.objects))


# --------------------------------------------------------------------------- tools


@dataclass
class Tool:
    name: str
    version: str
    command: Callable[[Path, Path], list[str]]
    note: str = ""


def peers_venv(work: Path) -> Path:
    venv = work / "peers-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating {venv} and installing {', '.join(PEERS)} with pip")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import dicognito, deid, dicomanonymizer"], capture_output=True
    )
    if probe.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PEERS],
            check=True,
        )
    return python


def pip_versions(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def make_tools(python: Path, work: Path, key: Path) -> dict[str, Tool]:
    versions = pip_versions(python)
    home = work / "deid-home"
    bin_dir = python.parent
    driver = work / "deid_driver.py"
    driver.write_text(DEID_DRIVER)
    copy_driver = work / "copy_driver.py"
    copy_driver.write_text(COPY_DRIVER)
    cores = str(os.cpu_count() or 1)
    from vesalius import __version__

    def vesalius(*options: str) -> Callable[[Path, Path], list[str]]:
        flags = [arg for option in options for arg in ("-o", option)]
        return lambda src, out: [
            sys.executable, "-m", "vesalius", "--home", str(home), "deid", "run", str(src),
            str(out), "--key-file", str(key), "--json", *flags,
        ]  # fmt: skip

    return {
        "vesalius": Tool("vesalius", __version__, vesalius(), "basic profile (the default)"),
        "vesalius-research": Tool(
            "vesalius",
            __version__,
            vesalius(*RESEARCH),
            "basic + " + ", ".join(RESEARCH),
        ),
        "vesalius-leaks": Tool(
            "vesalius",
            __version__,
            vesalius(*RESEARCH, "clean-pixel-data"),
            "basic + " + ", ".join((*RESEARCH, "clean-pixel-data")) + " (OCR)",
        ),
        "floor-copy": Tool(
            "floor: pydicom read + write",
            pydicom_version(),
            lambda src, out: [sys.executable, str(copy_driver), str(src), str(out), "1"],
            "no de-identification, one process",
        ),
        "floor-copy-pool": Tool(
            "floor: pydicom read + write",
            pydicom_version(),
            lambda src, out: [sys.executable, str(copy_driver), str(src), str(out), cores],
            f"no de-identification, {cores} forked worker processes",
        ),
        "floor-startup": Tool(
            "floor: start-up",
            pydicom_version(),
            lambda src, out: [sys.executable, "-c", STARTUP_DRIVER],
            "interpreter importing pydicom, no files (rate = files ÷ this time)",
        ),
        "dicognito": Tool(
            "dicognito",
            versions.get("dicognito", "?"),
            lambda src, out: [
                str(python),
                "-m",
                "dicognito",
                "--output-directory",
                str(out),
                "--quiet",
                str(src),
            ],
            "CLI, defaults",
        ),
        "deid": Tool(
            "pydicom/deid",
            versions.get("deid", "?"),
            lambda src, out: [str(python), str(driver), str(src), str(out)],
            "default recipe, `replace_identifiers` over the folder in one process",
        ),
        "dicom-anonymizer": Tool(
            "dicom-anonymizer",
            versions.get("dicom-anonymizer", versions.get("dicom_anonymizer", "?")),
            lambda src, out: [str(bin_dir / "dicom-anonymizer"), str(src), str(out)],
            "CLI, defaults (private tags deleted)",
        ),
    }


def pydicom_version() -> str:
    import pydicom

    return str(pydicom.__version__)


@dataclass
class Run:
    seconds: float
    cpu: float
    returncode: int
    outputs: int
    own_seconds: float | None = None  # what the tool says it took (vesalius' summary)


def run_tool(tool: Tool, source: Path, output: Path) -> Run:
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    subprocess.run(["sync"], check=False)
    for path in source.rglob("*"):  # inputs in the page cache for every tool alike
        if path.is_file():
            path.read_bytes()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    logs = output.parent / f"{output.name}.log"
    with open(logs.with_suffix(".out"), "wb") as out, open(logs.with_suffix(".err"), "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(tool.command(source, output), stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = returncode = os.waitstatus_to_exitcode(status)
    if returncode not in (0, 3):
        tail = logs.with_suffix(".err").read_text(errors="replace")[-400:]
        log(f"{tool.name} exited {returncode}: {tail}")
    own = None
    # vesalius prints its summary, with its own seconds (without start-up), as JSON
    with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
        own = float(json.loads(logs.with_suffix(".out").read_text())["seconds"])
    outputs = sum(1 for p in output.rglob("*") if p.is_file())
    return Run(seconds, usage.ru_utime + usage.ru_stime, returncode, outputs, own)


# --------------------------------------------------------------------------- leaks


@dataclass
class Leaks:
    outputs: int = 0
    pairs: list[tuple[str, str, str]] = field(default_factory=list)  # (file, where, value)
    unreadable: int = 0

    @property
    def values(self) -> set[str]:
        return {value for _, _, value in self.pairs}


def count_leaks(output: Path, corpus: LeakCorpus) -> Leaks:
    burned_in, deid_corpus = _burned_in()
    import pydicom

    from vesalius.core.errors import RejectedObject
    from vesalius.deid.pixels import default_detector, find_text

    leaks = Leaks()
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            pydicom.dcmread(path)
        except Exception:
            continue  # not DICOM (a log file, say)
        leaks.outputs += 1
        for value in sorted(deid_corpus.oracle_leaks(data, corpus.planted)):
            leaks.pairs.append((path.name, "header/bytes", value))
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            continue
        try:
            texts = [r.text for r in find_text(ds, detector=default_detector())]
        except RejectedObject:
            leaks.unreadable += 1
            continue
        joined = " ".join(burned_in.normalise(t) for t in texts)
        for token in corpus.ocr_tokens:
            if len(token) >= 4 and token in joined:
                leaks.pairs.append((path.name, "pixels (OCR)", token))
    return leaks


# --------------------------------------------------------------------------- report


def machine() -> list[tuple[str, str]]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pydicom

    return [
        ("CPUs", f"{os.cpu_count()} x {cpu}"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("pydicom (vesalius venv)", pydicom.__version__),
    ]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=BENCH / "work")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ocr-count", type=int, default=20)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    command = shlex.join([".venv/bin/python", "bench/deid.py", *sys.argv[1:]])

    python = peers_venv(work)
    key = work / "deid-bench.key"
    key.write_text(KEY_HEX + "\n")
    key.chmod(0o600)
    tools = make_tools(python, work, key)
    ct = generate_ct(work / f"deid-ct-{args.count}x{args.size}", args.count, args.size)

    # 1. speed, rotating order so drifting load hits every tool alike
    speed = ["vesalius", "vesalius-research", "dicognito", "deid", "dicom-anonymizer"]
    speed += ["floor-copy", "floor-copy-pool", "floor-startup"]
    runs: dict[str, list[Run]] = {name: [] for name in speed}
    load_before = os.getloadavg()
    for round_ in range(args.repeat):
        order = speed[round_ % len(speed) :] + speed[: round_ % len(speed)]
        for name in order:
            log(f"speed round {round_ + 1}/{args.repeat}: {name}")
            runs[name].append(run_tool(tools[name], ct, work / "deid-out" / name))
            last = runs[name][-1]
            log(f"  {last.seconds:.1f} s, {rate(args.count, last.seconds):.1f} files/s, "
                f"{last.outputs} outputs, exit {last.returncode}")  # fmt: skip

    load_after = os.getloadavg()

    # 2. the OCR path
    ocr_set = generate_ocr_set(work / "deid-ocr", args.ocr_count)
    log(f"OCR path: {args.ocr_count} US/SC images")
    ocr_run = run_tool(tools["vesalius-leaks"], ocr_set, work / "deid-out" / "ocr")

    # 3. leaks
    corpus = generate_leak_corpus(work / "deid-leaks")
    leak_tools = ["vesalius-leaks", "vesalius", "dicognito", "deid", "dicom-anonymizer"]
    leaks: dict[str, Leaks] = {}
    leak_runs: dict[str, Run] = {}
    for name in leak_tools:
        log(f"leaks: {name}")
        out = work / "deid-out" / f"leaks-{name}"
        leak_runs[name] = run_tool(tools[name], corpus.folder, out)
        leaks[name] = count_leaks(out, corpus)
        log(f"  {leaks[name].outputs} outputs, {len(leaks[name].pairs)} leaks")

    # report
    today = dt.date.today().isoformat()
    lines = [f"# `vesalius deid run` beside dicognito, pydicom/deid, dicom-anonymizer ({today})",
             "", f"Command: `{command}`", "", "| machine | |", "|---|---|"]  # fmt: skip
    lines += [f"| {k} | {v} |" for k, v in machine()]
    lines += [f"| {tools[n].name} | {tools[n].version} |" for n in ("dicognito", "deid")]
    lines += [f"| dicom-anonymizer | {tools['dicom-anonymizer'].version} |", ""]
    lines += [
        f"## Speed: {args.count} generated {args.size} × {args.size} CT files (16-bit, "
        f"uncompressed, no burned-in text), median of {args.repeat}",
        "",
        "| tool | configuration | files/s | seconds | CPU s | outputs | vesalius (basic) ÷ tool |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    medians = {n: statistics.median(r.seconds for r in runs[n]) for n in speed}
    reference = rate(args.count, medians["vesalius"])
    for name in speed:
        tool = tools[name]
        median_cpu = statistics.median(r.cpu for r in runs[name])
        outputs = runs[name][-1].outputs
        ratio = reference / rate(args.count, medians[name]) if medians[name] else 0
        lines.append(
            f"| {tool.name} {tool.version} | {tool.note} | {rate(args.count, medians[name]):.1f} "
            f"| {medians[name]:.2f} | {median_cpu:.1f} | {outputs} | {ratio:.2f}× |"
        )
    own = [r.own_seconds for r in runs["vesalius"] if r.own_seconds is not None]
    own_median = statistics.median(own) if own else None
    dicognito_ratio = reference / rate(args.count, medians["dicognito"])
    verdict = "meets" if dicognito_ratio >= 3 else "BELOW"
    lines += [
        "",
        f"- vesalius (basic) ÷ dicognito: **{dicognito_ratio:.2f}×** ({verdict} the ≥ 3× target).",
        "- Floors against dicognito's rate: a pydicom read + write without any "
        "de-identification reaches "
        f"**{medians['dicognito'] / medians['floor-copy']:.2f}×** in one process and "
        f"**{medians['dicognito'] / medians['floor-copy-pool']:.2f}×** with a worker per "
        f"core; 3× dicognito means {medians['dicognito'] / 3:.2f} s for all {args.count} files, "
        f"and the interpreter importing pydicom alone takes {medians['floor-startup']:.2f} s. "
        "No tool built on pydicom (DESIGN.md's DICOM library) can be faster than these floors.",
        "- Each tool is one process started fresh (interpreter start-up included), timed "
        "wall-clock until it exits; *CPU s* is user + system time of the process and its "
        "children (`wait4`). vesalius uses its default worker processes (one per core); the "
        "peers run single-process, as their CLIs and APIs do. Inputs are in the page cache "
        "before every run; order rotates between rounds.",
        (
            f"- vesalius' own time (its summary's `seconds`: read, de-identify, write, without "
            f"interpreter start-up and CLI imports): median {own_median:.2f} s, "
            f"{rate(args.count, own_median):.1f} files/s; the rest of its "
            f"{medians['vesalius']:.2f} s is start-up."
            if own_median
            else "- vesalius' own time: not reported."
        ),
        "- Load average (1, 5, 15 min) before the speed rounds: "
        + ", ".join(f"{v:.1f}" for v in load_before)
        + "; after: "
        + ", ".join(f"{v:.1f}" for v in load_after)
        + f" on {os.cpu_count()} CPUs (other work on the machine shares the cores; above "
        "the CPU count, every tool gets less than it asks for and vesalius' workers help less).",
        "- Every run: "
        + "; ".join(
            f"{n}: " + ", ".join(f"{rate(args.count, r.seconds):.1f}" for r in runs[n])
            for n in speed
        )
        + " files/s.",
        "",
        f"## OCR path: {args.ocr_count} US (RGB 384 × 512) and SC (8-bit 384 × 512) images "
        "with burned-in text",
        "",
        "| tool | configuration | files/s | seconds | CPU s | outputs |",
        "|---|---|---:|---:|---:|---:|",
        f"| vesalius {tools['vesalius-leaks'].version} | {tools['vesalius-leaks'].note} | "
        f"{rate(args.ocr_count, ocr_run.seconds):.2f} | {ocr_run.seconds:.2f} | "
        f"{ocr_run.cpu:.1f} | {ocr_run.outputs} |",
        "",
        f"## Leaks on the planted-identifier corpus ({corpus.count} objects: "
        "tests/deid/deid_corpus.py and one US and one SC image with burned-in text)",
        "",
        "Counted by the tests' oracle (`deid_corpus.oracle_leaks`: every planted value, "
        f"{len(corpus.planted)} of them with the original UIDs, in the raw bytes as Latin-1 "
        "or UTF-8 in any case, and in the decoded text) and by OCR of the pixels of every "
        "output (RapidOCR; a planted token of 4+ characters read back is a leak). A leak is "
        "one (output file, planted value) pair. Objects a tool withholds are not outputs.",
        "",
        "| tool | configuration | outputs | leaks | distinct values leaked | in pixels |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in leak_tools:
        tool, found = tools[name], leaks[name]
        pixels = sum(1 for _, where, _ in found.pairs if where.startswith("pixels"))
        lines.append(
            f"| {tool.name} {tool.version} | {tool.note} | {found.outputs} | "
            f"{len(found.pairs)} | {len(found.values)} | {pixels} |"
        )
    lines.append("")
    for name in leak_tools:
        found = leaks[name]
        if found.pairs:
            shown = sorted(found.values)
            uids = [v for v in shown if v[:1].isdigit() and "." in v]
            named = [v for v in shown if v not in uids]
            lines.append(
                f"- {name}: leaked {', '.join(f'`{v}`' for v in named[:25])}"
                + (f" and {len(uids)} original UID(s)" if uids else "")
                + (
                    f"; {found.unreadable} output(s) whose pixels could not be decoded"
                    if found.unreadable
                    else ""
                )
            )
        else:
            lines.append(f"- {name}: no leak ({found.outputs} outputs).")
    lines += [
        "",
        "Planted values are invented (generated corpus); listing them here exposes no one.",
        "",
    ]
    report = "\n".join(lines)
    target = args.output or BENCH / "results" / f"deid-{today}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report)
    print(report)
    log(f"wrote {target}")


if __name__ == "__main__":
    main()
