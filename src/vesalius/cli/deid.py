"""``vesalius deid``: de-identify files, folders and zip archives into a folder."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vesalius.cli.context import EXIT_PARTIAL, err, failures, operator, print_json, state
from vesalius.core.errors import InvalidInput
from vesalius.deid.batch import BatchReport, BatchSpec, run_batch
from vesalius.deid.keys import project_key, read_key_file
from vesalius.deid.profile import Option, Profile
from vesalius.deid.runs import record_run, require_project
from vesalius.ingest.sources import Item, expand, read_item

out = Console()
deid_app = typer.Typer(
    help="De-identify DICOM objects (PS3.15 Annex E) with a project's key.",
    no_args_is_help=True,
)
_zips: dict[str, zipfile.ZipFile] = {}


def _read(item: Item) -> bytes:
    """Read one input (module level: worker processes receive it by reference)."""
    return read_item(item, _zips)


def _origin(item: Item) -> str:
    return item.origin


def _write_report(path: Path, report: BatchReport) -> None:
    """The report names inputs (paths may say who a patient is): owner-only, like secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(report.to_dict(), handle, indent=2)
        handle.write("\n")


@deid_app.command("run")
def deid_run(
    ctx: typer.Context,
    source: Path = typer.Argument(
        ..., metavar="INPUT", help="A file, folder, .zip archive or DICOMDIR."
    ),
    output: Path = typer.Argument(
        ..., metavar="OUTPUT", help="Folder for the de-identified copies."
    ),
    key_file: Path = typer.Option(
        None, "--key-file", help="File holding the key (mode 0600; group/others: refused)."
    ),
    project: str = typer.Option(None, "--project", "-p", help="Use this project's key."),
    options: list[str] = typer.Option(
        None,
        "--option",
        "-o",
        help="A PS3.15 option, repeatable: "
        + ", ".join(o.value for o in Option if o.value != "basic"),
    ),
    profile_file: Path = typer.Option(None, "--profile", help="Profile TOML (options, overrides)."),
    report_file: Path = typer.Option(None, "--report", help="Write the full report as JSON."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    workers: int = typer.Option(None, help="Worker processes (default: one per core)."),
) -> None:
    """De-identify objects into OUTPUT/<study>/<series>/<sop>.dcm; exit 3 if some were withheld."""
    with failures():
        if (key_file is None) == (project is None):
            raise InvalidInput("give exactly one of --key-file and --project")
        profile = Profile.load(profile_file) if profile_file else Profile()
        profile = profile.with_options(options or [])
        if source.is_dir() and output.resolve().is_relative_to(source.resolve()):
            raise InvalidInput("OUTPUT must not be inside the input folder")
        cli = state(ctx)
        settings = cli.settings
        if project is not None:
            home = cli.home()
            with home.db.read() as session:
                require_project(session, project=project)
            key = project_key(settings, project)
        else:
            key = read_key_file(key_file)
        items = list(expand([source]))
        spec = BatchSpec(profile, key, settings.tcia_private_tags_path)
        columns = (
            TextColumn("de-identifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        show = not as_json and err.is_terminal
        with Progress(*columns, console=err, disable=not show, transient=True) as bar:
            task = bar.add_task("deid", total=len(items))
            report = run_batch(
                items,
                read=_read,
                origin=_origin,
                output=output,
                spec=spec,
                workers=settings.import_workers if workers is None else workers,
                progress=lambda n: bar.advance(task, n),
            )
        if project is not None:
            with cli.home().db.write() as session, session.begin():
                record_run(session, project=project, actor=operator(), summary=report.summary())
        if report_file is not None:
            _write_report(report_file, report)
    summary = report.summary()
    if as_json:
        print_json(summary)
    else:
        table = Table(*(k.replace("_", " ") for k in summary))
        table.add_row(*(str(v) for v in summary.values()))
        out.print(table)
        for item in report.withheld_items:
            out.print(f"withheld: {item['origin']}: {item['reason']}", highlight=False)
    if report.withheld:
        raise typer.Exit(EXIT_PARTIAL)
