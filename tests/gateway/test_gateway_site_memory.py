"""A gateway home remembers its site code.

The code prefixes every research ID the site assigns and names the site to the central
archive, so a restart that forgets ``--site`` must not silently deliver as "no site",
and one that names another code must not start. A real central ``vesalius serve`` and
a real ``vesalius gateway`` process: started once with ``--site SA``, then again without
it; every object reaches the central attributed to SA, and ``gateway status`` shows the
site. Homes that ran a gateway before the code was remembered are covered in-process.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from gateway_world import PROJECT, Central, Corpus, Site, make_database, site_corpus, wait_for
from sqlalchemy import select
from test_gateway_sites import drop_files
from typer.testing import CliRunner

from vesalius.cli.main import app
from vesalius.core.config import Settings, load_settings
from vesalius.core.home import open_home
from vesalius.core.model import Project, Subject
from vesalius.deid.intake import DeidProject, set_site_prefix
from vesalius.gateway.site import remember_site

from conftest import Cli, token_for

__all__ = ["make_database"]

FAST = ["--batch", "10", "--retry-base", "0.2", "--retry-max", "1", "--settle", "0.3"]
KEY = b"site memory test key, 32 bytes.."


def gateway(site: Site, *args: str, env: dict[str, str] | None = None):
    """``vesalius gateway`` in-process (for starts that must be refused before running)."""
    return CliRunner().invoke(
        app,
        ["--home", str(site.home), "gateway", "--central", "http://127.0.0.1:9",
         "--project", PROJECT, "--token-file", str(site.token_file),
         "--watch", str(site.home.parent / "unused"), *args],
        env={"VESALIUS_DATABASE_URL": site.database_url, **(env or {})},
    )  # fmt: skip


def text(output: str) -> str:
    return " ".join(output.split())  # rich wraps long messages


def halves(corpus: Corpus) -> tuple[Corpus, Corpus]:
    items = list(corpus.objects.items())
    middle = len(items) // 2
    return Corpus(objects=dict(items[:middle])), Corpus(objects=dict(items[middle:]))


def test_a_restart_without_site_delivers_as_the_remembered_site(
    cli: Cli, settings: Settings, tmp_path: Path, make_database
) -> None:
    cli("init")
    cli("project", "create", PROJECT)  # gateway deliveries are re-checked and attributed
    cli("user", "create", "site-a", "--password-stdin", input="a-long-password-1\n")
    cli("grant", "site-a", PROJECT, "contributor")
    central = Central(settings.home, settings.database_url or "", tmp_path)
    central.start()
    site = Site.create(tmp_path, "a", make_database("a"), token_for(cli, "site-a"), key=KEY)
    watched = tmp_path / "incoming"
    watched.mkdir()
    first, second = halves(site_corpus(8))
    try:
        site.start(central.url, "--site", "SA", "--watch", str(watched), *FAST)
        drop_files(first, watched)
        wait_for(lambda: site.counts().get("delivered", 0) == 4, 60, "first deliveries")
        site.stop()
        # the operator forgets --site on the next start
        site.start(central.url, "--watch", str(watched), *FAST)
        drop_files(second, watched)
        wait_for(lambda: site.counts().get("delivered", 0) == 8, 60, "second deliveries")
    finally:
        site.stop()
        central.stop()

    # the central counts every object for SA; research IDs kept their form
    report = json.loads(cli("deliveries", "--project", PROJECT, "--json").stdout)
    assert [(s["site"], s["instances"]) for s in report["sites"]] == [("SA", 8)]
    assert "site SA remembered in" in site.logs()
    home = open_home(settings)
    try:
        with home.db.read() as session:
            subjects = sorted(session.scalars(select(Subject.subject_id)))
    finally:
        home.close()
    assert subjects == [f"SA-{PROJECT}-0001", f"SA-{PROJECT}-0002"]

    # status shows the site; the home's settings hold it
    status = site.status()
    assert status["site"] == "SA" and status["delivered"] == 8
    shown = CliRunner().invoke(
        app, ["--home", str(site.home), "gateway", "status"],
        env={"VESALIUS_DATABASE_URL": site.database_url},
    )  # fmt: skip
    assert shown.exit_code == 0 and "(site SA)" in text(shown.output)
    assert load_settings(site.home).site_code == "SA"

    # another code is refused, by option or environment, before anything runs
    for args, env in ((("--site", "SB"), None), ((), {"VESALIUS_SITE_CODE": "SB"})):
        refused = gateway(site, *args, env=env)
        assert refused.exit_code == 2, refused.output
        message = text(refused.output)
        assert "site 'SA'" in message and "'SB'" in message and "vesalius.toml" in message
    assert load_settings(site.home).site_code == "SA"


def test_a_home_that_ran_before_the_site_was_remembered(tmp_path: Path, make_database) -> None:
    site = Site.create(tmp_path, "old", make_database("old"), "token", key=KEY)
    # what an earlier gateway start with --site SA left behind: the prefixed template and
    # its audit record, but no site_code in the home's settings
    home = open_home(load_settings(site.home, database_url=site.database_url))
    try:
        with home.db.write() as session, session.begin():
            project = session.scalar(select(Project).where(Project.key == PROJECT))
            set_site_prefix(session, project=project, site="SA", actor="os:test")
            project_id = project.id
    finally:
        home.close()
    assert not (site.home / "vesalius.toml").exists()
    assert site.status()["site"] == "SA"

    refused = gateway(site, "--site", "SB")
    assert refused.exit_code == 2 and "site 'SA'" in text(refused.output)
    home = open_home(load_settings(site.home, database_url=site.database_url))
    try:
        with home.db.read() as session:
            template = session.get(DeidProject, project_id).subject_id_template
    finally:
        home.close()
    assert template == "SA-{project}-{seq:04d}"  # untouched by the refused start

    # a vesalius.toml copied from another site's home disagrees with the research IDs
    (site.home / "vesalius.toml").write_text('site_code = "SC"\n')
    confused = CliRunner().invoke(
        app, ["--home", str(site.home), "gateway", "status", "--json"],
        env={"VESALIUS_DATABASE_URL": site.database_url},
    )  # fmt: skip
    assert confused.exit_code == 1
    assert "'SC'" in text(confused.output) and "'SA'" in text(confused.output)


def test_remembering_keeps_the_operators_settings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = home / "vesalius.toml"
    config.write_text("# tuned by hand\nstable_seconds = 30\n")
    os.chmod(config, 0o640)
    settings = load_settings(home)
    assert remember_site(settings, "A01") is True
    assert remember_site(settings, "A01") is False  # once
    again = load_settings(home)
    assert (again.site_code, again.stable_seconds) == ("A01", 30)
    assert "# tuned by hand" in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert [p.name for p in home.iterdir()] == ["vesalius.toml"]  # no temporary file left
