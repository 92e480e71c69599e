"""``vesalius gateway status``: what the outbox holds, in total and per study.

Study UIDs shown are the de-identified (pseudonymous) ones, as sent; refused objects are
listed with the central archive's reason, queued ones with the reason of their last
failed attempt, so an operator sees *why* without reading logs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vesalius.core.errors import NotFound
from vesalius.core.model import Project
from vesalius.gateway.model import GatewayItem, ItemState

STATES = [s.value for s in ItemState]
LISTED = 100  # failed and waiting objects listed by name; counts are always complete


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def gateway_status(session: Session, *, project: str, site: str | None = None) -> dict[str, Any]:
    """Counts by state (total and per study), refused objects and the reasons of waiting ones;
    ``site``: the site code the gateway delivers as (:mod:`.site`), shown with them so an
    operator sees which site the central counts these objects for."""
    project_id = session.scalar(select(Project.id).where(Project.key == project))
    if project_id is None:
        raise NotFound(f"no project {project!r} in this gateway's home")
    totals = dict.fromkeys(STATES, 0)
    studies: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(
            GatewayItem.study_uid,
            GatewayItem.state,
            func.count(GatewayItem.id),
            func.max(GatewayItem.delivered_at),
        )
        .where(GatewayItem.project_id == project_id)
        .group_by(GatewayItem.study_uid, GatewayItem.state)
    ).all()
    for study_uid, state, count, last in rows:
        totals[state] = totals.get(state, 0) + count
        entry = studies.setdefault(
            study_uid,
            {"study_uid": study_uid, **dict.fromkeys(STATES, 0), "last_delivered_at": None},
        )
        entry[state] += count
        if last is not None and (
            entry["last_delivered_at"] is None or _iso(last) > entry["last_delivered_at"]
        ):
            entry["last_delivered_at"] = _iso(last)
    failed = [
        {"sop_uid": i.sop_uid, "study_uid": i.study_uid, "reason": i.last_error,
         "attempts": i.attempts}
        for i in session.scalars(
            select(GatewayItem)
            .where(GatewayItem.project_id == project_id)
            .where(GatewayItem.state == ItemState.FAILED.value)
            .order_by(GatewayItem.id)
            .limit(LISTED)
        )
    ]  # fmt: skip
    waiting = session.execute(
        select(
            GatewayItem.last_error,
            func.count(GatewayItem.id),
            func.min(GatewayItem.next_attempt_at),
        )
        .where(GatewayItem.project_id == project_id)
        .where(GatewayItem.state == ItemState.QUEUED.value)
        .where(GatewayItem.last_error != "")
        .group_by(GatewayItem.last_error)
    ).all()
    return {
        "project": project,
        "site": site,
        "total": sum(totals.values()),
        **totals,
        "studies": sorted(studies.values(), key=lambda s: s["study_uid"]),
        "failed_objects": failed,
        "retrying": [
            {"reason": reason, "objects": count, "next_attempt_at": _iso(next_at)}
            for reason, count, next_at in waiting
        ],
    }
