"""Generated MR studies with chosen header values, and the test protocol they follow."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance

# Two sites, two scanners (A qualified in the inventory, B by its qualification scan),
# a qualification visit and three visits by date with their expected series.
PROTOCOL = """\
name: TEST-MR 1.0
sites:
  - {key: A, name: Hospital A}
  - {key: B, name: Hospital B}
devices:
  - key: A-prisma
    site: A
    manufacturer: SIEMENS*
    model: Prisma*
    software_versions: [syngo MR XA30, syngo MR XA31]
    field_strength: 3.0
    qualified: true
  - key: B-signa
    site: B
    manufacturer: GE*
    model: SIGNA*
    field_strength: 3.0
series:
  - name: T1w
    match:
      Modality: MR
      SeriesDescription: {regex: "(?i)(mprage|bravo)"}
    require:
      SliceThickness: {max: 1.2}
      RepetitionTime: {min: 2000, max: 2400}
      EchoTime: {equals: 2.98, tolerance: 0.1}
      InversionTime: {equals: 900, tolerance: 10}
      FlipAngle: 9
      MagneticFieldStrength: 3
      PixelSpacing: {equals: [1.0, 1.0], tolerance: 0.05}
      Rows: 16
      Columns: {one_of: [16, 32]}
      slices: {min: 4}
    overrides:
      - when: {manufacturer: "GE*"}
        require:
          RepetitionTime: {min: 6, max: 9}
          EchoTime: {max: 4}
          InversionTime: {equals: 450, tolerance: 20}
      - when: {software_version: "*XA31*"}
        require:
          EchoTime: {equals: 2.26, tolerance: 0.1}
  - name: FLAIR
    match: {Modality: MR, SeriesDescription: "*flair*"}
    require:
      SliceThickness: {max: 1.2}
      InversionTime: {min: 1600, max: 2500}
      contrast: false
  - name: T1w-post
    required: false
    match: {Modality: MR, SeriesDescription: "*post*"}
    require: {contrast: true}
ignore:
  - {SeriesDescription: "*localizer*"}
visits:
  - name: qualification
    qualification: true
    match: {StudyDescription: "QUALIFICATION*"}
    series: [T1w]
  - name: baseline
    offset_days: 0
    window: {before: 0, after: 14}
    series: [T1w, FLAIR, T1w-post]
  - name: month6
    offset_days: 182
    window: {before: 14, after: 14}
    series: [T1w, FLAIR]
  - name: month12
    offset_days: 365
    window: {before: 21, after: 21}
    series: [T1w, FLAIR]
"""

SCANNER_A = {
    "Manufacturer": "SIEMENS",
    "ManufacturerModelName": "Prisma_fit",
    "StationName": "MRA1",
    "SoftwareVersions": "syngo MR XA30",
    "MagneticFieldStrength": 3,
}
SCANNER_B = {
    "Manufacturer": "GE MEDICAL SYSTEMS",
    "ManufacturerModelName": "SIGNA Premier",
    "StationName": "MRB1",
    "SoftwareVersions": "MR30.1",
    "MagneticFieldStrength": 3,
}
UNKNOWN_SCANNER = {**SCANNER_A, "Manufacturer": "Philips", "ManufacturerModelName": "Ingenia"}

T1 = {
    "SeriesDescription": "t1_mprage_sag",
    "SliceThickness": 1.0,
    "RepetitionTime": 2300,
    "EchoTime": 2.98,
    "InversionTime": 900,
    "FlipAngle": 9,
    "PixelSpacing": [1.0, 1.0],
}
T1_GE = {**T1, "SeriesDescription": "Sag BRAVO", "RepetitionTime": 7.6, "EchoTime": 3.1,
         "InversionTime": 450, "FlipAngle": 9}  # fmt: skip
FLAIR = {
    "SeriesDescription": "t2_flair_sag",
    "SliceThickness": 1.0,
    "RepetitionTime": 5000,
    "EchoTime": 390,
    "InversionTime": 1800,
    "FlipAngle": 120,
    "PixelSpacing": [1.0, 1.0],
}
LOCALIZER = {"SeriesDescription": "localizer", "SliceThickness": 8.0}

_numbers = itertools.count(1)


def series(headers: dict[str, Any], images: int = 4) -> tuple[dict[str, Any], int]:
    return headers, images


def make_mr_study(
    *,
    patient: str,
    date: dt.date,
    scanner: dict[str, Any],
    series_list: list[tuple[dict[str, Any], int]],
    description: str = "Brain MRI",
) -> list[Dataset]:
    """A generated MR study; each series' headers override the generated values."""
    spec = StudySpec(patient, f"{patient}^Test", date, description=description)
    study_uid = generate_uid(prefix=ROOT)
    out = []
    for number, (headers, images) in enumerate(series_list, start=1):
        series_uid = generate_uid(prefix=ROOT)
        for index in range(images):
            ds = make_instance(
                spec=spec,
                study_uid=study_uid,
                series_uid=series_uid,
                modality="MR",
                series_number=number,
                series_description=str(headers.get("SeriesDescription", "")),
                index=index,
                size=16,
            )
            for keyword, value in {**scanner, **headers}.items():
                if value is None:
                    if keyword in ds:
                        delattr(ds, keyword)
                else:
                    setattr(ds, keyword, value)
            out.append(ds)
    return out


def write(folder: Path, datasets: list[Dataset]) -> str:
    """Write a study's files under ``folder``; returns its Study Instance UID."""
    folder.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    return str(datasets[0].StudyInstanceUID)


def clock_ahead(monkeypatch: pytest.MonkeyPatch, hours: float = 1) -> None:
    """Let the stability check run an hour ahead, so that every series counts as quiet."""
    import vesalius.ingest.stability as stability
    from vesalius.core.model import utcnow

    monkeypatch.setattr(stability, "utcnow", lambda: utcnow() + dt.timedelta(hours=hours))
