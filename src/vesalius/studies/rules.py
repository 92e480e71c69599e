"""Evaluating protocol rules on header values (DICOM JSON as kept in the index).

Pure functions: patterns, constraints, overrides and device identification take a
:class:`Header` (one representative instance of a series and the series' image count)
and answer without touching the database.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydicom.datadict import tag_for_keyword

from vesalius.studies.protocol import (
    CONTRAST,
    SLICES,
    Constraint,
    Device,
    Pattern,
    SeriesSpec,
    When,
)

EPSILON = 1e-6


@cache
def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):  # person names
        return value.get("Alphabetic", "")
    return value


@dataclass(frozen=True)
class Header:
    """Header values of one series: its representative instance and its image count."""

    dicom_json: dict[str, Any]
    slices: int = 0

    def values(self, name: str) -> list[Any]:
        """The values of a keyword (or computed name); empty when absent or empty."""
        if name == SLICES:
            return [self.slices]
        if name == CONTRAST:
            return [bool(self.text("ContrastBolusAgent") or self.text("ContrastBolusRoute"))]
        element = self.dicom_json.get(_tag(name))
        if not element:
            return []
        return [_plain(v) for v in element.get("Value", []) if v is not None and v != ""]

    def text(self, name: str) -> str:
        """All values joined by backslash, as DICOM writes multi-valued strings."""
        return "\\".join(str(v) for v in self.values(name))

    def actual(self, name: str) -> Any:
        """The value for results: None when absent, a scalar for one value, else a list."""
        values = self.values(name)
        if not values:
            return None
        return values[0] if len(values) == 1 else values


def _candidates(values: list[Any]) -> list[str]:
    texts = [str(v) for v in values]
    if len(texts) > 1:
        texts.append("\\".join(texts))
    return texts


def _glob(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text.strip().lower(), pattern.strip().lower())


def pattern_matches(pattern: Pattern, values: list[Any]) -> bool:
    """Whether any value (or, for several, all of them joined by backslash) matches."""
    texts = _candidates(values)
    if pattern.regex is not None:
        return any(re.search(pattern.regex, t) for t in texts)
    globs = pattern.any_of if pattern.any_of is not None else [pattern.glob or ""]
    return any(_glob(g, t) for g in globs for t in texts)


def rules_match(rules: dict[str, Pattern], header: Header) -> bool:
    return all(pattern_matches(p, header.values(name)) for name, p in rules.items())


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _close(actual: float, expected: float, tolerance: float) -> bool:
    return abs(actual - expected) <= tolerance + EPSILON * max(1.0, abs(expected))


def _same(actual: Any, expected: Any, tolerance: float) -> bool:
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return _close(a, e, tolerance)
    return str(actual).strip().lower() == str(expected).strip().lower()


def constraint_failure(constraint: Constraint, values: list[Any]) -> str | None:
    """Why ``values`` break ``constraint`` (a short reason), or None if they satisfy it."""
    c = constraint
    if c.present is not None:
        if c.present and not values:
            return "absent"
        if not c.present and values:
            return "present"
    only_presence = all(
        getattr(c, k) is None for k in ("equals", "min", "max", "one_of", "glob", "regex")
    )
    if only_presence:
        return None
    if not values:
        return "absent"
    if isinstance(c.equals, bool):
        if bool(values[0]) != c.equals:
            return "not equal"
    elif isinstance(c.equals, list):
        if len(values) != len(c.equals) or not all(
            _same(a, e, c.tolerance) for a, e in zip(values, c.equals, strict=True)
        ):
            return "not equal"
    elif c.equals is not None:
        if isinstance(c.equals, str) and len(values) > 1:
            if not any(_same(t, c.equals, 0) for t in _candidates(values)):
                return "not equal"
        elif not all(_same(v, c.equals, c.tolerance) for v in values):
            return "not equal"
    if c.min is not None or c.max is not None:
        numbers = [_number(v) for v in values]
        if any(n is None for n in numbers):
            return "not a number"
        if c.min is not None and any(n < c.min - EPSILON * max(1.0, abs(c.min)) for n in numbers):  # type: ignore[operator]
            return "below min"
        if c.max is not None and any(n > c.max + EPSILON * max(1.0, abs(c.max)) for n in numbers):  # type: ignore[operator]
            return "above max"
    if c.one_of is not None and not any(
        _same(t, option, c.tolerance) for option in c.one_of for t in _candidates(values)
    ):
        return "not one of"
    if c.glob is not None and not pattern_matches(Pattern(glob=c.glob), values):
        return "does not match"
    if c.regex is not None and not pattern_matches(Pattern(regex=c.regex), values):
        return "does not match"
    return None


def violations(require: dict[str, Constraint], header: Header) -> list[dict[str, Any]]:
    """Every constraint ``header`` breaks, with the expected and the actual value."""
    found = []
    for name, constraint in require.items():
        reason = constraint_failure(constraint, header.values(name))
        if reason is not None:
            found.append(
                {
                    "attribute": name,
                    "expected": constraint.describe(),
                    "actual": header.actual(name),
                    "reason": reason,
                }
            )
    return found


# -- devices and overrides -------------------------------------------------------------


def device_header(header: Header) -> dict[str, Any]:
    """What identifies the scanner that made a series."""
    return {
        "manufacturer": header.text("Manufacturer"),
        "model": header.text("ManufacturerModelName"),
        "serial_number": header.text("DeviceSerialNumber"),
        "station_name": header.text("StationName"),
        "software_versions": header.text("SoftwareVersions"),
    }


def _equal_text(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def identify_device(devices: list[Device], header: Header) -> Device | None:
    """The inventory device whose manufacturer, model (and serial, station) match."""
    for device in devices:
        if not pattern_matches(device.manufacturer, header.values("Manufacturer")):
            continue
        if not pattern_matches(device.model, header.values("ManufacturerModelName")):
            continue
        if device.serial_number is not None and not _equal_text(
            device.serial_number, header.text("DeviceSerialNumber")
        ):
            continue
        if device.station_name is not None and not _equal_text(
            device.station_name, header.text("StationName")
        ):
            continue
        return device
    return None


def _when_applies(when: When, header: Header, device: str | None) -> bool:
    checks = (
        (when.manufacturer, "Manufacturer"),
        (when.model, "ManufacturerModelName"),
        (when.software_version, "SoftwareVersions"),
    )
    for pattern, name in checks:
        if pattern is not None and not pattern_matches(pattern, header.values(name)):
            return False
    return when.device is None or when.device == device


def effective(
    spec: SeriesSpec, header: Header, device: str | None
) -> tuple[dict[str, Pattern], dict[str, Constraint], list[int]]:
    """Match rules and constraints after the overrides that apply (later ones win)."""
    match = dict(spec.match)
    require: dict[str, Constraint] = dict(spec.require)
    applied = []
    for index, override in enumerate(spec.overrides):
        if not _when_applies(override.when, header, device):
            continue
        applied.append(index)
        match.update(override.match)
        for name, constraint in override.require.items():
            if constraint is None:
                require.pop(name, None)
            else:
                require[name] = constraint
    return match, require, applied
