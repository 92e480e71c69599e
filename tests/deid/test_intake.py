"""De-identification at intake (``project create --deid``): nothing identified is stored.

The planted-identifier corpus goes in through ``vesalius import`` (and the spool, as
C-STORE and STOW-RS use it); the tests' own oracle then searches the raw bytes of every
file of the home (objects, spool, SQLite database and WAL) and the indexed rows for
every planted value.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from deid_corpus import INTERVAL_DAYS, KEY, Corpus, _encodings, build_corpus, oracle_leaks, read
from sqlalchemy import select

from vesalius.core.config import Settings
from vesalius.core.home import open_home
from vesalius.core.model import Instance, Project, Study, Subject
from vesalius.core.sealing import MasterKey
from vesalius.ingest.context import IntakeContext, Outcome
from vesalius.ingest.deidentify import unseal_rejected
from vesalius.ingest.pipeline import receive
from vesalius.ingest.quarantine import QuarantineItem
from vesalius.ingest.spool import Spool

from conftest import Cli

NO_PIXEL_CLEANING = """
options = ["retain-longitudinal-modified-dates", "clean-descriptors"]
subject_id_template = "S{seq:03d}"
"""


def fixed_key(settings: Settings, project: str, key: bytes = KEY) -> None:
    """The corpus's key for ``project``: with a random one, a shifted date could happen to
    equal another patient's true (planted) date, which the oracle would count as a leak."""
    path = settings.secrets_dir / "projects" / f"{project}.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, key)
    os.close(fd)


