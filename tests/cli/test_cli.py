"""The CLI contract: global --home, exit codes 0/1/2/3, --json listings, token output."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from vesalius.core.config import Settings
from vesalius.core.dicom.synthetic import StudySpec, make_study

from conftest import Cli


def write_files(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = StudySpec("C1", "Cli^Test", dt.date(2023, 3, 3))
    for ds in make_study(spec, [("MR", "T2", n)], seed=str(folder)):
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    return folder


def test_init_creates_a_private_home_with_an_admin(cli: Cli, settings: Settings) -> None:
    result = cli("init")
    assert "vesalius token create admin" in result.stdout
    assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
    secret = settings.secrets_dir / "admin-password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 12
    assert "exists already" in cli("init").stdout  # again: harmless
    users = json.loads(cli("user", "list", "--json").stdout)
    assert users == [{"name": "admin", "admin": True, "active": True}]


def test_token_create_prints_only_the_token(cli: Cli) -> None:
    cli("init")
    out = cli("token", "create", "admin").stdout
    assert out.count("\n") == 1 and out.startswith("vsl_") and " " not in out.strip()


def test_exit_codes(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("project", "create", "p1")
    folder = write_files(tmp_path / "in")
    result = cli("import", "-p", "p1", str(folder), "--json")
    assert json.loads(result.stdout)["stored"] == 2
    (folder / "junk.txt").write_text("not dicom")
    partial = cli("import", "-p", "p1", str(folder), "--json", expect=3)
    summary = json.loads(partial.stdout)
    assert (summary["duplicates"], summary["quarantined"]) == (2, 1)
    assert "could not" not in partial.stderr
    assert cli("import", "-p", "nope", str(folder), expect=1).stderr.startswith("error:")
    assert "no such file" in cli("import", "-p", "p1", str(tmp_path / "missing"), expect=2).stderr
    cli("import", str(folder), expect=2)  # --project missing: usage error
    cli("project", "create", "p1", expect=1)  # exists
    cli("project", "create", "bad key!", expect=2)
    cli("grant", "admin", "p1", "emperor", expect=2)


def test_quarantine_and_project_listings_as_json(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("project", "create", "p1", "--name", "Project one")
    (tmp_path / "x.txt").write_text("hello")
    cli("import", "-p", "p1", str(tmp_path / "x.txt"), expect=3)
    items = json.loads(cli("quarantine", "list", "--json").stdout)
    assert items["total"] == 1 and "not a DICOM object" in items["items"][0]["reason"]
    projects = json.loads(cli("project", "list", "--json").stdout)
    assert [(p["key"], p["name"], p["ae_title"]) for p in projects] == [("p1", "Project one", "P1")]


def test_commands_need_an_initialised_home(cli: Cli) -> None:
    result = cli("project", "list", expect=1)
    assert "vesalius init" in result.stderr


def test_global_home_option_overrides_environment(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESALIUS_")}
    subprocess.run(
        [sys.executable, "-m", "vesalius", "--home", str(other), "init"],
        env=env,
        check=True,
        capture_output=True,
    )
    assert (other / "vesalius.db").exists()


def test_config_show_json(cli: Cli, settings: Settings) -> None:
    view = json.loads(cli("config", "show", "--json").stdout)
    assert view["home"] == str(settings.home)
    assert view["storage_url"] == str(settings.home / "objects")


def test_demo_loads_once(cli: Cli) -> None:
    cli("init")
    first = cli("demo").stdout
    assert "demo project 'demo'" in first
    second = cli("demo").stdout
    assert " 0 new" in second
    projects = json.loads(cli("project", "list", "--json").stdout)
    assert projects[0]["key"] == "demo" and projects[0]["study_count"] == 8
