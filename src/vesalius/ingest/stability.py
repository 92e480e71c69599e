"""``series.stable`` and ``study.stable``: emitted once things have gone quiet.

A series is stable once no instance has arrived for ``stable_seconds`` (per project,
default from settings); a study once all its series are stable. A later instance
re-opens both (the index stage clears ``stable_at``), and they are announced again
when quiet again. Runs in a write transaction, so two nodes never announce twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from vesalius.core import events
from vesalius.core.model import Project, Series, Study, utcnow


def check_stability(
    session: Session, *, default_seconds: int, now: dt.datetime | None = None
) -> tuple[int, int]:
    """Announce newly stable series and studies; returns how many of each."""
    now = now or utcnow()
    series_count = study_count = 0
    for project in session.scalars(select(Project)):
        quiet_since = now - dt.timedelta(seconds=project.stable_seconds or default_seconds)
        rows = session.execute(
            select(Series, Study.study_uid)
            .join(Study, Study.id == Series.study_pk)
            .where(Series.project_id == project.id, Series.stable_at.is_(None))
            .where(Series.last_received_at <= quiet_since)
            .with_for_update(of=Series)
        ).all()
        for series, study_uid in rows:
            series.stable_at = now
            events.publish(
                session,
                events.SERIES_STABLE,
                {
                    "project": project.key,
                    "study_uid": study_uid,
                    "series_uid": series.series_uid,
                    "instances": series.instance_count,
                },
                project_id=project.id,
            )
            series_count += 1
        session.flush()
        open_series = exists().where(Series.study_pk == Study.id, Series.stable_at.is_(None))
        studies = session.scalars(
            select(Study)
            .where(Study.project_id == project.id, Study.stable_at.is_(None))
            .where(~open_series)
            .with_for_update(of=Study)
        ).all()
        for study in studies:
            study.stable_at = now
            events.publish(
                session,
                events.STUDY_STABLE,
                {
                    "project": project.key,
                    "study_uid": study.study_uid,
                    "series": study.series_count,
                    "instances": study.instance_count,
                },
                project_id=project.id,
            )
            study_count += 1
    return series_count, study_count
