"""The services behind the DIMSE interface, in-process: admission, destinations, retrieval."""

from __future__ import annotations

import datetime as dt

import pytest

from vesalius.archive import modalities
from vesalius.archive.projects import create_project
from vesalius.archive.retrieve import objects_to_retrieve
from vesalius.core.dicom.synthetic import StudySpec, make_study, to_bytes
from vesalius.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vesalius.core.home import Home
from vesalius.ingest.context import IntakeContext
from vesalius.ingest.pipeline import receive
from vesalius.ingest.spool import Spool


@pytest.fixture
def projects(home: Home) -> Home:
    with home.db.write() as session, session.begin():
        p1 = create_project(session, key="p1", name=None, actor="test")
        create_project(session, key="p2", name=None, actor="test")
        create_project(session, key="open", name=None, actor="test", accept_unknown_ae=True)
        for name, ae, project in (("ct", "CT1", "p1"), ("mr", "MR1", "p2"), ("pacs", "PACS", "p1")):
            modalities.add_modality(
                session,
                name=name,
                project_key=project,
                ae_title=ae,
                host="127.0.0.1",
                port=104,
                actor="test",
            )
        assert p1.ae_title == "P1"
    return home


def test_admit_names_the_project_and_modality(projects: Home) -> None:
    with projects.db.read() as session:
        principal = modalities.admit(session, called_ae="P1", calling_ae="CT1 ")
        assert (principal.project_key, principal.modality) == ("p1", "ct")
        with pytest.raises(NotFound):
            modalities.admit(session, called_ae="NOBODY", calling_ae="CT1")
        with pytest.raises(PermissionDenied):
            modalities.admit(session, called_ae="P1", calling_ae="MR1")  # registered for p2
        anyone = modalities.admit(session, called_ae="OPEN", calling_ae="WHOEVER")
        assert (anyone.project_key, anyone.modality) == ("open", None)


def test_move_destinations_are_the_projects_own_nodes(projects: Home) -> None:
    with projects.db.read() as session:
        p1 = modalities.admit(session, called_ae="P1", calling_ae="CT1").project_id
        assert modalities.move_destination(session, project_id=p1, ae_title="PACS") is not None
        assert modalities.move_destination(session, project_id=p1, ae_title="MR1") is None
        assert modalities.move_destination(session, project_id=p1, ae_title="NOWHERE") is None


def test_adding_checks_names_titles_and_ports(projects: Home) -> None:
    def add(**kw: object) -> None:
        args = {"name": "new", "project_key": "p1", "ae_title": "NEW", "host": "h", "port": 104}
        with projects.db.write() as session, session.begin():
            modalities.add_modality(session, actor="test", **{**args, **kw})  # type: ignore[arg-type]

    with pytest.raises(Conflict):
        add(name="ct")
    with pytest.raises(Conflict):
        add(ae_title="CT1")
    with pytest.raises(InvalidInput):
        add(ae_title="A" * 17)
    with pytest.raises(InvalidInput):
        add(port=70000)
    with pytest.raises(InvalidInput):
        add(host="two words")
    with pytest.raises(NotFound):
        add(project_key="nope")
    add(ae_title="CT1", project_key="p2")  # the same AE title may serve another project
    with projects.db.write() as session, session.begin():
        modalities.remove_modality(session, name="new", actor="test")
        with pytest.raises(NotFound):
            modalities.remove_modality(session, name="new", actor="test")
    with projects.db.read() as session:
        names = [m.name for m in modalities.list_modalities(session)]
    assert names == ["ct", "pacs", "mr"]  # by project, then name


def test_objects_to_retrieve_by_level(projects: Home) -> None:
    spec = StudySpec("R1", "Retrieve^Me", dt.date(2024, 1, 1))
    datasets = make_study(spec, [("CT", "a", 2), ("MR", "b", 1)], seed="retrieve")
    spool = Spool(projects.settings.spool_dir)
    context = IntakeContext(source="test", actor="test", project_key="p1")
    for ds in datasets:
        receive(projects.db, projects.store, spool, context, to_bytes(ds))
    study, ct = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    with projects.db.read() as session:
        p1 = modalities.admit(session, called_ae="P1", calling_ae="CT1").project_id
        p2 = modalities.admit(session, called_ae="P2", calling_ae="MR1").project_id

        def uids(project_id: int, level: str, **keys: str) -> list[str]:
            found = objects_to_retrieve(session, project_id=project_id, level=level, keys=keys)
            return [o.sop_uid for o in found]

        assert len(uids(p1, "PATIENT", PatientID="R1")) == 3
        assert len(uids(p1, "STUDY", StudyInstanceUID=study)) == 3
        assert uids(p2, "STUDY", StudyInstanceUID=study) == []  # another project's
        assert len(uids(p1, "SERIES", StudyInstanceUID=study, SeriesInstanceUID=ct)) == 2
        two = f"{datasets[0].SOPInstanceUID}\\{datasets[2].SOPInstanceUID}"
        assert set(uids(p1, "IMAGE", SOPInstanceUID=two)) == set(two.split("\\"))
        assert uids(p1, "STUDY", PatientID="OTHER", StudyInstanceUID=study) == []
        with pytest.raises(InvalidInput):
            uids(p1, "SERIES", StudyInstanceUID=study)  # the level's own key is missing
        with pytest.raises(InvalidInput):
            uids(p1, "FRAME", SOPInstanceUID=two)
        [first] = objects_to_retrieve(
            session,
            project_id=p1,
            level="IMAGE",
            keys={"SOPInstanceUID": datasets[0].SOPInstanceUID},
        )
        assert first.transfer_syntax_uid == "1.2.840.10008.1.2.1" and first.blob_hash
