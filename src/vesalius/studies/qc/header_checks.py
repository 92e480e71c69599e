"""Built-in header checks: completeness, slices (missing, duplicated, spacing), orientation.

They read only the instances' headers from the index (``Instance.dicom_json``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import numpy as np

from vesalius.studies.qc.base import BaseCheck, Finding, Needs, SeriesContext, Slice, graded
from vesalius.studies.qc.geometry import angle_degrees, floats, normal, number, orientation
from vesalius.studies.rules import Header

# attributes a usable cross-sectional image carries (configurable: ``required``)
REQUIRED = [
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "Modality",
    "StudyDate",
    "InstanceNumber",
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SliceThickness",
]


class HeaderCompleteness(BaseCheck):
    """Every instance has every ``required`` attribute with a value.

    ``value``: instances lacking at least one; ``fail`` when more than ``max_incomplete``.
    """

    name: ClassVar[str] = "header_completeness"
    needs: ClassVar[Needs] = "headers"
    defaults: ClassVar[dict[str, Any]] = {"required": REQUIRED, "max_incomplete": 0}

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        required = [str(k) for k in thresholds["required"]]
        lacking: Counter[str] = Counter()
        incomplete = 0
        for item in series.slices:
            absent = [k for k in required if not item.header.values(k)]
            lacking.update(absent)
            incomplete += bool(absent)
        limit = int(thresholds["max_incomplete"])
        status = "fail" if incomplete > limit else "pass"
        if incomplete:
            names = ", ".join(f"{k} ({n})" for k, n in sorted(lacking.items()))
            message = f"{incomplete} of {len(series.slices)} instances lack: {names}"
        else:
            message = f"all {len(required)} required attributes present"
        return [self.finding("incomplete_instances", status, incomplete, limit, message)]


def _temporal_key(header: Header) -> float | None:
    for keyword in ("TemporalPositionIdentifier", "TemporalPositionIndex", "AcquisitionNumber"):
        value = number(header, keyword)
        if value is not None:
            return value
    return None


def slice_positions(series: SeriesContext) -> tuple[np.ndarray, list[tuple[float, Slice]]] | None:
    """The series' normal and each image's position along it (None without geometry)."""
    if not series.slices:
        return None
    n = normal(series.slices[0].header)
    if n is None:
        return None
    out = []
    for item in series.slices:
        ipp = floats(item.header, "ImagePositionPatient", 3)
        if ipp is not None:
            out.append((float(np.dot(ipp, n)), item))
    return n, out


class Slices(BaseCheck):
    """Missing and duplicated slices, and uneven spacing along the slice normal.

    Positions are ImagePositionPatient projected on the normal of the first image's
    orientation, per temporal position (TemporalPositionIdentifier, else
    AcquisitionNumber) so a time series' repeats are not duplicates. The nominal spacing
    is the median gap; a gap of k nominal spacings counts k-1 missing slices; the
    spacing ``value`` is the largest relative deviation of a gap from the median (gaps
    that are whole multiples are counted as missing, not as uneven). Instance Numbers
    that repeat are duplicates, gaps in their range missing.
    """

    name: ClassVar[str] = "slices"
    needs: ClassVar[Needs] = "headers"
    defaults: ClassVar[dict[str, Any]] = {
        "position_tolerance_mm": 0.01,
        "spacing_tolerance": 0.05,
        "spacing_fail": 0.5,
        "max_missing": 0,
        "max_duplicates": 0,
    }

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        if len(series.slices) < 2:
            return []
        findings = self._instance_numbers(series, thresholds)
        geometry = slice_positions(series)
        if geometry is None:
            return findings
        _, positions = geometry
        tol = float(thresholds["position_tolerance_mm"])
        groups: dict[float | None, list[float]] = {}
        for d, item in positions:
            groups.setdefault(_temporal_key(item.header), []).append(d)
        duplicates = missing = 0
        deviation = 0.0
        spacing: float | None = None
        for values in groups.values():
            values.sort()
            gaps = np.diff(values)
            duplicates += int(np.sum(gaps <= tol))
            gaps = gaps[gaps > tol]
            if len(gaps) == 0:
                continue
            nominal = float(np.median(gaps))
            spacing = nominal if spacing is None else spacing
            multiples = np.rint(gaps / nominal)
            whole = (multiples >= 2) & (np.abs(gaps - multiples * nominal) <= tol + 0.05 * nominal)
            missing += int(np.sum(multiples[whole] - 1))
            regular = gaps[~whole]
            if len(regular) and len(gaps) >= 2:
                deviation = max(deviation, float(np.max(np.abs(regular - nominal)) / nominal))
        max_dup, max_missing = int(thresholds["max_duplicates"]), int(thresholds["max_missing"])
        findings.append(
            self.finding(
                "duplicate_positions",
                "fail" if duplicates > max_dup else "pass",
                duplicates,
                max_dup,
                f"{duplicates} images at a position already taken (within {tol} mm)",
            )
        )
        findings.append(
            self.finding(
                "missing_positions",
                "fail" if missing > max_missing else "pass",
                missing,
                max_missing,
                f"{missing} slices missing in the stack"
                + (f" (nominal spacing {spacing:.3g} mm)" if spacing is not None else ""),
            )
        )
        warn, fail = float(thresholds["spacing_tolerance"]), float(thresholds["spacing_fail"])
        findings.append(
            self.finding(
                "spacing_deviation",
                graded(deviation, warn, fail),
                round(deviation, 4),
                {"warn": warn, "fail": fail},
                f"largest gap deviates {deviation:.1%} from the median spacing"
                + (f" {spacing:.3g} mm" if spacing is not None else ""),
            )
        )
        return findings

    def _instance_numbers(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        numbers = [s.instance_number for s in series.slices if s.instance_number is not None]
        if len(numbers) < 2:
            return []
        counts = Counter(numbers)
        duplicates = sum(n - 1 for n in counts.values())
        missing = (max(numbers) - min(numbers) + 1) - len(counts)
        max_dup, max_missing = int(thresholds["max_duplicates"]), int(thresholds["max_missing"])
        repeated = sorted(k for k, n in counts.items() if n > 1)[:10]
        return [
            self.finding(
                "duplicate_instance_numbers",
                "fail" if duplicates > max_dup else "pass",
                duplicates,
                max_dup,
                f"{duplicates} repeated Instance Numbers" + (f": {repeated}" if repeated else ""),
            ),
            self.finding(
                "missing_instance_numbers",
                "fail" if missing > max_missing else "pass",
                missing,
                max_missing,
                f"{missing} Instance Numbers missing between {min(numbers)} and {max(numbers)}",
            ),
        ]


class Orientation(BaseCheck):
    """All images share one orientation: the largest angle (degrees) between any image's
    row or column direction and the first image's; ``fail`` above ``tolerance_degrees``.
    """

    name: ClassVar[str] = "orientation"
    needs: ClassVar[Needs] = "headers"
    defaults: ClassVar[dict[str, Any]] = {"tolerance_degrees": 0.5}

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        vectors = [(s, orientation(s.header)) for s in series.slices]
        known = [(s, v) for s, v in vectors if v is not None]
        if not known:
            return []
        row0, col0 = known[0][1]
        largest, worst_uid = 0.0, None
        for item, (row, col) in known:
            angle = max(angle_degrees(row0, row), angle_degrees(col0, col))
            if angle > largest:
                largest, worst_uid = angle, item.sop_uid
        limit = float(thresholds["tolerance_degrees"])
        status = "fail" if largest > limit else "pass"
        message = f"largest orientation difference {largest:.3g}°"
        if worst_uid is not None and status != "pass":
            message += f" (instance {worst_uid})"
        if len(known) < len(vectors):
            message += f"; {len(vectors) - len(known)} images without orientation"
        return [self.finding("max_angle_degrees", status, round(largest, 4), limit, message)]
