"""What ``vesalius import`` reads: files, folders, .zip archives and DICOMDIR media.

Inputs are expanded to :class:`Item` entries that a worker process can read on its own,
so parsing runs in parallel without shipping bytes between processes.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from vesalius.core.errors import InvalidInput


@dataclass(frozen=True)
class Item:
    """One object to read: a file, or a member of a zip archive."""

    path: str
    member: str | None = None

    @property
    def origin(self) -> str:
        return f"{self.path}!{self.member}" if self.member else self.path


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and zipfile.is_zipfile(path)


def _zip_items(path: Path) -> Iterator[Item]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield Item(str(path), info.filename)


def _dicomdir_items(path: Path) -> Iterator[Item]:
    """Files a DICOMDIR references (CD/DVD exports), resolved against its folder."""
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError) as exc:
        raise InvalidInput(f"{path.name}: not a readable DICOMDIR") from exc
    root = path.parent
    seen: set[str] = set()
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        target = _find_case_insensitive(root, parts)
        if target is not None and str(target) not in seen:
            seen.add(str(target))
            yield Item(str(target))


def _find_case_insensitive(root: Path, parts: list[str]) -> Path | None:
    """Media written by ISO 9660 tools may change case; find the file either way."""
    current = root
    for part in parts:
        candidate = current / part
        if candidate.exists():
            current = candidate
            continue
        matches = (
            [p for p in current.iterdir() if p.name.lower() == part.lower()]
            if current.is_dir()
            else []
        )
        if not matches:
            return None
        current = matches[0]
    return current


def expand(paths: list[Path]) -> Iterator[Item]:
    """All objects under the given paths, in a stable order; a missing path is an error."""
    for path in paths:
        if not path.exists():
            raise InvalidInput(f"{path}: no such file or folder")
    for path in paths:
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    file = Path(folder) / name
                    yield from _zip_items(file) if _is_zip(file) else [Item(str(file))]
        elif _is_zip(path):
            yield from _zip_items(path)
        elif path.name.upper() == "DICOMDIR":
            yield from _dicomdir_items(path)
        else:
            yield Item(str(path))


def read_item(item: Item, _zips: dict[str, zipfile.ZipFile] | None = None) -> bytes:
    if item.member is None:
        return Path(item.path).read_bytes()
    cache = _zips if _zips is not None else {}
    archive = cache.get(item.path)
    if archive is None:
        archive = cache[item.path] = zipfile.ZipFile(item.path)
    return archive.read(item.member)
