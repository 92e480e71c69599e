"""The QC plugin interface: a check, what it needs, and the findings it returns.

A check is any object with a ``name``, ``needs`` (``"headers"`` or ``"pixels"``),
``defaults`` (its thresholds) and ``run(series, thresholds) -> list[Finding]``. Built-in
checks and third-party ones are found through the ``vesalius.qc`` entry point group
(:mod:`vesalius.studies.qc.registry`); an entry point names a check class (built with no
arguments) or a ready instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from vesalius.studies.rules import Header

Status = Literal["pass", "warn", "fail", "error"]
Needs = Literal["headers", "pixels"]
STATUS_ORDER: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


@dataclass(frozen=True)
class Finding:
    """One measured aspect of a series: its status, value, threshold and a message."""

    check: str
    metric: str
    status: Status
    value: Any
    threshold: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (numpy numbers become Python numbers)."""
        return {k: _plain(v) for k, v in asdict(self).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def worst(statuses: list[str]) -> str:
    """The most severe status (``pass`` when there is none)."""
    return max(statuses, key=lambda s: STATUS_ORDER.get(s, 0), default="pass")


@dataclass(frozen=True)
class Slice:
    """One image of a series: its header and how to fetch its pixels (one at a time)."""

    header: Header
    sop_uid: str
    instance_number: int | None
    frames: Callable[[], Iterator[np.ndarray]] = field(repr=False, compare=False)


@dataclass(frozen=True)
class SeriesContext:
    """What a check sees of a stable series: headers in index order, pixels on demand."""

    project: str
    study_uid: str
    series_uid: str
    modality: str
    slices: list[Slice]

    def pixels(self, limit: int | None = None) -> Iterator[tuple[Slice, np.ndarray]]:
        """Frames one at a time; ``limit`` takes that many images spread over the series."""
        chosen = self.slices
        if limit and len(chosen) > limit:
            step = len(chosen) / limit
            chosen = [chosen[int(i * step)] for i in range(limit)]
        for item in chosen:
            for frame in item.frames():
                yield item, frame


@runtime_checkable
class Check(Protocol):
    name: str
    needs: Needs
    defaults: dict[str, Any]

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]: ...


class BaseCheck:
    """Convenience base: findings named after the check; thresholds over defaults."""

    name: ClassVar[str] = ""
    needs: ClassVar[Needs] = "headers"
    defaults: ClassVar[dict[str, Any]] = {}

    def finding(
        self, metric: str, status: Status, value: Any, threshold: Any, message: str
    ) -> Finding:
        return Finding(self.name, metric, status, value, threshold, message)

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        raise NotImplementedError


def graded(value: float, warn: float | None, fail: float | None, *, above: bool = True) -> Status:
    """``fail`` past ``fail``, ``warn`` past ``warn`` (above, or below when ``above=False``)."""

    def past(limit: float | None) -> bool:
        if limit is None:
            return False
        return value > limit if above else value < limit

    if past(fail):
        return "fail"
    if past(warn):
        return "warn"
    return "pass"
