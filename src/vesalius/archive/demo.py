"""The demo project: generated studies so that a newcomer sees a working archive.

Objects are written as files and brought in through the same import path a user's
data takes; every name and date is invented.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from vesalius.core.dicom.synthetic import StudySpec, make_study

DEMO_KEY = "demo"
PATIENTS = [
    ("DEMO-001", "Phantom^Ada", "Baseline brain"),
    ("DEMO-002", "Phantom^Ben", "Chest follow-up"),
    ("DEMO-003", "Phantom^Cleo", "Abdomen"),
    ("DEMO-004", "Phantom^Dev", "Baseline brain"),
]
SERIES = {
    "Baseline brain": [("MR", "T1 MPRAGE", 12), ("MR", "FLAIR", 8)],
    "Chest follow-up": [("CT", "Chest 2.5mm", 16), ("CT", "Scout", 1)],
    "Abdomen": [("CT", "Portal venous", 12)],
}


def write_demo_files(folder: Path, *, size: int = 128) -> int:
    """Write the demo studies as Part 10 files into ``folder``; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    base = dt.date(2024, 3, 4)
    for n, (patient_id, name, description) in enumerate(PATIENTS):
        for visit in range(2):
            spec = StudySpec(
                patient_id=patient_id,
                patient_name=name,
                study_date=base + dt.timedelta(days=30 * n + 180 * visit),
                description=description,
                accession=f"DEMO{n}{visit}",
            )
            for ds in make_study(
                spec, SERIES[description], size=size, seed=f"vesalius-demo-{patient_id}-{visit}"
            ):
                ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
                count += 1
    return count
