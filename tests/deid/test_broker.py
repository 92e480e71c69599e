"""``vesalius broker lookup``: brokers only (not even admins without the role), all audited."""

from __future__ import annotations

import json
from pathlib import Path

from deid_corpus import _encodings, build_corpus
from sqlalchemy import select

from vesalius.core.audit import AuditEvent, verify_chain
from vesalius.core.config import Settings
from vesalius.core.home import open_home

from conftest import Cli


def lookups(settings: Settings) -> list[tuple[str, dict]]:
    home = open_home(settings)
    try:
        with home.db.read() as session:
            events = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "broker.lookup")
                .order_by(AuditEvent.id)
            ).all()
            assert verify_chain(session) is None  # intact
            return [(e.actor, e.detail) for e in events]
    finally:
        home.close()


def test_broker_lookup_allowed_for_brokers_refused_and_audited_otherwise(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    corpus = build_corpus()
    cli("init")
    cli("project", "create", "dx", "--deid")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(corpus.objects["a-study1-ct0"])
    cli("import", "-p", "dx", str(folder), "--json")
    for name, role in (("bea", "broker"), ("max", "member")):
        cli("user", "create", name)
        cli("grant", name, "dx", role)

    record = json.loads(
        cli("broker", "lookup", "-p", "dx", "dx-0001", "--as", "bea", "--json").stdout
    )
    assert record["patient_id"] == "PID-778899" and record["patient_name"] == "Müller^Jürgen"
    assert record["birth_date"] == "19610412" and record["accession_numbers"] == ["ACC5550101"]
    assert isinstance(record["date_offset_days"], int) and record["date_offset_days"] != 0
    [study] = record["studies"]
    assert study["original"] in corpus.uids and study["research"].startswith("2.25.")

    refused = cli("broker", "lookup", "-p", "dx", "dx-0001", "--as", "max", expect=1)
    assert "broker" in refused.stderr and "Müller" not in refused.stdout + refused.stderr
    cli("broker", "lookup", "-p", "dx", "dx-0001", "--as", "admin", expect=1)  # admin, no role
    cli("broker", "lookup", "-p", "dx", "dx-0001", "--as", "nobody", expect=1)
    cli("broker", "lookup", "-p", "dx", "dx-0099", "--as", "bea", expect=1)  # no such subject
    cli("grant", "admin", "dx", "broker")  # an admin may become a broker, audibly
    cli("broker", "lookup", "-p", "dx", "dx-0001", "--as", "admin", "--json")

    events = lookups(settings)
    assert [(actor, d["outcome"]) for actor, d in events] == [
        ("bea", "revealed"),
        ("max", "refused"),
        ("admin", "refused"),
        ("unknown:nobody", "refused"),
        ("bea", "not-found"),
        ("admin", "revealed"),
    ]
    assert all(d["research_id"] in ("dx-0001", "dx-0099") and d["via"] == "cli" for _, d in events)
    assert all(d["operator"].startswith("os:") for _, d in events)
    text = json.dumps(events, ensure_ascii=False).encode()
    for value in ("Müller", "Jürgen", "PID-778899", "19610412", "ACC5550101", study["original"]):
        assert not any(e in text for e in _encodings(value)), value


def test_a_broker_limited_to_a_site_reveals_only_that_sites_subjects(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    """``grant … broker --site A``: a subject of site B answers like an unknown one."""
    from vesalius.core.model import Project, Site, Subject

    corpus = build_corpus()
    cli("init")
    cli("project", "create", "dx", "--deid")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(corpus.objects["a-study1-ct0"])
    cli("import", "-p", "dx", str(folder), "--json")
    home = open_home(settings)
    try:
        with home.db.write() as session, session.begin():
            project = session.scalar(select(Project).where(Project.key == "dx"))
            assert project is not None
            sites = {key: Site(project_id=project.id, key=key, name=key) for key in ("A", "B")}
            session.add_all(sites.values())
            session.flush()
            subject = session.scalar(select(Subject).where(Subject.subject_id == "dx-0001"))
            assert subject is not None
            subject.site_id = sites["B"].id  # the subject's recorded site
    finally:
        home.close()
    for name, site in (("ana", "A"), ("ben", "B")):
        cli("user", "create", name)
        cli("grant", name, "dx", "broker", "--site", site)

    hidden = cli("broker", "lookup", "-p", "dx", "dx-0001", "--as", "ana", expect=1)
    unknown = cli("broker", "lookup", "-p", "dx", "dx-0099", "--as", "ana", expect=1)
    assert hidden.stderr.replace("dx-0001", "ID") == unknown.stderr.replace("dx-0099", "ID")
    assert "Müller" not in hidden.stdout + hidden.stderr
    record = json.loads(
        cli("broker", "lookup", "-p", "dx", "dx-0001", "--as", "ben", "--json").stdout
    )
    assert record["patient_id"] == "PID-778899"
    outcomes = [(actor, detail["outcome"]) for actor, detail in lookups(settings)]
    assert outcomes == [("ana", "not-found"), ("ana", "not-found"), ("ben", "revealed")]
