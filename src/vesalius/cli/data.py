"""Commands that move data: import, quarantine, demo, events."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select

from vesalius.archive import accounts, demo, projects
from vesalius.cli.context import EXIT_PARTIAL, err, failures, operator, print_json, state
from vesalius.core.events import OutboxEvent
from vesalius.core.home import Home
from vesalius.core.model import Project, User
from vesalius.ingest import quarantine
from vesalius.ingest.context import IntakeContext, Summary
from vesalius.ingest.importer import StoreSpec, import_items
from vesalius.ingest.sources import expand
from vesalius.ingest.stability import check_stability

out = Console()
quarantine_app = typer.Typer(help="Objects that could not be archived.", no_args_is_help=True)
events_app = typer.Typer(help="The event outbox.", no_args_is_help=True)


def run_import(
    home: Home,
    paths: list[Path],
    project: str,
    *,
    actor: str,
    show_progress: bool,
    workers: int | None = None,
) -> Summary:
    items = list(expand(paths))
    spec = StoreSpec(home.settings.resolved_storage_url, home.settings.s3_endpoint_url)
    context = IntakeContext(source="import", actor=actor, project_key=project)
    workers = home.settings.import_workers if workers is None else workers
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, disable=not show_progress, transient=True) as bar:
        task = bar.add_task("import", total=len(items))
        return import_items(
            home.db,
            home.store,
            spec,
            context,
            items,
            workers=workers,
            progress=lambda n: bar.advance(task, n),
            settings=home.settings,
        )


def import_(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files, folders, .zip archives or a DICOMDIR."),
    project: str = typer.Option(..., "--project", "-p", help="Project key to import into."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    workers: int = typer.Option(None, help="Parser processes (default: one per core)."),
) -> None:
    """Import DICOM objects; exit 3 if some were quarantined."""
    with failures():
        home = state(ctx).home()
        summary = run_import(
            home,
            paths,
            project,
            actor=operator(),
            workers=workers,
            show_progress=not as_json and err.is_terminal,
        )
    data = summary.to_dict()
    if as_json:
        print_json(data)
    else:
        table = Table("stored", "duplicates", "new versions", "quarantined", "skipped", "seconds")
        table.add_row(
            *(
                str(data[k])
                for k in (
                    "stored",
                    "duplicates",
                    "new_versions",
                    "quarantined",
                    "skipped",
                    "seconds",
                )
            )
        )
        out.print(table)
        for item in summary.quarantine:
            out.print(f"quarantined: {item['origin']}: {item['reason']}", highlight=False)
    if summary.quarantined:
        raise typer.Exit(EXIT_PARTIAL)


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    limit: int = typer.Option(100, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
) -> None:
    """List quarantined objects with the reason each was refused."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            items, total = quarantine.list_items(session, limit=limit, offset=offset)
    if as_json:
        print_json({"items": [i.to_dict() for i in items], "total": total})
        return
    table = Table("id", "received", "project", "source", "origin", "reason")
    for i in items:
        table.add_row(str(i.id), i.received_at[:19], i.project or "", i.source, i.origin, i.reason)
    out.print(table)
    out.print(f"{total} quarantined")


def demo_(ctx: typer.Context) -> None:
    """Load a demo project of generated studies (once; again is a no-op)."""
    with failures():
        home = state(ctx).home(create=True)
        with home.db.write() as session, session.begin():
            exists = session.scalar(select(Project.id).where(Project.key == demo.DEMO_KEY))
            if exists is None:
                projects.create_project(
                    session, key=demo.DEMO_KEY, name="Demo (generated data)", actor=operator()
                )
                if session.scalar(select(User.id).where(User.name == "admin")) is not None:
                    accounts.grant(
                        session,
                        user_name="admin",
                        project_key=demo.DEMO_KEY,
                        role="owner",
                        actor=operator(),
                    )
        with tempfile.TemporaryDirectory() as tmp:
            count = demo.write_demo_files(Path(tmp))
            summary = run_import(
                home, [Path(tmp)], demo.DEMO_KEY, actor=operator(), show_progress=err.is_terminal
            )
    out.print(
        f"demo project '{demo.DEMO_KEY}': {count} generated objects, "
        f"{summary.stored} new, {summary.duplicates} already there"
    )


@events_app.command("process")
def events_process(ctx: typer.Context) -> None:
    """Announce stable series/studies and deliver pending events once (serve does this)."""
    from vesalius.core.events import dispatch_pending
    from vesalius.web.app import default_subscribers  # the subscribers serve runs

    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            series, studies = check_stability(session, default_seconds=home.settings.stable_seconds)
        delivered = dispatch_pending(home.db.write, default_subscribers(home.store))
    out.print(f"{series} series and {studies} studies became stable; {delivered} events delivered")


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    type_: str = typer.Option(None, "--type", help="Only events of this type."),
    limit: int = typer.Option(100, min=1, max=10000),
) -> None:
    """List events in the outbox, newest first."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            query = select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(limit)
            if type_:
                query = query.where(OutboxEvent.type == type_)
            rows = [
                {
                    "id": e.id,
                    "type": e.type,
                    "payload": e.payload,
                    "created_at": e.created_at.isoformat(),
                    "delivered": e.delivered_at is not None,
                }
                for e in session.scalars(query)
            ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "type", "created", "delivered", "payload")
    for r in rows:
        table.add_row(
            str(r["id"]), r["type"], r["created_at"][:19], str(r["delivered"]), str(r["payload"])
        )
    out.print(table)
