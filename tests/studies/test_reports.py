"""Management reports from a small generated project: two sites, imported through the
real intake path, events processed; numbers per site and overall, and the formats agree."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from studies_world import (
    FLAIR,
    SCANNER_B,
    T1_GE,
    clock_ahead,
    make_mr_study,
    series,
    write,
)
from visits_world import DATES, TODAY, build

from vesalius.studies.reports import COLUMNS

from conftest import Cli


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):
    return lambda: clock_ahead(monkeypatch)


def add_site_b(cli: Cli, tmp_path: Path, later) -> str:
    """Subject 101 at site B: a baseline on B's scanner with a too thick T1 (a deviation)."""
    import datetime as dt

    bad_t1 = {**T1_GE, "SliceThickness": 3.0}
    uid = write(
        tmp_path / "b" / "101",
        make_mr_study(
            patient="101",
            date=dt.date(2024, 12, 1),
            scanner=SCANNER_B,
            series_list=[series(bad_t1), series(FLAIR)],
        ),
    )
    cli("import", "--project", "trial", str(tmp_path / "b"), "--json", expect=None)
    later()
    cli("events", "process")
    return uid


def report(cli: Cli, *args: str) -> dict:
    return json.loads(cli("report", "--project", "trial", "--today", TODAY, *args).stdout)


def test_report_numbers_per_site(cli: Cli, tmp_path: Path, later) -> None:
    build(cli, tmp_path, later)
    add_site_b(cli, tmp_path, later)
    data = report(cli, "--format", "json")
    sites = {s["site"]: s for s in data["sites"]}
    assert list(sites) == ["A", "B"]
    a, b, overall = sites["A"], sites["B"], data["overall"]
    assert (a["subjects"], a["studies"]) == (3, sum(len(d) for d in DATES.values()))
    # visits world: A has 9 expected, 4 received, 2 due, 1 overdue, 1 missed
    assert (a["visits_expected"], a["visits_received"]) == (9, 4)
    assert (a["visits_due"], a["visits_overdue"], a["visits_missed"]) == (2, 1, 1)
    # A: 003 lacks FLAIR; B: 101's T1 is too thick
    assert (a["studies_checked"], a["studies_conforming"], a["adherence_rate"]) == (4, 3, 0.75)
    assert (b["subjects"], b["studies"], b["studies_checked"], b["studies_conforming"]) == (
        1,
        1,
        1,
        0,
    )
    assert b["adherence_rate"] == 0.0
    # 101's baseline 2024-12-01: month6 window opens 2025-05-17: upcoming
    assert (b["visits_expected"], b["visits_received"], b["visits_overdue"]) == (3, 1, 0)
    assert overall["subjects"] == 4 and overall["studies_checked"] == 5
    assert overall["adherence_rate"] == 0.6
    assert overall["visits_expected"] == 12 and overall["visits_missed"] == 1
    assert a["series_qc"] == 7 and b["series_qc"] == 2
    assert overall["qc_failures"] == a["qc_failures"] + b["qc_failures"]
    # acquisitions of 2024, arrival now: delays are positive and ordered
    assert a["delay_series"] == 7 and b["delay_series"] == 2
    assert 0 < a["delay_median_hours"] <= a["delay_p90_hours"]
    assert overall["delay_p90_hours"] == a["delay_p90_hours"]  # A's 2024-01 studies are oldest

    only_b = report(cli, "--format", "json", "--site", "B")
    assert [s["site"] for s in only_b["sites"]] == ["B"]
    assert only_b["overall"]["subjects"] == 1
    assert cli("report", "--project", "trial", "--site", "Z", expect=None).exit_code != 0
    assert cli("report", "--project", "trial", "--format", "xml", expect=None).exit_code != 0

    # csv and html say the same as json
    rows = list(
        csv.DictReader(
            io.StringIO(
                cli("report", "--project", "trial", "--today", TODAY, "--format", "csv").stdout
            )
        )
    )
    assert [r["site"] for r in rows] == ["A", "B", "overall"]
    for r, j in zip(rows, [a, b, overall], strict=True):
        for column in COLUMNS:
            expected = "" if j[column] is None else str(j[column])
            assert r[column] == expected, (column, r[column], expected)
    out = tmp_path / "report.html"
    cli("report", "--project", "trial", "--today", TODAY, "--format", "html", "--output", str(out))
    html = out.read_text()
    assert "<script" not in html and 'data-chart="received"' in html
    assert '<tr data-site="B"><td data-column="site">B</td>' in html
    assert f'<td data-column="visits_expected">{a["visits_expected"]}</td>' in html
    assert 'data-site="A" data-series="adherence_rate" data-value="75%"' in html


def test_report_delays_on_true_time_in_deid_project(cli: Cli, tmp_path: Path, later) -> None:
    """Shown dates are shifted; delays use the vault's offsets and match true time."""
    import datetime as dt

    build(cli, tmp_path, later, deid=True, patient_prefix="MRN-")
    data = report(cli, "--format", "json")
    a, b = data["sites"]  # every protocol site has a row, B without subjects
    assert (b["site"], b["subjects"], b["delay_series"], b["adherence_rate"]) == ("B", 0, 0, None)
    assert a["site"] == "A" and a["subjects"] == 3 and a["delay_excluded"] == 0
    # 7 series; the 4 of 2024-01-10 are the oldest: median (4th) and p90 (7th) are theirs
    assert a["delay_series"] == 7
    true_hours = (dt.datetime.now(dt.UTC) - dt.datetime(2024, 1, 10, tzinfo=dt.UTC)).total_seconds()
    true_hours /= 3600
    assert abs(a["delay_median_hours"] - true_hours) < 24
    assert a["delay_p90_hours"] == a["delay_median_hours"]
    assert (a["visits_expected"], a["visits_received"], a["visits_overdue"]) == (9, 4, 1)
