"""``vesalius qc``: automated QC results per series of a project."""

from __future__ import annotations

from typing import Any

import typer

from vesalius.cli.context import failures, print_json, state
from vesalius.studies import protocols
from vesalius.studies.qc import results


def qc_(
    ctx: typer.Context,
    project: str = typer.Option(..., "--project", "-p", help="Project key."),
    as_json: bool = typer.Option(False, "--json"),
    status: str = typer.Option(None, help="Only series with this status (pass, warn, fail)."),
    study: str = typer.Option(None, help="Only this study (Study Instance UID)."),
    limit: int = typer.Option(1000, min=1, max=results.MAX_LIMIT),
    offset: int = typer.Option(0, min=0),
) -> None:
    """Automated QC per series: slices, orientation, header, pixel statistics, motion."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            project_row = protocols.project_by_key(session, project)
            items, total = results.list_qc(
                session,
                project=project_row,
                status=status,
                study_uid=study,
                limit=limit,
                offset=offset,
            )
            data: dict[str, Any] = {
                "project": project,
                "counts": results.counts(session, project=project_row),
                "items": items,
                "total": total,
            }
    if as_json:
        print_json(data)
        return
    _print(data)


def _print(data: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data["counts"].items())) or "none"
    console.print(f"QC of project {data['project']!r}: {counts}", highlight=False)
    for item in data["items"]:
        console.print(
            f"{item['status'].upper():5} series {item['series_number'] or ''} "
            f"{item['description']!r} ({item['instances']} images)  {item['series_uid']}",
            highlight=False,
            soft_wrap=True,
        )
        for f in item["findings"]:
            if f["status"] != "pass":
                console.print(
                    f"      {f['status']}: {f['check']}.{f['metric']} = {f['value']} "
                    f"(threshold {f['threshold']}): {f['message']}",
                    highlight=False,
                    soft_wrap=True,
                )
