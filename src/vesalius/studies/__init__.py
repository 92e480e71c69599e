"""Study management: protocols per project, adherence checks and device qualification.

``protocol`` parses and validates the protocol file; ``protocols`` stores its versions;
``rules`` evaluates match rules and constraints on header values; ``adherence`` is the
subscriber to ``series.stable`` / ``study.stable`` that records results; ``results``
reads them for the CLI, the API and the web UI.
"""

from vesalius.studies.adherence import subscribe

__all__ = ["subscribe"]
