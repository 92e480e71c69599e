"""Generated DICOM objects: demo projects, benchmarks and tests build their data here.

Images are simple phantoms (an ellipse with inserts and noise) so that thumbnails look
like something, and every header value is invented: no real person's data.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    generate_uid,
)

from vesalius import __version__

ROOT = "1.2.826.0.1.3680043.10.1452."  # vesalius' generated-object UID branch
SOP_CLASSES = {
    "CT": CTImageStorage,
    "MR": MRImageStorage,
    "PT": PositronEmissionTomographyImageStorage,
}


@dataclass(frozen=True)
class StudySpec:
    patient_id: str
    patient_name: str
    study_date: dt.date
    description: str = "Research study"
    accession: str = ""


def phantom(size: int, slice_index: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    r = 0.42 - 0.1 * abs(np.sin(slice_index / 7))
    body = ((x - c) / (size * r)) ** 2 + ((y - c) / (size * (r * 0.8))) ** 2 <= 1
    image = np.where(body, 1040, 0).astype(np.int32)
    for dx, dy, value in ((-0.15, 0, 1400), (0.15, 0.05, 900), (0, -0.18, 1200)):
        insert = (x - c - dx * size) ** 2 + (y - c - dy * size) ** 2 <= (0.06 * size) ** 2
        image = np.where(insert & body, value, image)
    image = image + rng.normal(0, 12, image.shape).astype(np.int32)
    return np.clip(image, 0, 4095).astype(np.uint16)


def make_instance(
    *,
    spec: StudySpec,
    study_uid: str,
    series_uid: str,
    modality: str,
    series_number: int,
    series_description: str,
    index: int,
    size: int = 64,
    sop_uid: str | None = None,
) -> Dataset:
    """One image of a generated series, as a complete Part 10 dataset."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid(prefix=ROOT)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = ROOT + "1"
    meta.ImplementationVersionName = f"VESALIUS_{__version__}"[:16]
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyDate = ds.SeriesDate = spec.study_date.strftime("%Y%m%d")
    ds.StudyTime = "090000"
    ds.StudyDescription = spec.description
    ds.AccessionNumber = spec.accession
    ds.StudyID = "1"
    ds.ReferringPhysicianName = ""
    ds.Modality = modality
    ds.Manufacturer = "vesalius phantom"
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [0, 0, float(index) * 2.5]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceThickness = 2.5
    ds.PixelSpacing = [0.8, 0.8]
    pixels = phantom(size, index, seed=index + series_number * 1000)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if modality == "CT":
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.WindowCenter = 40
        ds.WindowWidth = 400
    ds.PixelData = pixels.tobytes()
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_study(
    spec: StudySpec, series: list[tuple[str, str, int]], *, size: int = 64, seed: str | None = None
) -> list[Dataset]:
    """A study with the given ``(modality, description, images)`` series.

    With a ``seed`` every UID is derived from it, so the same call makes the same
    objects again (the demo loads as duplicates the second time); without, UIDs are new.
    """

    def uid(*parts: object) -> str:
        if seed is None:
            return generate_uid(prefix=ROOT)
        return generate_uid(prefix=ROOT, entropy_srcs=[seed, *map(str, parts)])

    study_uid = uid("study")
    out = []
    for number, (modality, description, count) in enumerate(series, start=1):
        series_uid = uid("series", number)
        out.extend(
            make_instance(
                spec=spec,
                study_uid=study_uid,
                series_uid=series_uid,
                modality=modality,
                series_number=number,
                series_description=description,
                index=i,
                size=size,
                sop_uid=uid("instance", number, i),
            )
            for i in range(count)
        )
    return out
