"""Import through the intake stages: identity, duplicates, versions, quarantine, media."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import func, select

from vesalius.core.dicom.synthetic import StudySpec, make_study
from vesalius.core.events import OutboxEvent
from vesalius.core.home import Home
from vesalius.core.model import Instance, InstanceVersion, Series, Study
from vesalius.ingest.context import IntakeContext
from vesalius.ingest.importer import StoreSpec, import_items
from vesalius.ingest.quarantine import QuarantineItem
from vesalius.ingest.sources import expand


def write_study(
    folder: Path, *, seed: str, series=(("CT", "Axial", 3),), patient="P1"
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    spec = StudySpec(patient_id=patient, patient_name="Test^Person", study_date=dt.date(2024, 5, 6))
    paths = []
    for ds in make_study(spec, list(series), seed=seed):
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def run(home: Home, paths: list[Path], project: str = "p1", workers: int = 1):
    spec = StoreSpec(home.settings.resolved_storage_url)
    context = IntakeContext(source="import", actor="test", project_key=project)
    return import_items(home.db, home.store, spec, context, list(expand(paths)), workers=workers)


@pytest.fixture
def project(home: Home) -> str:
    from vesalius.archive.projects import create_project

    with home.db.write() as session, session.begin():
        create_project(session, key="p1", name="P1", actor="test")
    return "p1"


def count(home: Home, model) -> int:
    with home.db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_import_indexes_hierarchy_and_publishes_events(home: Home, project: str, tmp_path: Path):
    paths = write_study(tmp_path / "in", seed="a", series=(("CT", "Axial", 3), ("CT", "Scout", 1)))
    summary = run(home, paths)
    assert (summary.stored, summary.duplicates, summary.quarantined) == (4, 0, 0)
    with home.db.read() as session:
        study = session.scalars(select(Study)).one()
        assert (study.series_count, study.instance_count, study.modalities) == (2, 4, ",CT,")
        assert sorted(s.instance_count for s in session.scalars(select(Series))) == [1, 3]
        stored = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "instance.stored"))
        assert len(stored.all()) == 4
        instance = session.scalars(select(Instance)).first()
        assert instance.dicom_json["00100020"]["Value"] == ["P1"]
        # bulk data is referenced, not copied into the index
        assert instance.dicom_json["7FE00010"] == {"vr": "OW", "BulkDataURI": "bulkdata/7FE00010"}
        # the stored object is byte-identical to the file
        source = {p.stem: p.read_bytes() for p in paths}
        assert home.store.get(instance.blob_hash) == source[instance.sop_uid]


def test_reimport_changes_nothing(home: Home, project: str, tmp_path: Path):
    paths = write_study(tmp_path / "in", seed="b")
    run(home, paths)
    before = (count(home, Instance), count(home, InstanceVersion), count(home, OutboxEvent))
    summary = run(home, paths, workers=2)
    assert (summary.stored, summary.duplicates, summary.new_versions) == (0, 3, 0)
    assert (count(home, Instance), count(home, InstanceVersion), count(home, OutboxEvent)) == before


def test_changed_object_becomes_new_version_and_keeps_the_old(home: Home, project: str, tmp_path):
    [first, *_] = write_study(tmp_path / "in", seed="c")
    original = first.read_bytes()
    run(home, [first])
    ds = pydicom.dcmread(first)
    ds.SeriesDescription = "Axial (corrected)"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed, enforce_file_format=True)
    summary = run(home, [changed])
    assert (summary.stored, summary.new_versions) == (0, 1)
    assert run(home, [first]).duplicates == 1, "a digest equal to ANY stored version is a duplicate"
    with home.db.read() as session:
        instance = session.scalars(select(Instance)).one()
        versions = session.scalars(select(InstanceVersion).order_by(InstanceVersion.version)).all()
        assert instance.version == 2 and [v.version for v in versions] == [1, 2]
        assert home.store.get(versions[0].blob_hash) == original
        assert home.store.get(instance.blob_hash) == changed.read_bytes()
        assert instance.dicom_json["0008103E"]["Value"] == ["Axial (corrected)"]


def test_identity_ignores_the_file_meta_group(home: Home, project: str, tmp_path: Path):
    """The same dataset with and without File Meta (as C-STORE delivers it) is one object."""
    [path] = write_study(tmp_path / "in", seed="d", series=(("CT", "Axial", 1),))
    run(home, [path])
    ds = pydicom.dcmread(path)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.preamble = None
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, implicit_vr=False, little_endian=True, enforce_file_format=False)
    bare = out.getvalue()
    assert b"DICM" not in bare[:200] and bare[:2] == b"\x08\x00"
    no_meta = tmp_path / "bare.dcm"
    no_meta.write_bytes(bare)
    summary = run(home, [no_meta])
    assert summary.duplicates == 1, summary.to_dict()


def test_unreadable_input_is_quarantined_with_reasons(home: Home, project: str, tmp_path: Path):
    [good] = write_study(tmp_path / "in", seed="e", series=(("CT", "Axial", 1),))
    truncated = tmp_path / "in" / "truncated.dcm"
    truncated.write_bytes(good.read_bytes()[:-4000])
    text = tmp_path / "in" / "notes.txt"
    text.write_text("Scan notes: nothing to see here.\n" * 20)
    summary = run(home, [tmp_path / "in"])
    assert (summary.stored, summary.quarantined) == (1, 2)
    reasons = {Path(q["origin"]).name: q["reason"] for q in summary.quarantine}
    assert reasons["truncated.dcm"].startswith("truncated: Pixel Data has")
    assert "not a DICOM object" in reasons["notes.txt"]
    with home.db.read() as session:
        items = session.scalars(select(QuarantineItem)).all()
        assert len(items) == 2
        # nothing lost: the refused bytes are kept
        kept = {home.store.get(i.blob_hash) for i in items}
        assert truncated.read_bytes() in kept and text.read_bytes() in kept


def test_zip_archives_are_read(home: Home, project: str, tmp_path: Path):
    paths = write_study(tmp_path / "in", seed="f")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in paths:
            zf.write(p, f"study/{p.name}")
    assert run(home, [archive]).stored == 3


def test_dicomdir_media_import_the_files_it_references(home: Home, project: str, tmp_path: Path):
    source = Path(get_testdata_file("DICOMDIR")).parent
    media = tmp_path / "cd"
    shutil.copytree(source, media)
    referenced = pydicom.dcmread(media / "DICOMDIR")
    files = {
        tuple(r.ReferencedFileID)
        if not isinstance(r.ReferencedFileID, str)
        else (r.ReferencedFileID,)
        for r in referenced.DirectoryRecordSequence
        if "ReferencedFileID" in r
    }
    summary = run(home, [media / "DICOMDIR"])
    assert summary.stored + summary.new_versions + summary.duplicates == len(files)
    assert summary.quarantined == 0
    # a whole folder: the DICOMDIR itself is skipped as a media index, not quarantined
    folder_summary = run(home, [media])
    assert folder_summary.skipped >= 1
    assert all("DICOMDIR" in s["origin"] for s in folder_summary.skipped_items)


def test_missing_path_is_an_error(home: Home, project: str, tmp_path: Path):
    from vesalius.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        run(home, [tmp_path / "nope"])


def test_summary_json_shape(home: Home, project: str, tmp_path: Path):
    summary = run(home, write_study(tmp_path / "in", seed="g"))
    data = json.loads(json.dumps(summary.to_dict()))
    assert {"stored", "duplicates", "new_versions", "quarantined"} <= data.keys()


def test_a_rechecking_project_quarantines_identified_objects_sealed(home: Home, tmp_path: Path):
    """A central's ``--recheck-deid`` project refuses identified objects; what it keeps of
    them is suspected identified data, so it is sealed, also from import's worker processes."""
    from vesalius.archive.projects import create_project
    from vesalius.core.errors import ConfigError
    from vesalius.core.sealing import MasterKey
    from vesalius.ingest.deidentify import unseal_rejected

    with home.db.write() as session, session.begin():
        create_project(session, key="central", name="C", actor="test", recheck_deid=True)
    folder = tmp_path / "Planted^Patientfolder"
    paths = write_study(folder, seed="r", series=(("CT", "Axial", 16),), patient="PLANTED0042")
    # without the home's settings there is no key: nothing is kept in the clear instead
    with pytest.raises(ConfigError):
        run(home, paths, project="central")
    spec = StoreSpec(home.settings.resolved_storage_url)
    context = IntakeContext(source="import", actor="test", project_key="central")
    summary = import_items(
        home.db, home.store, spec, context, list(expand(paths)), workers=2, settings=home.settings
    )
    assert (summary.stored, summary.quarantined) == (0, 16)
    source = {p.stem: p.read_bytes() for p in paths}
    master = MasterKey(home.settings).require()
    with home.db.read() as session:
        items = list(session.scalars(select(QuarantineItem)))
    assert len(items) == 16
    for item in items:
        assert item.reason.startswith("residual identifiers")
        assert item.sealed and item.origin.startswith("import:sealed:")
        assert "Planted" not in item.origin
        blob = home.store.get(item.blob_hash)
        assert b"PLANTED0042" not in blob and b"Test^Person" not in blob
        assert unseal_rejected(master, "central", blob) == source[item.sop_uid]
