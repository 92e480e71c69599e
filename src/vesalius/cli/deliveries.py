"""``vesalius deliveries``: which sites delivered what to a (central) project, and when."""

from __future__ import annotations

from typing import Any

import typer

from vesalius.archive.deliveries import MAX_LIMIT, deliveries_report
from vesalius.cli.context import failures, print_json, state


def deliveries_(
    ctx: typer.Context,
    project: str = typer.Option(..., "--project", "-p", help="Project key."),
    site: str = typer.Option(None, "--site", help="One site code ('' for no code)."),
    as_json: bool = typer.Option(False, "--json"),
    limit: int = typer.Option(MAX_LIMIT, min=1, max=MAX_LIMIT, help="Studies listed."),
    offset: int = typer.Option(0, min=0),
) -> None:
    """Per site: studies, instances, rejected (with reasons), last received; per study:
    instances received per site (what each gateway's status shows as delivered)."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            data = deliveries_report(
                session, project_key=project, site=site, limit=limit, offset=offset
            )
    if as_json:
        print_json(data)
        return
    _print(data)


def _print(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not data["sites"]:
        console.print(f"project {data['project']!r} has received nothing yet")
        return
    sites = Table("site", "sent by", "studies", "instances", "rejected", "last received")
    for s in data["sites"]:
        sites.add_row(
            s["site"] or "(no site code)",
            ", ".join(s["users"]),
            str(s["studies"]),
            str(s["instances"]),
            str(s["rejected"]),
            s["last_received_at"] or "",
        )
    console.print(sites)
    for s in data["sites"]:
        for r in s["rejected_reasons"]:
            console.print(
                f"[red]rejected[/red] {s['site'] or '(no site code)'}: {r['objects']}: "
                f"{r['reason']}",
                highlight=False,
            )
    if data["studies"]:
        studies = Table("study", "site", "instances", "last received")
        for row in data["studies"]:
            studies.add_row(
                row["study_uid"], row["site"] or "", str(row["instances"]),
                row["last_received_at"] or "",
            )  # fmt: skip
        console.print(studies)
    shown = len(data["studies"])
    if shown < data["studies_total"]:
        console.print(f"{shown} of {data['studies_total']} study rows (--limit, --offset)")
