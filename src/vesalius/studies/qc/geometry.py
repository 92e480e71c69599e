"""Slice geometry from headers: orientation vectors, normal, position along the normal."""

from __future__ import annotations

import math

import numpy as np

from vesalius.studies.rules import Header


def floats(header: Header, keyword: str, count: int) -> np.ndarray | None:
    """``count`` numbers of a multi-valued attribute, or None when absent or malformed."""
    values = header.values(keyword)
    if len(values) != count:
        return None
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def orientation(header: Header) -> tuple[np.ndarray, np.ndarray] | None:
    """The unit row and column direction cosines (ImageOrientationPatient)."""
    iop = floats(header, "ImageOrientationPatient", 6)
    if iop is None:
        return None
    row, col = iop[:3], iop[3:]
    if np.linalg.norm(row) == 0 or np.linalg.norm(col) == 0:
        return None
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def normal(header: Header) -> np.ndarray | None:
    vectors = orientation(header)
    if vectors is None:
        return None
    n = np.cross(*vectors)
    norm = np.linalg.norm(n)
    return n / norm if norm else None


def angle_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """The angle between two unit vectors in degrees."""
    return math.degrees(math.acos(float(np.clip(np.dot(a, b), -1.0, 1.0))))


def number(header: Header, keyword: str) -> float | None:
    values = header.values(keyword)
    try:
        return float(values[0]) if values else None
    except (TypeError, ValueError):
        return None
