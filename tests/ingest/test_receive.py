"""The single-object path the network services use: spool first, then the stages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from vesalius.archive.projects import create_project
from vesalius.core.dicom.synthetic import StudySpec, make_study, to_bytes
from vesalius.core.home import Home
from vesalius.core.model import Instance
from vesalius.ingest.context import IntakeContext, Outcome
from vesalius.ingest.pipeline import drain, receive, release_unreferenced
from vesalius.ingest.quarantine import QuarantineItem
from vesalius.ingest.spool import Spool

CONTEXT = IntakeContext(source="c-store", actor="ae:SCANNER", called_ae="P1")


@pytest.fixture
def spool(home: Home) -> Spool:
    with home.db.write() as session, session.begin():
        create_project(session, key="p1", name="P1", actor="test")
    return Spool.for_home(home.settings)


def objects(n: int, seed: str) -> list[bytes]:
    spec = StudySpec("P9", "Spool^Test", dt.date(2024, 1, 1))
    return [to_bytes(ds) for ds in make_study(spec, [("MR", "T1", n)], seed=seed)]


def test_receive_routes_by_called_ae_and_empties_the_spool(home: Home, spool: Spool) -> None:
    [data] = objects(1, "r1")
    assert receive(home.db, home.store, spool, CONTEXT, data) is Outcome.STORED
    assert receive(home.db, home.store, spool, CONTEXT, data) is Outcome.DUPLICATE
    assert spool.pending() == []


def test_spool_entries_are_private_and_whole(home: Home, spool: Spool) -> None:
    [data] = objects(1, "r2")
    entry = spool.write(data, CONTEXT)
    assert entry.stat().st_mode & 0o777 == 0o600
    context, body = spool.read(entry)
    assert context == CONTEXT and body == data
    assert not [p for p in spool.root.iterdir() if p.name.endswith(".tmp")]


def test_what_a_crash_left_in_the_spool_is_finished_on_start(home: Home, spool: Spool) -> None:
    """Acknowledged means spooled: entries written before a crash are drained later."""
    blobs = objects(3, "r3")
    for data in blobs:
        spool.write(data, CONTEXT)  # acknowledged, then the process died
    assert drain(home.db, home.store, spool) == 3
    assert spool.pending() == []
    with home.db.read() as session:
        assert len(session.scalars(select(Instance)).all()) == 3


def test_unparseable_object_is_quarantined_not_dropped(home: Home, spool: Spool) -> None:
    assert receive(home.db, home.store, spool, CONTEXT, b"garbage" * 100) is Outcome.QUARANTINED
    with home.db.read() as session:
        item = session.scalars(select(QuarantineItem)).one()
        assert item.source == "c-store" and home.store.get(item.blob_hash) == b"garbage" * 100


def test_a_deid_project_without_its_settings_quarantines_sealed(home: Home, spool: Spool) -> None:
    from vesalius.core.model import Project

    with home.db.write() as session, session.begin():
        session.scalars(select(Project)).one().deid_profile = "basic"
    [data] = objects(1, "r4")
    assert receive(home.db, home.store, spool, CONTEXT, data) is Outcome.QUARANTINED
    with home.db.read() as session:
        assert session.scalars(select(Instance)).all() == []
        item = session.scalars(select(QuarantineItem)).one()
        assert item.sealed and "settings are missing" in item.reason
        assert b"Spool^Test" not in home.store.get(item.blob_hash)


def test_blobs_of_a_failed_index_are_removed_only_when_unreferenced(
    home: Home, spool: Spool
) -> None:
    import hashlib

    [data] = objects(1, "r5")
    receive(home.db, home.store, spool, CONTEXT, data)
    stored = hashlib.sha256(data).hexdigest()
    orphan_bytes = b"orphan"
    orphan = hashlib.sha256(orphan_bytes).hexdigest()
    home.store.put(orphan, orphan_bytes)
    with home.db.write() as session, session.begin():
        release_unreferenced(session, home.store, [stored, orphan])
    assert home.store.exists(stored) and not home.store.exists(orphan)


def test_index_failure_rolls_back_and_keeps_the_spool_entry(
    home: Home, spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the database cannot commit, nothing is acknowledged twice or lost: the entry stays."""
    import vesalius.ingest.pipeline as pipeline

    [data] = objects(1, "r6")

    def broken_commit(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline, "commit", broken_commit)
    with pytest.raises(RuntimeError):
        receive(home.db, home.store, spool, CONTEXT, data)
    [_entry] = spool.pending()
    import hashlib

    assert not home.store.exists(hashlib.sha256(data).hexdigest())
    monkeypatch.undo()
    assert drain(home.db, home.store, spool) == 1
    assert spool.pending() == []


def test_spool_folder_is_created_owner_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert spool.root.stat().st_mode & 0o777 == 0o700


def test_a_batch_commits_together_and_a_bad_object_costs_nobody(home: Home, spool: Spool) -> None:
    from vesalius.ingest.pipeline import process_batch

    good = objects(3, "r7")
    entries = [
        spool.write(good[0], CONTEXT),
        spool.write(b"\x00" * 500, CONTEXT),
        *(spool.write(d, CONTEXT) for d in good[1:]),
    ]
    outcomes = process_batch(home.db, home.store, spool, entries)
    assert outcomes == [Outcome.STORED, Outcome.QUARANTINED, Outcome.STORED, Outcome.STORED]
    assert spool.pending() == []
    with home.db.read() as session:
        assert len(session.scalars(select(Instance)).all()) == 3
        assert len(session.scalars(select(QuarantineItem)).all()) == 1


def test_rows_made_for_an_object_that_failed_to_index_are_not_reused(
    home: Home, spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first object of a new series fails inside its savepoint: the subject, study
    and series it made are rolled back, and the next objects make them again."""
    import io

    import pydicom

    from vesalius.core import events
    from vesalius.core.model import Series, Study
    from vesalius.ingest.pipeline import process_batch

    data = objects(3, "r8")
    failing = pydicom.dcmread(io.BytesIO(data[0])).SOPInstanceUID
    publish = events.publish

    def publish_or_fail(session, kind, payload, **kwargs):
        if payload.get("sop_uid") == failing:
            raise RuntimeError("index failure for one object")
        return publish(session, kind, payload, **kwargs)

    monkeypatch.setattr(events, "publish", publish_or_fail)
    entries = [spool.write(d, CONTEXT) for d in data]
    outcomes = process_batch(home.db, home.store, spool, entries)
    assert outcomes == [Outcome.QUARANTINED, Outcome.STORED, Outcome.STORED]
    with home.db.read() as session:
        [series] = session.scalars(select(Series)).all()
        [study] = session.scalars(select(Study)).all()
        assert series.instance_count == 2 and study.instance_count == 2
        assert study.series_count == 1
        assert len(session.scalars(select(Instance)).all()) == 2
