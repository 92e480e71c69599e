"""The FastAPI application for one opened home."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse, Response

from vesalius import __version__
from vesalius.core.events import Subscribers, dispatch_pending
from vesalius.core.home import Home
from vesalius.core.storage import BlobStore
from vesalius.ingest.pipeline import drain
from vesalius.ingest.spool import Spool
from vesalius.ingest.stability import check_stability
from vesalius.studies import subscribe as subscribe_studies
from vesalius.studies.notify import run_notifications
from vesalius.studies.qc import subscribe as subscribe_qc
from vesalius.web import api, dicomweb, problems, ui

log = logging.getLogger("vesalius.http")


DISPATCH_BATCH = 200  # events per dispatch round
DISPATCH_SECONDS = 5.0  # longest run of back-to-back rounds before the next stability check


class EventLoop:
    """Background thread: stability checks and event delivery every few seconds."""

    def __init__(self, home: Home, subscribers: Subscribers) -> None:
        self.home = home
        self.subscribers = subscribers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vesalius-events", daemon=True)
        self._next_notify = time.monotonic()  # reminders: first run at start, then each interval

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_once(self) -> None:
        with self.home.db.write() as session, session.begin():
            check_stability(session, default_seconds=self.home.settings.stable_seconds)
        # Keep delivering while full batches come back (a backlog after a large ingest),
        # for a few seconds at most so that stability checks still run between rounds.
        started = time.monotonic()
        while (
            dispatch_pending(self.home.db.write, self.subscribers, batch=DISPATCH_BATCH)
            >= DISPATCH_BATCH
            and not self._stop.is_set()
            and time.monotonic() - started < DISPATCH_SECONDS
        ):
            pass
        self.notify_if_due()

    def notify_if_due(self) -> None:
        """Visit reminders and deviation notices, at most every ``notify_interval`` minutes
        (once per event across runs and nodes: see :mod:`vesalius.studies.notify`)."""
        minutes = self.home.settings.notify_interval
        if minutes <= 0 or time.monotonic() < self._next_notify:
            return
        self._next_notify = time.monotonic() + minutes * 60
        try:
            run_notifications(self.home.db.write, settings=self.home.settings)
        except Exception:  # the next run retries
            log.exception("notification run failed")

    def _run(self) -> None:
        while not self._stop.wait(self.home.settings.event_interval):
            try:
                self.run_once()
            except Exception:  # keep the loop alive; the next round retries
                log.exception("event round failed")


def default_subscribers(store: BlobStore | None = None) -> Subscribers:
    """The subscribers every node runs: each service area registers its own.

    ``store`` lets QC read pixels; without it only header checks run.
    """
    subscribers = Subscribers()
    subscribe_studies(subscribers)  # protocol adherence on series.stable / study.stable
    subscribe_qc(subscribers, store)  # automated QC on series.stable (after adherence)
    return subscribers


class Service(Protocol):
    """Something that runs beside the HTTP server (the DIMSE server, say)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(
    home: Home,
    *,
    background: bool = False,
    subscribers: Subscribers | None = None,
    services: Sequence[Service] = (),
) -> FastAPI:
    """The app; ``services`` start after the spool is drained and stop before the loop.

    Without ``subscribers`` the event loop runs :func:`default_subscribers`.
    """
    subscribers = subscribers if subscribers is not None else default_subscribers(home.store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = EventLoop(home, subscribers) if background else None
        if background:
            drained = drain(home.db, home.store, Spool.for_home(home.settings))
            if drained:
                log.info("finished %d objects left in the spool by an earlier run", drained)
            assert loop is not None
            loop.start()
        started: list[Service] = []
        try:
            for service in services:
                service.start()
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                service.stop()
            if loop is not None:
                loop.stop()

    app = FastAPI(
        title="vesalius",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.home = home
    app.state.subscribers = subscribers
    problems.install(app)
    app.include_router(api.router)
    app.include_router(dicomweb.router)
    ui.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/projects")

    origins = home.settings.allowed_origins
    if origins:
        # A viewer served from another origin sends its bearer token and Accept headers;
        # credentials (cookies) stay same-origin, so the UI's session cannot be used.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Accept", "Content-Type"],
            expose_headers=["Content-Type", "Content-Location", "Warning", "Location"],
            max_age=600,
        )

    @app.middleware("http")
    async def access_log(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response: Response = await call_next(request)
        # path only: query strings may carry patient names from searches
        log.info(
            "%s %s %d %.1fms",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    return app
