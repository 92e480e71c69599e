"""Generated series for the QC tests, and a third-party QC plugin (found by entry point)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, ClassVar

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance
from vesalius.studies.qc.base import BaseCheck, Finding, Needs, SeriesContext, Slice
from vesalius.studies.rules import Header

SPEC = StudySpec("QC-1", "QC^Test", dt.date(2024, 3, 1), description="QC test")


def make_series(
    count: int = 6,
    *,
    size: int = 32,
    spacing: float = 2.5,
    description: str = "t1_qc",
    study_uid: str | None = None,
    number: int = 1,
) -> list[Dataset]:
    """An axial stack of ``count`` images, ``spacing`` mm apart, Instance Numbers 1.."""
    study_uid = study_uid or generate_uid(prefix=ROOT)
    series_uid = generate_uid(prefix=ROOT)
    out = []
    for index in range(count):
        ds = make_instance(
            spec=SPEC,
            study_uid=study_uid,
            series_uid=series_uid,
            modality="MR",
            series_number=number,
            series_description=description,
            index=index,
            size=size,
        )
        ds.ImagePositionPatient = [0.0, 0.0, index * spacing]
        ds.PixelSpacing = [1.0, 1.0]
        out.append(ds)
    return out


def set_pixels(ds: Dataset, image: np.ndarray) -> Dataset:
    image = np.asarray(image, dtype=np.uint16)
    ds.Rows, ds.Columns = image.shape
    ds.PixelData = image.tobytes()
    return ds


def copy_of(ds: Dataset) -> Dataset:
    """The same image as a new instance (new SOP Instance UID)."""
    twin = copy.deepcopy(ds)
    twin.SOPInstanceUID = twin.file_meta.MediaStorageSOPInstanceUID = generate_uid(prefix=ROOT)
    return twin


def disc(size: int, level: float, noise: float, seed: int, background: float = 100.0) -> Any:
    """A bright disc on a background, with Gaussian noise of ``noise`` std."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    inside = (x - c) ** 2 + (y - c) ** 2 <= (size * 0.3) ** 2
    image = np.where(inside, background + level, background) + rng.normal(0, noise, (size, size))
    return np.clip(np.rint(image), 0, 4095)


def context_of(datasets: list[Dataset]) -> SeriesContext:
    """A series context straight from datasets (headers as DICOM JSON, pixels on demand)."""
    slices = []
    for ds in datasets:
        header = copy.deepcopy(ds)
        del header.PixelData
        frames = ds.pixel_array

        def load(frames: np.ndarray = frames) -> Any:
            return iter([frames])

        number = int(ds.InstanceNumber) if "InstanceNumber" in ds else None
        slices.append(Slice(Header(header.to_json_dict()), ds.SOPInstanceUID, number, load))
    first = datasets[0]
    return SeriesContext(
        "qc", first.StudyInstanceUID, first.SeriesInstanceUID, first.Modality, slices
    )


class EchoCount(BaseCheck):
    """A third-party check: the series has at least ``min_images`` images."""

    name: ClassVar[str] = "image_count"
    needs: ClassVar[Needs] = "headers"
    defaults: ClassVar[dict[str, Any]] = {"min_images": 3}

    def run(self, series: SeriesContext, thresholds: dict[str, Any]) -> list[Finding]:
        count, limit = len(series.slices), int(thresholds["min_images"])
        status = "fail" if count < limit else "pass"
        return [self.finding("images", status, count, limit, f"{count} images")]


class Broken:
    """Not a check at all (no run): a plugin that must be left out."""

    name = "broken"
