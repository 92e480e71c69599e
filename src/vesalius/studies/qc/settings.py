"""Which checks run on a series and with which thresholds (the protocol's ``qc:``).

The protocol's ``qc:`` maps check names to thresholds; an expected series' own ``qc:``
overrides them for the series matched to it. ``false`` (or ``{enabled: false}``) turns a
check off; missing names and keys take the check's defaults, so without a protocol every
installed check runs with its defaults::

    qc:
      slices: {spacing_tolerance: 0.1, max_missing: 0}
      pixel_statistics: {snr_warn: 20, snr_fail: 8}
      motion: false
    series:
      - name: rest-fMRI
        match: {SeriesDescription: "*bold*"}
        qc: {motion: {shift_warn_mm: 0.5, shift_fail_mm: 2}}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vesalius.studies.protocol import Protocol, SeriesSpec
from vesalius.studies.qc.base import Check
from vesalius.studies.rules import Header, rules_match


def all_specs(protocol: Protocol) -> Iterator[SeriesSpec]:
    """Expected series: the library, then those written inside visits."""
    yield from protocol.series
    for visit in protocol.visits:
        for item in visit.series:
            if not isinstance(item, str):
                yield item


def find_spec(protocol: Protocol, name: str | None, header: Header) -> SeriesSpec | None:
    """The expected series named by adherence, else the first whose rules match."""
    specs = list(all_specs(protocol))
    if name is not None:
        named = next((s for s in specs if s.name == name), None)
        if named is not None:
            return named
    return next((s for s in specs if rules_match(s.match, header)), None)


def thresholds_for(
    check: Check, protocol: Protocol | None, spec: SeriesSpec | None
) -> dict[str, Any] | None:
    """The check's thresholds for this series, or None when the check is turned off."""
    merged: dict[str, Any] = dict(check.defaults)
    enabled = True
    layers = [protocol.qc if protocol is not None else {}, spec.qc if spec is not None else {}]
    for layer in layers:  # the expected series' settings come last and win
        if check.name not in layer:
            continue
        value = layer[check.name]
        if isinstance(value, bool):
            enabled = value
            continue
        value = dict(value)
        enabled = bool(value.pop("enabled", True))
        merged.update(value)
    return merged if enabled else None
