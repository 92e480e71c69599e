"""Automated QC of stable series, as plugins (entry point group ``vesalius.qc``).

``base`` is the plugin interface (a check: ``name``, ``needs``, ``defaults``,
``run(series, thresholds) -> list[Finding]``); ``registry`` finds installed checks;
``header_checks`` and ``pixel_checks`` are the built-in ones; ``settings`` resolves the
protocol's ``qc:`` thresholds; ``runner`` is the ``series.stable`` subscriber that stores
one result per series (``model``); ``results`` reads them.
"""

from vesalius.studies.qc.base import BaseCheck, Check, Finding, SeriesContext, Slice
from vesalius.studies.qc.runner import subscribe

__all__ = ["BaseCheck", "Check", "Finding", "SeriesContext", "Slice", "subscribe"]
