"""``vesalius`` entry point: the global ``--home`` option and the command tree.

Commands are registered by name and their modules imported only when one of them runs
(or when help lists them): ``vesalius deid run`` must not pay for importing the web app,
the database layer, DIMSE and OCR at start-up. Add a command to ``LAZY_COMMANDS`` (a
function) or ``LAZY_GROUPS`` (a ``typer.Typer`` of sub-commands), in help order.
"""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup

from vesalius import __version__
from vesalius.cli.context import CliState

# name -> (module under vesalius.cli, attribute): a command function or a Typer group
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("admin", "init"),
    "grant": ("admin", "grant"),
    "serve": ("serve", "serve"),
    "import": ("data", "import_"),
    "demo": ("data", "demo_"),
    "adherence": ("studies", "adherence_"),
    "qc": ("qc", "qc_"),
    "visits": ("visits", "visits_"),
    "notify": ("visits", "notify_"),
    "report": ("report", "report_"),
    "deliveries": ("deliveries", "deliveries_"),
}
LAZY_GROUPS: dict[str, tuple[str, str]] = {
    "project": ("admin", "project_app"),
    "user": ("admin", "user_app"),
    "token": ("admin", "token_app"),
    "config": ("admin", "config_app"),
    "quarantine": ("data", "quarantine_app"),
    "events": ("data", "events_app"),
    "modality": ("network", "modality_app"),
    "deid": ("deid", "deid_app"),
    "broker": ("broker", "broker_app"),
    "gateway": ("gateway", "gateway_app"),
    "protocol": ("studies", "protocol_app"),
}


def _load(name: str) -> click.Command | None:
    """Import the module of command ``name`` and build its click command as typer would."""
    if name in LAZY_COMMANDS:
        module, attribute = LAZY_COMMANDS[name]
    elif name in LAZY_GROUPS:
        module, attribute = LAZY_GROUPS[name]
    else:
        return None
    target = getattr(importlib.import_module(f"vesalius.cli.{module}"), attribute)
    holder = typer.Typer(pretty_exceptions_enable=False)
    if name in LAZY_COMMANDS:
        holder.command(name)(target)
    else:
        holder.add_typer(target, name=name)
    return typer.main.get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """The root group: eagerly registered commands first, then the lazy ones on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [*LAZY_COMMANDS, *LAZY_GROUPS]
        return lazy + [n for n in super().list_commands(ctx) if n not in lazy]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None:
            command = _load(cmd_name)
            if command is not None:
                self.commands[cmd_name] = command
        return command


app = typer.Typer(
    name="vesalius",
    help="Research imaging platform: archive, de-identify, search and publish medical images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vesalius {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    home: str = typer.Option(
        None, "--home", envvar="VESALIUS_HOME", help="Home folder (default ./vesalius-data)."
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    ctx.obj = CliState(home_arg=home)
