"""Commands for DICOM networking: the registered modalities (DIMSE principals)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from vesalius.archive import modalities
from vesalius.cli.context import failures, operator, print_json, state

out = Console()
modality_app = typer.Typer(
    help="Remote DICOM nodes that may store, query and retrieve (one project each).",
    no_args_is_help=True,
)


@modality_app.command("add")
def modality_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name for the node (unique)."),
    ae_title: str = typer.Option(..., "--ae-title", help="Its AE title."),
    host: str = typer.Option(..., "--host", help="Its host name or address (for C-MOVE)."),
    port: int = typer.Option(..., "--port", help="Its DIMSE port (for C-MOVE)."),
    project: str = typer.Option(..., "--project", "-p", help="The project it belongs to."),
) -> None:
    """Register a modality: it may then call the project's AE title and receive C-MOVEs."""
    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            view = modalities.add_modality(
                session,
                name=name,
                project_key=project,
                ae_title=ae_title,
                host=host,
                port=port,
                actor=operator(),
            )
    out.print(
        f"registered modality {view.name} ({view.ae_title} at {view.host}:{view.port}) "
        f"for project {view.project}",
        highlight=False,
    )


@modality_app.command("list")
def modality_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    project: str = typer.Option(None, "--project", "-p", help="Only this project's."),
) -> None:
    """List registered modalities."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            views = modalities.list_modalities(session, project_key=project)
    if as_json:
        print_json([v.to_dict() for v in views])
        return
    table = Table("name", "project", "AE title", "host", "port")
    for v in views:
        table.add_row(v.name, v.project, v.ae_title, v.host, str(v.port))
    out.print(table)


@modality_app.command("remove")
def modality_remove(ctx: typer.Context, name: str) -> None:
    """Remove a registered modality."""
    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            modalities.remove_modality(session, name=name, actor=operator())
    out.print(f"removed modality {name}", highlight=False)
