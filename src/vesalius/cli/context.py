"""What every command shares: the settings, the opened home, the operator's name,
and the mapping of vesalius errors to exit codes (DESIGN.md CLI contract)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from vesalius.core.config import Settings, load_settings
from vesalius.core.errors import InvalidInput, VesaliusError

if TYPE_CHECKING:  # the database layer is imported only by commands that open the home
    from rich.console import Console

    from vesalius.core.home import Home

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class LazyConsole:
    """A rich ``Console`` made (and rich imported) on first use, so that a command that
    prints nothing through it (``deid run --json``) starts without rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


err = LazyConsole(stderr=True)


@dataclass
class CliState:
    home_arg: str | None = None
    _settings: Settings | None = None
    _home: Home | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.home_arg)
        return self._settings

    def home(self, *, create: bool = False) -> Home:
        if self._home is None:
            from vesalius.core.home import open_home

            self._home = open_home(self.settings, create=create)
        return self._home


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def operator() -> str:
    """The CLI acts as the operator of the home and is audited under the OS user name."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return "os:unknown"


@contextmanager
def failures() -> Iterator[None]:
    """Turn vesalius errors into a one-line message and the contract's exit code."""
    try:
        yield
    except VesaliusError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE if isinstance(exc, InvalidInput) else EXIT_FAILED) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
