"""``vesalius serve``: the HTTP server (REST, web UI) and the background event loop."""

from __future__ import annotations

import logging

import typer
import uvicorn

from vesalius.cli.context import failures, state
from vesalius.web.app import create_app


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Listen address (default 127.0.0.1)."),
    http_port: int = typer.Option(None, "--http-port", help="HTTP port (default 8080)."),
) -> None:
    """Serve the REST API and web UI of this home."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with failures():
        st = state(ctx)
        home = st.home()
        app = create_app(home, background=True)
    settings = home.settings
    uvicorn.run(
        app,
        host=host or settings.host,
        port=http_port if http_port is not None else settings.http_port,
        access_log=False,  # our middleware logs paths without query strings (no PHI)
        log_level="info",
    )
