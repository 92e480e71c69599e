"""The honest-broker vault: research IDs from templates, recall, sealing, concurrency."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from vesalius.archive.projects import create_project
from vesalius.core.errors import InvalidInput
from vesalius.core.home import Home
from vesalius.core.sealing import SealError
from vesalius.deid.subjects import DEFAULT_TEMPLATE, format_subject_id, validate_template
from vesalius.deid.vault import Identity, Vault, VaultLink, VaultSubject, record_links

MASTER = bytes(range(32))
KEY_A = b"project a key, 32 bytes long...."
KEY_B = b"project b key, 32 bytes long...."


def identity(pid: str, name: str = "Doe^John", n: int = 1) -> Identity:
    return Identity(pid, pid, name, "19500101", f"ACC{pid}{n}", f"1.2.3.{n}", f"1.2.3.{n}.1", "")


def vault(home: Home, key: str, project_key: bytes = KEY_A) -> Vault:
    with home.db.write() as session, session.begin():
        project = create_project(session, key=key, name=key, actor="test")
        project_id = project.id
    return Vault(project=key, project_id=project_id, project_key=project_key, master_key=MASTER)


def test_templates() -> None:
    assert format_subject_id(DEFAULT_TEMPLATE, project="trial", seq=7) == "trial-0007"
    assert validate_template("SUBJ{seq:05d}") == "SUBJ{seq:05d}"
    for bad in ("{project}", "{name}-{seq}", "{seq", "x" * 70 + "{seq}", "a\\{seq}"):
        with pytest.raises(InvalidInput):
            validate_template(bad)


def test_assigned_at_first_sight_recalled_after_and_per_project(home: Home) -> None:
    a, b = vault(home, "trial"), vault(home, "other", KEY_B)
    first = a.subject_for(home.db, identity("P1"), template=DEFAULT_TEMPLATE, date_offset=-40)
    assert (first.research_id, first.date_offset) == ("trial-0001", -40)
    fresh = Vault(project="trial", project_id=a.project_id, project_key=KEY_A, master_key=MASTER)
    again = fresh.subject_for(home.db, identity("P1"), template=DEFAULT_TEMPLATE, date_offset=99)
    assert again == first  # recalled from the database, offset as recorded
    second = a.subject_for(home.db, identity("P2"), template=DEFAULT_TEMPLATE, date_offset=5)
    assert second.research_id == "trial-0002"
    elsewhere = b.subject_for(home.db, identity("P1"), template="X{seq:03d}", date_offset=7)
    assert elsewhere.research_id == "X001"
    assert a.patient_hmac("P1") != b.patient_hmac("P1")


def test_values_are_sealed_and_bound_to_their_row(home: Home) -> None:
    v = vault(home, "trial")
    for pid in ("P1", "P2"):
        entry = v.subject_for(home.db, identity(pid), template=DEFAULT_TEMPLATE, date_offset=3)
        links = v.links_for(entry.research_id, identity(pid), {"study": "2.25.1"})
        with home.db.write() as session, session.begin():
            record_links(session, links)
            record_links(session, links)  # recorded once
    with home.db.read() as session:
        rows = session.scalars(select(VaultSubject).order_by(VaultSubject.seq)).all()
        assert all(b"Doe" not in r.identity and b"P1" not in r.identity for r in rows)
        assert all(r.patient_hmac not in ("P1", "P2") for r in rows)
        assert len(session.scalars(select(VaultLink)).all()) == 6
        record = v.reveal(session, "trial-0001")
    assert record is not None
    assert (record["patient_id"], record["patient_name"], record["birth_date"]) == (
        "P1",
        "Doe^John",
        "19500101",
    )
    assert record["accession_numbers"] == ["ACCP11"]
    assert record["studies"] == [{"original": "1.2.3.1", "research": "2.25.1"}]
    # swap the two subjects' sealed identities: neither opens any more
    with home.db.write() as session, session.begin():
        one, two = session.scalars(select(VaultSubject).order_by(VaultSubject.seq)).all()
        one.identity, two.identity = two.identity, one.identity
    with home.db.read() as session, pytest.raises(SealError):
        v.reveal(session, "trial-0001")
    # flip one bit of a link: it fails authentication
    with home.db.write() as session, session.begin():
        one, two = session.scalars(select(VaultSubject).order_by(VaultSubject.seq)).all()
        one.identity, two.identity = two.identity, one.identity
        link = session.scalars(select(VaultLink).where(VaultLink.kind == "accession")).first()
        link.value = link.value[:-1] + bytes([link.value[-1] ^ 1])
    with home.db.read() as session, pytest.raises(SealError):
        v.reveal(session, link.research_id)


def test_concurrent_first_sight_assigns_one_id(home: Home) -> None:
    v = vault(home, "trial")
    results: list[str] = []
    errors: list[BaseException] = []

    def assign(pid: str) -> None:
        mine = Vault(project="trial", project_id=v.project_id, project_key=KEY_A, master_key=MASTER)
        try:
            entry = mine.subject_for(
                home.db, identity(pid), template=DEFAULT_TEMPLATE, date_offset=1
            )
            results.append(f"{pid}={entry.research_id}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=assign, args=(f"P{i % 3}",)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    by_patient: dict[str, set[str]] = {}
    for item in results:
        pid, rid = item.split("=")
        by_patient.setdefault(pid, set()).add(rid)
    assert all(len(ids) == 1 for ids in by_patient.values())
    assert sorted(i for ids in by_patient.values() for i in ids) == [
        "trial-0001",
        "trial-0002",
        "trial-0003",
    ]
