"""What bounds C-STORE ingest on this machine: vesalius and Orthanc beside two bare
pynetdicom SCPs, with the same ``storescu`` and the same files, in the same run.

Issue #3 asks for C-STORE ingest at 1.5x Orthanc's rate. This script measures how far
any server built on pynetdicom (the DIMSE stack DESIGN.md prescribes) can go here:

- **pynetdicom, ack only**: an SCP whose C-STORE handler answers Success without
  keeping anything (no write, no index). The protocol handling alone.
- **pynetdicom, durable**: the same SCP writing each received dataset the way
  vesalius' spool must before it may acknowledge (write, fsync, rename, fsync of the
  folder) and nothing else.
- **vesalius** (``vesalius serve`` on its embedded defaults) and **Orthanc** (Debian
  package, the configuration of ``bench/orthanc/``), both until every instance is
  queryable, as in ``bench/network.py``.
- **durable write alone**: the same 512 KB writes in one process without a network.

Every server runs fresh per round; rounds alternate the order. The data is
``bench/network.py``'s ingest set (generated 512 x 512 CT, reused when present). The
report has ack rate (``storescu`` wall time), end-to-end rate (until queryable) and each
rate against Orthanc's, plus the milliseconds per object that 1.5x Orthanc leaves.

Run: ``.venv/bin/python bench/dimse_floor.py [--rounds 3] [--ingest 2000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import network  # bench/network.py: data, servers, storescu, timing

BARE_AE = "BARE"
TARGET = 1.5


# --------------------------------------------------------------------------- bare SCPs


def serve_bare(port: int, mode: str, spool: Path) -> None:
    """A pynetdicom SCP with nothing but a C-STORE handler (run in its own process)."""
    import socket

    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    spool.mkdir(parents=True, exist_ok=True)

    def on_store(event: object) -> int:
        if mode == "durable":
            durable_write(spool, event.encoded_dataset(include_meta=False))  # type: ignore[attr-defined]
        return 0x0000

    def on_open(event: object) -> None:
        sock = event.assoc.dul.socket.socket  # type: ignore[attr-defined]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    ae = AE(BARE_AE)
    ae.maximum_pdu_size = 256 * 1024  # as vesalius' server
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(
            context.abstract_syntax, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        )
    ae.start_server(
        ("127.0.0.1", port),
        block=True,
        evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_CONN_OPEN, on_open)],
    )


def durable_write(folder: Path, data: bytes) -> None:
    """What vesalius' spool does before a C-STORE may be acknowledged."""
    name = uuid.uuid4().hex
    tmp = folder / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, folder / name)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class BareSCP(network.Server):
    """A bare pynetdicom SCP as a :class:`network.Server` (no HTTP, no index)."""

    called_ae = BARE_AE

    def __init__(self, name: str, folder: Path, mode: str) -> None:
        super().__init__(name=name, folder=folder)
        self.mode = mode

    def start(self) -> None:
        self.folder.mkdir(parents=True)
        (self.dicom_port,) = network.free_ports(1)
        cmd = [
            sys.executable, __file__, "--serve-bare", str(self.dicom_port), self.mode,
            str(self.folder / "spool"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            cmd,
            env=network.base_env(),
            stdout=self.log_file.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not network.port_open(self.dicom_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start; see {self.log_file}")
            time.sleep(0.1)
        self.facts = {"mode": self.mode}

    def instances_done(self, ingest: network.IngestSet) -> bool:
        return True  # nothing to index: acknowledged is all there is


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    name: str
    ack_rates: list[float]
    end_rates: list[float]


def write_floor(data: network.IngestSet, folder: Path, count: int = 500) -> float:
    """Milliseconds per durable write of the ingest set's own files (no network)."""
    files = sorted(data.root.rglob("*.dcm"))[:count]
    payloads = [f.read_bytes() for f in files]
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for payload in payloads:
        durable_write(folder, payload)
    took = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return 1000 * took / len(payloads)


def make_server(kind: str, folder: Path) -> network.Server:
    if kind == "orthanc":
        return network.Orthanc("Orthanc", folder)
    if kind == "vesalius":
        return network.Vesalius("vesalius", folder)
    if kind == "ack":
        return BareSCP("pynetdicom, ack only", folder, "ack")
    return BareSCP("pynetdicom, durable write", folder, "durable")


def run_rounds(kinds: list[str], data: network.IngestSet, work: Path, rounds: int) -> dict:
    results: dict[str, Row] = {}
    for number in range(1, rounds + 1):
        order = kinds if number % 2 else list(reversed(kinds))
        for kind in order:
            folder = work / f"floor-{kind}-{number}"
            shutil.rmtree(folder, ignore_errors=True)
            server = make_server(kind, folder)
            try:
                server.start()
                run = network.run_ingest(server, data, folder)
            finally:
                server.stop()
                shutil.rmtree(folder, ignore_errors=True)
            row = results.setdefault(kind, Row(server.name, [], []))
            row.ack_rates.append(data.count / run.storescu_seconds)
            row.end_rates.append(run.rate)
            network.log(
                f"round {number} {server.name}: ack {row.ack_rates[-1]:.0f}/s, "
                f"queryable {row.end_rates[-1]:.0f}/s, other cores {run.other_cores:.2f}"
            )
    return results


def report(results: dict[str, Row], write_ms: float, data: network.IngestSet, cmd: str) -> str:
    import pydicom
    import pynetdicom

    orthanc = statistics.median(results["orthanc"].end_rates)
    budget_ms = 1000 / (TARGET * orthanc)
    lines = [
        f"# What bounds C-STORE ingest here ({dt.date.today().isoformat()})",
        "",
        f"Command: `{cmd}`",
        "",
        f"{data.count} generated 512 × 512 CT instances (16-bit, uncompressed) sent by one "
        "`storescu` (`TCP_NODELAY=1`) to each server; medians over the rounds; every server "
        "fresh per round, order alternating.",
        f"pynetdicom {pynetdicom.__version__}, pydicom {pydicom.__version__}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs.",
        "",
        "| server | ack rate (storescu), /s | ÷ Orthanc | queryable, /s | ÷ Orthanc | rounds |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in results.values():
        ack = statistics.median(row.ack_rates)
        end = statistics.median(row.end_rates)
        pairs = zip(row.ack_rates, row.end_rates, strict=True)
        every = ", ".join(f"{a:.0f}/{e:.0f}" for a, e in pairs)
        lines.append(
            f"| {row.name} | {ack:.0f} | {ack / orthanc:.2f} | {end:.0f} | {end / orthanc:.2f} "
            f"| {every} |"
        )
    lines += [
        "",
        f"- Durable write alone (write, fsync, rename, folder fsync of the same files, no "
        f"network): **{write_ms:.2f} ms** per object.",
        f"- {TARGET}× Orthanc's end-to-end rate ({orthanc:.0f}/s) is {TARGET * orthanc:.0f}/s: "
        f"**{budget_ms:.2f} ms** per object for receiving, acknowledging (after the durable "
        "write), parsing, storing and indexing.",
        "- For pynetdicom rows, *queryable* equals the ack rate: nothing is indexed.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=network.BENCH / "work")
    parser.add_argument("--ingest", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--serve-bare", nargs=3, metavar=("PORT", "MODE", "SPOOL"))
    args = parser.parse_args(argv)
    if args.serve_bare:
        port, mode, spool = args.serve_bare
        serve_bare(int(port), mode, Path(spool))
        return 0
    for tool in ("storescu", network.ORTHANC_BIN):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (Debian packages dcmtk, orthanc)", file=sys.stderr)
            return 1
    signal.signal(signal.SIGTERM, network._on_signal)
    signal.signal(signal.SIGINT, network._on_signal)
    work = args.work.resolve()
    data = network.ingest_set(work, args.ingest, os.cpu_count() or 1)
    write_ms = write_floor(data, work / "floor-write")
    network.log(f"durable write alone: {write_ms:.2f} ms per object")
    results = run_rounds(["orthanc", "vesalius", "ack", "durable"], data, work, args.rounds)
    text = report(results, write_ms, data, network._command_line())
    output = args.output or network.BENCH / "results" / f"dimse-floor-{dt.date.today()}.md"
    output.write_text(text)
    print(text)
    network.log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
