"""What de-identification tells about each object: counts and notes, never values.

A report names the object by its new (pseudonymous) UIDs and lists how many attributes
each action touched, the options in force and the state of the pixels, so an operator can
check a run without seeing any identifier.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydicom.dataset import Dataset


@dataclass
class ObjectReport:
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    subject_id: str = ""
    options: tuple[str, ...] = ()
    actions: Counter[str] = field(default_factory=Counter)
    pixels: str = "not at risk"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sop_instance_uid": self.sop_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "subject_id": self.subject_id,
            "options": list(self.options),
            "actions": dict(sorted(self.actions.items())),
            "pixels": self.pixels,
            "warnings": list(self.warnings),
        }


@dataclass
class DeidResult:
    """A de-identified dataset (File Meta replaced) and its report."""

    dataset: Dataset
    report: ObjectReport

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.write(buffer)
        return buffer.getvalue()

    def write(self, target: Path | BinaryIO) -> None:
        """Write the Part 10 file into ``target`` (a path or a binary file): the same bytes
        as ``to_bytes`` without holding a second copy of the object in memory."""
        self.dataset.save_as(target, enforce_file_format=True)
