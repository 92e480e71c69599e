"""Server-rendered web UI (Jinja2) under /ui.

Modules: :mod:`.routes` (the pages), :mod:`.session` (sign-in cookie),
:mod:`.routing` (errors as HTML pages), :mod:`.templating` (Jinja environment, page
headers) and :mod:`.thumbnails` (series previews). Only our own stylesheet is served;
no third-party JavaScript or CSS.
"""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vesalius.web.ui.dashboard import router as dashboard_router
from vesalius.web.ui.routes import router
from vesalius.web.ui.templating import STATIC


def install(app: FastAPI) -> None:
    """Mount the UI routes and static files on ``app``.

    The static mount comes first: the router ends with a catch-all for unknown /ui
    paths (an HTML 404), which must not shadow the stylesheet. Routes added to the
    app under /ui after this call would be shadowed by it as well.
    """
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(dashboard_router)
    app.include_router(router)
