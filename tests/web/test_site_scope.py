"""Roles limited to a site (``grant … --site``) limit every archive read, not just reports.

A real ``vesalius serve`` holds a two-site trial: site A's studies (attributed by the
inventory device of their checked studies), site B's (one by device, one by the site
code a gateway declared on STOW-RS) and one study no rule attributes. carol reads at
site A only, dave at site B only, alice project-wide. Every read path (REST, web UI,
QIDO-RS, WADO-RS, /metadata, frames, rendered, dicomweb-client) shows carol A's studies
and nothing else, and answers an out-of-scope UID exactly as an unknown one (404).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "studies"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dicomweb"))

from dicomweb_world import _database
from studies_world import T1, UNKNOWN_SCANNER, clock_ahead, make_mr_study, series, write
from test_reports import add_site_b
from visits_world import build

from vesalius.core.config import load_settings

from conftest import Cli, Server, token_for

PASSWORD = "a-long-test-password"
PROBLEM = "application/problem+json"
UNKNOWN_UID = "1.2.826.0.1.3680043.8.498.1"
STUDY_UID_TAG = "0020000D"


@dataclass
class World:
    server: Server
    a: set[str]  # study UIDs attributed to site A
    b: set[str]  # ... to site B (device and gateway code)
    unassigned: set[str]
    tokens: dict[str, str]

    @property
    def all(self) -> set[str]:
        return self.a | self.b | self.unassigned

    def client(self, user: str) -> httpx.Client:
        return self.server.client(self.tokens[user])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Built once for the module (an import, the adherence check and a server take
    seconds); the tests only read."""
    base = tmp_path_factory.mktemp("site-scope")
    with pytest.MonkeyPatch.context() as mp, _database(base) as database_url:
        for key in list(os.environ):
            if key.startswith("VESALIUS_") and key != "VESALIUS_TEST_DATABASE_URL":
                mp.delenv(key)
        mp.setenv("VESALIUS_HOME", str(base / "home"))
        mp.setenv("VESALIUS_DATABASE_URL", database_url)
        cli = Cli()
        server, a, b, unassigned, tokens = _build(cli, base, lambda: clock_ahead(mp))
        try:
            yield World(server, a, b, unassigned, tokens)
        finally:
            server.stop()


def _build(cli: Cli, tmp_path: Path, later) -> tuple[Server, set[str], set[str], set[str], dict]:
    a = set(build(cli, tmp_path, later).values())
    b = {add_site_b(cli, tmp_path, later)}
    unassigned = {
        write(
            tmp_path / "u" / "900",
            make_mr_study(
                patient="900",
                date=dt.date(2024, 2, 2),
                scanner=UNKNOWN_SCANNER,
                series_list=[series(T1)],
            ),
        )
    }
    cli("import", "--project", "trial", str(tmp_path / "u"), "--json", expect=None)
    later()
    cli("events", "process")
    for user in ("alice", "bob", "carol", "dave"):
        cli("user", "create", user, "--password-stdin", input=f"{PASSWORD}\n")
    cli("grant", "alice", "trial", "member")
    cli("grant", "carol", "trial", "member", "--site", "A")
    cli("grant", "dave", "trial", "member", "--site", "B")
    cli("project", "create", "other")
    cli("grant", "bob", "other", "member")
    tokens = {u: token_for(cli, u) for u in ("admin", "alice", "bob", "carol", "dave")}
    server = Server(load_settings(tmp_path / "home"), tmp_path / "serve.log")
    # a gateway's delivery (de-identified, as gateways send): an unknown scanner, so only
    # the site code declared on STOW-RS attributes it
    write(
        tmp_path / "g" / "202",
        make_mr_study(
            patient="202",
            date=dt.date(2024, 3, 3),
            scanner=UNKNOWN_SCANNER,
            series_list=[series(T1)],
        ),
    )
    key = tmp_path / "site.key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    key.chmod(0o600)
    cli("deid", "run", str(tmp_path / "g"), str(tmp_path / "g-out"), "--key-file", str(key))
    gateway = [pydicom.dcmread(f) for f in sorted((tmp_path / "g-out").rglob("*.dcm"))]
    DICOMwebClient(
        url=f"{server.url}/dicom-web/projects/trial",
        headers={"Authorization": f"Bearer {tokens['admin']}", "X-Vesalius-Site": "B"},
    ).store_instances(gateway)
    b.add(str(gateway[0].StudyInstanceUID))
    return server, a, b, unassigned, tokens


