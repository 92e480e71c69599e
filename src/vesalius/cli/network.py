"""Commands for DICOM networking: the registered modalities (DIMSE principals)."""

from __future__ import annotations

from pathlib import Path

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
    tls: bool = typer.Option(
        False, "--tls", help="Send C-MOVEs to it over TLS (its certificate is verified)."
    ),
    tls_ca: Path = typer.Option(
        None, "--tls-ca", help="PEM CA certificate(s) to verify it by (default: the system's)."
    ),
    tls_cert: Path = typer.Option(
        None, "--tls-cert", help="PEM client certificate to present to it (with --tls-key)."
    ),
    tls_key: Path = typer.Option(
        None, "--tls-key", help="PEM private key of --tls-cert (a file of mode 0600)."
    ),
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
                tls=tls,
                tls_ca=tls_ca,
                tls_cert=tls_cert,
                tls_key=tls_key,
            )
            if view.tls:
                # read the files now, as a move will: a wrong one undoes the registration
                from vesalius.dimse.tls import modality_context  # pynetdicom only when needed

                modality_context(view)
    out.print(
        f"registered modality {view.name} ({view.ae_title} at {view.host}:{view.port}"
        f"{', TLS' if view.tls else ''}) for project {view.project}",
        highlight=False,
    )


def _tls_summary(view: modalities.ModalityView) -> str:
    if not view.tls:
        return "off"
    text = f"CA {view.tls_ca}" if view.tls_ca else "system CAs"
    return f"{text}, client cert {view.tls_cert}" if view.tls_cert else text


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
    table = Table("name", "project", "AE title", "host", "port", "TLS")
    for v in views:
        table.add_row(v.name, v.project, v.ae_title, v.host, str(v.port), _tls_summary(v))
    out.print(table)


@modality_app.command("show")
def modality_show(
    ctx: typer.Context, name: str, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show one registered modality, with its TLS settings (file paths, never keys)."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            view = modalities.get_modality(session, name=name)
    if as_json:
        print_json(view.to_dict())
        return
    rows = [
        ("name", view.name),
        ("project", view.project),
        ("AE title", view.ae_title),
        ("host", view.host),
        ("port", str(view.port)),
        ("TLS", "on" if view.tls else "off"),
    ]
    if view.tls:
        rows += [
            ("TLS CA", view.tls_ca or "(the system's CAs)"),
            ("TLS client cert", view.tls_cert or "(none)"),
            ("TLS client key", view.tls_key or "(none)"),
        ]
    rows.append(("registered", view.created_at))
    for label, value in rows:
        out.print(f"{label + ':':<17}{value}", highlight=False)


@modality_app.command("remove")
def modality_remove(ctx: typer.Context, name: str) -> None:
    """Remove a registered modality."""
    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            modalities.remove_modality(session, name=name, actor=operator())
    out.print(f"removed modality {name}", highlight=False)
