"""The management report of a project (per site and overall), scoped to the caller's sites."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request

from vesalius.core.auth.policy import project_for
from vesalius.core.errors import InvalidInput
from vesalius.studies import reports
from vesalius.web.deps import DB, CurrentUser

router = APIRouter(tags=["studies"])


def parse_day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"today: not a date (YYYY-MM-DD): {value!r}") from None


@router.get("/projects/{key}/report")
def project_report(
    key: str,
    request: Request,
    session: DB,
    user: CurrentUser,
    site: str | None = Query(None, description="Only this site (code)"),
    today: str | None = Query(None, description="Visit statuses as of this date"),
) -> dict[str, Any]:
    """Per site and overall: subjects, studies, visits received versus expected, adherence
    rate, QC failures, overdue and missed visits, acquisition-to-arrival delay (hours).
    A user whose roles are limited to sites sees those sites only."""
    project = project_for(session, user, key)
    report = reports.project_report(
        session,
        settings=request.app.state.home.settings,
        project=project,
        user=user,
        site=site,
        today=parse_day(today),
    )
    return report.to_dict()
