"""The central side of site deliveries: which site sent what, and when.

One central ``vesalius serve`` (a plain project: the residual-identifier re-check runs on
every gateway delivery without ``--recheck-deid``), a gateway
for site SA that delivers a few objects, and a leaky gateway (site SL, its profile keeps
InstitutionName) whose objects the central quarantines. The central's numbers per site
and per study (REST, the project page's Sites table, ``vesalius deliveries --json``)
equal what each gateway's ``vesalius gateway status --json`` shows as delivered and
failed; a user without a role in the project gets 404.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from gateway_world import (
    KEY,
    PROJECT,
    Central,
    Site,
    make_database,
    open_site_home,
    receive_objects,
    site_corpus,
)
from sqlalchemy import select

from vesalius.archive.deliveries import sender_site
from vesalius.core.config import Settings
from vesalius.core.errors import InvalidInput, PermissionDenied
from vesalius.core.home import open_home
from vesalius.core.model import InstanceVersion, Membership, Project, User
from vesalius.core.model import Site as SiteRow
from vesalius.gateway import DeliveryWorker, HttpStowTransport, RetryPolicy
from vesalius.ingest.quarantine import QuarantineItem

from conftest import Cli, token_for

__all__ = ["make_database"]

FAST = RetryPolicy(base=0.1, maximum=0.5)
PASSWORD = "a-long-password-1"
KEY_L = b"leaky site test key, 32 bytes.!!"


def deliver(site: Site, central: Central, token: str, code: str, objects: int) -> dict:
    """Receive ``objects`` CTs at the site, deliver them all as site ``code``; the
    gateway's ``status --json`` afterwards."""
    home = open_site_home(site)
    try:
        receive_objects(home, site_corpus(objects))
        transport = HttpStowTransport(central.url, PROJECT, token, site=code)
        worker = DeliveryWorker(home, project=PROJECT, transport=transport, policy=FAST)
        assert worker.drain(timeout=60)
        transport.close()
    finally:
        home.close()
    return site.status()


