"""``vesalius deid run``: folders and zips in, de-identified copies out, exit codes, keys."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest
from deid_corpus import build_corpus, oracle_leaks, read
from sqlalchemy import select

from vesalius.core.audit import AuditEvent
from vesalius.core.config import Settings
from vesalius.core.home import open_home

from conftest import Cli


@pytest.fixture(scope="module")
def corpus():
    return build_corpus()


AT_RISK = ("b-us", "a-study1-sc")  # withheld without clean-pixel-data


def write_inputs(folder: Path, corpus) -> Path:
    folder.mkdir(parents=True)
    for name, data in corpus.objects.items():
        (folder / f"{name}.dcm").write_bytes(data)
    (folder / "notes.txt").write_text("Müller's scans, see PID-778899")  # not DICOM
    return folder


def write_key(path: Path, mode: int = 0o600) -> Path:
    path.write_text("0123456789abcdef0123456789abcdef\n")
    path.chmod(mode)
    return path


def said(result) -> str:
    """stderr without rich's line wrapping."""
    return " ".join(result.stderr.split())


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*.dcm")}


def test_run_with_a_key_file(cli: Cli, corpus, tmp_path: Path) -> None:
    source = write_inputs(tmp_path / "in", corpus)
    key = write_key(tmp_path / "key")
    report_path = tmp_path / "report.json"
    options = ["-o", "clean-descriptors", "-o", "retain-longitudinal-modified-dates"]
    result = cli(
        "deid", "run", str(source), str(tmp_path / "out"), "--key-file", str(key),
        *options, "--report", str(report_path), "--json", "--workers", "1", expect=3,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    assert (summary["written"], summary["withheld"], summary["skipped"]) == (6, 3, 0)
    report = json.loads(report_path.read_text())
    assert stat.S_IMODE(report_path.stat().st_mode) == 0o600
    withheld = {Path(i["origin"]).name: i["reason"] for i in report["withheld_items"]}
    assert set(withheld) == {"b-us.dcm", "a-study1-sc.dcm", "notes.txt"}
    assert "Burned In Annotation" in withheld["b-us.dcm"]
    assert "at risk of burned-in text (secondary capture)" in withheld["a-study1-sc.dcm"]
    written = outputs(tmp_path / "out")
    assert set(written) == {o["output"] for o in report["objects"]}
    for entry in report["objects"]:
        study, series, name = entry["output"].split("/")
        ds = read(written[entry["output"]])
        assert (study, series, name) == (
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            f"{ds.SOPInstanceUID}.dcm",
        )
        assert oracle_leaks(written[entry["output"]], corpus.planted) == set()
    assert report["profile"]["options"] == [
        "basic",
        "clean-descriptors",
        "retain-longitudinal-modified-dates",
    ]

    again = tmp_path / "again"  # in parallel this time: the same bytes
    cli("deid", "run", str(source), str(again), "--key-file", str(key), *options,
        "--workers", "2", expect=3)  # fmt: skip
    assert outputs(again) == written


def test_zip_input_gives_the_same_output_as_the_folder(cli: Cli, corpus, tmp_path: Path) -> None:
    key = write_key(tmp_path / "key")
    archive = tmp_path / "scans.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for name, data in corpus.objects.items():
            if name not in AT_RISK:
                handle.writestr(f"export/{name}.dcm", data)
    cli("deid", "run", str(archive), str(tmp_path / "from-zip"), "--key-file", str(key))
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in corpus.objects.items():
        if name not in AT_RISK:
            (folder / f"{name}.dcm").write_bytes(data)
    cli("deid", "run", str(folder), str(tmp_path / "from-folder"), "--key-file", str(key))
    assert outputs(tmp_path / "from-zip") == outputs(tmp_path / "from-folder")
    assert len(outputs(tmp_path / "from-zip")) == 6


def test_usage_errors(cli: Cli, corpus, tmp_path: Path) -> None:
    source = write_inputs(tmp_path / "in", corpus)
    out = str(tmp_path / "out")
    loose = write_key(tmp_path / "loose", 0o640)
    result = cli("deid", "run", str(source), out, "--key-file", str(loose), expect=2)
    assert "read by others" in said(result) and "chmod 600" in said(result)
    short = tmp_path / "short"
    short.write_text("tiny")
    short.chmod(0o600)
    assert "at least 16 bytes" in said(cli("deid", "run", str(source), out, "--key-file",
                                           str(short), expect=2))  # fmt: skip
    key = str(write_key(tmp_path / "key"))
    assert "exactly one of" in said(cli("deid", "run", str(source), out, expect=2))
    cli("deid", "run", str(source), out, "--key-file", key, "--project", "p", expect=2)
    cli("deid", "run", str(source), out, "--key-file", key, "-o", "retain-all", expect=2)
    cli("deid", "run", str(source), str(source / "sub"), "--key-file", key, expect=2)
    cli("deid", "run", str(tmp_path / "missing"), out, "--key-file", key, expect=2)
    assert not (tmp_path / "out").exists() or not outputs(tmp_path / "out")


def test_profile_file(cli: Cli, corpus, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "ct.dcm").write_bytes(corpus.objects["a-study1-ct0"])
    profile = tmp_path / "profile.toml"
    profile.write_text(
        'options = ["clean-descriptors"]\n'
        '[[overrides]]\nkeyword = "InstitutionName"\naction = "replace"\nvalue = "Site 7"\n'
    )
    key = write_key(tmp_path / "key")
    cli("deid", "run", str(source), str(tmp_path / "out"), "--key-file", str(key),
        "--profile", str(profile), "-o", "retain-safe-private")  # fmt: skip
    (written,) = outputs(tmp_path / "out").values()
    ds = read(written)
    assert ds.InstitutionName == "Site 7"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == [
        "113100",
        "113105",
        "113111",
    ]


def test_project_keys_are_created_once_and_runs_audited(
    cli: Cli, corpus, tmp_path: Path, settings: Settings
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "ct.dcm").write_bytes(corpus.objects["a-study1-ct0"])
    cli("init")
    assert "no project" in said(cli("deid", "run", str(source), str(tmp_path / "x"),
                                    "--project", "nope", expect=1))  # fmt: skip
    assert not (settings.secrets_dir / "projects" / "nope.key").exists()
    cli("project", "create", "trial")
    cli("deid", "run", str(source), str(tmp_path / "one"), "--project", "trial")
    key = settings.secrets_dir / "projects" / "trial.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    first = key.read_bytes()
    cli("deid", "run", str(source), str(tmp_path / "two"), "--project", "trial")
    assert key.read_bytes() == first
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")

    cli("project", "create", "other")
    cli("deid", "run", str(source), str(tmp_path / "three"), "--project", "other")
    assert set(outputs(tmp_path / "three")).isdisjoint(outputs(tmp_path / "one"))

    home = open_home(settings)
    try:
        with home.db.read() as session:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "deid.run").order_by(AuditEvent.id)
            ).all()
    finally:
        home.close()
    assert [e.target for e in events] == ["project:trial", "project:trial", "project:other"]
    assert events[0].actor.startswith("os:") and events[0].detail["written"] == 1
    assert "Müller" not in json.dumps([e.detail for e in events])
