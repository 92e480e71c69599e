"""De-identify many objects into a folder, in parallel: the service behind ``deid run``.

Worker processes read, de-identify and write (CPU-bound, no database); the main process
only collects what happened, in input order. Outputs are named by their new UIDs
(``<study>/<series>/<sop>.dcm``), so nothing of the input's names or folders (which may
carry a patient's name) reaches the output, and a second run writes the same files. An
object that cannot be made safe is withheld: listed with its reason, never written.

Items are opaque here (the caller's ``read`` turns one into bytes), so this module does
not depend on where inputs come from (files, zip members, the intake spool).
"""

from __future__ import annotations

import multiprocessing
import os
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vesalius.core.dicom.parse import MediaDirectory, read_dataset
from vesalius.core.errors import RejectedObject
from vesalius.deid.engine import Deidentifier
from vesalius.deid.hooks import PixelCleaner, VisualFeatureCleaner
from vesalius.deid.private import SafePrivate
from vesalius.deid.profile import Option, Profile
from vesalius.deid.rules import rule_table

if TYPE_CHECKING:
    from vesalius.deid.series import DefaceSettings

T = TypeVar("T")
Outcome = tuple[str, str, dict[str, Any] | None]  # (kind, output path or reason, report)

_engine: Deidentifier | None = None
_read: Callable[[Any], bytes] | None = None
_output: Path | None = None
_made: set[Path] = set()  # output folders this process has created
POOL_MIN_ITEMS = 16  # fewer items: no worker processes (their start-up costs more)


@dataclass(frozen=True)
class BatchSpec:
    """What a worker needs to build its engine (picklable)."""

    profile: Profile
    key: bytes
    tcia_path: Path | None = None
    pixel_cleaner: PixelCleaner | None = None
    withhold_uncleaned: bool = False
    deface: DefaceSettings | None = None  # clean-recognizable-visual-features (default)

    @property
    def defacing(self) -> bool:
        return self.profile.has(Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES)

    def engine(self, visual_cleaner: VisualFeatureCleaner | None = None) -> Deidentifier:
        if self.defacing and visual_cleaner is None:
            from vesalius.deid.series import HeadGuard  # numpy work, only when asked for

            visual_cleaner = HeadGuard(self.deface) if self.deface else HeadGuard()
        return Deidentifier(
            self.profile,
            self.key,
            safe_private=SafePrivate.load(self.tcia_path),
            pixel_cleaner=self.pixel_cleaner,
            visual_cleaner=visual_cleaner,
            withhold_uncleaned=self.withhold_uncleaned,
        )


