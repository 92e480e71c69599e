"""REST and web UI: QC per project and per study from a real ``vesalius serve``, whose
event loop runs the QC subscriber; projects are scoped (404 without a role)."""

from __future__ import annotations

import time
from pathlib import Path

from qc_world import disc, make_series, set_pixels

from conftest import Cli, token_for

PROBLEM = "application/problem+json"
PASSWORD = "a-long-test-password"


def test_qc_api_and_scoping(cli: Cli, tmp_path: Path, server_factory) -> None:
    cli("init")
    cli("project", "create", "trial", "--stable-seconds", "1")
    cli("project", "create", "other")
    for user in ("alice", "bob"):
        cli("user", "create", user, "--password-stdin", input=f"{PASSWORD}\n")
    cli("grant", "alice", "trial", "member")
    cli("grant", "bob", "other", "member")
    stack = make_series(6, description="t1_gappy")
    del stack[2]  # a missing slice, no protocol: default thresholds
    folder = tmp_path / "d"
    folder.mkdir()
    for i, ds in enumerate(stack):
        set_pixels(ds, disc(32, 1000, 5, seed=i))
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    study_uid = stack[0].StudyInstanceUID
    cli("import", "--project", "trial", str(folder))
    server = server_factory()
    alice = server.client(token_for(cli, "alice"))
    bob = server.client(token_for(cli, "bob"))

    deadline = time.monotonic() + 30
    while True:
        listing = alice.get("/api/projects/trial/qc")
        assert listing.status_code == 200
        body = listing.json()
        if body["total"]:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    (item,) = body["items"]
    assert item["study_uid"] == study_uid and item["status"] == "fail"
    assert item["protocol_version"] is None and item["instances"] == 5
    missing = next(f for f in item["findings"] if f["metric"] == "missing_positions")
    assert (missing["status"], missing["value"], missing["threshold"]) == ("fail", 1, 0)
    assert body["counts"] == {"fail": 1}
    assert alice.get("/api/projects/trial/qc", params={"status": "pass"}).json()["total"] == 0
    bad = alice.get("/api/projects/trial/qc", params={"status": "nonsense"})
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM

    one = alice.get(f"/api/projects/trial/studies/{study_uid}/qc")
    assert one.status_code == 200
    assert one.json()["status"] == "fail" and one.json()["series"] == [item]

    for path in ("/api/projects/trial/qc", f"/api/projects/trial/studies/{study_uid}/qc"):
        denied = bob.get(path)
        assert denied.status_code == 404 and denied.headers["content-type"] == PROBLEM
        assert server.client().get(path).status_code == 401
    unknown = alice.get("/api/projects/trial/studies/1.2.3.4/qc")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    assert bob.get("/api/projects/other/qc").json() == {"items": [], "total": 0, "counts": {}}
    assert "/api/projects/{key}/qc" in alice.get("/api/openapi.json").json()["paths"]

    with server.client() as browser:
        signed_in = browser.post("/ui/login", data={"username": "alice", "password": PASSWORD})
        assert signed_in.status_code == 303
        html = browser.get(f"/ui/projects/trial/studies/{study_uid}").text
        assert 'id="qc" data-status="fail"' in html
        assert "slices missing positions = 1" in html
