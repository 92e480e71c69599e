"""Delivery in detail: the crash window, HTTPS with a private CA, the central re-check
(what it quarantines is sealed: suspected identified data at rest), and the token file's
permissions.

The delivery worker runs in the test process against a real central ``vesalius serve``,
so each step can be taken on its own (claim and send, then "crash" before recording).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pydicom
from gateway_world import (
    KEY,
    PROJECT,
    Central,
    Site,
    leaks_in_bytes,
    leaks_in_home,
    make_ca_and_server_cert,
    make_database,
    open_site_home,
    receive_objects,
    site_corpus,
)
from sqlalchemy import func, select
from typer.testing import CliRunner

from vesalius.cli.main import app
from vesalius.core.config import Settings
from vesalius.core.home import open_home
from vesalius.core.model import Instance, InstanceVersion, utcnow
from vesalius.core.sealing import MasterKey
from vesalius.gateway import DeliveryWorker, HttpStowTransport, RetryPolicy, gateway_status
from vesalius.gateway.model import GatewayItem
from vesalius.gateway.outbox import claim_batch
from vesalius.ingest.deidentify import unseal_rejected
from vesalius.ingest.quarantine import QuarantineItem

from conftest import Cli, token_for

__all__ = ["make_database"]

FAST = RetryPolicy(base=0.1, maximum=0.5)


def central_rows(settings: Settings) -> tuple[int, int, list[str]]:
    home = open_home(settings)
    try:
        with home.db.read() as session:
            instances = session.scalar(select(func.count(Instance.id)))
            versions = session.scalar(select(func.count(InstanceVersion.id)))
            reasons = list(session.scalars(select(QuarantineItem.reason)))
    finally:
        home.close()
    return instances, versions, reasons


def setup_central(cli: Cli, *args: str) -> str:
    cli("init")
    cli("project", "create", PROJECT, "--recheck-deid", *args)
    return token_for(cli, "admin")


def test_a_crash_between_sending_and_recording_ends_with_one_copy(
    cli: Cli, settings: Settings, tmp_path: Path, make_database
) -> None:
    token = setup_central(cli)
    central = Central(settings.home, settings.database_url or "", tmp_path)
    central.start()
    site = Site.create(tmp_path, "site", make_database("site"), token, key=KEY)
    home = open_site_home(site)
    try:
        receive_objects(home, site_corpus(12))
        transport = HttpStowTransport(central.url, PROJECT, token)
        first = DeliveryWorker(home, project=PROJECT, transport=transport, policy=FAST)
        assert first.enqueue() == 12
        # claimed (in flight, committed) and sent, then the process dies before recording
        with home.db.write() as session, session.begin():
            batch = claim_batch(
                session, project_id=first.project_id, now=utcnow(), max_objects=50,
                max_bytes=1 << 30,
            )  # fmt: skip
        result = transport.send([home.store.get(item.blob_hash) for item in batch])
        sent = {item.sop_uid for item in batch}
        assert len(sent) >= 2 and result.stored == sent  # one study's objects
        assert central_rows(settings)[:2] == (len(sent), len(sent))
        with home.db.read() as session:
            assert gateway_status(session, project=PROJECT)["in_flight"] == len(sent)

        restarted = DeliveryWorker(home, project=PROJECT, transport=transport, policy=FAST)
        assert restarted.drain(timeout=60)
        with home.db.read() as session:
            status = gateway_status(session, project=PROJECT)
            attempts = dict(
                session.execute(select(GatewayItem.sop_uid, GatewayItem.attempts)).all()
            )
        assert (status["delivered"], status["in_flight"], status["queued"]) == (12, 0, 0)
        assert {uid for uid, n in attempts.items() if n == 2} == sent  # sent twice ...
        assert central_rows(settings) == (12, 12, [])  # ... and is there once, one version
        transport.close()
    finally:
        home.close()
        central.stop()


def test_https_with_a_private_ca(
    cli: Cli, settings: Settings, tmp_path: Path, make_database
) -> None:
    token = setup_central(cli)
    cert, key, ca = make_ca_and_server_cert(tmp_path / "tls")
    central = Central(settings.home, settings.database_url or "", tmp_path, tls=(cert, key, ca))
    central.start()
    assert central.url.startswith("https://")
    site = Site.create(tmp_path, "site", make_database("site"), token, key=KEY)
    home = open_site_home(site)
    try:
        receive_objects(home, site_corpus(3))
        # without the CA: a clear error, nothing sent, everything still queued
        untrusting = HttpStowTransport(central.url, PROJECT, token)
        worker = DeliveryWorker(home, project=PROJECT, transport=untrusting, policy=FAST)
        rounds = [worker.run_once() for _ in range(3)]  # one study per round
        assert [(r.sent, r.delivered) for r in rounds] == [(1, 0)] * 3
        for done in rounds:
            assert "certificate could not be verified" in done.error and "--ca-file" in done.error
        with home.db.read() as session:
            status = gateway_status(session, project=PROJECT)
        assert (status["queued"], status["delivered"], status["failed"]) == (3, 0, 0)
        assert "certificate" in status["retrying"][0]["reason"]
        assert central_rows(settings)[0] == 0
        untrusting.close()

        # with the private CA: verified and delivered
        trusting = HttpStowTransport(central.url, PROJECT, token, ca_file=ca)
        worker = DeliveryWorker(home, project=PROJECT, transport=trusting, policy=FAST)
        assert worker.drain(timeout=60)
        with home.db.read() as session:
            assert gateway_status(session, project=PROJECT)["delivered"] == 3
        assert central_rows(settings)[:2] == (3, 3)
        trusting.close()
    finally:
        home.close()
        central.stop()


UNREADABLE = b"not DICOM at all, but it names Kantonsspital Nordstadt " * 4


def test_the_central_quarantines_residual_identifiers_and_the_gateway_shows_why(
    cli: Cli, settings: Settings, tmp_path: Path, make_database
) -> None:
    token = setup_central(cli)
    central = Central(settings.home, settings.database_url or "", tmp_path)
    central.start()
    # a site whose profile keeps the institution's name: not de-identified enough
    profile = tmp_path / "leaky.toml"
    profile.write_text('[[overrides]]\naction = "keep"\nkeyword = "InstitutionName"\n')
    site = Site.create(
        tmp_path, "site", make_database("site"), token, key=KEY,
        project_args=("--profile", str(profile)),
    )  # fmt: skip
    home = open_site_home(site)
    corpus = site_corpus(4)
    try:
        receive_objects(home, corpus)
        sent = {}  # SOP Instance UID -> the de-identified (leaky) object as delivered
        with home.db.read() as session:
            for item in session.scalars(select(Instance)):
                sent[item.sop_uid] = home.store.get(item.blob_hash)
        transport = HttpStowTransport(central.url, PROJECT, token)
        worker = DeliveryWorker(home, project=PROJECT, transport=transport, policy=FAST)
        assert worker.drain(timeout=60)
        transport.close()
        # a gateway's delivery that cannot even be read: unchecked, so sealed as well
        with httpx.Client(base_url=central.url) as client:
            client.headers["Authorization"] = f"Bearer {token}"  # the central's admin
            unreadable = client.post(
                f"/dicom-web/projects/{PROJECT}/studies",
                content=b"--x\r\nContent-Type: application/dicom\r\n\r\n"
                + UNREADABLE + b"\r\n--x--\r\n",
                headers={
                    "Content-Type": 'multipart/related; type="application/dicom"; boundary=x',
                    "X-Vesalius-Site": "SX",
                },
            )  # fmt: skip
            assert unreadable.status_code == 400
            listed = client.get("/api/quarantine").json()  # the admin's REST listing
    finally:
        home.close()
        central.stop()
    instances, _, reasons = central_rows(settings)
    assert instances == 0
    assert len(reasons) == 5 and sum("InstitutionName" in r for r in reasons) == 4
    assert listed["total"] == 5 and all(i["sealed"] for i in listed["items"])

    # suspected identified data at rest is sealed: no planted value anywhere in the central
    # home (storage area, spool, database), none in the listing an operator sees
    assert leaks_in_home(settings, corpus.planted) == {}
    listing = cli("quarantine", "list", "--json").stdout
    assert leaks_in_bytes(listing.encode(), corpus.planted) == set()
    items = json.loads(listing)["items"]
    assert len(items) == 5
    for item in items:
        assert item["sealed"] is True and item["origin"].startswith("stow-rs:sealed:")
    # ... and still there whole for an administrator with the home's key (the path that
    # opens a --deid project's sealed refusals), to repair and import again
    master = MasterKey(settings).require()
    central_home = open_home(settings)
    try:
        opened = {
            item["sop_uid"]: unseal_rejected(
                master, PROJECT, central_home.store.get(item["blob_hash"])
            )
            for item in items
        }
    finally:
        central_home.close()
    assert opened.pop("") == UNREADABLE
    assert opened == sent
    for data in opened.values():
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
        assert ds.InstitutionName == "Kantonsspital Nordstadt"
    status = site.status()  # as the operator sees it: vesalius gateway status --json
    assert (status["failed"], status["delivered"], status["queued"]) == (4, 0, 0)
    for failed in status["failed_objects"]:
        assert "0xC000" in failed["reason"]
        assert "residual identifiers: InstitutionName" in failed["reason"]
    assert "Kantonsspital" not in str(status)


def test_the_token_file_must_be_private(tmp_path: Path, make_database) -> None:
    site = Site.create(tmp_path, "site", make_database("site"), "secret-token-value", key=KEY)
    os.chmod(site.token_file, 0o644)
    result = CliRunner().invoke(
        app,
        ["--home", str(site.home), "gateway", "--central", "https://127.0.0.1:9",
         "--project", PROJECT, "--token-file", str(site.token_file), "--watch",
         str(tmp_path / "in")],
        env={"VESALIUS_DATABASE_URL": site.database_url},
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert str(site.token_file) in " ".join(result.output.split()) or "site.token" in result.output
    assert "secret-token-value" not in result.output
