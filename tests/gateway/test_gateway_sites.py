"""The must-show of the site gateway: two sites, one central archive, nothing lost, nothing
doubled, nothing identifying at the centre.

Site A takes files from a watched folder, site B receives them by C-STORE; both
de-identify with their own key and vault and deliver by STOW-RS to one central
``vesalius serve`` whose project re-checks what it receives. Mid-transfer the central
server is stopped and started again, and gateway A is killed with SIGKILL while it
delivers and then restarted. At the end every object is at the centre exactly once
(counted by SOP Instance UID, one version each), the planted-identifier oracle finds
nothing in the central home or index, research IDs carry the site prefix, and
``gateway status --json`` of each site agrees with the central counts per study.

``VESALIUS_GATEWAY_OBJECTS`` sets the objects per site (default 200).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pydicom
from gateway_world import (
    KEY,
    PROJECT,
    Central,
    Corpus,
    Site,
    leaks_in_bytes,
    leaks_in_home,
    leaks_in_index,
    make_database,
    site_corpus,
    wait_for,
)
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage
from sqlalchemy import func, select

from vesalius.core.config import Settings
from vesalius.core.home import open_home
from vesalius.core.model import Instance, InstanceVersion, Project, Study, Subject
from vesalius.ingest.quarantine import QuarantineItem

from conftest import Cli, free_port, token_for

__all__ = ["make_database"]  # the fixture, imported for pytest

OBJECTS = int(os.environ.get("VESALIUS_GATEWAY_OBJECTS", "200"))
KEY_B = b"site B test key, 32 bytes long.."
FAST = ["--batch", "10", "--retry-base", "0.2", "--retry-max", "1", "--settle", "0.3"]


def drop_files(corpus: Corpus, folder: Path) -> None:
    """As a scanner export would: each file written under a hidden name, then renamed."""
    for name, data in corpus.objects.items():
        tmp = folder / f".{name}.part"
        tmp.write_bytes(data)
        tmp.rename(folder / f"{name}.dcm")


def c_store(corpus: Corpus, port: int, errors: list[str]) -> None:
    ae = AE(ae_title="CT1")
    ae.add_requested_context(CTImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title=PROJECT.upper())
    if not assoc.is_established:
        errors.append("association refused")
        return
    try:
        for data in corpus.objects.values():
            ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
            status = assoc.send_c_store(ds)
            if not status or status.Status != 0:
                errors.append(f"C-STORE status {getattr(status, 'Status', None)}")
    finally:
        assoc.release()


def central_counts(settings: Settings) -> tuple[int, int, int, dict[str, int], list[str], int]:
    home = open_home(settings)
    try:
        with home.db.read() as session:
            project_id = session.scalar(select(Project.id).where(Project.key == PROJECT))
            instances = session.scalar(
                select(func.count(Instance.id)).where(Instance.project_id == project_id)
            )
            distinct = session.scalar(
                select(func.count(func.distinct(Instance.sop_uid))).where(
                    Instance.project_id == project_id
                )
            )
            versions = session.scalar(
                select(func.count(InstanceVersion.id))
                .join(Instance, Instance.id == InstanceVersion.instance_pk)
                .where(Instance.project_id == project_id)
            )
            per_study = dict(
                session.execute(
                    select(Study.study_uid, Study.instance_count).where(
                        Study.project_id == project_id
                    )
                ).all()
            )
            subjects = sorted(session.scalars(select(Subject.subject_id)))
            quarantined = session.scalar(select(func.count(QuarantineItem.id)))
    finally:
        home.close()
    return instances, distinct, versions, per_study, subjects, quarantined


def test_two_sites_deliver_exactly_once_through_restarts_and_a_kill(
    cli: Cli, settings: Settings, tmp_path: Path, make_database
) -> None:
    started = time.monotonic()
    cli("init")
    cli("project", "create", PROJECT, "--recheck-deid")
    for user in ("site-a", "site-b"):
        cli("user", "create", user, "--password-stdin", input="a-long-password-1\n")
        cli("grant", user, PROJECT, "contributor")
    central = Central(settings.home, settings.database_url or "", tmp_path)
    central.start()
    sites_root = tmp_path / "sites"
    sites_root.mkdir()
    site_a = Site.create(
        sites_root, "a", make_database("sites/a"), token_for(cli, "site-a"), key=KEY
    )
    site_b = Site.create(
        sites_root, "b", make_database("sites/b"), token_for(cli, "site-b"), key=KEY_B
    )
    watched = tmp_path / "incoming"
    watched.mkdir()
    dicom_port = free_port()
    corpus_a, corpus_b = site_corpus(OBJECTS), site_corpus(OBJECTS)
    try:
        site_a.start(central.url, "--site", "SA", "--watch", str(watched), *FAST)
        site_b.start(central.url, "--site", "SB", "--dicom-port", str(dicom_port), *FAST)
        wait_for(lambda: _listening(dicom_port), 30, "gateway B's DIMSE port")

        errors: list[str] = []
        sender = threading.Thread(target=c_store, args=(corpus_b, dicom_port, errors))
        sender.start()
        drop_files(corpus_a, watched)

        # the central archive goes away mid-transfer and comes back at the same URL
        wait_for(lambda: _delivered(site_a) + _delivered(site_b) >= OBJECTS // 10, 60,
                 "first deliveries")  # fmt: skip
        central.stop()
        time.sleep(1.5)
        central.start()

        # gateway A is killed while it delivers, then restarted
        wait_for(lambda: _delivered(site_a) >= OBJECTS // 3, 90, "site A delivering")
        in_transfer = site_a.counts()
        site_a.kill()
        site_a.start(central.url)

        sender.join(120)
        assert not errors, errors[:3]
        for site in (site_a, site_b):
            wait_for(lambda s=site: _delivered(s) == OBJECTS, 120, f"site {site.name} done")
    finally:
        site_a.stop()
        site_b.stop()
        central.stop()

    assert in_transfer.get("delivered", 0) < OBJECTS, "A was killed after it had finished"
    assert not list(watched.iterdir()), "every watched file was taken"

    # exactly once at the centre, counted by SOP Instance UID, one version each
    instances, distinct, versions, per_study, subjects, quarantined = central_counts(settings)
    assert (instances, distinct, versions) == (2 * OBJECTS,) * 3
    assert quarantined == 0
    # research IDs carry the site prefix: the same two patients at two sites are four subjects
    assert len(subjects) == 4 and {s.split("-")[0] for s in subjects} == {"SA", "SB"}

    # no identifier left at the centre (objects, database, logs)
    planted = (*corpus_a.planted, *corpus_b.planted)
    assert leaks_in_home(settings, planted) == {}
    assert leaks_in_index(settings, planted) == set()
    logs = central.logs() + site_a.logs() + site_b.logs()
    assert leaks_in_bytes(logs.encode(), planted) == set()
    assert "Traceback" not in logs

    # gateway status agrees with the central archive, per study, and with the central's
    # record of which site sent what (vesalius deliveries: the project page's numbers)
    deliveries = json.loads(cli("deliveries", "--project", PROJECT, "--json").stdout)
    central_sites = {s["site"]: s for s in deliveries["sites"]}
    assert set(central_sites) == {"SA", "SB"}
    central_studies = {(s["site"], s["study_uid"]): s["instances"] for s in deliveries["studies"]}
    delivered_per_study: dict[str, int] = {}
    for site, code, user in ((site_a, "SA", "site-a"), (site_b, "SB", "site-b")):
        status = site.status()
        assert (status["delivered"], status["queued"], status["in_flight"], status["failed"]) == (
            OBJECTS, 0, 0, 0,
        )  # fmt: skip
        for study in status["studies"]:
            delivered_per_study[study["study_uid"]] = study["delivered"]
            assert central_studies[(code, study["study_uid"])] == study["delivered"]
        sent = central_sites[code]
        assert (sent["instances"], sent["studies"], sent["rejected"], sent["users"]) == (
            status["delivered"], len(status["studies"]), status["failed"], [user],
        )  # fmt: skip
    assert delivered_per_study == per_study
    assert len(central_studies) == deliveries["studies_total"] == len(per_study)
    assert time.monotonic() - started < 600


def _delivered(site: Site) -> int:
    return site.counts().get("delivered", 0)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
