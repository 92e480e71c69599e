"""REST contract against a real ``vesalius serve``: shapes, filters, paging, access, files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydicom
import pytest

from vesalius.core.dicom.synthetic import StudySpec, make_study

from conftest import Cli, token_for

PROBLEM = "application/problem+json"


def write_study(
    folder: Path,
    patient: str,
    name: str,
    date: dt.date,
    modality: str,
    description: str,
    n: int = 2,
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    spec = StudySpec(patient, name, date, description=description, accession=f"ACC{patient}")
    paths = []
    for ds in make_study(
        spec, [(modality, "S1", n), (modality, "S2", 1)], seed=patient + description
    ):
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.fixture
def world(cli: Cli, tmp_path: Path, server_factory):
    cli("init")
    cli("project", "create", "p1", "--name", "Private one")
    cli("project", "create", "pub", "--public")
    for user in ("alice", "bob"):
        cli("user", "create", user)
    cli("grant", "alice", "p1", "member")
    data = tmp_path / "data"
    files = write_study(data / "a", "PA", "Alpha^Ann", dt.date(2024, 1, 10), "CT", "Chest")
    files += write_study(data / "b", "PB", "Beta^Bob", dt.date(2024, 3, 20), "MR", "Brain")
    files += write_study(data / "c", "PC", "Gamma^Cy", dt.date(2023, 7, 1), "CT", "Abdomen")
    cli("import", "-p", "p1", str(data), "--json")
    cli("import", "-p", "pub", str(data / "a"), "--json")
    server = server_factory()
    return {
        "server": server,
        "files": files,
        "alice": server.client(token_for(cli, "alice")),
        "bob": server.client(token_for(cli, "bob")),
        "admin": server.client(token_for(cli, "admin")),
        "anon": server.client(),
    }


def test_health_and_openapi(world) -> None:
    anon = world["anon"]
    assert anon.get("/api/health").json()["status"] == "ok"
    assert "/api/projects/{key}/studies" in anon.get("/api/openapi.json").json()["paths"]
    assert anon.get("/api/docs").status_code == 200


def test_authentication_is_required_and_errors_are_problem_json(world) -> None:
    response = world["anon"].get("/api/projects")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401 and response.json()["detail"]
    forged = world["server"].client("vsl_not-a-real-token").get("/api/projects")
    assert forged.status_code == 401


def test_projects_visible_by_role_or_public(world) -> None:
    def keys(client):
        body = client.get("/api/projects").json()
        assert body["total"] == len(body["items"])
        return [p["key"] for p in body["items"]]

    assert keys(world["admin"]) == ["p1", "pub"]
    assert keys(world["alice"]) == ["p1", "pub"]
    assert keys(world["bob"]) == ["pub"]


def test_no_role_means_404_everywhere_in_the_project(world) -> None:
    alice, bob = world["alice"], world["bob"]
    study = alice.get("/api/projects/p1/studies").json()["items"][0]
    uid = study["study_uid"]
    series = alice.get(f"/api/projects/p1/studies/{uid}/series").json()["items"][0]
    inst = alice.get(
        f"/api/projects/p1/studies/{uid}/series/{series['series_uid']}/instances"
    ).json()["items"][0]
    for path in (
        "/api/projects/p1",
        "/api/projects/p1/studies",
        "/api/projects/p1/subjects",
        f"/api/projects/p1/studies/{uid}",
        f"/api/projects/p1/studies/{uid}/series",
        f"/api/projects/p1/instances/{inst['sop_uid']}/file",
        f"/api/projects/p1/instances/{inst['sop_uid']}/versions",
    ):
        response = bob.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
        assert alice.get(path).status_code == 200, path
    # the same answer as for a project that does not exist at all
    assert bob.get("/api/projects/p1").json()["detail"] == "no project 'p1'"
    assert bob.get("/api/projects/nothing").json()["detail"] == "no project 'nothing'"


def test_study_list_shape_filters_and_paging(world) -> None:
    alice = world["alice"]
    body = alice.get("/api/projects/p1/studies").json()
    assert body["total"] == 3
    first = body["items"][0]
    assert first["study_date"] == "20240320"  # newest first
    assert {
        "study_uid",
        "subject_id",
        "patient_name",
        "modalities",
        "series_count",
        "instance_count",
    } <= first.keys()
    assert (first["series_count"], first["instance_count"], first["modalities"]) == (2, 3, ["MR"])

    def uids(**params):
        return [
            s["subject_id"]
            for s in alice.get("/api/projects/p1/studies", params=params).json()["items"]
        ]

    assert uids(modality="CT") == ["PA", "PC"]
    assert uids(modality="C") == []  # whole codes only
    assert uids(date_from="2024-01-01") == ["PB", "PA"]
    assert uids(date_from="20240101", date_to="20240131") == ["PA"]
    assert uids(q="gamma") == ["PC"]
    assert uids(q="accpb") == ["PB"]
    assert uids(q="%") == []  # LIKE wildcards are literal
    page1 = alice.get("/api/projects/p1/studies", params={"limit": 2}).json()
    page2 = alice.get("/api/projects/p1/studies", params={"limit": 2, "offset": 2}).json()
    assert page1["total"] == page2["total"] == 3
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert alice.get("/api/projects/p1/studies", params={"limit": 0}).status_code == 422
    bad = alice.get("/api/projects/p1/studies", params={"date_from": "yesterday"})
    assert bad.status_code == 400 and "date_from" in bad.json()["detail"]


def test_hierarchy_and_byte_identical_files(world) -> None:
    alice = world["alice"]
    by_uid = {pydicom.dcmread(p).SOPInstanceUID: p.read_bytes() for p in world["files"]}
    studies = alice.get("/api/projects/p1/studies").json()["items"]
    seen = 0
    for study in studies:
        uid = study["study_uid"]
        assert alice.get(f"/api/projects/p1/studies/{uid}").json()["study_uid"] == uid
        for series in alice.get(f"/api/projects/p1/studies/{uid}/series").json()["items"]:
            listing = alice.get(
                f"/api/projects/p1/studies/{uid}/series/{series['series_uid']}/instances"
            ).json()
            assert listing["total"] == series["instance_count"]
            for inst in listing["items"]:
                response = alice.get(f"/api/projects/p1/instances/{inst['sop_uid']}/file")
                assert response.headers["content-type"] == "application/dicom"
                assert response.content == by_uid[inst["sop_uid"]]
                seen += 1
    assert seen == len(by_uid) == 9
    subjects = alice.get("/api/projects/p1/subjects").json()
    assert subjects["total"] == 3 and subjects["items"][0]["study_count"] == 1
    missing = alice.get("/api/projects/p1/studies/1.2.3.999")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_versions_are_listed_and_served(world, cli: Cli, tmp_path: Path) -> None:
    alice = world["alice"]
    path = world["files"][0]
    ds = pydicom.dcmread(path)
    ds.StudyDescription = "Chest (amended)"
    amended = tmp_path / "amended.dcm"
    ds.save_as(amended, enforce_file_format=True)
    cli("import", "-p", "p1", str(amended), "--json")
    sop = ds.SOPInstanceUID
    versions = alice.get(f"/api/projects/p1/instances/{sop}/versions").json()["items"]
    assert [(v["version"], v["latest"]) for v in versions] == [(1, False), (2, True)]
    assert alice.get(f"/api/projects/p1/instances/{sop}/file").content == amended.read_bytes()
    v1 = alice.get(f"/api/projects/p1/instances/{sop}/file", params={"version": 1})
    assert v1.content == path.read_bytes() and v1.headers["x-vesalius-version"] == "1"
    assert (
        alice.get(f"/api/projects/p1/instances/{sop}/file", params={"version": 3}).status_code
        == 404
    )


def test_quarantine_is_for_admins_and_curators(world, cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bad.dcm").write_bytes(b"\x00" * 300)
    cli("import", "-p", "p1", str(tmp_path / "bad.dcm"), expect=3)
    assert world["admin"].get("/api/quarantine").json()["total"] == 1
    assert world["alice"].get("/api/quarantine").json()["total"] == 0  # member, not curator
    cli("grant", "alice", "p1", "curator")
    items = world["alice"].get("/api/quarantine").json()["items"]
    assert items[0]["project"] == "p1" and items[0]["reason"]


def test_access_log_has_no_query_strings(world) -> None:
    world["alice"].get("/api/projects/p1/studies", params={"q": "Alpha^Ann"})
    log = world["server"].log.read_text()
    assert "/api/projects/p1/studies" in log
    assert "Alpha" not in log
