"""series.stable / study.stable per DESIGN.md's event contract."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from vesalius.archive.projects import create_project
from vesalius.core.dicom.synthetic import StudySpec, make_instance, to_bytes
from vesalius.core.events import OutboxEvent
from vesalius.core.home import Home
from vesalius.core.model import utcnow
from vesalius.ingest.context import IntakeContext
from vesalius.ingest.pipeline import receive
from vesalius.ingest.spool import Spool
from vesalius.ingest.stability import check_stability

SPEC = StudySpec("S1", "Stable^Test", dt.date(2024, 2, 2))


def send(home: Home, series_uid: str, index: int) -> None:
    ds = make_instance(
        spec=SPEC,
        study_uid="1.2.3.4",
        series_uid=series_uid,
        modality="CT",
        series_number=int(series_uid.rsplit(".", 1)[1]),
        series_description="x",
        index=index,
        sop_uid=f"{series_uid}.{index}",
    )
    receive(
        home.db,
        home.store,
        Spool(home.settings.spool_dir),
        IntakeContext(source="test", actor="t", project_key="p"),
        to_bytes(ds),
    )


def stable_events(home: Home) -> list[tuple[str, str]]:
    with home.db.read() as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.type != "instance.stored")
            .order_by(OutboxEvent.id)
        )
        return [(e.type, e.payload.get("series_uid", e.payload["study_uid"])) for e in rows]


def check(home: Home, at: dt.datetime) -> tuple[int, int]:
    with home.db.write() as session, session.begin():
        return check_stability(session, default_seconds=60, now=at)


def test_series_then_study_become_stable_once_and_reopen(home: Home) -> None:
    with home.db.write() as session, session.begin():
        create_project(session, key="p", name="p", actor="t", stable_seconds=30)
    send(home, "1.2.3.4.1", 0)
    send(home, "1.2.3.4.2", 0)
    now = utcnow()
    assert check(home, now) == (0, 0), "nothing is stable while instances are arriving"
    assert check(home, now + dt.timedelta(seconds=31)) == (2, 1)
    assert check(home, now + dt.timedelta(seconds=120)) == (0, 0), "announced once"
    assert stable_events(home) == [
        ("series.stable", "1.2.3.4.1"),
        ("series.stable", "1.2.3.4.2"),
        ("study.stable", "1.2.3.4"),
    ]
    send(home, "1.2.3.4.2", 1)  # a later instance re-opens its series and the study
    later = utcnow()
    assert check(home, later + dt.timedelta(seconds=10)) == (0, 0)
    assert check(home, later + dt.timedelta(seconds=31)) == (1, 1)
    assert stable_events(home)[-2:] == [("series.stable", "1.2.3.4.2"), ("study.stable", "1.2.3.4")]


def test_project_default_comes_from_settings(home: Home) -> None:
    with home.db.write() as session, session.begin():
        create_project(session, key="p", name="p", actor="t")
    send(home, "1.2.3.4.1", 0)
    now = utcnow()
    assert check(home, now + dt.timedelta(seconds=59)) == (0, 0)
    assert check(home, now + dt.timedelta(seconds=61)) == (1, 1)