def test_the_central_shows_which_site_sent_what_and_when(
    cli: Cli, settings: Settings, tmp_path: Path, make_database
) -> None:
    cli("init")
    cli("project", "create", PROJECT)  # no --recheck-deid: gateway deliveries are re-checked
    for user, role in (("site-a", "contributor"), ("reader", "member"), ("outsider", None)):
        cli("user", "create", user, "--password-stdin", input=f"{PASSWORD}\n")
        if role:
            cli("grant", user, PROJECT, role)
    token_a, outsider = token_for(cli, "site-a"), token_for(cli, "outsider")
    central = Central(settings.home, settings.database_url or "", tmp_path)
    central.start()
    profile = tmp_path / "leaky.toml"
    profile.write_text('[[overrides]]\naction = "keep"\nkeyword = "InstitutionName"\n')
    site_a = Site.create(tmp_path, "a", make_database("a"), token_a, key=KEY)
    leaky = Site.create(
        tmp_path, "l", make_database("l"), token_a, key=KEY_L,
        project_args=("--profile", str(profile)),
    )  # fmt: skip
    try:
        status_a = deliver(site_a, central, token_a, "SA", 6)
        status_l = deliver(leaky, central, token_a, "SL", 2)
        assert (status_a["delivered"], status_a["failed"]) == (6, 0)
        assert (status_l["delivered"], status_l["failed"]) == (0, 2)

        with httpx.Client(base_url=central.url) as client:
            client.headers["Authorization"] = f"Bearer {token_a}"
            sites = client.get(f"/api/projects/{PROJECT}/sites").json()
            studies = client.get(
                f"/api/projects/{PROJECT}/sites/studies", params={"site": "SA"}
            ).json()
            # a declared site code is checked: no PHI or junk in the sender column
            bad = client.post(
                f"/dicom-web/projects/{PROJECT}/studies",
                content=b"--x\r\nContent-Type: application/dicom\r\n\r\nx\r\n--x--\r\n",
                headers={
                    "Content-Type": 'multipart/related; type="application/dicom"; boundary=x',
                    "X-Vesalius-Site": "Doe^John",
                },
            )
            assert bad.status_code == 400 and "site code" in bad.json()["detail"]

            # a user without a role in the project: the project does not exist for them
            client.headers["Authorization"] = f"Bearer {outsider}"
            for path in ("sites", "sites/studies"):
                assert client.get(f"/api/projects/{PROJECT}/{path}").status_code == 404

            # the project page, signed in as a member: the Sites table with the numbers
            del client.headers["Authorization"]
            signed_in = client.post("/ui/login", data={"username": "reader", "password": PASSWORD})
            assert signed_in.status_code == 303
            page = client.get(f"/ui/projects/{PROJECT}")
    finally:
        central.stop()

    by_site = {s["site"]: s for s in sites["items"]}
    assert sites["total"] == 2 and set(by_site) == {"SA", "SL"}
    a, sl = by_site["SA"], by_site["SL"]
    assert (a["instances"], a["studies"], a["rejected"], a["users"]) == (6, 3, 0, ["site-a"])
    assert a["last_received_at"] >= a["first_received_at"]
    assert a["instances"] == status_a["delivered"]
    assert (sl["instances"], sl["rejected"]) == (0, status_l["failed"])
    assert sl["rejected_reasons"][0]["objects"] == 2
    assert "InstitutionName" in sl["rejected_reasons"][0]["reason"]
    # per study: what the gateway shows as delivered is what the central received from it
    assert {s["study_uid"]: s["instances"] for s in studies["items"]} == {
        s["study_uid"]: s["delivered"] for s in status_a["studies"]
    }
    assert studies["total"] == 3 and {s["site"] for s in studies["items"]} == {"SA"}

    assert page.status_code == 200
    html = page.text
    assert 'id="sites"' in html and "<h2>Sites</h2>" in html
    row = html.split('data-site="SA"', 1)[1].split("</tr>", 1)[0]
    cells = [c.split(">", 1)[1] for c in row.split("<td")[1:]]
    assert [c.split("<", 1)[0] for c in cells[:5]] == ["SA", "site-a", "3", "6", "0"]
    assert a["last_received_at"][:16].replace("T", " ") in cells[5]
    leaky_row = html.split('data-site="SL"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">2</td>' in leaky_row
    assert "residual identifiers: InstitutionName" in html

    # the operator's view at the centre, and what each object records
    report = json.loads(cli("deliveries", "--project", PROJECT, "--json").stdout)
    assert report["sites"] == sites["items"]
    assert report["studies_total"] == 3
    assert [s["site"] for s in report["studies"]] == ["SA"] * 3
    home = open_home(settings)
    try:
        with home.db.read() as session:
            senders = set(
                session.execute(
                    select(InstanceVersion.source, InstanceVersion.actor, InstanceVersion.site_code)
                ).all()
            )
            refused = set(
                session.execute(select(QuarantineItem.actor, QuarantineItem.site_code)).all()
            )
            # a plain project re-checks gateway deliveries, and seals what it refuses
            quarantined = [
                (item.sealed, home.store.get(item.blob_hash))
                for item in session.scalars(select(QuarantineItem))
            ]
    finally:
        home.close()
    assert senders == {("stow-rs", "site-a", "SA")}
    assert refused == {("site-a", "SL")}
    assert len(quarantined) == 2
    assert all(sealed and b"Kantonsspital" not in blob for sealed, blob in quarantined)


def test_a_user_limited_to_a_site_delivers_for_that_site_only(cli: Cli, settings: Settings) -> None:
    cli("init")
    cli("project", "create", PROJECT)
    cli("user", "create", "gw", "--password-stdin", input=f"{PASSWORD}\n")
    home = open_home(settings)
    try:
        with home.db.write() as session, session.begin():
            project = session.scalar(select(Project).where(Project.key == PROJECT))
            user = session.scalar(select(User).where(User.name == "gw"))
            assert project is not None and user is not None
            row = SiteRow(project_id=project.id, key="A01", name="Hospital A")
            session.add(row)
            session.flush()
            session.add(
                Membership(project_id=project.id, user_id=user.id, role="contributor",
                           site_id=row.id)
            )  # fmt: skip
            session.flush()

            def site(claimed: str | None) -> str | None:
                return sender_site(session, user=user, project=project, claimed=claimed)

            assert site("A01") == "A01"
            assert site(None) == "A01"  # taken from the role's site
            with pytest.raises(PermissionDenied, match="site A01 only"):
                site("B02")
            with pytest.raises(InvalidInput, match="site code"):
                site("A01/../x")
    finally:
        home.close()
