"""Visit statuses with a fixed clock: received, due, overdue, missed, upcoming, window edges."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from studies_world import clock_ahead
from visits_world import TODAY, build, by_key, visits

from vesalius.studies.visits import visit_status

from conftest import Cli

D = dt.date


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (D(2024, 6, 9), "upcoming"),
        (D(2024, 6, 10), "due"),  # the window's first day
        (D(2024, 6, 20), "due"),  # its last day
        (D(2024, 6, 21), "overdue"),
        (D(2024, 7, 20), "overdue"),  # 30 days after
        (D(2024, 7, 21), "missed"),
    ],
)
def test_visit_status_edges(today: dt.date, expected: str) -> None:
    status = visit_status(
        window_from=D(2024, 6, 10), window_to=D(2024, 6, 20), today=today, missed_after_days=30
    )
    assert status == expected


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):
    return lambda: clock_ahead(monkeypatch)


def test_visits_json_after_import(cli: Cli, tmp_path: Path, later) -> None:
    uids = build(cli, tmp_path, later)
    report = visits(cli, "--today", TODAY)
    items = by_key(report)
    # the phantom-free world: three subjects, three scheduled visits each
    assert report["summary"] == {
        "expected": 9,
        "received": 4,
        "due": 2,
        "overdue": 1,
        "missed": 1,
        "upcoming": 1,
    }
    base = items[("001", "baseline")]
    assert base["status"] == "received" and base["study_uid"] == uids["001-0"]
    assert base["in_window"] is True and base["anchor"] == "2024-01-10"
    month6 = items[("001", "month6")]
    assert month6["status"] == "received" and month6["study_uid"] == uids["001-1"]
    assert (month6["window_from"], month6["window_to"]) == ("2024-06-26", "2024-07-24")
    assert items[("001", "month12")]["status"] == "due"
    assert items[("002", "month6")]["status"] == "missed"
    assert items[("002", "month6")]["days_late"] == 180
    assert items[("002", "month12")]["status"] == "due"
    overdue = items[("003", "month6")]
    assert overdue["status"] == "overdue" and overdue["days_late"] == 7
    assert items[("003", "month12")]["status"] == "upcoming"
    assert all(i["visit"] != "qualification" for i in report["items"])

    # 003's month6 window is 2024-12-16 .. 2025-01-13: its edges, a day apart
    for today, status in [
        ("2024-12-15", "upcoming"),
        ("2024-12-16", "due"),
        ("2025-01-13", "due"),
        ("2025-01-14", "overdue"),
        ("2025-02-12", "overdue"),
        ("2025-02-13", "missed"),
    ]:
        assert by_key(visits(cli, "--today", today))[("003", "month6")]["status"] == status

    only = visits(cli, "--today", TODAY, "--status", "overdue")
    assert [(i["subject_id"], i["visit"]) for i in only["items"]] == [("003", "month6")]
    assert visits(cli, "--today", TODAY, "--site", "B")["items"] == []
    assert cli("visits", "--project", "trial", "--status", "late", expect=None).exit_code != 0
