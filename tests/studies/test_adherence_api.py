"""REST: adherence per project and per study from a real ``vesalius serve``, whose event
loop runs the adherence subscriber; projects are scoped (404 without a role)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from studies_world import PROTOCOL, SCANNER_A, T1, make_mr_study, series, write

from conftest import Cli, token_for

PROBLEM = "application/problem+json"
PASSWORD = "a-long-test-password"


def test_adherence_api_and_scoping(cli: Cli, tmp_path: Path, server_factory) -> None:
    cli("init")
    cli("project", "create", "trial", "--stable-seconds", "1")
    cli("project", "create", "other")
    (tmp_path / "p.yaml").write_text(PROTOCOL)
    cli("protocol", "load", "--project", "trial", str(tmp_path / "p.yaml"))
    for user in ("alice", "bob"):
        cli("user", "create", user, "--password-stdin", input=f"{PASSWORD}\n")
    cli("grant", "alice", "trial", "member")
    cli("grant", "bob", "other", "member")
    study_uid = write(
        tmp_path / "d",
        make_mr_study(
            patient="050",
            date=dt.date(2024, 1, 1),
            scanner=SCANNER_A,
            series_list=[series({**T1, "FlipAngle": 12})],  # and FLAIR missing
        ),
    )
    cli("import", "--project", "trial", str(tmp_path / "d"))
    server = server_factory()  # its event loop announces stability and runs the check
    alice = server.client(token_for(cli, "alice"))
    bob = server.client(token_for(cli, "bob"))

    deadline = time.monotonic() + 30
    while True:
        listing = alice.get("/api/projects/trial/adherence")
        assert listing.status_code == 200
        body = listing.json()
        if body["total"] and body["items"][0]["status"] != "pending":
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    assert body["protocol_version"] == 1
    assert [d["key"] for d in body["devices"]] == ["A-prisma", "B-signa"]
    (item,) = body["items"]
    assert item["study_uid"] == study_uid and item["status"] == "deviations"
    assert item["missing"] == [{"series": "FLAIR", "visit": "baseline"}]
    assert item["series"][0]["violations"] == [
        {"attribute": "FlipAngle", "expected": {"equals": 9.0}, "actual": 12, "reason": "not equal"}
    ]

    one = alice.get(f"/api/projects/trial/studies/{study_uid}/adherence")
    assert one.status_code == 200
    assert {k: v for k, v in one.json().items() if k != "checked_at"} == {
        k: v for k, v in item.items() if k != "checked_at"
    }
    assert alice.get("/api/projects/trial/adherence", params={"status": "ok"}).json()["total"] == 0

    for path in (
        "/api/projects/trial/adherence",
        f"/api/projects/trial/studies/{study_uid}/adherence",
    ):
        denied = bob.get(path)
        assert denied.status_code == 404 and denied.headers["content-type"] == PROBLEM
        assert server.client().get(path).status_code == 401
    missing = alice.get("/api/projects/trial/studies/1.2.3.4/adherence")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    empty = bob.get("/api/projects/other/adherence").json()
    assert empty == {"items": [], "total": 0, "protocol_version": None, "devices": []}
    assert "/api/projects/{key}/adherence" in alice.get("/api/openapi.json").json()["paths"]

    # the study page of the web UI lists the same findings
    with server.client() as browser:
        signed_in = browser.post("/ui/login", data={"username": "alice", "password": PASSWORD})
        assert signed_in.status_code == 303
        page = browser.get(f"/ui/projects/trial/studies/{study_uid}")
        assert page.status_code == 200
        html = page.text
        assert 'id="adherence" data-status="deviations"' in html
        assert "FlipAngle is <strong>12.0</strong>, expected equals 9.0" in html
        assert "Missing expected series FLAIR (visit baseline)" in html
        browser.post("/ui/login", data={"username": "bob", "password": PASSWORD})
        assert browser.get(f"/ui/projects/trial/studies/{study_uid}").status_code == 404
