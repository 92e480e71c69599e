"""End to end: protocol load, ``vesalius import``, ``events process``, ``adherence --json``.

Studies with deliberate deviations go through the real intake path; every deviation is
reported with the expected and the actual value, and conforming studies raise nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from studies_world import (
    FLAIR,
    LOCALIZER,
    PROTOCOL,
    SCANNER_A,
    SCANNER_B,
    T1,
    T1_GE,
    make_mr_study,
    series,
    write,
)

from vesalius.core.model import utcnow

from conftest import Cli


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):
    """A clock an hour ahead for the stability check, so series count as quiet."""
    import vesalius.ingest.stability as stability

    def move() -> None:
        monkeypatch.setattr(stability, "utcnow", lambda: utcnow() + dt.timedelta(hours=1))

    return move


def by_subject(report: dict) -> dict[tuple[str, str], dict]:
    return {(i["subject_id"], i["study_date"]): i for i in report["items"]}


def flag(item: dict, name: str) -> dict | None:
    return next((f for f in item["flags"] if f["flag"] == name), None)


def test_import_events_adherence(cli: Cli, tmp_path: Path, later) -> None:
    cli("init")
    cli("project", "create", "trial")
    protocol_file = tmp_path / "protocol.yaml"
    protocol_file.write_text(PROTOCOL)
    loaded = json.loads(
        cli("protocol", "load", "--project", "trial", str(protocol_file), "--json").stdout
    )
    assert loaded["version"] == 1

    data = tmp_path / "data"
    uids = {}
    # scanner B's qualification scan (a phantom) passes: B is qualified from 2024-01-05
    uids["qual"] = write(
        data / "qual",
        make_mr_study(
            patient="PHANTOM-B",
            date=dt.date(2024, 1, 5),
            scanner=SCANNER_B,
            description="QUALIFICATION scanner B",
            series_list=[series(T1_GE)],
        ),
    )
    # subject 001: conforming baseline on A (a localizer is ignored) …
    uids["001-base"] = write(
        data / "001-base",
        make_mr_study(
            patient="001",
            date=dt.date(2024, 1, 10),
            scanner=SCANNER_A,
            series_list=[series(LOCALIZER, 1), series(T1), series(FLAIR)],
        ),
    )
    # … month 6: T1w too thick and with too few slices, FLAIR missing, an unexpected DWI
    uids["001-m6"] = write(
        data / "001-m6",
        make_mr_study(
            patient="001",
            date=dt.date(2024, 7, 10),
            scanner=SCANNER_A,
            series_list=[
                series({**T1, "SliceThickness": 2.0}, 3),
                series({"SeriesDescription": "ep2d_diff", "SliceThickness": 4.0}, 2),
            ],
        ),
    )
    # … month 12 on scanner B (a conforming GE protocol): the device changed
    uids["001-m12"] = write(
        data / "001-m12",
        make_mr_study(
            patient="001",
            date=dt.date(2025, 1, 9),
            scanner=SCANNER_B,
            series_list=[series(T1_GE), series(FLAIR)],
        ),
    )
    # subject 002: baseline on B before B was qualified
    uids["002-base"] = write(
        data / "002-base",
        make_mr_study(
            patient="002",
            date=dt.date(2024, 1, 2),
            scanner=SCANNER_B,
            series_list=[series(T1_GE), series(FLAIR)],
        ),
    )
    # subject 003: baseline on A after a software upgrade (XA31 has its own echo time)
    uids["003-base"] = write(
        data / "003-base",
        make_mr_study(
            patient="003",
            date=dt.date(2024, 3, 1),
            scanner={**SCANNER_A, "SoftwareVersions": "syngo MR XA31"},
            series_list=[series({**T1, "EchoTime": 2.26}), series(FLAIR)],
        ),
    )
    summary = json.loads(cli("import", "--project", "trial", str(data), "--json").stdout)
    assert summary["stored"] == 4 + 9 + 5 + 8 + 8 + 8

    later()
    processed = cli("events", "process").stdout
    assert "12 series and 6 studies became stable" in processed
    report = json.loads(cli("adherence", "--project", "trial", "--json").stdout)
    assert report["protocol_version"] == 1 and report["total"] == 6
    items = {i["study_uid"]: i for i in report["items"]}
    for item in items.values():
        assert item["stable"] and item["protocol_version"] == 1

    qual = items[uids["qual"]]
    assert (qual["visit"], qual["device"], qual["qualification"], qual["qualifies"]) == (
        "qualification",
        "B-signa",
        True,
        True,
    )
    assert qual["status"] == "ok", qual
    devices = {d["key"]: d for d in report["devices"]}
    assert devices["A-prisma"]["qualified_by"] == "inventory"
    assert devices["B-signa"]["qualified"] and devices["B-signa"]["qualified_by"] == uids["qual"]

    base = items[uids["001-base"]]
    assert base["status"] == "ok", base  # no false alarm
    assert (base["visit"], base["device"], base["missing"], base["flags"]) == (
        "baseline",
        "A-prisma",
        [],
        [],
    )
    assert [s["status"] for s in base["series"]] == ["ignored", "ok", "ok"]
    assert [s["expected"] for s in base["series"]] == [None, "T1w", "FLAIR"]

    m6 = items[uids["001-m6"]]
    assert (m6["visit"], m6["status"]) == ("month6", "deviations")
    t1 = m6["series"][0]
    assert (t1["expected"], t1["status"]) == ("T1w", "violations")
    found = {v["attribute"]: v for v in t1["violations"]}
    assert set(found) == {"SliceThickness", "slices"}
    assert found["SliceThickness"]["expected"] == {"max": 1.2}
    assert found["SliceThickness"]["actual"] == 2.0
    assert found["slices"]["expected"] == {"min": 4.0} and found["slices"]["actual"] == 3
    dwi = m6["series"][1]
    assert (dwi["status"], dwi["expected"]) == ("unexpected", None)
    assert m6["unexpected"] == [dwi["series_uid"]]
    assert m6["missing"] == [{"series": "FLAIR", "visit": "month6"}]
    assert m6["flags"] == []

    m12 = items[uids["001-m12"]]
    assert (m12["visit"], m12["device"]) == ("month12", "B-signa")
    assert [s["status"] for s in m12["series"]] == ["ok", "ok"], "GE override applies"
    assert m12["flags"] == [
        {
            "flag": "device_changed",
            "expected": "A-prisma",
            "actual": "B-signa",
            "baseline_study": uids["001-base"],
        }
    ]

    unqualified = items[uids["002-base"]]
    assert [s["status"] for s in unqualified["series"]] == ["ok", "ok"]
    assert unqualified["flags"] == [
        {"flag": "unqualified_device", "expected": "a qualified device", "actual": "B-signa"}
    ]
    assert unqualified["status"] == "deviations"

    upgraded = items[uids["003-base"]]
    assert [s["status"] for s in upgraded["series"]] == ["ok", "ok"], "XA31 override applies"
    assert upgraded["software_version"] == "syngo MR XA31"
    assert upgraded["flags"] == [
        {
            "flag": "software_changed",
            "device": "A-prisma",
            "expected": "syngo MR XA30",
            "actual": "syngo MR XA31",
            "first_study": uids["001-base"],
        }
    ]

    # delivered once: a second round changes nothing and delivers nothing new
    again = cli("events", "process").stdout
    assert "0 series and 0 studies became stable; 0 events delivered" in again
    assert (
        json.loads(cli("adherence", "--project", "trial", "--json").stdout)["items"]
        == (report["items"])
    )

    # the plain listing names the findings
    text = cli("adherence", "--project", "trial").stdout
    assert "missing FLAIR" in text and "device_changed" in text and "SliceThickness" in text
