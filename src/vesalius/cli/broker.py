"""``vesalius broker lookup``: the honest broker re-identifies one research subject.

The CLI acts as the operator of the home (whoever can read its secrets), but
re-identification is a role, not a privilege of the operator: the lookup runs as the
vesalius user named by ``--as`` (default: the account named like the OS user), who must
hold the ``broker`` role in the project. Every attempt, allowed or refused, is in the
audit log with the user, the OS operator, the project and the research ID; refusals exit
with 1 (failed) as the CLI contract says.
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from vesalius.cli.context import failures, operator, print_json, state
from vesalius.core.errors import NotFound, PermissionDenied
from vesalius.deid import broker

out = Console()
broker_app = typer.Typer(
    help="The honest broker: re-identify research subjects (broker role, audited).",
    no_args_is_help=True,
)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


@broker_app.command("lookup")
def broker_lookup(
    ctx: typer.Context,
    research_id: str = typer.Argument(..., help="The research subject ID to re-identify."),
    project: str = typer.Option(..., "--project", "-p", help="The project's key."),
    as_user: str = typer.Option(
        None, "--as", help="The vesalius user looking up (default: the OS user name)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the record as JSON."),
) -> None:
    """Show the patient behind RESEARCH_ID (patient ID, name, birth date, accession numbers,
    original UIDs, date offset). Needs the broker role; every attempt is audited."""
    with failures():
        home = state(ctx).home()
        user = as_user or _os_user()
        with home.db.write() as session, session.begin():
            result = broker.lookup(
                session,
                settings=home.settings,
                project=project,
                research_id=research_id,
                user_name=user,
                via="cli",
                operator=operator(),
            )
        if result.outcome == "refused":
            raise PermissionDenied(f"lookup refused: {result.reason}")
        if result.outcome == "not-found" or result.record is None:
            raise NotFound(result.reason)
    record = result.record
    if as_json:
        print_json(record)
        return
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for field in ("project", "research_id", "patient_id", "patient_name", "birth_date"):
        table.add_row(field, str(record[field]))
    table.add_row("date_offset_days", str(record["date_offset_days"]))
    table.add_row("accession_numbers", ", ".join(record["accession_numbers"]))
    for kind, label in (("studies", "study"), ("series", "series"), ("instances", "instance")):
        for link in record[kind]:
            table.add_row(label, f"{link['original']} -> {link['research']}")
    out.print(table, highlight=False)
