"""The adherence subscriber: visits by date and window, unknown devices, re-delivery and
re-opened studies (one current result), a new protocol version, no protocol at all."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from studies_world import (
    FLAIR,
    PROTOCOL,
    SCANNER_A,
    T1,
    UNKNOWN_SCANNER,
    clock_ahead,
    make_mr_study,
    series,
    write,
)

from vesalius.core.events import EventDelivery, OutboxEvent
from vesalius.core.home import open_home
from vesalius.studies.model import SeriesAdherence, StudyAdherence

from conftest import Cli


@pytest.fixture
def trial(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cli("init")
    cli("project", "create", "trial")
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(PROTOCOL)
    cli("protocol", "load", "--project", "trial", str(protocol))
    clock_ahead(monkeypatch)
    return protocol


def run(cli: Cli, folder: Path) -> dict:
    cli("import", "--project", "trial", str(folder), "--json")
    cli("events", "process")
    return json.loads(cli("adherence", "--project", "trial", "--json").stdout)


def unstamped(item: dict) -> dict:
    """A result without the times it was checked at."""
    out = {k: v for k, v in item.items() if k != "checked_at"}
    out["series"] = [{k: v for k, v in s.items() if k != "checked_at"} for s in item["series"]]
    return out


def items(report: dict) -> dict[str, dict]:
    return {i["study_uid"]: i for i in report["items"]}


def test_visits_by_date_window_and_unknown_device(cli: Cli, tmp_path: Path, trial) -> None:
    data = tmp_path / "data"
    good = [series(T1), series(FLAIR)]
    base = write(
        data / "b",
        make_mr_study(patient="010", date=dt.date(2024, 1, 1), scanner=SCANNER_A, series_list=good),
    )
    late = write(  # day 230: nearest visit month6 (182 ± 14), out of its window
        data / "l",
        make_mr_study(
            patient="010", date=dt.date(2024, 8, 18), scanner=SCANNER_A, series_list=good
        ),
    )
    odd = write(
        data / "o",
        make_mr_study(
            patient="011", date=dt.date(2024, 1, 3), scanner=UNKNOWN_SCANNER, series_list=good
        ),
    )
    undated = make_mr_study(patient="012", date=dt.date(2024, 1, 3), scanner=SCANNER_A,
                            series_list=good)  # fmt: skip
    for ds in undated:
        ds.StudyDate = ""
    undated_uid = write(data / "u", undated)
    report = items(run(cli, data))
    assert report[base]["status"] == "ok" and report[base]["visit"] == "baseline"
    assert report[late]["visit"] == "month6"
    assert report[late]["flags"] == [
        {
            "flag": "out_of_window",
            "visit": "month6",
            "expected": {"from_day": 168, "to_day": 196},
            "actual": 230,
        }
    ]
    assert report[odd]["device"] is None
    assert report[odd]["flags"] == [
        {
            "flag": "unknown_device",
            "expected": "a device of the inventory",
            "actual": "Philips Ingenia station name MRA1",
        }
    ]
    assert report[undated_uid]["visit"] is None
    assert report[undated_uid]["flags"][0] == {
        "flag": "no_visit",
        "expected": "a visit of the schedule",
        "actual": None,
    }
    assert [s["status"] for s in report[undated_uid]["series"]] == ["unexpected", "unexpected"]


def test_redelivery_and_reopened_study_keep_one_current_result(
    cli: Cli, tmp_path: Path, trial, settings
) -> None:
    datasets = make_mr_study(
        patient="020",
        date=dt.date(2024, 1, 1),
        scanner=SCANNER_A,
        series_list=[series({**T1, "SliceThickness": 2.0}), series(FLAIR)],
    )
    study_uid = write(tmp_path / "v1", datasets)
    first = items(run(cli, tmp_path / "v1"))[study_uid]
    assert first["status"] == "deviations"
    assert first["series"][0]["violations"][0]["actual"] == 2.0

    home = open_home(settings)
    try:
        # every stable event delivered again: the same result, still one row per UID
        with home.db.write() as session, session.begin():
            session.execute(delete(EventDelivery))
            session.execute(update(OutboxEvent).values(delivered_at=None))
        assert "0 series and 0 studies became stable; " in cli("events", "process").stdout
        again = items(json.loads(cli("adherence", "--project", "trial", "--json").stdout))
        assert unstamped(again[study_uid]) == unstamped(first)
        with home.db.read() as session:
            assert session.scalar(select(func.count()).select_from(SeriesAdherence)) == 2
            assert session.scalar(select(func.count()).select_from(StudyAdherence)) == 1

        # a corrected first image (a new version) re-opens the study; checked again once stable
        fixed = datasets[0]
        fixed.SliceThickness = 1.0
        write(tmp_path / "v2", [fixed])
        cli("import", "--project", "trial", str(tmp_path / "v2"), "--json")
        pending = json.loads(cli("adherence", "--project", "trial", "--json").stdout)
        assert pending["items"][0]["stable"] is False
        assert "1 series and 1 studies became stable" in cli("events", "process").stdout
        now = items(json.loads(cli("adherence", "--project", "trial", "--json").stdout))
        assert now[study_uid]["status"] == "ok" and now[study_uid]["series"][0]["violations"] == []
        with home.db.read() as session:
            assert session.scalar(select(func.count()).select_from(SeriesAdherence)) == 2
            assert session.scalar(select(func.count()).select_from(StudyAdherence)) == 1
    finally:
        home.close()


def test_new_protocol_version_and_recheck(cli: Cli, tmp_path: Path, trial: Path) -> None:
    study_uid = write(
        tmp_path / "d",
        make_mr_study(
            patient="030",
            date=dt.date(2024, 1, 1),
            scanner=SCANNER_A,
            series_list=[series(T1), series(FLAIR)],
        ),
    )
    assert items(run(cli, tmp_path / "d"))[study_uid]["status"] == "ok"
    stricter = tmp_path / "v2.yaml"
    stricter.write_text(PROTOCOL.replace("SliceThickness: {max: 1.2}", "SliceThickness: 0.8", 1))
    out = cli("protocol", "load", "-p", "trial", str(stricter), "--recheck").stdout
    assert "version 2" in out and "1 studies checked again" in out
    item = items(json.loads(cli("adherence", "--project", "trial", "--json").stdout))[study_uid]
    assert item["protocol_version"] == 2 and item["status"] == "deviations"
    assert item["series"][0]["violations"] == [
        {
            "attribute": "SliceThickness",
            "expected": {"equals": 0.8},
            "actual": 1.0,
            "reason": "not equal",
        }
    ]
    only = json.loads(cli("adherence", "-p", "trial", "--json", "--status", "ok").stdout)
    assert only["items"] == [] and only["total"] == 0


def test_projects_without_protocol_are_left_alone(cli: Cli, tmp_path: Path, monkeypatch) -> None:
    cli("init")
    cli("project", "create", "plain")
    write(
        tmp_path / "d",
        make_mr_study(
            patient="040", date=dt.date(2024, 1, 1), scanner=SCANNER_A, series_list=[series(T1)]
        ),
    )
    cli("import", "--project", "plain", str(tmp_path / "d"))
    clock_ahead(monkeypatch)
    assert "events delivered" in cli("events", "process").stdout
    report = json.loads(cli("adherence", "--project", "plain", "--json").stdout)
    assert report == {
        "project": "plain",
        "protocol_version": None,
        "devices": [],
        "items": [],
        "total": 0,
    }
    assert "has no protocol" in cli("adherence", "--project", "plain").stdout
