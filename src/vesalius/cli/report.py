"""``vesalius report``: the management report of a project (html, csv or json)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import typer

from vesalius.cli.context import failures, state
from vesalius.core.errors import InvalidInput
from vesalius.studies import protocols, reports
from vesalius.studies.report_html import to_html

FORMATS = ("json", "csv", "html")


def report_(
    ctx: typer.Context,
    project: str = typer.Option(..., "--project", "-p", help="Project key."),
    format_: str = typer.Option("json", "--format", "-f", help="|".join(FORMATS)),
    site: str = typer.Option(None, "--site", help="Only this site (code)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here (default stdout)."),
    today: str = typer.Option(None, "--today", help="Visit statuses as of this (true) date."),
) -> None:
    """Per site and overall: subjects, studies and visits received versus expected,
    adherence rate, QC failures, overdue visits, time from acquisition to arrival."""
    with failures():
        if format_ not in FORMATS:
            raise InvalidInput(f"--format: one of {', '.join(FORMATS)}")
        try:
            day = dt.date.fromisoformat(today) if today else None
        except ValueError:
            raise InvalidInput(f"--today: not a date (YYYY-MM-DD): {today!r}") from None
        home = state(ctx).home()
        with home.db.read() as session:
            project_row = protocols.project_by_key(session, project)
            report = reports.project_report(
                session,
                settings=home.settings,
                project=project_row,
                user=None,  # the command line runs as the operator: every site
                site=site,
                today=day,
            )
    if format_ == "json":
        text = json.dumps(report.to_dict(), indent=2) + "\n"
    elif format_ == "csv":
        text = reports.to_csv(report)
    else:
        text = to_html(report)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
