"""The intake pipeline: every way in hands received objects to the same stages.

spool -> parse and route -> de-identify (hook) -> store -> index -> publish.
Stages are plain functions (see :mod:`vesalius.ingest.pipeline`); areas react to
what arrives by subscribing to events, not by editing the chain.
"""

from vesalius.ingest.context import IntakeContext, Outcome, Summary

__all__ = ["IntakeContext", "Outcome", "Summary"]