def write(corpus: Corpus, folder: Path, names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or list(corpus.objects):
        (folder / f"{name}.dcm").write_bytes(corpus.objects[name])
    return folder


def leaks_in_bytes(data: bytes, planted: tuple[str, ...]) -> set[str]:
    return {v for v in planted if any(e in data for e in _encodings(v))}


def leaks_in_home(settings: Settings, planted: tuple[str, ...]) -> dict[str, set[str]]:
    found = {}
    for root, _, files in os.walk(settings.home):
        for name in files:
            path = Path(root) / name
            hits = leaks_in_bytes(path.read_bytes(), planted)
            if hits:
                found[str(path)] = hits
    return found


def leaks_in_index(settings: Settings, planted: tuple[str, ...]) -> set[str]:
    home = open_home(settings)
    try:
        with home.db.read() as session:
            rows = [json.dumps(i.dicom_json) for i in session.scalars(select(Instance))]
            rows += [f"{s.subject_id} {s.patient_name}" for s in session.scalars(select(Subject))]
            rows += [json.dumps(q.origin) for q in session.scalars(select(QuarantineItem))]
    finally:
        home.close()
    return leaks_in_bytes("\n".join(rows).encode(), planted)


def test_import_stores_no_planted_identifier(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid")
    folder = write(corpus, tmp_path / "in")
    summary = json.loads(cli("import", "-p", "dx", str(folder), "--json").stdout)
    assert summary["stored"] == len(corpus.objects) and summary["quarantined"] == 0
    assert leaks_in_home(settings, corpus.planted) == {}
    assert leaks_in_index(settings, corpus.planted) == set()
    home = open_home(settings)
    try:
        with home.db.read() as session:
            subjects = sorted(
                (s.subject_id, s.patient_name) for s in session.scalars(select(Subject))
            )
            assert subjects == [("dx-0001", "dx-0001"), ("dx-0002", "dx-0002")]
            blobs = [home.store.get(i.blob_hash) for i in session.scalars(select(Instance))]
    finally:
        home.close()
    for blob in blobs:
        assert oracle_leaks(blob, corpus.planted) == set()
        assert str(read(blob).PatientIdentityRemoved) == "YES"
    # deterministic: the same objects again are duplicates, not new versions
    again = json.loads(cli("import", "-p", "dx", str(folder), "--json").stdout)
    assert again["duplicates"] == len(corpus.objects) and again["new_versions"] == 0


def test_one_research_id_per_patient_across_imports_another_in_another_project(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid")
    cli("project", "create", "dy", "--deid", "--subject-id-template", "Y{seq:05d}")
    first = write(corpus, tmp_path / "1", ["b-ct-aged", "a-study1-ct0"])
    second = write(corpus, tmp_path / "2", ["a-study2-ct0"])
    cli("import", "-p", "dx", str(first), "--json")
    cli("import", "-p", "dx", str(second), "--json")
    cli("import", "-p", "dy", str(second), "--json")
    home = open_home(settings)
    try:
        with home.db.read() as session:
            rows = session.execute(
                select(Project.key, Subject.subject_id, Study.study_date, Study.study_uid)
                .join(Subject, Subject.id == Study.subject_pk)
                .join(Project, Project.id == Study.project_id)
                .order_by(Project.key, Study.study_date)
            ).all()
    finally:
        home.close()
    dx = [r for r in rows if r.key == "dx"]
    dy = [r for r in rows if r.key == "dy"]
    by_subject: dict[str, list[str]] = {}
    for r in dx:
        by_subject.setdefault(r.subject_id, []).append(r.study_date)
    # Müller's two studies, imported apart, share one research ID; Petrov has the other
    assert set(by_subject) == {"dx-0001", "dx-0002"}
    mueller = next(k for k, dates in by_subject.items() if len(dates) == 2)
    assert sorted(len(d) for d in by_subject.values()) == [1, 2]

    def day(value: str) -> dt.date:
        return dt.datetime.strptime(value, "%Y%m%d").date()

    one, two = by_subject[mueller]
    assert (day(two) - day(one)).days == INTERVAL_DAYS  # the recorded offset was reused
    assert [r.subject_id for r in dy] == ["Y00001"]
    assert dy[0].study_uid not in {r.study_uid for r in dx}  # other key, other pseudonyms


def test_withheld_objects_are_quarantined_sealed(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    profile = tmp_path / "profile.toml"
    profile.write_text(NO_PIXEL_CLEANING)
    cli("project", "create", "dx", "--deid", "--profile", str(profile))
    folder = write(corpus, tmp_path / "in", ["b-us", "b-ct-aged"])
    summary = json.loads(cli("import", "-p", "dx", str(folder), "--json", expect=3).stdout)
    assert summary["stored"] == 1 and summary["quarantined"] == 1
    assert "Burned In Annotation" in summary["quarantine"][0]["reason"]
    listing = cli("quarantine", "list", "--json").stdout
    assert leaks_in_bytes(listing.encode(), corpus.planted) == set()
    [item] = json.loads(listing)["items"]
    assert item["sealed"] is True and item["origin"].startswith("import:sealed:")
    assert leaks_in_home(settings, corpus.planted) == {}
    home = open_home(settings)
    try:
        sealed = home.store.get(item["blob_hash"])
        with home.db.read() as session:
            assert [s.subject_id for s in session.scalars(select(Subject))] == ["S001"]
    finally:
        home.close()
    original = unseal_rejected(MasterKey(settings).require(), "dx", sealed)
    assert original == corpus.objects["b-us"]  # kept whole, for a broker to repair


def test_spool_entries_are_sealed_and_received_objects_de_identified(
    cli: Cli, settings: Settings
) -> None:
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid")
    home = open_home(settings)
    try:
        spool = Spool.for_home(home.settings)
        context = IntakeContext(source="c-store", actor="ae:CT1", project_key="dx")
        data = corpus.objects["a-study1-ct0"]
        entry = spool.write(data, context)
        assert leaks_in_bytes(entry.read_bytes(), corpus.planted) == set()
        assert spool.read(entry) == (context, data)
        spool.remove(entry)
        assert receive(home.db, home.store, spool, context, data) is Outcome.STORED
        assert spool.pending() == []
        with home.db.read() as session:
            [instance] = session.scalars(select(Instance)).all()
            stored = home.store.get(instance.blob_hash)
    finally:
        home.close()
    assert oracle_leaks(stored, corpus.planted) == set()
    assert leaks_in_home(settings, corpus.planted) == {}


def test_parallel_import_workers_share_the_vault(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    """Two worker processes meet the same new patients at once: one ID each, no leak."""
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid")
    for copy in ("1", "2"):
        write(corpus, tmp_path / "in" / copy)
    result = cli("import", "-p", "dx", str(tmp_path / "in"), "--workers", "2", "--json")
    summary = json.loads(result.stdout)
    assert (summary["stored"], summary["duplicates"]) == (len(corpus.objects), len(corpus.objects))
    home = open_home(settings)
    try:
        with home.db.read() as session:
            subjects = sorted(s.subject_id for s in session.scalars(select(Subject)))
    finally:
        home.close()
    assert subjects == ["dx-0001", "dx-0002"]
    assert leaks_in_home(settings, corpus.planted) == {}
