"""Issue 6, "Must show": a two-site trial end to end through a real ``vesalius serve``.

Studies arrive by DCMTK ``storescu`` (C-STORE to the server) and ``vesalius import``; the
server's event loop announces stability and runs the adherence and QC subscribers.
Every deliberate deviation is reported with expected and actual values, the conforming
studies raise nothing, and the server's scheduled reminder job sends each reminder and
deviation notice once, also across a stop and a restart on the same home.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from trial_world import (
    PROTOCOL,
    VISITS,
    Mailbox,
    Receiver,
    make_study,
    notifications,
    write,
)

from conftest import Cli, Server, free_port, require_tool, token_for

EMAIL = "imaging-core@example.org"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def flag(item: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((f for f in item["flags"] if f["flag"] == name), None)


def test_trial_scenario(
    cli: Cli,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: Mailbox,
    receiver: Receiver,
) -> None:
    storescu = require_tool("storescu", "dcmtk")
    today = dt.date.today()
    cli("init")
    cli("project", "create", "trial", "--accept-unknown-ae")
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(PROTOCOL + notifications(EMAIL, receiver.url))
    cli("protocol", "load", "--project", "trial", str(protocol))
    token = token_for(cli, "admin")

    uids: dict[str, str] = {}
    folders: dict[str, Path] = {}
    for visit in VISITS:
        folders[visit.key] = tmp_path / "data" / visit.key
        uids[visit.key] = write(folders[visit.key], make_study(visit, today))
    by_uid = {uid: key for key, uid in uids.items()}

    monkeypatch.setenv("VESALIUS_STABLE_SECONDS", "1")
    monkeypatch.setenv("VESALIUS_NOTIFY_INTERVAL", "0")  # reminders once everything is in
    monkeypatch.setenv("VESALIUS_IMPORT_WORKERS", "1")
    monkeypatch.setenv("VESALIUS_SMTP_URL", f"smtp://127.0.0.1:{mailbox.port}")
    monkeypatch.setenv("VESALIUS_SMTP_FROM", "trial@vesalius.test")

    # intake: S03 by `vesalius import`, the others by C-STORE, each study in date order
    for visit in VISITS:
        if visit.intake == "import":
            cli("import", "--project", "trial", str(folders[visit.key]))
    server = Server(settings, tmp_path / "serve-0.log", dicom_port=free_port())
    try:
        for visit in sorted(VISITS, key=lambda v: -v.days_ago):
            if visit.intake != "storescu":
                continue
            sent = subprocess.run(
                [
                    storescu,
                    "-aet",
                    "SCANNER",
                    "-aec",
                    "TRIAL",
                    "127.0.0.1",
                    str(server.dicom_port),
                    "+sd",
                    str(folders[visit.key]),
                ],
                capture_output=True,
                text=True,
                env={**os.environ, "TCP_NODELAY": "1"},
                timeout=60,
            )
            assert sent.returncode == 0, sent.stdout + sent.stderr

        def adherence_done() -> dict[str, Any] | None:
            report = json.loads(cli("adherence", "--project", "trial", "--json").stdout)
            done = report["total"] == len(VISITS) and all(
                i["stable"] and i["status"] != "pending" for i in report["items"]
            )
            return report if done else None

        report = wait_for(adherence_done, "adherence of every study")
        series_total = sum(len(v.series) for v in VISITS)  # one QC row per series

        def qc_done() -> dict[str, Any] | None:
            got = json.loads(cli("qc", "--project", "trial", "--json").stdout)
            return got if got["total"] == series_total else None

        qc = wait_for(qc_done, "QC of every series")
        with server.client(token) as http:
            response = http.get(f"/api/projects/trial/studies/{uids['S04-fu90']}/adherence")
            assert response.status_code == 200, response.text
            rest_study = response.json()
            response = http.get("/api/projects/trial/qc", params={"status": "fail"})
            assert response.status_code == 200, response.text
            rest_qc_fail = response.json()
    finally:
        server.stop()

    items = {by_uid[i["study_uid"]]: i for i in report["items"]}
    assert report["protocol_version"] == 1
    assert {k: (i["subject_id"], i["visit"]) for k, i in items.items()} == {
        "S01-base": ("TRIAL-S01", "baseline"),
        "S01-fu90": ("TRIAL-S01", "followup90"),
        "S01-fu180": ("TRIAL-S01", "followup180"),
        "S02-base": ("TRIAL-S02", "baseline"),
        "S03-base": ("TRIAL-S03", "baseline"),
        "S03-fu90": ("TRIAL-S03", "followup90"),
        "S04-base": ("TRIAL-S04", "baseline"),
        "S04-fu90": ("TRIAL-S04", "followup90"),
    }

    # no false alarm on the conforming studies: adherence and QC
    for key in ("S01-base", "S01-fu90", "S01-fu180", "S02-base"):
        item = items[key]
        assert item["status"] == "ok", item
        assert (item["missing"], item["flags"], item["unexpected"]) == ([], [], []), item
        assert [s["status"] for s in item["series"]] == ["ok", "ok", "ok"], item
        assert [s["expected"] for s in item["series"]] == ["T1-3D", "FLAIR", "DWI"]
    assert items["S02-base"]["device"] == "B-signa"
    assert {items[k]["device"] for k in ("S01-base", "S01-fu90", "S01-fu180")} == {"A-prisma"}

    # wrong slice thickness: expected and actual
    s03 = items["S03-base"]
    assert (s03["status"], s03["missing"], s03["flags"]) == ("deviations", [], [])
    t1 = s03["series"][0]
    assert (t1["expected"], t1["status"]) == ("T1-3D", "violations")
    [violation] = t1["violations"]
    assert (violation["attribute"], violation["expected"], violation["actual"]) == (
        "SliceThickness",
        {"equals": 1.0, "tolerance": 0.1},
        1.5,
    )
    assert [s["status"] for s in s03["series"][1:]] == ["ok", "ok"]

    # out of window: day 120 of a visit expected on days 76..104
    late = items["S03-fu90"]
    assert late["status"] == "deviations" and late["missing"] == []
    assert [s["status"] for s in late["series"]] == ["ok", "ok", "ok"]
    assert late["flags"] == [
        {
            "flag": "out_of_window",
            "visit": "followup90",
            "expected": {"from_day": 76, "to_day": 104},
            "actual": 120,
        }
    ]

    # a missing series
    s04 = items["S04-base"]
    assert s04["status"] == "deviations" and s04["flags"] == []
    assert s04["missing"] == [{"series": "FLAIR", "visit": "baseline"}]
    assert [s["status"] for s in s04["series"]] == ["ok", "ok"]

    # a different scanner at follow-up
    changed = items["S04-fu90"]
    assert changed["device"] == "B-ingenia" and changed["missing"] == []
    assert changed["flags"] == [
        {
            "flag": "device_changed",
            "expected": "B-signa",
            "actual": "B-ingenia",
            "baseline_study": uids["S04-base"],
        }
    ]
    assert rest_study["flags"] == changed["flags"]

    # QC: the gap in the follow-up DWI is the only QC failure; everything else passes
    assert qc["counts"] == {"pass": series_total - 1, "fail": 1}, qc["counts"]
    [failed] = [i for i in qc["items"] if i["status"] != "pass"]
    assert (by_uid[failed["study_uid"]], failed["description"]) == ("S04-fu90", "ep2d_diff_b1000")
    findings = {(f["check"], f["metric"]): f for f in failed["findings"]}
    missing = findings["slices", "missing_positions"]
    assert (missing["status"], missing["value"]) == ("fail", 1)
    assert "threshold" in missing and missing["threshold"] is not None
    assert [i["series_uid"] for i in rest_qc_fail["items"]] == [failed["series_uid"]]
    for item in qc["items"]:
        if item is not failed:
            assert all(f["status"] == "pass" for f in item["findings"]), item

    # reminders and notices: the server's scheduled job, once, across a restart
    expected = {
        ("visit.due", "TRIAL-S02", "followup90"),
        ("visit.overdue", "TRIAL-S03", "followup180"),
        ("deviation", "TRIAL-S03", uids["S03-base"]),
        ("deviation", "TRIAL-S03", uids["S03-fu90"]),
        ("deviation", "TRIAL-S04", uids["S04-base"]),
        ("deviation", "TRIAL-S04", uids["S04-fu90"]),
    }
    monkeypatch.setenv("VESALIUS_NOTIFY_INTERVAL", "0.01")  # every 0.6 s
    server = Server(settings, tmp_path / "serve-1.log")
    try:
        wait_for(
            lambda: len(mailbox.messages) >= len(expected) and len(receiver.posts) >= len(expected),
            "every reminder and notice",
        )
        time.sleep(2)  # a few more runs of the job: nothing new
    finally:
        server.stop()
    assert len(mailbox.messages) == len(expected) and len(receiver.posts) == len(expected)
    payloads = [json.loads(body) for body in receiver.posts]
    got = {
        (p["event"], p["subject"], p["study_uid"] if p["event"] == "deviation" else p["visit"])
        for p in payloads
    }
    assert got == expected
    assert all(m["to"] == [EMAIL] for m in mailbox.messages)
    notices = {p["study_uid"]: p for p in payloads if p["event"] == "deviation"}
    assert notices[uids["S04-base"]]["missing"] == ["FLAIR"]
    assert notices[uids["S04-fu90"]]["flags"] == ["device_changed"]
    assert notices[uids["S03-fu90"]]["flags"] == ["out_of_window"]
    assert notices[uids["S03-base"]]["violations"] == [
        {"expected": "T1-3D", "constraints": ["SliceThickness"]}
    ]

    server = Server(settings, tmp_path / "serve-2.log")  # same home, job runs again
    try:
        time.sleep(3)
    finally:
        server.stop()
    assert len(mailbox.messages) == len(expected) and len(receiver.posts) == len(expected)
    again = json.loads(cli("notify", "--project", "trial", "--json").stdout)
    assert again["sent"] == [] and again["failed"] == []
    assert again["skipped"] == 2 * len(expected)
