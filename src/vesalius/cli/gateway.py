"""``vesalius gateway``: a site node that de-identifies and delivers to the central archive.

The node is a vesalius home of its own (``--home``) with a ``--deid`` project: objects
arrive by C-STORE (the DIMSE server of ``serve``, on ``--dicom-port``) or in a watched
folder (``--watch``), are de-identified with the local project's profile, key and vault
on the way in, and the delivery worker sends them by STOW-RS to the central archive's
project of the same key. ``vesalius gateway status`` reads the outbox of that home. The
site code (``--site``) is remembered by the home at the first start
(:mod:`vesalius.gateway.site`): later starts keep it, and another code is refused.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from vesalius.cli.context import EXIT_USAGE, err, failures, operator, print_json, state
from vesalius.core.errors import ConfigError, InvalidInput
from vesalius.core.home import Home
from vesalius.core.model import Project

out = Console()
log = logging.getLogger("vesalius.gateway")
gateway_app = typer.Typer(
    help="Site gateway: receive, de-identify, deliver to a central archive by STOW-RS.",
)


def _project(home: Home, key: str | None) -> Project:
    """The named project, or the home's only de-identifying project."""
    with home.db.read() as session:
        if key is not None:
            project = session.scalar(select(Project).where(Project.key == key))
            if project is None:
                raise InvalidInput(f"no project {key!r} in this gateway's home")
            return project
        candidates = list(session.scalars(select(Project).where(Project.deid_profile.is_not(None))))
    if len(candidates) != 1:
        raise InvalidInput("name the gateway's project with --project")
    return candidates[0]


@gateway_app.callback(invoke_without_command=True)
def gateway(
    ctx: typer.Context,
    central: str = typer.Option(None, "--central", help="Central archive URL (https://…)."),
    project: str = typer.Option(
        None, "--project", help="Project key: the local --deid project and the central one."
    ),
    token_file: Path = typer.Option(
        None, "--token-file", help="File (mode 0600) with a bearer token of the central archive."
    ),
    dicom_port: int = typer.Option(
        None, "--dicom-port", min=1, max=65535, help="Receive C-STORE on this port."
    ),
    watch: Path = typer.Option(None, "--watch", help="Take DICOM files dropped in this folder."),
    ca_file: Path = typer.Option(
        None, "--ca-file", help="PEM CA certificates that sign the central's (private CA)."
    ),
    site: str = typer.Option(
        None,
        "--site",
        help="Site code put in front of research IDs (or VESALIUS_SITE_CODE); remembered by "
        "the home at the first start, and a different one is refused later.",
    ),
    host: str = typer.Option(None, "--host", help="DIMSE listen address (default 127.0.0.1)."),
    batch: int = typer.Option(50, "--batch", min=1, max=1000, help="Objects per STOW-RS request."),
    retry_base: float = typer.Option(
        2.0, "--retry-base", min=0.01, help="First retry delay (seconds); doubles each time."
    ),
    retry_max: float = typer.Option(300.0, "--retry-max", min=0.01, help="Longest retry delay."),
    settle: float = typer.Option(
        2.0, "--settle", min=0.0, help="Seconds a watched file must stay unchanged."
    ),
) -> None:
    """Run a site gateway (or see `vesalius gateway status`)."""
    if ctx.invoked_subcommand is not None:
        return
    needed = {"--central": central, "--project": project, "--token-file": token_file}
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        err.print(f"[red]error:[/red] {', '.join(missing)} needed to run a gateway")
        raise typer.Exit(EXIT_USAGE)
    if dicom_port is None and watch is None:
        err.print("[red]error:[/red] give --dicom-port, --watch or both")
        raise typer.Exit(EXIT_USAGE)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    # the intake chain (pydicom, the de-identification engine) only when a node runs
    from vesalius.deid.intake import set_site_prefix
    from vesalius.deid.subjects import validate_site
    from vesalius.gateway import DeliveryWorker, HttpStowTransport, RetryPolicy
    from vesalius.gateway.site import check_site, config_path, remember_site, remembered_site
    from vesalius.gateway.transport import read_token
    from vesalius.gateway.watch import FolderWatcher
    from vesalius.ingest.pipeline import drain
    from vesalius.ingest.spool import Spool

    with failures():
        token = read_token(token_file)
        home = state(ctx).home()
        site = site or home.settings.site_code
        local = _project(home, project)
        if not local.deid_profile:
            raise ConfigError(
                f"the gateway's project {project!r} must de-identify at intake "
                f"(vesalius project create {project} --deid)"
            )
        if site is not None:
            validate_site(site)
        # the home remembers its site: a start without --site keeps it, another is refused
        with home.db.read() as session:
            remembered = remembered_site(session, settings=home.settings, project=local)
        site = check_site(remembered, site, settings=home.settings)
        if site is not None:
            with home.db.write() as session, session.begin():
                row = session.get(Project, local.id)
                assert row is not None
                template = set_site_prefix(session, project=row, site=site, actor=operator())
            log.info("research IDs from template %s", template)
            if remember_site(home.settings, site):
                log.info("site %s remembered in %s", site, config_path(home.settings))
        if central.startswith("http://"):
            log.warning("the central archive is plain HTTP: use https:// outside a test bench")
        transport = HttpStowTransport(central, local.key, token, ca_file=ca_file, site=site)
        worker = DeliveryWorker(
            home,
            project=local.key,
            transport=transport,
            policy=RetryPolicy(base=retry_base, maximum=retry_max),
            batch_objects=batch,
        )
        drained = drain(home.db, home.store, Spool.for_home(home.settings))
        if drained:
            log.info("finished %d objects left in the spool by an earlier run", drained)
        services: list = []
        if dicom_port is not None:
            from vesalius.dimse import DimseServer  # pynetdicom only when receiving

            dimse = DimseServer(home, host=host or home.settings.host, port=dicom_port)
            dimse.check_address()
            dimse.start()
            services.append(dimse)
        if watch is not None:
            watcher = FolderWatcher(home, watch, local.key, settle=settle)
            watcher.start()
            services.append(watcher)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping (signal %d)", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info(
        "gateway for project %s delivering to %s%s%s",
        local.key,
        transport.url,
        f"; DICOM on port {dicom_port} (AE title {local.ae_title})" if dicom_port else "",
        f"; watching {watch}" if watch else "",
    )
    try:
        worker.run()
    finally:
        for service in reversed(services):
            service.stop()
        transport.close()
        log.info("gateway stopped")


