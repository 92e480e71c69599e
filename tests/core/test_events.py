"""The outbox: events leave only with their transaction, and every subscriber gets each
event once, with retries for the ones that fail."""

import datetime as dt

import pytest
from sqlalchemy import select

from vesalius.core import events
from vesalius.core.events import EventDelivery, OutboxEvent, Subscribers, dispatch_pending
from vesalius.core.home import Home
from vesalius.core.model import utcnow


def test_rolled_back_changes_publish_nothing(home: Home) -> None:
    with pytest.raises(RuntimeError), home.db.write() as session, session.begin():
        events.publish(session, "instance.stored", {"n": 1})
        raise RuntimeError("store failed")
    with home.db.read() as session:
        assert session.scalars(select(OutboxEvent)).all() == []


def test_failing_subscriber_is_retried_and_others_run_once(home: Home) -> None:
    seen: list[str] = []
    attempts = {"flaky": 0}

    def steady(session, event):
        seen.append(f"steady:{event.payload['n']}")

    def flaky(session, event):
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            raise ValueError("temporary")
        seen.append(f"flaky:{event.payload['n']}")

    subs = Subscribers()
    subs.subscribe("x.happened", "steady", steady)
    subs.subscribe("x.happened", "flaky", flaky)
    with home.db.write() as session, session.begin():
        events.publish(session, "x.happened", {"n": 1})

    now = utcnow()
    assert dispatch_pending(home.db.write, subs, now=now) == 0
    assert seen == ["steady:1"]
    # backoff: not due again straight away
    assert dispatch_pending(home.db.write, subs, now=now) == 0
    assert dispatch_pending(home.db.write, subs, now=now + dt.timedelta(minutes=11)) == 1
    assert seen == ["steady:1", "flaky:1"]
    assert dispatch_pending(home.db.write, subs, now=now + dt.timedelta(hours=1)) == 0
    with home.db.read() as session:
        event = session.scalars(select(OutboxEvent)).one()
        assert event.delivered_at is not None and event.attempts == 2
        assert {d.subscriber for d in session.scalars(select(EventDelivery))} == {"steady", "flaky"}


def test_events_nobody_hears_are_delivered_together_and_the_rest_in_order(home: Home) -> None:
    """A backlog of instance.stored events (no subscriber) is marked delivered in one
    transaction per batch; subscribed events among them still reach their handler once,
    in publication order."""
    seen: list[int] = []
    subs = Subscribers()
    subs.subscribe("series.stable", "listener", lambda session, e: seen.append(e.payload["n"]))
    with home.db.write() as session, session.begin():
        for n in range(250):
            kind = "series.stable" if n % 50 == 0 else "instance.stored"
            events.publish(session, kind, {"n": n})

    assert dispatch_pending(home.db.write, subs, batch=200) == 200
    with home.db.read() as session:
        left = session.scalars(select(OutboxEvent).where(OutboxEvent.delivered_at.is_(None)))
        assert len(left.all()) == 50
    assert seen == [0, 50, 100, 150]
    assert dispatch_pending(home.db.write, subs, batch=200) == 50
    assert dispatch_pending(home.db.write, subs, batch=200) == 0
    assert seen == [0, 50, 100, 150, 200]
    with home.db.read() as session:
        rows = session.scalars(select(OutboxEvent)).all()
        assert all(e.delivered_at is not None and e.attempts == 1 for e in rows)
        deliveries = session.scalars(select(EventDelivery)).all()
        assert sorted(d.event_id for d in deliveries) == sorted(
            e.id for e in rows if e.type == "series.stable"
        )
