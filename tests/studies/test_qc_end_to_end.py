"""End to end: ``vesalius import`` → ``events process`` → ``vesalius qc --json``.

Series go through the real intake path; the QC subscriber reads headers from the index
and pixels from the storage area, applies the protocol's thresholds and stores one
result per series, replaced when the series is checked again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from qc_world import disc, make_series, set_pixels
from sqlalchemy import func, select
from studies_world import clock_ahead

from vesalius.core.config import load_settings
from vesalius.core.home import open_home
from vesalius.studies import protocols
from vesalius.studies.qc.model import SeriesQC
from vesalius.studies.qc.runner import check_series

from conftest import Cli

PROTOCOL = """\
name: QC-TEST
visits: [{name: baseline, series: [T1w]}]
series:
  - name: T1w
    match: {SeriesDescription: "t1*"}
    qc:
      pixel_statistics: {snr_warn: 5, snr_fail: 2}
qc:
  slices: {spacing_tolerance: 0.3}
"""


def write(folder: Path, datasets) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)


def test_import_events_qc(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("init")
    cli("project", "create", "trial")
    (tmp_path / "p.yaml").write_text(PROTOCOL)
    cli("protocol", "load", "--project", "trial", str(tmp_path / "p.yaml"))

    good = make_series(6, description="t1_good", number=1)
    study_uid = good[0].StudyInstanceUID
    gappy = make_series(7, description="t1_gappy", study_uid=study_uid, number=2)
    del gappy[3]  # a missing slice
    uneven = make_series(5, description="t1_uneven", study_uid=study_uid, number=3)
    for ds, z in zip(uneven, (0.0, 2.5, 5.0, 8.0, 10.5), strict=True):
        ds.ImagePositionPatient = [0.0, 0.0, z]  # 20 % off: warn by default, 0.3 allowed
    clipped = make_series(4, description="t1_clipped", study_uid=study_uid, number=4)
    for i, ds in enumerate(good + gappy + uneven + clipped):
        set_pixels(ds, disc(32, 1000, 5, seed=i))
    set_pixels(clipped[0], np.full((32, 32), 4095))  # saturated and constant
    write(tmp_path / "d", good + gappy + uneven + clipped)
    cli("import", "--project", "trial", str(tmp_path / "d"))

    assert json.loads(cli("qc", "--project", "trial", "--json").stdout)["total"] == 0
    clock_ahead(monkeypatch)
    cli("events", "process")
    report = json.loads(cli("qc", "--project", "trial", "--json").stdout)
    assert report["total"] == 4
    by_name = {i["description"]: i for i in report["items"]}
    assert {k: v["status"] for k, v in by_name.items()} == {
        "t1_good": "pass",
        "t1_gappy": "fail",
        "t1_uneven": "pass",
        "t1_clipped": "fail",
    }
    assert report["counts"] == {"pass": 2, "fail": 2}
    for item in report["items"]:
        assert item["expected"] == "T1w" and item["protocol_version"] == 1
        assert set(item["checks"]) == {
            "header_completeness",
            "slices",
            "orientation",
            "pixel_statistics",
            "motion",
        }
    findings = {(f["check"], f["metric"]): f for f in by_name["t1_gappy"]["findings"]}
    assert findings["slices", "missing_positions"]["value"] == 1
    assert findings["slices", "missing_positions"]["status"] == "fail"
    assert findings["pixel_statistics", "snr"]["threshold"] == {"warn": 5, "fail": 2}
    uneven_spacing = next(
        f for f in by_name["t1_uneven"]["findings"] if f["metric"] == "spacing_deviation"
    )
    assert uneven_spacing["value"] == pytest.approx(0.2) and uneven_spacing["threshold"] == {
        "warn": 0.3,
        "fail": 0.5,
    }
    bad = {(f["metric"], f["status"]) for f in by_name["t1_clipped"]["findings"]}
    assert {("clipped_fraction", "fail"), ("constant_images", "fail")} <= bad
    assert by_name["t1_clipped"]["pixel_seconds"] > 0

    failing = json.loads(cli("qc", "--project", "trial", "--json", "--status", "fail").stdout)
    assert sorted(i["description"] for i in failing["items"]) == ["t1_clipped", "t1_gappy"]
    text = cli("qc", "--project", "trial").stdout
    assert "missing_positions" in text and "FAIL" in text
    cli("qc", "--project", "nope", expect=1)

    # checked again (a re-delivered event, a re-opened series): one row, replaced
    home = open_home(load_settings(None))
    try:
        with home.db.write() as session, session.begin():
            project = protocols.project_by_key(session, "trial")
            check_series(
                session, project=project, series_uid=gappy[0].SeriesInstanceUID, store=home.store
            )
            check_series(
                session, project=project, series_uid=gappy[0].SeriesInstanceUID, store=None
            )
        with home.db.read() as session:
            assert session.scalar(select(func.count()).select_from(SeriesQC)) == 4
            row = session.scalar(
                select(SeriesQC).where(SeriesQC.series_uid == gappy[0].SeriesInstanceUID)
            )
            assert row is not None and "pixel_statistics" not in row.checks  # header-only now
            assert row.status == "fail"
    finally:
        home.close()
