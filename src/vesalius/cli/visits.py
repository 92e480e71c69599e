"""Visit commands: ``visits`` (expected, received, due, overdue, missed) and ``notify``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer

from vesalius.cli.context import err, failures, print_json, state
from vesalius.core.errors import InvalidInput
from vesalius.deid.truetime import offset_reader
from vesalius.studies import notify, protocols, visits


def _today(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--today: not a date (YYYY-MM-DD): {value!r}") from None


def visits_(
    ctx: typer.Context,
    project: str = typer.Option(..., "--project", "-p", help="Project key."),
    as_json: bool = typer.Option(False, "--json"),
    status: str = typer.Option(
        None, "--status", help="Only visits with this status: " + "|".join(visits.STATUSES)
    ),
    site: str = typer.Option(None, "--site", help="Only subjects of this site (code)."),
    today: str = typer.Option(None, "--today", help="Compute as of this (true) date."),
) -> None:
    """Each subject's expected visits: received, due, overdue, missed or upcoming."""
    with failures():
        if status is not None and status not in visits.STATUSES:
            raise InvalidInput(f"--status: one of {', '.join(visits.STATUSES)}")
        home = state(ctx).home()
        with home.db.read() as session:
            project_row = protocols.project_by_key(session, project)
            current = protocols.protocol_version(session, project=project_row)
            if current is None:
                err.print(f"project {project!r} has no protocol yet (vesalius protocol load)")
                raise typer.Exit(1)
            offsets = offset_reader(session, settings=home.settings, project=project_row)
            rows = visits.project_visits(
                session,
                project=project_row,
                protocol=current.protocol,
                today=_today(today),
                offset_for=offsets,
                site=site,
                status=status,
            )
    data: dict[str, Any] = {
        "project": project,
        "protocol_version": current.version,
        "summary": visits.summary(rows),
        "items": [r.to_dict() for r in rows],
    }
    if as_json:
        print_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("subject", "site", "visit", "window", "status", "study")
    for r in rows:
        study = f"{r.study_date or '?'} {r.study_uid}" if r.study_uid else ""
        if r.in_window is False:
            study += " (out of window)"
        state_text = r.status + (f" +{r.days_late}d" if r.days_late else "")
        table.add_row(
            r.subject_id,
            r.site or "",
            r.visit,
            f"{r.window_from}..{r.window_to}",
            state_text,
            study,
        )
    console = Console()
    console.print(table)
    console.print(", ".join(f"{k} {v}" for k, v in data["summary"].items()), highlight=False)


def notify_(
    ctx: typer.Context,
    project: list[str] = typer.Option(
        None, "--project", "-p", help="Project key (repeat; default every project)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be sent."),
    as_json: bool = typer.Option(False, "--json"),
    today: str = typer.Option(None, "--today", help="Compute as of this (true) date."),
) -> None:
    """Send visit reminders and deviation notices once (what `serve` does periodically)."""
    with failures():
        home = state(ctx).home()
        if project:
            with home.db.read() as session:
                for key in project:
                    protocols.project_by_key(session, key)
        report = notify.run_notifications(
            home.db.write,
            settings=home.settings,
            projects=list(project) if project else None,
            today=_today(today),
            dry_run=dry_run,
        )
    if as_json:
        print_json(report.to_dict())
    else:
        for item in report.would_send:
            print(f"would send {item['kind']} {item['subject']} {item['ref']} by {item['channel']}")
        print(
            f"{len(report.sent)} sent, {len(report.failed)} failed (retried next run), "
            f"{report.skipped} already sent"
        )
        for item in report.failed:
            print(f"failed: {item['kind']} {item['subject']} {item['ref']}: {item['error']}")
    if report.failed:
        raise typer.Exit(1)