def _uids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["study_uid"] for item in response.json()["items"]}


def _qido_uids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {r[STUDY_UID_TAG]["Value"][0] for r in response.json()}


def _same_as_unknown(client: httpx.Client, path: str, uid: str) -> None:
    """An out-of-scope UID answers exactly what an unknown UID answers: 404, same body."""
    hidden = client.get(path.format(uid=uid))
    unknown = client.get(path.format(uid=UNKNOWN_UID))
    assert hidden.status_code == unknown.status_code == 404, (path, hidden.status_code)
    assert hidden.headers["content-type"] == unknown.headers["content-type"] == PROBLEM
    # the same words: a message may quote the UID asked for, never whether it exists
    assert hidden.text.replace(uid, "UID") == unknown.text.replace(UNKNOWN_UID, "UID"), path


def _first_instance(client: httpx.Client, study_uid: str) -> tuple[str, str]:
    base = f"/api/projects/trial/studies/{study_uid}/series"
    series_uid = client.get(base).json()["items"][0]["series_uid"]
    sop = client.get(f"{base}/{series_uid}/instances").json()["items"][0]["sop_uid"]
    return series_uid, sop


def test_rest_and_ui_show_a_site_limited_user_its_sites_only(world: World) -> None:
    alice, carol, dave = world.client("alice"), world.client("carol"), world.client("dave")
    studies = "/api/projects/trial/studies"
    assert _uids(alice.get(studies, params={"limit": 1000})) == world.all
    assert alice.get(studies).json()["total"] == len(world.all)
    assert _uids(carol.get(studies, params={"limit": 1000})) == world.a
    assert carol.get(studies).json()["total"] == len(world.a)
    assert _uids(dave.get(studies, params={"limit": 1000})) == world.b
    for uid in world.b:  # a filter naming the hidden study finds nothing
        assert _uids(carol.get(studies, params={"q": uid})) == set()

    projects = {p["key"]: p for p in carol.get("/api/projects").json()["items"]}
    assert projects["trial"]["study_count"] == len(world.a)
    assert carol.get("/api/projects/trial").json()["study_count"] == len(world.a)
    assert alice.get("/api/projects/trial").json()["study_count"] == len(world.all)

    subjects = carol.get("/api/projects/trial/subjects").json()
    assert {s["subject_id"] for s in subjects["items"]} == {"001", "002", "003"}
    everyone = alice.get("/api/projects/trial/subjects").json()
    assert len(everyone["items"]) == 6  # A's three, B's two, one unattributed

    for uid in world.a:
        assert carol.get(f"{studies}/{uid}").status_code == 200
    hidden = world.b | world.unassigned
    for uid in hidden:
        assert alice.get(f"{studies}/{uid}").status_code == 200
        series_uid, sop = _first_instance(alice, uid)
        for path in (
            f"{studies}/{{uid}}",
            f"{studies}/{{uid}}/series",
            f"{studies}/{{uid}}/adherence",
            f"{studies}/{{uid}}/qc",
        ):
            _same_as_unknown(carol, path, uid)
        _same_as_unknown(carol, f"{studies}/{uid}/series/{{uid}}/instances", series_uid)
        _same_as_unknown(carol, "/api/projects/trial/instances/{uid}/file", sop)
        _same_as_unknown(carol, "/api/projects/trial/instances/{uid}/versions", sop)
        assert alice.get(f"/api/projects/trial/instances/{sop}/file").status_code == 200
    for uid in world.unassigned:  # no site attribution: the project-wide team only
        assert dave.get(f"{studies}/{uid}").status_code == 404

    adherence = carol.get("/api/projects/trial/adherence").json()
    assert {i["study_uid"] for i in adherence["items"]} <= world.a
    assert {i["study_uid"] for i in adherence["items"]}
    qc = carol.get("/api/projects/trial/qc", params={"limit": 1000}).json()
    assert {i["study_uid"] for i in qc["items"]} <= world.a
    full_qc = alice.get("/api/projects/trial/qc", params={"limit": 1000}).json()
    assert {i["study_uid"] for i in full_qc["items"]} - world.a  # alice sees more
    assert sum(qc["counts"].values()) < sum(full_qc["counts"].values())
    deliveries = carol.get("/api/projects/trial/sites/studies").json()
    assert {i["study_uid"] for i in deliveries["items"]} <= world.a

    bob = world.client("bob")
    for uid in world.all:
        assert bob.get(f"{studies}/{uid}").status_code == 404

    for user, visible in (("carol", world.a), ("alice", world.all), ("dave", world.b)):
        with world.server.client() as browser:
            signed = browser.post("/ui/login", data={"username": user, "password": PASSWORD})
            assert signed.status_code == 303
            html = browser.get("/ui/projects/trial").text
            for uid in world.all:
                assert (uid in html) == (uid in visible), (user, uid)
            for uid in world.all:
                page = browser.get(f"/ui/projects/trial/studies/{uid}")
                assert page.status_code == (200 if uid in visible else 404), (user, uid)
            for uid in hidden:
                series_uid, _ = _first_instance(alice, uid)
                thumb = browser.get(f"/ui/projects/trial/series/{series_uid}/thumbnail.png")
                expected = 200 if uid in visible else 404
                assert thumb.status_code == expected, (user, uid)


