"""Server-rendered web UI (Jinja2) under /ui."""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the UI routes and static files on ``app``."""
