"""``vesalius`` entry point: the global ``--home`` option and the command tree."""

from __future__ import annotations

import typer

from vesalius import __version__
from vesalius.cli import admin, broker, data, deid, network, serve
from vesalius.cli.context import CliState

app = typer.Typer(
    name="vesalius",
    help="Research imaging platform: archive, de-identify, search and publish medical images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
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


app.command("init")(admin.init)
app.command("grant")(admin.grant)
app.command("serve")(serve.serve)
app.command("import")(data.import_)
app.command("demo")(data.demo_)
app.add_typer(admin.project_app, name="project")
app.add_typer(admin.user_app, name="user")
app.add_typer(admin.token_app, name="token")
app.add_typer(admin.config_app, name="config")
app.add_typer(data.quarantine_app, name="quarantine")
app.add_typer(data.events_app, name="events")
app.add_typer(network.modality_app, name="modality")
app.add_typer(deid.deid_app, name="deid")
app.add_typer(broker.broker_app, name="broker")