@dataclass
class BatchReport:
    profile: dict[str, Any]
    table_edition: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    withheld_items: list[dict[str, str]] = field(default_factory=list)
    skipped_items: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    seconds: float = 0.0

    @property
    def withheld(self) -> int:
        return len(self.withheld_items)

    def summary(self) -> dict[str, Any]:
        return {
            "processed": len(self.objects) + self.withheld + len(self.skipped_items),
            "written": len(self.objects),
            "duplicates": self.duplicates,
            "withheld": self.withheld,
            "skipped": len(self.skipped_items),
            "seconds": round(self.seconds, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "profile": self.profile,
            "table_edition": self.table_edition,
            "objects": self.objects,
            "withheld_items": self.withheld_items,
            "skipped_items": self.skipped_items,
        }


def _init(spec: BatchSpec, read: Callable[[Any], bytes], output: Path) -> None:
    global _engine, _read, _output
    _engine, _read, _output = spec.engine(), read, output
    _made.clear()


def _write(output: Path, relative: str, data: bytes) -> None:
    target = output / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _temporary(relative: str, index: int) -> str:
    """Where item ``index`` is written before it is renamed to ``relative`` (same folder)."""
    folder, _, name = relative.rpartition("/")
    return f"{folder}/.{name}.{index}.tmp"


def _process(task: tuple[int, Any]) -> Outcome:
    """Read, de-identify and write one item to its temporary name (``_temporary``).

    The dataset is written straight into the file (no copy of the whole object in
    memory); the caller renames it into place, in input order.
    """
    assert _engine is not None and _read is not None and _output is not None
    index, item = task
    try:
        data = _read(item)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        return ("withheld", f"could not be read: {type(exc).__name__}", None)
    try:
        result = _engine.deidentify(read_dataset(data))
    except MediaDirectory as exc:
        return ("skipped", str(exc), None)
    except RejectedObject as exc:
        return ("withheld", str(exc), None)
    except Exception as exc:  # one bad object never stops the run; no value in the reason
        return ("withheld", f"failed: {type(exc).__name__}", None)
    report = result.report
    relative = "/".join(
        (report.study_instance_uid, report.series_instance_uid, f"{report.sop_instance_uid}.dcm")
    )
    tmp = _output / _temporary(relative, index)
    if tmp.parent not in _made:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        _made.add(tmp.parent)
    try:
        result.write(tmp)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise  # the output folder's fault (full, not writable), not the object's: run fails
    except Exception:  # pydicom could not encode it (as deidentify_bytes: no value shown)
        tmp.unlink(missing_ok=True)
        return ("withheld", "the de-identified object could not be written", None)
    return ("written", relative, report.to_dict())


def _outcomes(
    items: Sequence[Any], spec: BatchSpec, read: Callable[[Any], bytes], output: Path, workers: int
) -> Iterator[Outcome]:
    """Each item's outcome, in input order. With ``workers`` > 1, a pool of forked worker
    processes (started here, only for runs of more than ``POOL_MIN_ITEMS``) does the work in
    chunks; outputs are pure functions of input and key, so the worker count changes
    nothing but the time."""
    for index, outcome in enumerate(_results(list(enumerate(items)), spec, read, output, workers)):
        if outcome[0] == "written":  # renamed in input order: of duplicates, the last wins
            os.replace(output / _temporary(outcome[1], index), output / outcome[1])
        yield outcome


def _results(
    tasks: list[tuple[int, Any]],
    spec: BatchSpec,
    read: Callable[[Any], bytes],
    output: Path,
    workers: int,
) -> Iterator[Outcome]:
    if workers <= 1 or len(tasks) <= POOL_MIN_ITEMS:
        _init(spec, read, output)
        yield from map(_process, tasks)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    chunk = max(1, min(16, len(tasks) // (workers * 4)))  # few round trips, balanced tail
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init, initargs=(spec, read, output)
    ) as pool:
        yield from pool.map(_process, tasks, chunksize=chunk)


def run_batch(
    items: Sequence[T],
    *,
    read: Callable[[T], bytes],
    origin: Callable[[T], str],
    output: Path,
    spec: BatchSpec,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> BatchReport:
    """De-identify ``items`` into ``output``; ``read`` must be picklable (module level).

    Under clean-recognizable-visual-features, 3D head series are defaced and written
    first, whole (``vesalius.deid.series``); the other objects go one by one.
    """
    started = time.perf_counter()
    engine = spec.engine()  # fail early (unavailable option, unreadable TCIA file)
    output.mkdir(parents=True, exist_ok=True)
    early: dict[int, Outcome] = {}
    if spec.defacing:
        from vesalius.deid.series import HeadGuard, deface_pass

        guard = engine.visual_cleaner
        assert isinstance(guard, HeadGuard)
        early = deface_pass(
            items, read=read, engine=engine, guard=guard, write=lambda r, d: _write(output, r, d)
        )
    rest = [item for i, item in enumerate(items) if i not in early]
    workers = workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(rest) // 8))  # small runs: no pool start-up
    report = BatchReport(spec.profile.to_mapping(), rule_table().edition)
    seen: set[str] = set()
    later = _outcomes(rest, spec, read, output, workers)
    for index, item in enumerate(items):
        kind, detail, object_report = early[index] if index in early else next(later)
        if kind == "written":
            if detail in seen:
                report.duplicates += 1
            seen.add(detail)
            entry = {"origin": origin(item), "output": detail, **(object_report or {})}
            report.objects.append(entry)
        elif kind == "skipped":
            report.skipped_items.append({"origin": origin(item), "reason": detail})
        else:
            report.withheld_items.append({"origin": origin(item), "reason": detail})
        if progress:
            progress(1)
    report.seconds = time.perf_counter() - started
    return report
