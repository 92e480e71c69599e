"""Study management commands: ``protocol load|show|versions`` and ``adherence``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vesalius.cli.context import err, failures, operator, print_json, state
from vesalius.core.errors import InvalidInput
from vesalius.studies import adherence, protocols, results

protocol_app = typer.Typer(help="Study protocols (versioned YAML files).", no_args_is_help=True)


def _console() -> Any:
    from rich.console import Console

    return Console()


@protocol_app.command("load")
def protocol_load(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The protocol file (YAML)."),
    project: str = typer.Option(..., "--project", "-p", help="Project key."),
    recheck: bool = typer.Option(
        False, "--recheck", help="Check every stable study again with the new version."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Validate a protocol file and store it as the project's next version."""
    with failures():
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{file}: cannot read: {exc}") from exc
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            project_row = protocols.project_by_key(session, project)
            loaded = protocols.load_protocol(
                session, project=project_row, text=text, actor=operator(), source=str(file)
            )
            checked = adherence.recheck_project(session, project=project_row) if recheck else 0
    if as_json:
        print_json({**loaded.to_dict(), "rechecked": checked})
        return
    protocol = loaded.protocol
    _console().print(
        f"protocol {loaded.name or '(unnamed)'!r} loaded as version {loaded.version} of "
        f"{project}: {len(protocol.sites)} sites, {len(protocol.devices)} devices, "
        f"{len(protocol.visits)} visits"
        + (f"; {checked} studies checked again" if recheck else ""),
        highlight=False,
        soft_wrap=True,
    )


@protocol_app.command("show")
def protocol_show(
    ctx: typer.Context,
    project: str = typer.Option(..., "--project", "-p", help="Project key."),
    version: int = typer.Option(None, "--version", min=1, help="A version (default latest)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a protocol version: the file as loaded, or its validated content as JSON."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            project_row = protocols.project_by_key(session, project)
            shown = protocols.protocol_version(session, project=project_row, version=version)
            versions = protocols.list_versions(session, project=project_row)
    if shown is None:
        err.print(f"project {project!r} has no protocol yet (vesalius protocol load)")
        raise typer.Exit(1)
    if as_json:
        print_json({**shown.to_dict(source=True), "versions": versions})
        return
    console = _console()
    console.print(
        f"# version {shown.version} of {len(versions)}, loaded {shown.loaded_at[:19]} "
        f"by {shown.loaded_by}, sha256 {shown.digest[:12]}",
        highlight=False,
    )
    typer.echo(shown.source.rstrip("\n"))


def adherence_(
    ctx: typer.Context,
    project: str = typer.Option(..., "--project", "-p", help="Project key."),
    as_json: bool = typer.Option(False, "--json"),
    status: str = typer.Option(None, help="Only studies with this status (ok, deviations …)."),
    recheck: bool = typer.Option(
        False, "--recheck", help="Check every stable study again with the latest protocol."
    ),
    limit: int = typer.Option(1000, min=1, max=results.MAX_LIMIT),
    offset: int = typer.Option(0, min=0),
) -> None:
    """Protocol adherence per study and series: violations, missing series, flags."""
    with failures():
        home = state(ctx).home()
        if recheck:
            with home.db.write() as session, session.begin():
                adherence.recheck_project(
                    session, project=protocols.project_by_key(session, project)
                )
        with home.db.read() as session:
            project_row = protocols.project_by_key(session, project)
            data = results.summary(session, project=project_row, limit=limit, offset=offset)
            if status:
                data["items"], data["total"] = results.list_results(
                    session, project=project_row, status=status, limit=limit, offset=offset
                )
    if as_json:
        print_json(data)
        return
    _print_summary(data)


def _print_summary(data: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    if data["protocol_version"] is None:
        console.print(f"project {data['project']!r} has no protocol (vesalius protocol load)")
        return
    devices = Table("device", "site", "qualified", "by")
    for d in data["devices"]:
        devices.add_row(
            d["key"], d["site"] or "", "yes" if d["qualified"] else "NO", d["qualified_by"] or ""
        )
    console.print(devices)
    for item in data["items"]:
        console.print(
            f"{item['subject_id']} {item['study_date']} visit {item['visit'] or '-'} "
            f"device {item['device'] or '-'}: {item['status']}  {item['study_uid']}",
            highlight=False,
            soft_wrap=True,
        )
        for finding in _findings(item):
            console.print(f"  - {finding}", highlight=False, soft_wrap=True)
    console.print(
        f"{data['total']} studies checked against protocol version {data['protocol_version']}"
    )


def _findings(item: dict[str, Any]) -> list[str]:
    findings = []
    for s in item["series"]:
        label = s["expected"] or s["description"] or s["series_uid"]
        if s["status"] == "unexpected":
            findings.append(f"unexpected series {label!r}")
        for v in s["violations"]:
            findings.append(
                f"{label}: {v['attribute']} is {v['actual']!r}, expected {v['expected']}"
            )
    findings += [f"missing {m['series']}" for m in item["missing"]]
    findings += [
        f"{f['flag']}: expected {f.get('expected')!r}, actual {f.get('actual')!r}"
        for f in item["flags"]
    ]
    return findings
