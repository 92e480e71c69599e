"""De-identification (DICOM PS3.15 Annex E): profiles, pseudonyms, cleaning, marks.

The engine takes a dataset (or Part 10 bytes) and a project key and returns the
de-identified object and a report, or raises ``RejectedObject`` when it cannot make the
object safe. Intake, the gateway and ``vesalius deid run`` all call it::

    from vesalius.deid import Deidentifier, Profile
    engine = Deidentifier(Profile.from_options(["clean-descriptors"]), key)
    data, report = engine.deidentify_bytes(received)

Hooks for the rest of the work: ``subject_id_for`` and ``known_for`` (the broker vault),
``pixel_cleaner`` (OCR, ``vesalius.deid.pixels``), ``visual_cleaner`` (defacing),
``text_cleaner`` (free text).
"""

from vesalius.deid.engine import Deidentifier, patient_key
from vesalius.deid.hooks import PixelCleaner, PixelOutcome, VisualFeatureCleaner
from vesalius.deid.keyed import Pseudonyms
from vesalius.deid.private import SafePrivate
from vesalius.deid.profile import OPTION_CODES, Option, Override, Profile
from vesalius.deid.report import DeidResult, ObjectReport
from vesalius.deid.text import DefaultTextCleaner, KnownIdentifiers, TextCleaner

__all__ = [
    "OPTION_CODES",
    "DefaultTextCleaner",
    "DeidResult",
    "Deidentifier",
    "KnownIdentifiers",
    "ObjectReport",
    "Option",
    "Override",
    "PixelCleaner",
    "PixelOutcome",
    "Profile",
    "Pseudonyms",
    "SafePrivate",
    "TextCleaner",
    "VisualFeatureCleaner",
    "patient_key",
]