def test_dicomweb_shows_a_site_limited_user_its_sites_only(world: World) -> None:
    alice, carol = world.client("alice"), world.client("carol")
    for root in ("/dicom-web", "/dicom-web/projects/trial"):
        assert _qido_uids(alice.get(f"{root}/studies")) >= world.all
        assert _qido_uids(carol.get(f"{root}/studies")) == world.a
        assert _qido_uids(carol.get(f"{root}/series")) == world.a
        assert _qido_uids(carol.get(f"{root}/instances")) == world.a
        assert _qido_uids(world.client("dave").get(f"{root}/studies")) == world.b
        for uid in world.b | world.unassigned:
            assert (
                _qido_uids(carol.get(f"{root}/studies", params={"StudyInstanceUID": uid})) == set()
            )
            assert _qido_uids(alice.get(f"{root}/studies", params={"StudyInstanceUID": uid})) == {
                uid
            }
            series_uid, sop = _first_instance(alice, uid)
            instance = f"{{uid}}/series/{series_uid}/instances/{sop}"
            for path in (
                "/studies/{uid}",
                "/studies/{uid}/metadata",
                "/studies/{uid}/series",
                "/studies/{uid}/instances",
                f"/studies/{{uid}}/series/{series_uid}",
                f"/studies/{{uid}}/series/{series_uid}/metadata",
                f"/studies/{{uid}}/series/{series_uid}/instances",
                f"/studies/{instance}",
                f"/studies/{instance}/metadata",
                f"/studies/{instance}/frames/1",
                f"/studies/{instance}/rendered",
            ):
                hidden = carol.get(root + path.format(uid=uid))
                unknown = carol.get(root + path.format(uid=UNKNOWN_UID))
                assert hidden.status_code == unknown.status_code == 404, (path, hidden.status_code)
                assert hidden.content == unknown.content, path
                assert alice.get(root + path.format(uid=uid)).status_code == 200, path
        for uid in world.a:
            assert carol.get(f"{root}/studies/{uid}/metadata").status_code == 200

    client = DICOMwebClient(
        url=f"{world.server.url}/dicom-web",
        headers={"Authorization": f"Bearer {world.tokens['carol']}"},
    )
    found = {s[STUDY_UID_TAG]["Value"][0] for s in client.search_for_studies()}
    assert found == world.a
    study_uid = sorted(world.a)[0]
    assert client.retrieve_study(study_uid)
    assert {str(ds.StudyInstanceUID) for ds in client.retrieve_study(study_uid)} == {study_uid}
    wide = DICOMwebClient(
        url=f"{world.server.url}/dicom-web",
        headers={"Authorization": f"Bearer {world.tokens['alice']}"},
    )
    assert {s[STUDY_UID_TAG]["Value"][0] for s in wide.search_for_studies()} == world.all
