"""The hooks through which pixel cleaning (OCR) and defacing plug into the engine.

Header de-identification cannot see text drawn into the pixels. Objects at risk (as
``vesalius.deid.pixels.risk.at_risk`` judges: Burned In Annotation YES, ultrasound,
secondary and screen captures, colour images) go through a ``PixelCleaner`` when
clean-pixel-data is requested; without one they are withheld, never passed through.
``vesalius.deid.pixels.clean_pixels`` (OCR and blanking) fits the protocol as
``lambda``-free glue: ``class Ocr: def clean(self, ds, known): return clean_pixels(ds)``.
Defacing (clean-recognizable-visual-features) plugs in the same way.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydicom.dataset import Dataset

from vesalius.deid.text import KnownIdentifiers


class PixelOutcome(Protocol):
    """What a pixel cleaner reports (``pixels.CleanResult`` has these); never found text."""

    @property
    def regions_blanked(self) -> int: ...

    @property
    def transfer_syntax_changed(self) -> bool: ...


@runtime_checkable
class PixelCleaner(Protocol):
    """Blanks burned-in text in ``ds``'s pixels in place.

    ``known`` helps tell identifying text from the rest. Raise ``RejectedObject`` when the
    pixels cannot be read or cleaned. An outcome with a true ``overlays_cleaned``
    attribute keeps 60xx overlays under clean-graphics (else they are removed). Must be
    deterministic: the same pixels give the same result. The engine sets Burned In
    Annotation to NO afterwards.
    """

    def clean(self, ds: Dataset, known: KnownIdentifiers) -> PixelOutcome: ...


@runtime_checkable
class VisualFeatureCleaner(Protocol):
    """Defaces ``ds`` in place when it is an image it applies to (3D head MR/CT) and says
    whether it changed the pixels. Raise ``RejectedObject`` if it applies but cannot run."""

    def clean(self, ds: Dataset) -> bool: ...
