"""A small multi-site trial for the integrated scenario test (issue 6, "Must show").

Two sites, three scanners in the inventory, three visits (baseline, +90 ±14, +180 ±14)
and three expected series (T1 3D, FLAIR, DWI). Four subjects, dated relative to today
so that the server's scheduled reminder job (which uses the real date) sees due and
overdue visits: two conform, two carry deliberate deviations.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from qc_world import disc, set_pixels

from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance

PROTOCOL = """\
name: TRIAL-SCENARIO 1.0
sites:
  - {key: A, name: University Hospital A}
  - {key: B, name: City Hospital B}
devices:
  - {key: A-prisma, site: A, manufacturer: SIEMENS*, model: Prisma*, station_name: MRA1,
     software_versions: [syngo MR XA30], field_strength: 3.0, qualified: true}
  - {key: B-signa, site: B, manufacturer: GE*, model: SIGNA*, station_name: MRB1,
     software_versions: [MR30.1], field_strength: 3.0, qualified: true}
  - {key: B-ingenia, site: B, manufacturer: Philips*, model: Ingenia*, station_name: MRB2,
     software_versions: ["5.7.1"], field_strength: 3.0, qualified: true}
series:
  - name: T1-3D
    match: {Modality: MR, SeriesDescription: "*mprage*"}
    require:
      SliceThickness: {equals: 1.0, tolerance: 0.1}
      RepetitionTime: {min: 2000, max: 2400}
      slices: {min: 8}
  - name: FLAIR
    match: {Modality: MR, SeriesDescription: "*flair*"}
    require:
      SliceThickness: {max: 3.0}
      InversionTime: {min: 1600, max: 2500}
  - name: DWI
    match: {Modality: MR, SeriesDescription: "*diff*"}
    require:
      SliceThickness: {equals: 3.0, tolerance: 0.2}
visits:
  - {name: baseline, offset_days: 0, window: {before: 0, after: 14},
     series: [T1-3D, FLAIR, DWI]}
  - {name: followup90, offset_days: 90, window: {before: 14, after: 14},
     series: [T1-3D, FLAIR, DWI]}
  - {name: followup180, offset_days: 180, window: {before: 14, after: 14},
     series: [T1-3D, FLAIR, DWI]}
"""


def notifications(email: str, webhook: str) -> str:
    return f"notifications:\n  emails: [{email}]\n  webhooks: ['{webhook}']\n"


SCANNERS: dict[str, dict[str, Any]] = {
    "A-prisma": {
        "Manufacturer": "SIEMENS",
        "ManufacturerModelName": "Prisma_fit",
        "StationName": "MRA1",
        "SoftwareVersions": "syngo MR XA30",
        "MagneticFieldStrength": 3,
    },
    "B-signa": {
        "Manufacturer": "GE MEDICAL SYSTEMS",
        "ManufacturerModelName": "SIGNA Premier",
        "StationName": "MRB1",
        "SoftwareVersions": "MR30.1",
        "MagneticFieldStrength": 3,
    },
    "B-ingenia": {
        "Manufacturer": "Philips Medical Systems",
        "ManufacturerModelName": "Ingenia Elition",
        "StationName": "MRB2",
        "SoftwareVersions": "5.7.1",
        "MagneticFieldStrength": 3,
    },
}

# (headers, images); slices are 'SliceThickness' apart
T1 = {"SeriesDescription": "t1_mprage_3d", "SliceThickness": 1.0, "RepetitionTime": 2300,
      "EchoTime": 2.98, "InversionTime": 900, "FlipAngle": 9}  # fmt: skip
FLAIR = {"SeriesDescription": "t2_flair_3d", "SliceThickness": 1.0, "RepetitionTime": 5000,
         "EchoTime": 390, "InversionTime": 1800, "FlipAngle": 120}  # fmt: skip
DWI = {"SeriesDescription": "ep2d_diff_b1000", "SliceThickness": 3.0, "RepetitionTime": 4000,
       "EchoTime": 60}  # fmt: skip
STANDARD = [(T1, 10), (FLAIR, 6), (DWI, 6)]


@dataclass
class Visit:
    """One generated study: its subject, day from today (negative: past), scanner, series."""

    key: str
    subject: str
    days_ago: int
    scanner: str
    series: list[tuple[dict[str, Any], int]] = field(default_factory=lambda: list(STANDARD))
    drop: dict[str, int] = field(default_factory=dict)  # description -> slice index left out
    intake: str = "storescu"  # or "import"

    def date(self, today: dt.date) -> dt.date:
        return today - dt.timedelta(days=self.days_ago)


# S01, S02 conform. S03: baseline T1 1.5 mm thick, follow-up at day 120 (window 76..104),
# follow-up 180 not done (window closed 6 days ago: overdue). S04: baseline without FLAIR,
# follow-up on another scanner with a slice missing in the DWI. S02's follow-up 90 is due.
VISITS = [
    Visit("S01-base", "TRIAL-S01", 200, "A-prisma"),
    Visit("S01-fu90", "TRIAL-S01", 110, "A-prisma"),
    Visit("S01-fu180", "TRIAL-S01", 20, "A-prisma"),
    Visit("S02-base", "TRIAL-S02", 100, "B-signa"),
    Visit(
        "S03-base",
        "TRIAL-S03",
        200,
        "A-prisma",
        [({**T1, "SliceThickness": 1.5}, 10), (FLAIR, 6), (DWI, 6)],
        intake="import",
    ),
    Visit("S03-fu90", "TRIAL-S03", 80, "A-prisma", intake="import"),
    Visit("S04-base", "TRIAL-S04", 120, "B-signa", [(T1, 10), (DWI, 6)]),
    Visit(
        "S04-fu90",
        "TRIAL-S04",
        30,
        "B-ingenia",
        [(T1, 10), (FLAIR, 6), (DWI, 7)],
        drop={"ep2d_diff_b1000": 3},
    ),
]


def make_study(visit: Visit, today: dt.date) -> list[Dataset]:
    """The study of ``visit``: 32x32 images of a noisy disc, positions along z."""
    spec = StudySpec(visit.subject, f"{visit.subject}^Trial", visit.date(today), "Brain MRI")
    study_uid = generate_uid(prefix=ROOT)
    out = []
    for number, (headers, images) in enumerate(visit.series, start=1):
        series_uid = generate_uid(prefix=ROOT)
        description = str(headers["SeriesDescription"])
        for index in range(images):
            if visit.drop.get(description) == index:
                continue
            ds = make_instance(
                spec=spec,
                study_uid=study_uid,
                series_uid=series_uid,
                modality="MR",
                series_number=number,
                series_description=description,
                index=index,
                size=32,
            )
            for keyword, value in {**SCANNERS[visit.scanner], **headers}.items():
                setattr(ds, keyword, value)
            ds.PixelSpacing = [1.0, 1.0]
            ds.ImagePositionPatient = [0.0, 0.0, index * float(headers["SliceThickness"])]
            set_pixels(ds, disc(32, 1000, 5, seed=number * 100 + index))
            out.append(ds)
    return out


def write(folder: Path, datasets: list[Dataset]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    return str(datasets[0].StudyInstanceUID)


class Mailbox:
    """aiosmtpd handler keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.port = 0  # of the SMTP server it sits behind

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {"to": envelope.rcpt_tos, "data": envelope.content.decode("utf-8", "replace")}
        )
        return "250 OK"


class Receiver:
    """A loopback HTTP receiver for webhook posts."""

    def __init__(self) -> None:
        self.posts: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.posts.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
