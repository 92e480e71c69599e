"""``vesalius serve``: the HTTP server (REST, web UI), the DIMSE server and the event loop."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
import uvicorn

from vesalius.cli.context import EXIT_FAILED, EXIT_USAGE, err, failures, state
from vesalius.web.app import create_app


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Listen address (default 127.0.0.1)."),
    http_port: int = typer.Option(None, "--http-port", help="HTTP port (default 8080)."),
    dicom_port: int = typer.Option(
        None, "--dicom-port", min=0, max=65535, help="DIMSE port (default 11112; 0: no DIMSE)."
    ),
    dicom_tls_cert: Path = typer.Option(
        None, "--dicom-tls-cert", help="PEM certificate: DIMSE over TLS (with --dicom-tls-key)."
    ),
    dicom_tls_key: Path = typer.Option(
        None, "--dicom-tls-key", help="PEM private key (a file of mode 0600)."
    ),
    dicom_tls_ca: Path = typer.Option(
        None,
        "--dicom-tls-ca",
        help="PEM CA certificate(s): DIMSE peers must present a certificate issued by it "
        "(mutual TLS; with --dicom-tls-cert/--dicom-tls-key).",
    ),
    tls_cert: Path = typer.Option(
        None, "--tls-cert", help="PEM certificate (chain): serve HTTPS (with --tls-key)."
    ),
    tls_key: Path = typer.Option(None, "--tls-key", help="PEM private key for HTTPS."),
) -> None:
    """Serve the REST API, web UI and DICOM (DIMSE) of this home."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if (dicom_tls_cert is None) != (dicom_tls_key is None):
        err.print("[red]error:[/red] --dicom-tls-cert and --dicom-tls-key go together")
        raise typer.Exit(EXIT_USAGE)
    if dicom_tls_ca is not None and dicom_tls_cert is None:
        err.print("[red]error:[/red] --dicom-tls-ca needs --dicom-tls-cert and --dicom-tls-key")
        raise typer.Exit(EXIT_USAGE)
    if (tls_cert is None) != (tls_key is None):
        err.print("[red]error:[/red] --tls-cert and --tls-key go together")
        raise typer.Exit(EXIT_USAGE)
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            err.print(f"[red]error:[/red] {path}: no such file")
            raise typer.Exit(EXIT_USAGE)
    from vesalius.dimse import DimseServer, server_context  # pynetdicom only for serve

    with failures():
        st = state(ctx)
        home = st.home()
        settings = home.settings
        listen = host or settings.host
        port = dicom_port if dicom_port is not None else settings.dicom_port
        services = []
        if port:
            ssl_context = None
            if dicom_tls_cert is not None and dicom_tls_key is not None:
                ssl_context = server_context(dicom_tls_cert, dicom_tls_key, ca=dicom_tls_ca)
            dimse = DimseServer(home, host=listen, port=port, ssl_context=ssl_context)
            dimse.check_address()
            services.append(dimse)
        app = create_app(home, background=True, services=services)
    try:
        uvicorn.run(
            app,
            host=listen,
            port=http_port if http_port is not None else settings.http_port,
            access_log=False,  # our middleware logs paths without query strings (no PHI)
            log_level="info",
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
    except SystemExit as exc:  # uvicorn exits 3 when start-up fails; 3 means other things here
        if exc.code not in (0, None):
            raise typer.Exit(EXIT_FAILED) from None
        raise