@gateway_app.command("status")
def status(
    ctx: typer.Context,
    project: str = typer.Option(None, "--project", help="Project key (default: the only one)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The site this gateway delivers as, and objects queued, in flight, delivered and
    failed, in total and per study."""
    from vesalius.gateway.site import remembered_site
    from vesalius.gateway.status import gateway_status

    with failures():
        home = state(ctx).home()
        local = _project(home, project)
        with home.db.read() as session:
            site = remembered_site(session, settings=home.settings, project=local)
            data = gateway_status(session, project=local.key, site=site)
    if as_json:
        print_json(data)
        return
    out.print(
        f"project {data['project']} (site {data['site'] or 'none'}): {data['delivered']} "
        f"delivered, {data['queued']} queued, {data['in_flight']} in flight, "
        f"{data['failed']} failed"
    )
    if data["studies"]:
        table = Table("study", "queued", "in flight", "delivered", "failed", "last delivered")
        for s in data["studies"]:
            table.add_row(
                s["study_uid"],
                str(s["queued"]),
                str(s["in_flight"]),
                str(s["delivered"]),
                str(s["failed"]),
                s["last_delivered_at"] or "",
            )
        out.print(table)
    for r in data["retrying"]:
        out.print(f"retrying {r['objects']}: {r['reason']} (next {r['next_attempt_at']})")
    for f in data["failed_objects"]:
        out.print(f"[red]failed[/red] {f['sop_uid']}: {f['reason']}", highlight=False)


@gateway_app.command("retry")
def retry(
    ctx: typer.Context,
    project: str = typer.Option(None, "--project", help="Project key (default: the only one)."),
    sop_uid: list[str] = typer.Option(None, "--sop-uid", help="Only these objects."),
) -> None:
    """Queue failed (refused) objects again, once the cause was fixed at the central side."""
    from vesalius.gateway.outbox import requeue_failed

    with failures():
        home = state(ctx).home()
        local = _project(home, project)
        with home.db.write() as session, session.begin():
            count = requeue_failed(session, project_id=local.id, sop_uids=sop_uid or ())
    out.print(f"{count} objects queued again")
