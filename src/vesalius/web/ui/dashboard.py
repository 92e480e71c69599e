"""The management dashboard of a project: the report's numbers and SVG bar charts per site.

Registered before :mod:`.routes` (whose catch-all would shadow it). The charts are
server-rendered SVG (:mod:`vesalius.studies.report_html`), no script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from vesalius.core.auth.policy import project_for
from vesalius.studies import reports
from vesalius.studies.report_html import CHARTS, bar_chart, cell
from vesalius.web.api.reports import parse_day
from vesalius.web.deps import DB
from vesalius.web.ui.routing import UIRoute
from vesalius.web.ui.session import UIUser
from vesalius.web.ui.templating import render

router = APIRouter(prefix="/ui", route_class=UIRoute, include_in_schema=False)


@router.get("/projects/{key}/dashboard", name="ui-dashboard")
def dashboard_page(
    request: Request, key: str, session: DB, user: UIUser, today: str = ""
) -> Response:
    project = project_for(session, user, key)
    report = reports.project_report(
        session,
        settings=request.app.state.home.settings,
        project=project,
        user=user,
        today=parse_day(today),
    )
    charts = [(c, Markup(bar_chart(c, report.sites))) for c in CHARTS]  # bar_chart escapes all text
    rows = [(r, {c: cell(r, c) for c in reports.COLUMNS}) for r in report.rows()]
    return render(
        request,
        "dashboard.html",
        project=project,
        report=report,
        rows=rows,
        columns=reports.COLUMNS,
        charts=charts,
    )
