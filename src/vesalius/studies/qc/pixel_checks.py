"""Built-in pixel checks: statistics (clipping, constant images, SNR) and motion.

Pixels are read one image (one frame) at a time from the storage area, so memory stays
that of a single frame whatever the size of the series; ``max_images`` limits how many
images are read, spread evenly over the series (0 reads them all).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vesalius.studies.qc.base import BaseCheck, Finding, Needs, SeriesContext, Slice, graded
from vesalius.studies.qc.geometry import floats, number
from vesalius.studies.qc.header_checks import _temporal_key, slice_positions


def stored_range(item: Slice) -> tuple[int, int] | None:
    """Smallest and largest storable value (BitsStored, PixelRepresentation)."""
    bits = number(item.header, "BitsStored")
    if bits is None or bits < 1:
        return None
    if number(item.header, "PixelRepresentation") == 1:
        return -(2 ** (int(bits) - 1)), 2 ** (int(bits) - 1) - 1
    return 0, 2 ** int(bits) - 1


def snr(frame: np.ndarray, slope: float = 1.0, intercept: float = 0.0) -> float | None:
    """Signal over noise: mean of the foreground over the std of the four corners.

    The corners are squares of 1/8 of the image's side (at least 2 pixels), taken as
    background; the foreground is every pixel brighter than the corners' mean plus half
    the distance to the image's 99th percentile. None when the corners have no spread
    (zero-filled background) or no foreground stands out.
    """
    values = frame.astype(np.float64) * slope + intercept
    rows, cols = values.shape[:2]
    k = max(2, min(rows, cols) // 8)
    corners = np.concatenate(
        [
            values[:k, :k].ravel(),
            values[:k, -k:].ravel(),
            values[-k:, :k].ravel(),
            values[-k:, -k:].ravel(),
        ]
    )
    noise = float(corners.std())
    if noise <= 0:
        return None
    background = float(corners.mean())
    cut = background + 0.5 * (float(np.percentile(values, 99)) - background)
    foreground = values[values > cut]
    if foreground.size == 0:
        return None
    return (float(foreground.mean()) - background) / noise


class PixelStatistics(BaseCheck):
    """Clipped pixels, constant images and a signal-to-noise estimate.

    - ``clipped_fraction``: share of pixels at the top of the stored range (BitsStored),
      plus those at the bottom for signed data (unsigned background is legitimately 0);
    - ``constant_images``: images whose pixels all have one value;
    - ``snr``: the median over images of :func:`snr` (foreground mean above the corner
      background, over the corners' standard deviation; no Rayleigh correction).
    """

    name: ClassVar[str] = "pixel_statistics"
    needs: ClassVar[Needs] = "pixels"
    defaults: ClassVar[dict[str, Any]] = {
        "clipping_warn": 0.001,
        "clipping_fail": 0.01,
        "max_constant": 0,
        "snr_warn": 10.0,
        "snr_fail": 3.0,
        "max_images": 0,
    }

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        total = clipped = constant = images = 0
        ratios: list[float] = []
        for item, frame in series.pixels(int(thresholds["max_images"]) or None):
            if frame.ndim != 2:  # colour: no statistics
                continue
            images += 1
            total += frame.size
            limits = stored_range(item)
            if limits is not None:
                low, high = limits
                clipped += int(np.count_nonzero(frame >= high))
                if low < 0:
                    clipped += int(np.count_nonzero(frame <= low))
            if frame.size and frame.min() == frame.max():
                constant += 1
                continue
            slope = number(item.header, "RescaleSlope") or 1.0
            intercept = number(item.header, "RescaleIntercept") or 0.0
            ratio = snr(frame, slope, intercept)
            if ratio is not None:
                ratios.append(ratio)
        if not images:
            return []
        fraction = clipped / total if total else 0.0
        warn, fail = float(thresholds["clipping_warn"]), float(thresholds["clipping_fail"])
        max_constant = int(thresholds["max_constant"])
        findings = [
            self.finding(
                "clipped_fraction",
                graded(fraction, warn, fail),
                round(fraction, 6),
                {"warn": warn, "fail": fail},
                f"{fraction:.3%} of pixels at the limit of the stored range ({images} images)",
            ),
            self.finding(
                "constant_images",
                "fail" if constant > max_constant else "pass",
                constant,
                max_constant,
                f"{constant} of {images} images have a single pixel value",
            ),
        ]
        swarn, sfail = float(thresholds["snr_warn"]), float(thresholds["snr_fail"])
        if ratios:
            value = float(np.median(ratios))
            findings.append(
                self.finding(
                    "snr",
                    graded(value, swarn, sfail, above=False),
                    round(value, 2),
                    {"warn": swarn, "fail": sfail},
                    f"median SNR {value:.1f} over {len(ratios)} images "
                    "(foreground mean over the std of the corners)",
                )
            )
        return findings


class Motion(BaseCheck):
    """In-plane motion of a time series: centre-of-mass shift between consecutive frames.

    A series is a time series when several images share a slice position (along the
    normal). For each position its images are taken in temporal order
    (TemporalPositionIdentifier, else AcquisitionNumber, then Instance Number) and each
    frame's intensity-weighted centre of mass is computed over its pixels above the
    frame's mean (the background left out); ``value`` is the largest shift in mm
    (PixelSpacing) between two consecutive frames, the mean shift is in the message.
    """

    name: ClassVar[str] = "motion"
    needs: ClassVar[Needs] = "pixels"
    defaults: ClassVar[dict[str, Any]] = {
        "shift_warn_mm": 1.0,
        "shift_fail_mm": 3.0,
        "position_tolerance_mm": 0.01,
    }

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        geometry = slice_positions(series)
        if geometry is None:
            return []
        tol = max(float(thresholds["position_tolerance_mm"]), 1e-6)
        groups: dict[int, list[Slice]] = {}
        for d, item in geometry[1]:
            groups.setdefault(round(d / tol), []).append(item)
        series_groups = [g for g in groups.values() if len(g) > 1]
        if not series_groups:
            return []  # not a time series
        shifts: list[float] = []
        for group in series_groups:
            group.sort(key=lambda s: (_temporal_key(s.header) or 0, s.instance_number or 0))
            previous: np.ndarray | None = None
            for item in group:
                spacing = floats(item.header, "PixelSpacing", 2)
                scale = spacing if spacing is not None else np.ones(2)
                for frame in item.frames():
                    com = _centre_of_mass(frame)
                    if com is None:
                        continue
                    com = com * scale
                    if previous is not None:
                        shifts.append(float(np.linalg.norm(com - previous)))
                    previous = com
        if not shifts:
            return []
        largest, mean = max(shifts), float(np.mean(shifts))
        warn, fail = float(thresholds["shift_warn_mm"]), float(thresholds["shift_fail_mm"])
        return [
            self.finding(
                "max_shift_mm",
                graded(largest, warn, fail),
                round(largest, 3),
                {"warn": warn, "fail": fail},
                f"largest frame-to-frame shift {largest:.2f} mm, mean {mean:.2f} mm over "
                f"{len(series_groups)} slice positions",
            )
        ]


def _centre_of_mass(frame: np.ndarray) -> np.ndarray | None:
    """(row, column) centre of the pixels above the frame's mean, weighted by value."""
    if frame.ndim != 2:
        return None
    values = frame.astype(np.float64)
    values = np.where(values > values.mean(), values - values.mean(), 0.0)
    total = values.sum()
    if total <= 0:
        return None
    rows = np.arange(values.shape[0], dtype=np.float64)
    cols = np.arange(values.shape[1], dtype=np.float64)
    return np.array(
        [float(values.sum(axis=1) @ rows) / total, float(values.sum(axis=0) @ cols) / total]
    )
